package test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// badReceiver is an endpoint that misbehaves in one way.
type badReceiver struct {
	name     string
	kind     string // hang, huge, reset or redirect
	retries  int    // the webhook's max_retries
	handler  func(w http.ResponseWriter, r *http.Request)
	requests atomic.Int64
}

const hugeBody = 100 << 20

// badReceivers builds the misbehaving endpoints: hangs of them never
// answer (several stuck endpoints, whose queued tasks pile up fastest),
// then one each that answers 100 MB slowly, resets the connection and
// redirects. sent counts the bytes the huge one managed to write; closing
// quit ends the hanging ones.
func badReceivers(hangs int, sent *atomic.Int64, quit <-chan struct{}) []*badReceiver {
	var out []*badReceiver
	for i := range hangs {
		out = append(out, &badReceiver{name: fmt.Sprintf("hang%d", i+1), kind: "hang", handler: hangHandler(quit)})
	}
	return append(out, []*badReceiver{
		{name: "huge", kind: "huge", retries: 1, handler: func(w http.ResponseWriter, r *http.Request) {
			// 200, then 100 MB trickled at ~6 MB/s: reading it all would
			// take longer than the attempt's timeout.
			w.WriteHeader(http.StatusOK)
			chunk := []byte(strings.Repeat("x", 64<<10))
			for n := 0; n < hugeBody; n += len(chunk) {
				if _, err := w.Write(chunk); err != nil {
					return
				}
				sent.Add(int64(len(chunk)))
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		}},
		{name: "reset", kind: "reset", retries: 1, handler: func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				return
			}
			_ = conn.(*net.TCPConn).SetLinger(0) // close with RST
			conn.Close()
		}},
		{name: "redirect", kind: "redirect", retries: 1, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", "http://169.254.169.254/latest/meta-data/iam/security-credentials/")
			w.WriteHeader(http.StatusFound)
		}},
	}...)
}

// hangHandler never answers (one attempt per delivery: a retry would wait
// behind hundreds of queued first attempts of two seconds each); it ends
// when the sender gives up, which the server sees once the body is read.
func hangHandler(quit <-chan struct{}) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-quit:
		}
	}
}

// procSample is one scrape of the daemon's process figures: goroutines
// and resident size from /metrics, and the anonymous part of it (heap and
// stacks, where a buffered answer would sit; the rest is mapped files, the
// bbolt file growing with the recorded history among them) from /proc.
type procSample struct {
	goroutines, rss, anon float64
}

// sampleUntil scrapes /metrics every 250 ms until done is closed.
func sampleUntil(t *testing.T, d *daemon, done <-chan struct{}) []procSample {
	t.Helper()
	var out []procSample
	for {
		m := d.metrics(t)
		g, okG := m["go_goroutines"]
		r, okR := m["process_resident_memory_bytes"]
		if !okG || !okR {
			t.Fatalf("/metrics lacks go_goroutines or process_resident_memory_bytes")
		}
		a, err := procStatus(d.pid(), "RssAnon")
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, procSample{g, r, float64(a)})
		select {
		case <-done:
			return out
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func maxOf(s []procSample) procSample {
	var m procSample
	for _, p := range s {
		m.goroutines, m.rss, m.anon = max(m.goroutines, p.goroutines), max(m.rss, p.rss), max(m.anon, p.anon)
	}
	return m
}

// latencies returns the sorted publish-to-receipt times of one webhook's
// deliveries of the events whose id starts with prefix.
func latencies(l *ledger, sk *sink, hook, prefix string) []time.Duration {
	var out []time.Duration
	for _, e := range l.snapshot() {
		if !strings.HasPrefix(e.ID, prefix) {
			continue
		}
		if at, ok := sk.deliveredAt(pair{hook, e.ID}); ok {
			out = append(out, at.Sub(e.SentAt))
		}
	}
	slices.Sort(out)
	return out
}

// latencyWindows gives the p99 latency of the events sent in each window.
func latencyWindows(l *ledger, sk *sink, hook, prefix string, window time.Duration) string {
	var t0 time.Time
	var byWindow [][]time.Duration
	for _, e := range l.snapshot() {
		if !strings.HasPrefix(e.ID, prefix) {
			continue
		}
		if t0.IsZero() {
			t0 = e.SentAt
		}
		if at, ok := sk.deliveredAt(pair{hook, e.ID}); ok {
			i := int(e.SentAt.Sub(t0) / window)
			for len(byWindow) <= i {
				byWindow = append(byWindow, nil)
			}
			byWindow[i] = append(byWindow[i], at.Sub(e.SentAt))
		}
	}
	var b strings.Builder
	for i, lat := range byWindow {
		slices.Sort(lat)
		fmt.Fprintf(&b, " %s: %s", time.Duration(i)*window, percentile(lat, 99).Round(time.Millisecond))
	}
	return b.String()
}

// TestFaultMisbehavingReceiversCannotHurtOthers measures latency, so it
// runs alone (not in parallel): beside the backlog test, two cores are
// not enough for a figure that means anything.
func TestFaultMisbehavingReceiversCannotHurtOthers(t *testing.T) {
	const (
		badTimeout = 2 * time.Second // the bad webhooks' timeout_seconds
		perHook    = 8
		mb         = 1 << 20
	)
	rate, phase := 50, 10*time.Second
	if soak() {
		phase = 60 * time.Second
	}
	sk := newSink(t)
	// Auto-disable off: the bad endpoints keep misbehaving for the whole run.
	d := startDaemon(t, daemonOptions{Extra: []string{"--log-level", "info", "--auto-disable-after", "0",
		"--per-webhook-concurrency", fmt.Sprint(perHook)}})
	tok := d.superToken(t)
	d.createWebhook(t, tok, map[string]any{"url": sk.hook("healthy", sinkHook{}), "events": []string{"*"}})
	everything := func(string, pubEvent) bool { return true }
	event := func(n int) (string, string) { return []string{"user.created", "request.completed"}[n%2], "" }
	l := newLedger()

	// Before: the healthy webhook alone.
	before := startLoad(t, l, loadConfig{NATSURL: d.NATSURL, Prefix: "evt_before", Rate: rate, For: phase, Event: event})
	calm := sampleUntil(t, d, before.done)
	if missing := sk.waitDelivered(l, []string{"healthy"}, everything, time.Minute); len(missing) > 0 {
		t.Fatalf("%d deliveries missing before any bad receiver", len(missing))
	}

	// During: four misbehaving webhooks get every event too.
	var hugeSent atomic.Int64
	quit := make(chan struct{})
	bad := badReceivers(3, &hugeSent, quit)
	ids := make(map[string]string)
	for _, b := range bad {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b.requests.Add(1)
			b.handler(w, r)
		}))
		t.Cleanup(srv.Close)
		ids[b.name] = d.createWebhook(t, tok, map[string]any{"url": srv.URL + "/" + b.name, "events": []string{"*"},
			"timeout_seconds": int(badTimeout / time.Second), "max_retries": b.retries}).ID
	}
	t.Cleanup(func() { close(quit) }) // before the servers close: they wait for handlers
	during := startLoad(t, l, loadConfig{NATSURL: d.NATSURL, Prefix: "evt_during", Rate: rate, For: phase, Event: event})
	stress := sampleUntil(t, d, during.done)
	if missing := sk.waitDelivered(l, []string{"healthy"}, everything, time.Minute); len(missing) > 0 {
		t.Errorf("%d healthy deliveries missing while bad receivers misbehaved, e.g.%s", len(missing), sample(missing, 5))
	}

	calmLat, stressLat := latencies(l, sk, "healthy", "evt_before"), latencies(l, sk, "healthy", "evt_during")
	c, s := maxOf(calm), maxOf(stress)
	t.Logf("healthy webhook latency p50/p99: alone %s/%s, beside the bad receivers %s/%s (%d and %d deliveries)",
		percentile(calmLat, 50), percentile(calmLat, 99), percentile(stressLat, 50), percentile(stressLat, 99), len(calmLat), len(stressLat))
	t.Logf("webhookd goroutines max %.0f alone, %.0f beside the bad receivers; RSS max %.1f MiB alone, %.1f MiB beside them (anonymous %.1f and %.1f MiB)",
		c.goroutines, s.goroutines, c.rss/mb, s.rss/mb, c.anon/mb, s.anon/mb)
	for _, b := range bad {
		t.Logf("bad receiver %s got %d requests", b.name, b.requests.Load())
		if b.requests.Load() == 0 {
			t.Errorf("bad receiver %s got no request: the run proves nothing", b.name)
		}
	}
	t.Logf("the huge receiver pushed %.1f MiB in all", float64(hugeSent.Load())/mb)

	// A bad endpoint holds at most its own cap of workers: the healthy one
	// never waits for a bad one's timeout.
	if p99 := percentile(stressLat, 99); p99 >= badTimeout {
		t.Errorf("healthy p99 %s beside the bad receivers reaches their timeout %s; p99 by when sent:%s",
			p99, badTimeout, latencyWindows(l, sk, "healthy", "evt_during", 5*time.Second))
	}
	// Goroutines: each bad webhook's attempts in flight (its cap) with
	// their connections, nothing that grows with the events queued.
	if limit := c.goroutines + float64(len(bad)*perHook*4) + 100; s.goroutines > limit {
		t.Errorf("goroutines rose from %.0f to %.0f (limit %.0f)", c.goroutines, s.goroutines, limit)
	}
	half := len(stress) / 2
	if first, second := maxOf(stress[:half]), maxOf(stress[half:]); second.goroutines > first.goroutines*1.25+50 {
		t.Errorf("goroutines kept growing under the same load: %.0f, then %.0f", first.goroutines, second.goroutines)
	}
	// Memory: a 100 MiB answer is never held, let alone eight at once
	// (what does grow is the queued tasks' state, with the run's length).
	if s.anon > c.anon+96*mb {
		t.Errorf("anonymous memory rose from %.1f MiB to %.1f MiB beside a 100 MiB answer", c.anon/mb, s.anon/mb)
	}

	checkBadStates(t, d, tok, bad, ids, badTimeout)

	// Once the bad webhooks are deleted, what they held is let go.
	for _, id := range ids {
		if code := d.api(t, "DELETE", "/api/v1/admin/webhooks/"+id, tok, nil, nil); code != 204 {
			t.Fatalf("delete: status %d", code)
		}
	}
	// What may stay: idle keep-alive connections to the healthy receiver
	// (one per attempt it had in flight at once, two goroutines each) and
	// the second publisher's NATS connection.
	var settled float64
	limit := c.goroutines + 2*perHook + 20
	eventually(t, 30*time.Second, fmt.Sprintf("goroutines back to at most %.0f", limit), func() bool {
		settled = d.gauge(t, "go_goroutines")
		return settled <= limit
	})
	t.Logf("goroutines after deleting the bad webhooks: %.0f", settled)
}

// checkBadStates checks through the admin API what each bad webhook's
// deliveries recorded.
func checkBadStates(t *testing.T, d *daemon, tok string, bad []*badReceiver, ids map[string]string, timeout time.Duration) {
	t.Helper()
	want := map[string]struct {
		status string
		ok     func(a attemptView) bool
		what   string
	}{
		"hang": {"failed", func(a attemptView) bool { return a.StatusCode == nil && a.Error != nil && *a.Error == "timeout" },
			"no status and error timeout"},
		"huge": {"success", func(a attemptView) bool {
			return a.StatusCode != nil && *a.StatusCode == 200 && a.ResponseBody != nil && len(*a.ResponseBody) <= 4096 &&
				time.Duration(a.DurationMS)*time.Millisecond < timeout
		}, "200 within the timeout, at most 4 KiB of body kept"},
		"reset": {"failed", func(a attemptView) bool {
			return a.StatusCode == nil && a.Error != nil && (*a.Error == "connection reset" || *a.Error == "connection closed")
		}, "no status and error connection reset (or closed)"},
		"redirect": {"failed", func(a attemptView) bool { return a.StatusCode != nil && *a.StatusCode == 302 },
			"status 302, not followed"},
	}
	for _, b := range bad {
		name, id, w := b.name, ids[b.name], want[b.kind]
		var page struct {
			Items []deliveryJSON `json:"items"`
			Total int            `json:"total"`
		}
		path := fmt.Sprintf("/api/v1/admin/webhooks/%s/deliveries?status=%s&per_page=20", id, w.status)
		if code := d.api(t, "GET", path, tok, nil, &page); code != 200 {
			t.Fatalf("%s deliveries: status %d", name, code)
		}
		if page.Total == 0 {
			t.Errorf("%s: no %s delivery recorded", name, w.status)
			continue
		}
		for _, item := range page.Items {
			var dl struct {
				Attempts []attemptView `json:"attempts"`
			}
			if code := d.api(t, "GET", fmt.Sprintf("/api/v1/admin/webhooks/%s/deliveries/%d", id, item.ID), tok, nil, &dl); code != 200 {
				t.Fatalf("%s delivery %d: status %d", name, item.ID, code)
			}
			if n := len(dl.Attempts); w.status == "failed" && n != 1+b.retries {
				t.Errorf("%s delivery %d: %d attempts, want 1 + max_retries = %d", name, item.ID, n, 1+b.retries)
			}
			for _, a := range dl.Attempts {
				if !w.ok(a) {
					t.Errorf("%s delivery %d attempt %d: %+v, want %s", name, item.ID, a.Attempt, a, w.what)
				}
			}
		}
		wh := d.webhook(t, tok, id)
		t.Logf("bad webhook %s: %d %s deliveries, webhook %s with %d consecutive failures", name, page.Total, w.status, wh.Status, wh.ConsecutiveFailures)
		if wh.Status != "active" {
			t.Errorf("%s: webhook %s with auto-disable off", name, wh.Status)
		}
	}
}

// attemptView is one attempt as the admin API shows it.
type attemptView struct {
	Attempt      int     `json:"attempt"`
	StatusCode   *int    `json:"status_code"`
	Error        *string `json:"error"`
	ResponseBody *string `json:"response_body"`
	DurationMS   int64   `json:"duration_ms"`
}
