package test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// sinkHook is how the sink answers one webhook (URL path /hook/<name>).
type sinkHook struct {
	// Latency is how long each answer takes.
	Latency time.Duration
	// FailFirst answers 500 to the first request of each event id.
	FailFirst bool
	// Hang, while it returns true, never answers: the request ends when
	// the sender gives up, and is logged with status 0.
	Hang func() bool
}

// sink is the fault suite's receiver: one HTTP server for several webhooks,
// each at its own path. It writes every request to an fsynced receipt log
// before answering, and measures each webhook's concurrent requests. It
// listens on a fixed port, so it can go down (connections refused) and
// come back at the same URL.
type sink struct {
	t    *testing.T
	addr string
	log  *receiptLog

	mu      sync.Mutex
	hooks   map[string]sinkHook
	open    map[string]int // requests being answered, per webhook
	maxOpen map[string]int
	seen    map[pair]int       // requests per (webhook, event)
	firstOK map[pair]time.Time // first 2xx per (webhook, event)
	srv     *http.Server
	last    time.Time // the latest request, any webhook
	err     error     // first receipt-log failure
}

func newSink(t *testing.T) *sink {
	t.Helper()
	s := &sink{
		t:       t,
		log:     newReceiptLog(t, filepath.Join(t.TempDir(), "receipts.log")),
		hooks:   make(map[string]sinkHook),
		open:    make(map[string]int),
		maxOpen: make(map[string]int),
		seen:    make(map[pair]int),
		firstOK: make(map[pair]time.Time),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	t.Cleanup(s.down)
	return s
}

// hook registers a webhook's behaviour and returns its URL.
func (s *sink) hook(name string, h sinkHook) string {
	s.mu.Lock()
	s.hooks[name] = h
	s.mu.Unlock()
	return "http://" + s.addr + "/hook/" + name
}

func (s *sink) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(s.handle), ReadHeaderTimeout: 10 * time.Second}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// down closes the listener and every connection: requests are refused.
func (s *sink) down() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// up listens again on the same address.
func (s *sink) up() {
	s.t.Helper()
	var ln net.Listener
	eventually(s.t, 10*time.Second, "listening again on "+s.addr, func() bool {
		var err error
		ln, err = net.Listen("tcp", s.addr)
		return err == nil
	})
	s.serve(ln)
}

func (s *sink) handle(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	_, _ = io.Copy(io.Discard, r.Body)
	name, ok := strings.CutPrefix(r.URL.Path, "/hook/")
	id := r.Header.Get("webhook-id")
	s.mu.Lock()
	h, known := s.hooks[name]
	if !ok || !known || id == "" || strings.ContainsAny(id, " \n") {
		s.mu.Unlock()
		http.Error(w, "unknown hook or no webhook-id", http.StatusBadRequest)
		return
	}
	p := pair{name, id}
	s.last = at
	s.seen[p]++
	n := s.seen[p]
	s.open[name]++
	s.maxOpen[name] = max(s.maxOpen[name], s.open[name])
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.open[name]--
		s.mu.Unlock()
	}()

	if h.Hang != nil && h.Hang() {
		<-r.Context().Done()
		if err := s.log.append(receipt{Hook: name, ID: id, At: at, Status: 0}); err != nil {
			s.mu.Lock()
			s.err = errors.Join(s.err, err)
			s.mu.Unlock()
		}
		return
	}
	if h.Latency > 0 {
		time.Sleep(h.Latency)
	}
	status := http.StatusOK
	if h.FailFirst && n == 1 {
		status = http.StatusInternalServerError
	}
	// On disk before the answer: a 2xx the sender saw is in the log.
	if err := s.log.append(receipt{Hook: name, ID: id, At: at, Status: status}); err != nil {
		s.mu.Lock()
		s.err = errors.Join(s.err, err)
		s.mu.Unlock()
		http.Error(w, "receipt log: "+err.Error(), http.StatusInternalServerError)
		return
	}
	if status == http.StatusOK {
		s.mu.Lock()
		if _, done := s.firstOK[p]; !done {
			s.firstOK[p] = at
		}
		s.mu.Unlock()
	}
	w.WriteHeader(status)
}

// delivered returns how many (webhook, event) pairs got a 2xx so far.
func (s *sink) delivered() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.firstOK)
}

// deliveredAt returns when p first got a 2xx.
func (s *sink) deliveredAt(p pair) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.firstOK[p]
	return at, ok
}

// inFlight returns the requests being answered right now, all webhooks.
func (s *sink) inFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, v := range s.open {
		n += v
	}
	return n
}

// maxConcurrent returns the most requests one webhook had open at once.
func (s *sink) maxConcurrent(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxOpen[name]
}

// receipts reads the receipt log back from disk.
func (s *sink) receipts() []receipt {
	s.t.Helper()
	s.mu.Lock()
	err := s.err
	s.mu.Unlock()
	if err != nil {
		s.t.Fatalf("receipt log: %v", err)
	}
	rs, err := readReceipts(s.log.path)
	if err != nil {
		s.t.Fatal(err)
	}
	return rs
}

// waitDelivered waits until every expected pair of the accepted events has
// a 2xx; it returns the missing ones at the deadline.
func (s *sink) waitDelivered(l *ledger, hooks []string, want wants, timeout time.Duration) []pair {
	missing, _ := s.waitDeliveredGap(l, hooks, want, timeout)
	return missing
}

// waitDeliveredGap is waitDelivered that also returns the longest time the
// receivers got no request at all while deliveries were still missing: a
// message handed back at once keeps that short; one left to JetStream's
// AckWait shows as a long silence.
func (s *sink) waitDeliveredGap(l *ledger, hooks []string, want wants, timeout time.Duration) ([]pair, time.Duration) {
	deadline := time.Now().Add(timeout)
	var gap time.Duration
	for {
		var missing []pair
		for _, e := range l.snapshot() {
			if e.AckedAt.IsZero() {
				continue
			}
			for _, h := range hooks {
				if want(h, e) {
					if _, ok := s.deliveredAt(pair{h, e.ID}); !ok {
						missing = append(missing, pair{h, e.ID})
					}
				}
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			return missing, gap
		}
		s.mu.Lock()
		if !s.last.IsZero() {
			gap = max(gap, time.Since(s.last))
		}
		s.mu.Unlock()
		time.Sleep(100 * time.Millisecond)
	}
}
