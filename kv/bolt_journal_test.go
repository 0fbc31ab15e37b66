package kv_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/scailabs/webhookd/kv"
)

// storeImage is everything a reader can see of one webhook's records.
type storeImage struct {
	Webhook    *kv.Webhook
	Deliveries []*kv.Delivery
	Total      int
	Stats      *kv.Stats
	Due        []kv.Due
	Notices    []kv.AutoDisabledNotice
}

func imageOf(t *testing.T, s kv.Store, now time.Time, ids []int64) storeImage {
	t.Helper()
	ctx := context.Background()
	var img storeImage
	var err error
	if img.Webhook, err = s.GetWebhook(ctx, "wh_1"); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		d, err := s.GetDelivery(ctx, "wh_1", id)
		if err != nil {
			t.Fatal(err)
		}
		img.Deliveries = append(img.Deliveries, d)
	}
	if _, img.Total, err = s.ListDeliveries(ctx, kv.DeliveryFilter{WebhookID: "wh_1", Limit: 10}); err != nil {
		t.Fatal(err)
	}
	if img.Stats, err = s.WebhookStats(ctx, "wh_1", now); err != nil {
		t.Fatal(err)
	}
	if img.Due, err = s.DueDeliveries(ctx, now.Add(time.Hour), 100); err != nil {
		t.Fatal(err)
	}
	if img.Notices, err = s.Notices(ctx, 100); err != nil {
		t.Fatal(err)
	}
	return img
}

// The hot writes answered since the last checkpoint live in the journal
// and the open transaction only. A copy of the store's files taken then,
// which is what a process killed at that moment leaves, opens to exactly
// what the running store shows: same ids, attempts, stats, due list,
// notices and webhook (streak, auto-disable).
func TestBoltCrashImageHasEveryAnsweredWrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "kv.db")
	s := openBolt(t, kv.BoltOptions{Path: path, CheckpointEvery: time.Hour, CheckpointOps: 1 << 20})
	ctx := context.Background()
	// Callers pass local times; the journal keeps UTC, so the running
	// store must keep UTC too for the images to match.
	now := time.Date(2026, 11, 29, 9, 0, 0, 0, time.FixedZone("CET", 3600))
	if err := s.CreateWebhook(ctx, &kv.Webhook{ID: "wh_1", URL: "https://example.com/h", Status: kv.WebhookActive, TenantID: "tnt_a", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	later := now.Add(time.Minute)
	var ids []int64
	for i, evt := range []string{"evt_1", "evt_2", "evt_3", "evt_4"} {
		d := &kv.Delivery{WebhookID: "wh_1", EventID: evt, EventType: "user.created", Payload: []byte(`{"n":1}`), CreatedAt: now.Add(time.Duration(i) * time.Second)}
		if i == 3 {
			d.Deferred, d.NextAttemptAt = true, &later
		}
		if _, err := s.CreateDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.ID)
	}
	// A repeat of an event finds its delivery, also before a checkpoint.
	again := &kv.Delivery{WebhookID: "wh_1", EventID: "evt_2"}
	if created, err := s.CreateDelivery(ctx, again); err != nil || created || again.ID != ids[1] {
		t.Fatalf("repeat create = %v, %v, id %d; want the stored delivery %d", created, err, again.ID, ids[1])
	}
	attempt := func(id int64, o kv.AttemptOutcome) {
		t.Helper()
		o.WebhookID, o.DeliveryID = "wh_1", id
		o.Attempt = kv.Attempt{StartedAt: now.Add(2 * time.Second), DurationMS: 12, StatusCode: 503}
		if res, err := s.RecordAttempt(ctx, o); err != nil || res.Stale {
			t.Fatalf("RecordAttempt(%d) = %+v, %v", id, res, err)
		}
	}
	attempt(ids[0], kv.AttemptOutcome{Success: true})
	attempt(ids[1], kv.AttemptOutcome{NextAttemptAt: &later, Defer: true, AutoDisableAfter: 2, NoticeID: "evt_n1"})
	attempt(ids[2], kv.AttemptOutcome{Final: true, AutoDisableAfter: 2, NoticeID: "evt_n2"})
	due, err := s.DueDeliveries(ctx, later, 10)
	if err != nil || len(due) != 2 {
		t.Fatalf("due = %v, %v; want 2", due, err)
	}
	if err := s.ClearDue(ctx, due[:1]); err != nil {
		t.Fatal(err)
	}
	want := imageOf(t, s, now, ids)
	if want.Webhook.Status != kv.WebhookDisabled || len(want.Notices) != 1 || len(want.Due) != 1 || want.Total != 4 {
		t.Fatalf("the running store shows %+v; the test expects a disabled webhook, a notice, one due entry, 4 deliveries", want)
	}

	crash := filepath.Join(t.TempDir(), "kv.db")
	for _, suffix := range []string{"", "-journal"} {
		b, err := os.ReadFile(path + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(crash+suffix, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if fi, err := os.Stat(path + "-journal"); err != nil || fi.Size() == 0 {
		t.Fatalf("journal before any checkpoint: %v, %v; want the writes in it", fi, err)
	}
	s2 := openBolt(t, kv.BoltOptions{Path: crash})
	got := imageOf(t, s2, now, ids)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after the crash\n%+v\nwant\n%+v", got, want)
	}
	if err := s2.Check(); err != nil {
		t.Fatal(err)
	}
	// Ids go on after the replayed ones.
	d := &kv.Delivery{WebhookID: "wh_1", EventID: "evt_5"}
	if _, err := s2.CreateDelivery(ctx, d); err != nil || d.ID != ids[3]+1 {
		t.Fatalf("next delivery id %d (%v), want %d", d.ID, err, ids[3]+1)
	}
}
