package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The receiver is a separate process (webhookbench re-executed with the
// hidden "receiver" command) so that it does not share a Go runtime with
// the bench's publisher or with webhookd. It has two listeners: the hook
// listener, which takes the deliveries and can be taken down and brought
// back on the same address (the backlog scenario's outage), and the
// control listener, always up, for stats, reset, down and up.

// receiverStats is what GET /stats answers.
type receiverStats struct {
	Received   int64 `json:"received"`   // POSTs, duplicates included
	Unique     int64 `json:"unique"`     // distinct (hook, seq) pairs
	Duplicates int64 `json:"duplicates"` // received - unique among good POSTs
	Bad        int64 `json:"bad"`        // POSTs without a readable seq / bench_ns
	FirstNS    int64 `json:"first_ns"`   // first unique receipt, unix ns
	LastNS     int64 `json:"last_ns"`    // last unique receipt, unix ns
	// Latency percentiles of first receipts (publish → receipt), µs.
	P50US int64 `json:"p50_us"`
	P90US int64 `json:"p90_us"`
	P99US int64 `json:"p99_us"`
	MaxUS int64 `json:"max_us"`
}

// tally counts receipts per (hook, seq) and keeps the latency of each
// first receipt. Safe for concurrent use.
type tally struct {
	mu       sync.Mutex
	counts   [][]uint8 // [hook][seq], saturating at 255
	lat      []int64   // ns, first receipts only
	received int64
	unique   int64
	bad      int64
	firstNS  int64
	lastNS   int64
}

func newTally(hooks, events int) *tally {
	t := &tally{}
	t.reset(hooks, events)
	return t
}

func (t *tally) reset(hooks, events int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.counts = make([][]uint8, hooks)
	for i := range t.counts {
		t.counts[i] = make([]uint8, events)
	}
	t.lat = make([]int64, 0, min(hooks*events, 1<<24))
	t.received, t.unique, t.bad, t.firstNS, t.lastNS = 0, 0, 0, 0, 0
}

// record counts one POST to hook of event seq published at pubNS,
// received at nowNS.
func (t *tally) record(hook int, seq int64, pubNS, nowNS int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.received++
	if hook < 0 || hook >= len(t.counts) || seq < 0 || seq >= int64(len(t.counts[hook])) {
		t.bad++
		return
	}
	c := &t.counts[hook][seq]
	if *c < 255 {
		*c++
	}
	if *c > 1 {
		return
	}
	t.unique++
	if t.firstNS == 0 {
		t.firstNS = nowNS
	}
	t.lastNS = nowNS
	t.lat = append(t.lat, nowNS-pubNS)
}

func (t *tally) markBad() {
	t.mu.Lock()
	t.received++
	t.bad++
	t.mu.Unlock()
}

// progress is stats without the latencies: what polling for the end of
// a run needs, at a cost that does not grow with the run. (Sorting every
// latency 50 times a second took up to a sixth of a core from the run.)
func (t *tally) progress() receiverStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.countsLocked()
}

func (t *tally) countsLocked() receiverStats {
	return receiverStats{
		Received: t.received, Unique: t.unique, Bad: t.bad,
		Duplicates: t.received - t.bad - t.unique,
		FirstNS:    t.firstNS, LastNS: t.lastNS,
	}
}

func (t *tally) stats() receiverStats {
	t.mu.Lock()
	lat := slices.Clone(t.lat)
	s := t.countsLocked()
	t.mu.Unlock()
	slices.Sort(lat)
	s.P50US = percentile(lat, 50) / 1e3
	s.P90US = percentile(lat, 90) / 1e3
	s.P99US = percentile(lat, 99) / 1e3
	if len(lat) > 0 {
		s.MaxUS = lat[len(lat)-1] / 1e3
	}
	return s
}

// percentile returns the nearest-rank p-th percentile of sorted values, 0
// for none.
func percentile(sorted []int64, p float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// parseBenchFields finds the "seq" and "bench_ns" integers the bench puts
// in every event's data, without decoding the whole envelope (the receiver
// must stay cheap next to what it measures).
func parseBenchFields(body []byte) (seq, pubNS int64, ok bool) {
	seq, ok1 := intField(body, `"seq":`)
	pubNS, ok2 := intField(body, `"bench_ns":`)
	return seq, pubNS, ok1 && ok2
}

func intField(body []byte, key string) (int64, bool) {
	i := bytes.Index(body, []byte(key))
	if i < 0 {
		return 0, false
	}
	rest := body[i+len(key):]
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	if j == 0 {
		return 0, false
	}
	v, err := strconv.ParseInt(string(rest[:j]), 10, 64)
	return v, err == nil
}

// hookHandler takes deliveries on /hook/<n>.
func hookHandler(t *tally) http.Handler {
	bufs := sync.Pool{New: func() any { return new(bytes.Buffer) }}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now().UnixNano()
		buf := bufs.Get().(*bytes.Buffer)
		buf.Reset()
		defer bufs.Put(buf)
		_, err := buf.ReadFrom(r.Body)
		n, perr := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/hook/"))
		seq, pubNS, ok := parseBenchFields(buf.Bytes())
		if r.Method != http.MethodPost || err != nil || perr != nil || !ok {
			t.markBad()
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		t.record(n, seq, pubNS, now)
		w.WriteHeader(http.StatusOK)
	})
}

// hookListener serves the hook handler on a fixed address that can be
// closed (down) and opened again (up).
type hookListener struct {
	addr    string
	handler http.Handler
	mu      sync.Mutex
	srv     *http.Server
}

func (h *hookListener) up() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.srv != nil {
		return nil
	}
	ln, err := net.Listen("tcp", h.addr)
	if err != nil {
		return err
	}
	h.addr = ln.Addr().String() // pin the port picked for ":0"
	h.srv = &http.Server{Handler: h.handler, ReadHeaderTimeout: 10 * time.Second}
	go func(srv *http.Server) { _ = srv.Serve(ln) }(h.srv)
	return nil
}

// down closes the listener and every connection: new attempts are refused.
func (h *hookListener) down() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.srv != nil {
		_ = h.srv.Close()
		h.srv = nil
	}
}

// controlHandler serves /stats, /progress (the counts of /stats only),
// /reset?hooks=W&events=E, /down and /up.
func controlHandler(t *tally, hooks *hookListener) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(t.stats())
	})
	mux.HandleFunc("GET /progress", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(t.progress())
	})
	mux.HandleFunc("POST /reset", func(w http.ResponseWriter, r *http.Request) {
		hk, err1 := strconv.Atoi(r.URL.Query().Get("hooks"))
		ev, err2 := strconv.Atoi(r.URL.Query().Get("events"))
		if err1 != nil || err2 != nil || hk < 1 || ev < 1 {
			http.Error(w, "want hooks and events, both positive", http.StatusBadRequest)
			return
		}
		t.reset(hk, ev)
	})
	mux.HandleFunc("POST /down", func(w http.ResponseWriter, r *http.Request) { hooks.down() })
	mux.HandleFunc("POST /up", func(w http.ResponseWriter, r *http.Request) {
		if err := hooks.up(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	return mux
}

// runReceiver is the hidden "receiver" command: it prints
// "hooks=<addr> control=<addr>" on stdout and serves until stdin closes
// (the bench holds its other end) or ctx ends.
func runReceiver(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("receiver", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "hook listener address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	t := newTally(1, 1)
	hooks := &hookListener{addr: *addr, handler: hookHandler(t)}
	if err := hooks.up(); err != nil {
		return fmt.Errorf("receiver: %w", err)
	}
	defer hooks.down()
	cln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("receiver: control: %w", err)
	}
	csrv := &http.Server{Handler: controlHandler(t, hooks), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = csrv.Serve(cln) }()
	defer csrv.Close()
	fmt.Fprintf(stdout, "hooks=%s control=%s\n", hooks.addr, cln.Addr())

	eof := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, stdin)
		close(eof)
	}()
	select {
	case <-eof:
	case <-ctx.Done():
	}
	return nil
}

// receiverProc is a running receiver process, driven over its control
// listener.
type receiverProc struct {
	proc     *process
	HookAddr string // host:port of the hook listener
	control  string // http://host:port
	client   *http.Client
}

// HookURL is the URL of hook n.
func (r *receiverProc) HookURL(n int) string { return fmt.Sprintf("http://%s/hook/%d", r.HookAddr, n) }

func (r *receiverProc) call(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, r.control+path, nil)
	if err != nil {
		return err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("receiver %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("receiver %s: %d %s", path, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	if out != nil {
		return json.Unmarshal(body, out)
	}
	return nil
}

func (r *receiverProc) Reset(ctx context.Context, hooks, events int) error {
	return r.call(ctx, http.MethodPost, fmt.Sprintf("/reset?hooks=%d&events=%d", hooks, events), nil)
}

func (r *receiverProc) Stats(ctx context.Context) (receiverStats, error) {
	var s receiverStats
	err := r.call(ctx, http.MethodGet, "/stats", &s)
	return s, err
}

// Progress is Stats without the latency percentiles, cheap to poll.
func (r *receiverProc) Progress(ctx context.Context) (receiverStats, error) {
	var s receiverStats
	err := r.call(ctx, http.MethodGet, "/progress", &s)
	return s, err
}

func (r *receiverProc) Down(ctx context.Context) error {
	return r.call(ctx, http.MethodPost, "/down", nil)
}

func (r *receiverProc) Up(ctx context.Context) error { return r.call(ctx, http.MethodPost, "/up", nil) }

// parseReceiverLine reads the receiver's "hooks=... control=..." line.
func parseReceiverLine(line string) (hooks, control string, err error) {
	for f := range strings.FieldsSeq(line) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "hooks":
			hooks = v
		case "control":
			control = v
		}
	}
	if hooks == "" || control == "" {
		return "", "", errors.New("receiver: no address line")
	}
	return hooks, control, nil
}
