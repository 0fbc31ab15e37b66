package test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scailabs/webhookd/bus"
)

// dirBytes is the size of every file under dir.
func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	// The running server makes and removes files and directories (its
	// stream's batches/ staging) while the walk reads: what vanished
	// meanwhile counts as nothing.
	err := filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || e.IsDir() {
			return err
		}
		info, err := e.Info()
		if err == nil {
			n += info.Size()
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// memSample is the daemon's memory split: anonymous (heap and stacks,
// its own and the embedded NATS server's) and file-backed (the binary and
// the bbolt file, which bbolt maps).
type memSample struct{ rss, anon, file, heap int64 }

func (d *daemon) mem(t *testing.T) memSample {
	t.Helper()
	var m memSample
	for _, f := range []struct {
		name string
		dst  *int64
	}{{"VmRSS", &m.rss}, {"RssAnon", &m.anon}, {"RssFile", &m.file}} {
		v, err := procStatus(d.pid(), f.name)
		if err != nil {
			t.Fatal(err)
		}
		*f.dst = v
	}
	m.heap = int64(d.gauge(t, "go_memstats_heap_alloc_bytes"))
	return m
}

func (m memSample) String() string {
	return fmt.Sprintf("RSS %d MiB (anonymous %d MiB, file-backed %d MiB), Go heap %d MiB", m.rss>>20, m.anon>>20, m.file>>20, m.heap>>20)
}

// A consumer of webhookd's: its stream and its name.
type consumerOf struct{ stream, name string }

var (
	matchConsumer   = consumerOf{bus.EventsStream, bus.MatchConsumer}
	deliverConsumer = consumerOf{bus.TasksStream, bus.DeliverConsumer}
)

// consumersPending is how many messages the consumers hold together:
// unacked (in flight or nak'd for later) or not yet delivered.
func consumersPending(t *testing.T, natsURL string, consumers ...consumerOf) int {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	held := 0
	for _, co := range consumers {
		c, err := js.Consumer(ctx, co.stream, co.name)
		if err != nil {
			t.Fatalf("consumer %s: %v", co.name, err)
		}
		info, err := c.Info(ctx)
		if err != nil {
			t.Fatalf("consumer %s info: %v", co.name, err)
		}
		held += info.NumAckPending + int(info.NumPending)
	}
	return held
}

// deliverConsumerPending is how many tasks the deliver consumer holds.
func deliverConsumerPending(t *testing.T, natsURL string) int {
	t.Helper()
	return consumersPending(t, natsURL, deliverConsumer)
}

// waitSettled waits until neither the events' match consumer nor the
// deliver consumer holds a message: every event matched and acked, every
// delivery's outcome recorded. A request a killed process made but did
// not record is made again only when JetStream hands its message back
// (AckWait, 20 s), which can be after the receiver already has every
// delivery. It returns how long it waited.
func waitSettled(t *testing.T, natsURL string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		held := consumersPending(t, natsURL, matchConsumer, deliverConsumer)
		if held == 0 {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s the match and deliver consumers still hold %d messages", timeout, held)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestFaultBacklogWaitsOnDiskAndDrainsWithinTheCap builds a backlog while
// the receiver refuses connections, then lets it drain. CI: 20,000
// deliveries retried every 12 s while down. Soak: 200,000, each refused
// once and then left waiting 15 minutes, long enough to see what the
// process holds for a backlog that merely waits.
func TestFaultBacklogWaitsOnDiskAndDrainsWithinTheCap(t *testing.T) {
	t.Parallel()
	const (
		hooks   = 4
		perHook = 4
		pad     = 1 << 10 // bytes of data in each event
		mb      = 1 << 20
	)
	// CI: retries due in 12 s ±20 % with --defer-retries-after 12s, so both
	// paths are taken: about half wait on the due list, half are handed
	// back to JetStream, and a task made from the due list is followed by
	// either.
	events, retry, drainWithin := 5_000, "12s", 10*time.Minute
	if soak() {
		events, retry, drainWithin = 50_000, "15m", 40*time.Minute
	}
	n := events * hooks
	sk := newSink(t)
	d := startDaemon(t, daemonOptions{RetrySchedule: retry, Extra: []string{"--log-level", "info",
		"--auto-disable-after", "0", "--per-webhook-concurrency", fmt.Sprint(perHook), "--defer-retries-after", "12s"}})
	tok := d.superToken(t)
	var names []string
	ids := make(map[string]string)
	for i := range hooks {
		name := fmt.Sprintf("b%d", i)
		names = append(names, name)
		ids[name] = d.createWebhook(t, tok, map[string]any{"url": sk.hook(name, sinkHook{Latency: time.Millisecond}),
			"events": []string{"*"}, "max_retries": 20}).ID
	}
	idle := d.mem(t)

	// The receiver is down (connections refused) while the backlog builds.
	sk.down()
	start := time.Now()
	l := newLedger()
	ld := startLoad(t, l, loadConfig{NATSURL: d.NATSURL, Prefix: "evt_backlog", Rate: 1000,
		For: time.Duration(events/1000) * time.Second, Event: func(int) (string, string) { return "user.created", "" }, Pad: pad})
	if !ld.wait(30 * time.Minute) {
		t.Fatal("publishers could not get every event acknowledged")
	}
	eventually(t, 30*time.Minute, "every delivery created and refused", func() bool {
		for _, id := range ids {
			var s struct {
				Total int `json:"total"`
			}
			if code := d.api(t, "GET", "/api/v1/admin/webhooks/"+id+"/stats", tok, nil, &s); code != 200 || s.Total < events {
				return false
			}
			if d.webhook(t, tok, id).ConsecutiveFailures < events {
				return false
			}
		}
		return true
	})
	built := time.Since(start)
	busy := d.mem(t)
	// Refused, a delivery waits for its next attempt on the store's due
	// list (soak: all of them, 15 min) or, due in under 12 s (CI: about
	// half), as a message pending in the deliver consumer, which the NATS
	// server holds in memory.
	limit := n * 3 / 4
	if soak() {
		limit = n / 20
	}
	if held := deliverConsumerPending(t, d.NATSURL); held > limit {
		t.Errorf("%d of %d waiting deliveries are pending in the deliver consumer, not on the due list", held, n)
	} else {
		t.Logf("deliver consumer holds %d of the %d waiting deliveries", held, n)
	}
	onDisk := dirBytes(t, d.dataDir)
	t.Logf("backlog of %d deliveries (%d events with %d KiB of data, %d webhooks) built and refused in %s; data dir %d MiB",
		n, events, pad>>10, hooks, built.Round(time.Second), onDisk>>20)
	t.Logf("idle: %s", idle)
	t.Logf("backlog built: %s", busy)
	if soak() {
		// Nothing is due for 15 minutes: wait for NATS's block caches to
		// expire (10 s) and Go's periodic GC (2 min), then look again.
		time.Sleep(150 * time.Second)
		t.Logf("backlog waiting: %s", d.mem(t))
	}

	sk.up()
	drainStart := time.Now()
	if missing := sk.waitDelivered(l, names, func(string, pubEvent) bool { return true }, drainWithin); len(missing) > 0 {
		t.Fatalf("%d deliveries missing after the receiver came back, e.g.%s", len(missing), sample(missing, 5))
	}
	drained := time.Since(drainStart)
	hwm, err := procStatus(d.pid(), "VmHWM")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("drained in %s after the receiver came back; peak RSS over the run (VmHWM) %d MiB; most concurrent requests per webhook %v",
		drained.Round(time.Second), hwm>>20, maxConcurrentOf(sk, names))

	// Waiting deliveries live in bbolt (the due list; its mapped pages count
	// as file-backed RSS) and their events in JetStream's file store.
	// Anonymous memory is reported: JetStream's duplicate window keeps two
	// minutes of message ids, and Go's heap grows with the build-up's pace.
	grew := busy.anon - idle.anon
	t.Logf("anonymous memory grew by %d MiB with %d MiB of event data waiting", grew>>20, int64(n*pad)>>20)
	used := 0
	for _, name := range names {
		m := sk.maxConcurrent(name)
		if m > perHook {
			t.Errorf("webhook %s got %d concurrent requests, more than --per-webhook-concurrency %d", name, m, perHook)
		}
		used = max(used, m)
	}
	if used < 2 {
		t.Errorf("no webhook ever got two requests at once: the drain did not test the cap")
	}

	rep := check(l.snapshot(), sk.receipts(), names, func(string, pubEvent) bool { return true })
	t.Logf("backlog: %s", rep)
	if len(rep.Lost) > 0 || len(rep.Unexpected) > 0 || rep.Extra > 0 {
		t.Errorf("lost%s, unexpected%s, %d duplicates without any crash", sample(rep.Lost, 5), sample(rep.Unexpected, 5), rep.Extra)
	}
	for name, id := range ids {
		var s struct {
			Success int `json:"success"`
			Pending int `json:"pending"`
			Failed  int `json:"failed"`
		}
		if code := d.api(t, "GET", "/api/v1/admin/webhooks/"+id+"/stats", tok, nil, &s); code != 200 {
			t.Fatalf("stats: status %d", code)
		}
		if s.Success != events || s.Pending != 0 || s.Failed != 0 {
			t.Errorf("webhook %s stats: %d success, %d pending, %d failed; want %d success", name, s.Success, s.Pending, s.Failed, events)
		}
	}
}

func maxConcurrentOf(sk *sink, names []string) []int {
	var out []int
	for _, n := range names {
		out = append(out, sk.maxConcurrent(n))
	}
	return out
}
