package kvtest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scailabs/webhookd/kv"
)

var watchTests = []subtest{
	{"SnapshotAndLive", testWatchSnapshotAndLive},
	{"CommitOrder", testWatchCommitOrder},
	{"NoMissedChanges", testWatchNoMissedChanges},
}

// recorder keeps every change a watcher saw.
type recorder struct {
	mu      sync.Mutex
	changes []kv.WebhookChange
}

func (r *recorder) fn(c kv.WebhookChange) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes = append(r.changes, c)
}

func (r *recorder) all() []kv.WebhookChange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.changes)
}

// last returns the latest change, checked right after a write returned:
// the watcher must already have it.
func (r *recorder) last(t *testing.T, n int) kv.WebhookChange {
	t.Helper()
	all := r.all()
	if len(all) != n {
		t.Fatalf("watcher saw %d changes, want %d (changes must be seen before the write returns)", len(all), n)
	}
	return all[n-1]
}

func testWatchSnapshotAndLive(t *testing.T, s kv.Store) {
	bg := context.Background()
	createWebhook(t, s, newWebhook("wh_1", base))
	createWebhook(t, s, newWebhook("wh_2", base))
	d := createDelivery(t, s, "wh_2", "evt_1", base)

	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	var rec, other recorder
	if err := s.WatchWebhooks(ctx, rec.fn); err != nil {
		t.Fatalf("WatchWebhooks: %v", err)
	}
	otherCtx, otherCancel := context.WithCancel(bg)
	defer otherCancel()
	if err := s.WatchWebhooks(otherCtx, other.fn); err != nil {
		t.Fatalf("WatchWebhooks: %v", err)
	}
	snap := rec.all()
	var snapIDs []string
	for _, c := range snap {
		if c.Webhook == nil || c.Webhook.ID != c.ID || c.Webhook.URL == "" {
			t.Fatalf("snapshot change %+v lacks its webhook", c)
		}
		snapIDs = append(snapIDs, c.ID)
	}
	slices.Sort(snapIDs)
	if !slices.Equal(snapIDs, []string{"wh_1", "wh_2"}) {
		t.Fatalf("snapshot = %v, want [wh_1 wh_2]", snapIDs)
	}

	createWebhook(t, s, newWebhook("wh_3", base))
	if c := rec.last(t, 3); c.ID != "wh_3" || c.Webhook == nil || c.Webhook.ID != "wh_3" {
		t.Fatalf("after create the watcher saw %+v", c)
	}

	upd, err := s.UpdateWebhook(bg, "wh_1", func(w *kv.Webhook) error {
		w.URL = "https://receiver.example/v2"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c := rec.last(t, 4)
	if c.ID != "wh_1" || c.Webhook.URL != upd.URL || c.Webhook.Revision != upd.Revision {
		t.Fatalf("after update the watcher saw %+v, want url %q revision %d", c.Webhook, upd.URL, upd.Revision)
	}
	// Each change is the watcher's own copy.
	c.Webhook.Events[0] = "mutated"
	if w := getWebhook(t, s, "wh_1"); w.Events[0] != "user.created" {
		t.Fatal("mutating a watched webhook changed the store")
	}
	if oc := other.last(t, 4); oc.Webhook.Events[0] != "user.created" {
		t.Fatal("mutating one watcher's webhook changed another's")
	}

	// An attempt moves the webhook's health, which is no change of the
	// webhook (no new revision, nothing to watch), unless it disables it.
	before := getWebhook(t, s, "wh_2")
	record(t, s, attempt(d, base, 10, 500, false))
	if n := len(rec.all()); n != 4 {
		t.Fatalf("after a failed attempt the watcher saw %d changes, want still 4", n)
	}
	if w := getWebhook(t, s, "wh_2"); w.ConsecutiveFailures != 1 || w.Revision != before.Revision {
		t.Fatalf("after a failed attempt: consecutive_failures %d revision %d, want 1 and %d", w.ConsecutiveFailures, w.Revision, before.Revision)
	}
	gone := attempt(getDelivery(t, s, "wh_2", d.ID), base.Add(time.Second), 10, 410, false)
	gone.Final, gone.DisableReason = true, "endpoint answered 410 Gone"
	res := record(t, s, gone)
	if c := rec.last(t, 5); c.ID != "wh_2" || c.Webhook.Status != kv.WebhookDisabled || c.Webhook.ConsecutiveFailures != 2 ||
		c.Webhook.Revision != res.Webhook.Revision || res.Webhook.Revision == before.Revision {
		t.Fatalf("after a disabling attempt the watcher saw %+v", c.Webhook)
	}

	if err := s.DeleteWebhook(bg, "wh_3"); err != nil {
		t.Fatal(err)
	}
	if c := rec.last(t, 6); c.ID != "wh_3" || c.Webhook != nil {
		t.Fatalf("after delete the watcher saw %+v, want wh_3 with no webhook", c)
	}

	cancel()
	createWebhook(t, s, newWebhook("wh_4", base))
	if _, err := s.UpdateWebhook(bg, "wh_1", func(w *kv.Webhook) error { w.Description = "x"; return nil }); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.all()); n != 6 {
		t.Fatalf("watcher saw %d changes after its context ended, want none after the 6th", n)
	}
	if n := len(other.all()); n != 8 {
		t.Fatalf("the other watcher saw %d changes, want 8", n)
	}
}

// Changes reach a watcher in commit order, whichever path wrote them:
// admin updates and attempts that disable a webhook, all at once.
func testWatchCommitOrder(t *testing.T, s kv.Store) {
	createWebhook(t, s, newWebhook("wh_1", base))
	const workers, each = 10, 5
	var ds []*kv.Delivery
	for i := range workers {
		id := fmt.Sprintf("wh_gone_%d", i)
		createWebhook(t, s, newWebhook(id, base))
		ds = append(ds, createDelivery(t, s, id, "evt_1", base))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var rec recorder
	if err := s.WatchWebhooks(ctx, rec.fn); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers*(each+1))
	for i := range workers {
		wg.Go(func() {
			for j := range each {
				_, err := s.UpdateWebhook(context.Background(), "wh_1", func(w *kv.Webhook) error {
					w.ConsecutiveFailures++
					return nil
				})
				if err != nil {
					errs <- err
				}
				if j == each/2 {
					o := attempt(ds[i], base, 10, 410, false)
					o.Final, o.DisableReason = true, "endpoint answered 410 Gone"
					if _, err := s.RecordAttempt(context.Background(), o); err != nil {
						errs <- err
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("write: %v", err)
	}
	var failures []int
	var lastRev uint64
	disabled := map[string]bool{}
	for _, c := range rec.all()[1+workers:] { // the snapshot of every webhook first
		if c.Webhook.Revision <= lastRev {
			t.Fatalf("revisions seen out of order: %d after %d", c.Webhook.Revision, lastRev)
		}
		lastRev = c.Webhook.Revision
		if c.ID == "wh_1" {
			failures = append(failures, c.Webhook.ConsecutiveFailures)
		} else if c.Webhook.Status == kv.WebhookDisabled {
			disabled[c.ID] = true
		}
	}
	want := make([]int, workers*each)
	for i := range want {
		want[i] = i + 1
	}
	if !slices.Equal(failures, want) || len(disabled) != workers {
		t.Fatalf("wh_1's consecutive_failures seen = %v, want 1..%d in commit order; %d webhooks seen disabled, want %d",
			failures, workers*each, len(disabled), workers)
	}
}

func testWatchNoMissedChanges(t *testing.T, s kv.Store) {
	// Writers create, update and delete webhooks without pause until
	// stopped, so that the watch below starts in the middle of their work.
	const writers = 4
	var (
		wg   sync.WaitGroup
		ops  atomic.Int64
		stop = make(chan struct{})
	)
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			bg := context.Background()
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("wh_%d_%04d", w, j)
				if err := s.CreateWebhook(bg, newWebhook(id, base.Add(time.Duration(j)*time.Second))); err != nil {
					errs <- err
					return
				}
				if _, err := s.UpdateWebhook(bg, id, func(w *kv.Webhook) error { w.URL += "/v2"; return nil }); err != nil {
					errs <- err
					return
				}
				if j%3 == 0 {
					if err := s.DeleteWebhook(bg, fmt.Sprintf("wh_%d_%04d", w, j/3)); err != nil {
						errs <- err
						return
					}
				}
				ops.Add(1)
			}
		})
	}
	waitOps := func(n int64) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for ops.Load() < n {
			if time.Now().After(deadline) {
				t.Fatalf("writers did %d rounds in 20s, want %d", ops.Load(), n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	stopWriters := sync.OnceFunc(func() {
		close(stop)
		wg.Wait()
	})
	defer stopWriters()
	waitOps(8)
	var (
		mu   sync.Mutex
		view = map[string]*kv.Webhook{}
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := s.WatchWebhooks(ctx, func(c kv.WebhookChange) {
		mu.Lock()
		defer mu.Unlock()
		if c.Webhook == nil {
			delete(view, c.ID)
			return
		}
		view[c.ID] = c.Webhook
	})
	if err != nil {
		t.Fatal(err)
	}
	waitOps(ops.Load() + 16)
	stopWriters()
	close(errs)
	for err := range errs {
		t.Fatalf("writer: %v", err)
	}
	stored, _, err := s.ListWebhooks(context.Background(), kv.WebhookFilter{})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(view) != len(stored) {
		t.Fatalf("watcher's view holds %d webhooks, the store %d", len(view), len(stored))
	}
	for _, w := range stored {
		v, ok := view[w.ID]
		if !ok || v.Revision != w.Revision || v.URL != w.URL {
			t.Fatalf("watcher's view of %s = %+v, stored %+v", w.ID, v, w)
		}
	}
}
