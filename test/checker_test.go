package test

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The checker of the fault suite, in the spirit of Jepsen's queue checker:
// every event has a unique id; the ledger knows which events were published
// and which were accepted (their JetStream publish got a PubAck); the
// receivers write every webhook-id they get to an fsynced file. At the end
//
//	lost       = accepted − delivered  (per webhook that should get it)
//	unexpected = delivered − published (or delivered to a webhook that
//	             should not get it)
//
// must both be empty, and duplicates (a second 2xx receipt of one event by
// one webhook) are counted and must each be explained by a kill -9.

// pubEvent is one event the load generator published.
type pubEvent struct {
	ID       string
	Type     string
	Tenant   string
	Bad      bool      // invalid input: to be dead-lettered, never delivered
	SentAt   time.Time // first publish attempt
	AckedAt  time.Time // zero until a PubAck arrived
	Attempts int       // publish attempts (retries after a failure)
}

// ledger is what the publishers know: every event tried, and the accepted.
type ledger struct {
	mu     sync.Mutex
	events map[string]*pubEvent
	order  []string
}

func newLedger() *ledger { return &ledger{events: make(map[string]*pubEvent)} }

// sent notes an event before its first publish attempt.
func (l *ledger) sent(e pubEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.events[e.ID]; ok {
		panic("ledger: event id reused: " + e.ID)
	}
	c := e
	l.events[e.ID] = &c
	l.order = append(l.order, e.ID)
}

// attempt counts one more publish attempt of id.
func (l *ledger) attempt(id string) {
	l.mu.Lock()
	l.events[id].Attempts++
	l.mu.Unlock()
}

// acked marks id accepted at at.
func (l *ledger) acked(id string, at time.Time) {
	l.mu.Lock()
	if e := l.events[id]; e.AckedAt.IsZero() {
		e.AckedAt = at
	}
	l.mu.Unlock()
}

// snapshot returns copies of every event, in publish order.
func (l *ledger) snapshot() []pubEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]pubEvent, 0, len(l.order))
	for _, id := range l.order {
		out = append(out, *l.events[id])
	}
	return out
}

// get returns one event.
func (l *ledger) get(id string) (pubEvent, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.events[id]
	if !ok {
		return pubEvent{}, false
	}
	return *e, true
}

// counts returns how many events were published and accepted, and how
// many of the accepted were invalid input.
func (l *ledger) counts() (published, accepted, bad int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.events {
		if !e.AckedAt.IsZero() {
			accepted++
			if e.Bad {
				bad++
			}
		}
	}
	return len(l.events), accepted, bad
}

// receipt is one request a receiver got: which webhook (by the receiver's
// name for it), which event (its webhook-id header), when it arrived and
// what the receiver answered.
type receipt struct {
	Hook   string
	ID     string
	At     time.Time
	Status int
}

func (r receipt) ok() bool { return r.Status >= 200 && r.Status < 300 }

// receiptLog appends receipts to a file and fsyncs before append returns,
// so a receipt the receiver answered for is on disk. Concurrent appends
// share one fsync (a group commit).
type receiptLog struct {
	path string
	f    *os.File

	mu      sync.Mutex
	cond    *sync.Cond
	buf     []byte
	seq     uint64 // receipts appended to buf
	synced  uint64 // receipts on disk
	syncing bool
	err     error
}

func newReceiptLog(t *testing.T, path string) *receiptLog {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	l := &receiptLog{path: path, f: f}
	l.cond = sync.NewCond(&l.mu)
	t.Cleanup(func() { f.Close() })
	return l
}

// append writes r and returns once it is fsynced.
func (l *receiptLog) append(r receipt) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = fmt.Appendf(l.buf, "%s %s %d %d\n", r.Hook, r.ID, r.At.UnixNano(), r.Status)
	l.seq++
	mine := l.seq
	for l.synced < mine {
		if l.syncing {
			l.cond.Wait()
			continue
		}
		l.syncing = true
		buf, upto := l.buf, l.seq
		l.buf = nil
		l.mu.Unlock()
		_, err := l.f.Write(buf)
		if err == nil {
			err = l.f.Sync()
		}
		l.mu.Lock()
		l.syncing = false
		l.synced = upto
		if err != nil && l.err == nil {
			l.err = err
		}
		l.cond.Broadcast()
	}
	return l.err
}

// readReceipts reads a receipt file back: the checker works from what is on
// disk, not from the receiver's memory.
func readReceipts(path string) ([]receipt, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []receipt
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 4 {
			return nil, fmt.Errorf("receipt line %q: want 4 fields", sc.Text())
		}
		ns, err1 := strconv.ParseInt(fields[2], 10, 64)
		status, err2 := strconv.Atoi(fields[3])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("receipt line %q: bad number", sc.Text())
		}
		out = append(out, receipt{Hook: fields[0], ID: fields[1], At: time.Unix(0, ns), Status: status})
	}
	return out, sc.Err()
}

// pair is one (webhook, event) delivery the checker reasons about.
type pair struct{ Hook, ID string }

func (p pair) String() string { return p.Hook + "/" + p.ID }

// checkReport is the checker's verdict.
type checkReport struct {
	Published, Accepted int
	Expected            int // (webhook, accepted event) pairs that must arrive
	Delivered           int // distinct pairs with a 2xx receipt
	Receipts            int // every request received, any answer
	Lost                []pair
	Unexpected          []pair
	// Duplicates maps a pair to its 2xx receipts, when there are several.
	Duplicates map[pair][]time.Time
	// Extra is the number of 2xx receipts beyond the first, all pairs.
	Extra int
}

// wants says whether the named webhook should receive the event.
type wants func(hook string, e pubEvent) bool

// check compares what was accepted with what was delivered.
func check(events []pubEvent, receipts []receipt, hooks []string, want wants) checkReport {
	rep := checkReport{Duplicates: make(map[pair][]time.Time)}
	published := make(map[string]pubEvent, len(events))
	for _, e := range events {
		published[e.ID] = e
		if !e.AckedAt.IsZero() {
			rep.Accepted++
		}
	}
	rep.Published = len(events)
	ok := make(map[pair][]time.Time)
	for _, r := range receipts {
		rep.Receipts++
		if r.ok() {
			p := pair{r.Hook, r.ID}
			ok[p] = append(ok[p], r.At)
		}
	}
	for p, ats := range ok {
		e, known := published[p.ID]
		if !known || !want(p.Hook, e) {
			rep.Unexpected = append(rep.Unexpected, p)
		}
		if len(ats) > 1 {
			sort.Slice(ats, func(i, j int) bool { return ats[i].Before(ats[j]) })
			rep.Duplicates[p] = ats
			rep.Extra += len(ats) - 1
		}
	}
	rep.Delivered = len(ok)
	for _, e := range events {
		if e.AckedAt.IsZero() {
			continue
		}
		for _, h := range hooks {
			if !want(h, e) {
				continue
			}
			rep.Expected++
			if _, got := ok[pair{h, e.ID}]; !got {
				rep.Lost = append(rep.Lost, pair{h, e.ID})
			}
		}
	}
	slices.SortFunc(rep.Lost, func(a, b pair) int { return strings.Compare(a.String(), b.String()) })
	slices.SortFunc(rep.Unexpected, func(a, b pair) int { return strings.Compare(a.String(), b.String()) })
	return rep
}

// String summarises a report for test logs.
func (r checkReport) String() string {
	return fmt.Sprintf("published %d, accepted %d, expected deliveries %d, delivered %d, receipts %d, lost %d, unexpected %d, duplicate receipts %d (of %d deliveries)",
		r.Published, r.Accepted, r.Expected, r.Delivered, r.Receipts, len(r.Lost), len(r.Unexpected), r.Extra, len(r.Duplicates))
}

// sample returns up to n pairs for an error message.
func sample(ps []pair, n int) string {
	var b strings.Builder
	for i, p := range ps {
		if i == n {
			fmt.Fprintf(&b, " … (%d more)", len(ps)-n)
			break
		}
		b.WriteString(" " + p.String())
	}
	return b.String()
}

// lifetime is one run of the webhookd process: from its start to the
// start of the next one (a request written by a killed process may still
// be read by the receiver after the kill), and how it ended.
type lifetime struct {
	Start  time.Time
	End    time.Time // start of the next process; zero for the last
	Killed bool      // ended by kill -9 (not by SIGTERM or still running)
}

func (l lifetime) holds(at time.Time) bool {
	return !at.Before(l.Start) && (l.End.IsZero() || at.Before(l.End))
}

// explainDuplicates accounts for every duplicate: each copy but the last
// must have been received by a process that was then killed (its attempt
// was in flight, not yet recorded, at the kill), and no webhook may get
// more such copies from one process than it may have attempts in flight
// (perHook). It returns the duplicates per killed lifetime, and an error
// naming the first duplicate it cannot explain.
func explainDuplicates(dups map[pair][]time.Time, lives []lifetime, perHook int) ([]int, error) {
	perLife := make([]int, len(lives))
	perHookLife := make(map[string]int)
	var errs []string
	for p, ats := range dups {
		for _, at := range ats[:len(ats)-1] {
			i := slices.IndexFunc(lives, func(l lifetime) bool { return l.holds(at) })
			if i < 0 || !lives[i].Killed {
				errs = append(errs, fmt.Sprintf("%s: copy received at %s by a process that was not killed", p, at.Format(time.RFC3339Nano)))
				continue
			}
			perLife[i]++
			key := fmt.Sprintf("%s@%d", p.Hook, i)
			perHookLife[key]++
			if perHookLife[key] == perHook+1 {
				errs = append(errs, fmt.Sprintf("webhook %s got more than %d duplicates from process %d: more than its attempts in flight", p.Hook, perHook, i))
			}
		}
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return perLife, fmt.Errorf("%d unexplained duplicates, e.g. %s", len(errs), errs[0])
	}
	return perLife, nil
}

func TestCheckerFindsLostUnexpectedAndDuplicates(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	events := []pubEvent{
		{ID: "e1", Type: "user.created", AckedAt: at(1)},
		{ID: "e2", Type: "user.created", AckedAt: at(1)},
		{ID: "e3", Type: "order.paid", AckedAt: at(1)},
		{ID: "e4", Type: "user.created"}, // never accepted: not lost
	}
	want := func(hook string, e pubEvent) bool { return hook == "all" || strings.HasPrefix(e.Type, "user.") }
	dir := t.TempDir()
	log := newReceiptLog(t, dir+"/r.log")
	for _, r := range []receipt{
		{"all", "e1", at(10), 500}, // a failed attempt is no delivery...
		{"all", "e1", at(20), 200}, // ...its retry is
		{"users", "e1", at(10), 200},
		{"users", "e1", at(1500), 204}, // duplicate across the kill at 1000
		{"all", "e2", at(10), 200},
		{"all", "e3", at(10), 200},
		{"users", "e3", at(10), 200}, // users must not get order.paid
		{"all", "e9", at(10), 200},   // never published
		{"all", "e4", at(10), 200},   // published, not accepted: fine
		// users/e2 never arrives: lost
	} {
		if err := log.append(r); err != nil {
			t.Fatal(err)
		}
	}
	receipts, err := readReceipts(log.path)
	if err != nil || len(receipts) != 9 {
		t.Fatalf("read back %d receipts, err %v", len(receipts), err)
	}
	rep := check(events, receipts, []string{"all", "users"}, want)
	if got := sample(rep.Lost, 5); got != " users/e2" {
		t.Errorf("lost =%s, want users/e2", got)
	}
	if got := sample(rep.Unexpected, 5); got != " all/e9 users/e3" {
		t.Errorf("unexpected =%s, want all/e9 users/e3", got)
	}
	if rep.Extra != 1 || len(rep.Duplicates[pair{"users", "e1"}]) != 2 {
		t.Errorf("duplicates %v, want users/e1 twice", rep.Duplicates)
	}
	if rep.Accepted != 3 || rep.Expected != 5 || rep.Delivered != 7 {
		t.Errorf("report %s", rep)
	}

	killed := []lifetime{{Start: t0, End: at(1000), Killed: true}, {Start: at(1000)}}
	if perLife, err := explainDuplicates(rep.Duplicates, killed, 1); err != nil || perLife[0] != 1 {
		t.Errorf("a duplicate across a kill: %v, per life %v", err, perLife)
	}
	stopped := []lifetime{{Start: t0, End: at(1000)}, {Start: at(1000)}}
	if _, err := explainDuplicates(rep.Duplicates, stopped, 1); err == nil {
		t.Error("a duplicate across a clean stop was explained")
	}
	many := map[pair][]time.Time{{"h", "a"}: {at(1), at(2000)}, {"h", "b"}: {at(2), at(2001)}}
	if _, err := explainDuplicates(many, killed, 1); err == nil {
		t.Error("two duplicates from one process with one attempt in flight were explained")
	}
}
