package kv

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkDeliveryLifecycle is what one delivery costs the store on the
// hot path (create, then one successful attempt) from 8 goroutines, as
// webhookd's per-webhook concurrency runs them. It reports bbolt pages
// written per delivery: every commit rewrites each page it touched, so
// this write amplification is most of the store's CPU.
func BenchmarkDeliveryLifecycle(b *testing.B) {
	for _, hooks := range []int{1, 10} {
		b.Run(fmt.Sprintf("webhooks=%d", hooks), func(b *testing.B) { benchLifecycle(b, hooks) })
	}
}

func benchLifecycle(b *testing.B, hooks int) {
	s, err := OpenBolt(BoltOptions{Path: filepath.Join(b.TempDir(), "kv.db"), NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i := range hooks {
		w := &Webhook{ID: fmt.Sprintf("wh_%d", i), URL: "https://receiver.example", Events: []string{"user.created"},
			TenantID: "t1", Status: WebhookActive, CreatedAt: time.Now()}
		if err := s.CreateWebhook(ctx, w); err != nil {
			b.Fatal(err)
		}
	}
	var n atomic.Int64
	before := s.db.Stats()
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				i := n.Add(1)
				if i > int64(b.N) {
					return
				}
				d := &Delivery{WebhookID: fmt.Sprintf("wh_%d", i%int64(hooks)), EventID: fmt.Sprintf("evt_%020d", i*7919%1000003),
					EventType: "user.created", EventSeq: uint64(i), EventTime: time.Now()}
				if _, err := s.CreateDelivery(ctx, d); err != nil {
					b.Error(err)
					return
				}
				res, err := s.RecordAttempt(ctx, AttemptOutcome{WebhookID: d.WebhookID, DeliveryID: d.ID, Success: true,
					Attempt: Attempt{StartedAt: time.Now(), DurationMS: 2, StatusCode: 200}})
				if err != nil || res.Stale {
					b.Errorf("RecordAttempt = %+v, %v", res, err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	after := s.db.Stats()
	diff := after.Sub(&before)
	b.ReportMetric(float64(diff.TxStats.GetWrite())/float64(b.N), "pages/delivery")
}

// openWithHook opens an unsynced store in a temporary file, with webhook
// wh_1, closed when the test ends.
func openWithHook(t *testing.T, opts BoltOptions) *Bolt {
	t.Helper()
	opts.Path, opts.NoSync = filepath.Join(t.TempDir(), "kv.db"), true
	s, err := OpenBolt(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.CreateWebhook(context.Background(), &Webhook{ID: "wh_1", URL: "https://receiver.example", Status: WebhookActive}); err != nil {
		t.Fatal(err)
	}
	return s
}

// Buckets keyed by growing ids split their pages nearly full: a history
// of deliveries created and attempted in order leaves the pages of the
// deliveries, their attempts, the status index and the events by time
// mostly used, not half empty as at bbolt's default split.
func TestAppendOrderedBucketsStayDense(t *testing.T) {
	t.Parallel()
	s := openWithHook(t, BoltOptions{})
	ctx := context.Background()
	for i := range 3000 {
		d := &Delivery{WebhookID: "wh_1", EventID: fmt.Sprintf("evt_%d", i), EventType: "user.created", EventSeq: uint64(i),
			EventTime: time.Now()}
		if _, err := s.CreateDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RecordAttempt(ctx, AttemptOutcome{WebhookID: "wh_1", DeliveryID: d.ID, Success: true,
			Attempt: Attempt{StartedAt: time.Now(), DurationMS: 2, StatusCode: 200}}); err != nil {
			t.Fatal(err)
		}
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		hb, _ := hook(tx, "wh_1")
		for name, b := range map[string]*bolt.Bucket{"deliveries": hb.deliveries, "attempts": hb.attempts, "status": hb.status,
			"events_by_time": hb.eventTimes} {
			st := b.Stats()
			if used := float64(st.LeafInuse) / float64(st.LeafAlloc); used < 0.8 {
				t.Errorf("%s: %.0f %% of %d leaf pages used, want at least 80 %%", name, 100*used, st.LeafPageN)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Events are indexed by time first: a checkpoint of new events with
// random ids (as publishers make them) writes the end of the index, not
// a page of it per event, once the index is larger than a checkpoint.
func TestRandomEventIDsWriteFewIndexPages(t *testing.T) {
	t.Parallel()
	s := openWithHook(t, BoltOptions{CheckpointEvery: time.Hour, CheckpointOps: 1 << 20})
	ctx := context.Background()
	rnd := rand.New(rand.NewPCG(1, 2))
	at := time.Date(2026, 4, 22, 14, 30, 0, 0, time.UTC)
	checkpoint := func(n int) {
		for range n / 500 {
			ds := make([]*Delivery, 500)
			for i := range ds {
				at = at.Add(time.Millisecond)
				ds[i] = &Delivery{WebhookID: "wh_1", EventID: fmt.Sprintf("evt_%016x", rnd.Uint64()), EventType: "user.created", EventTime: at}
			}
			for _, o := range s.CreateDeliveries(ctx, ds) {
				if o.Err != nil || !o.Created {
					t.Fatalf("CreateDeliveries: %+v", o)
				}
			}
		}
		if err := s.commit.flush(); err != nil {
			t.Fatal(err)
		}
	}
	checkpoint(20000)
	before := s.db.Stats()
	checkpoint(500)
	after := s.db.Stats()
	diff := after.Sub(&before)
	// Measured: 40 pages (records, status and index keys of the 500, the
	// branches above them, the stats, freelist and meta); 329 with the
	// events keyed by id alone, their 500 random ids spread over the
	// index's 20,500 keys.
	if written := diff.TxStats.GetWrite(); written > 100 {
		t.Errorf("a checkpoint of 500 new events wrote %d pages, want at most 100", written)
	}
	t.Logf("pages written: %d", diff.TxStats.GetWrite())
}
