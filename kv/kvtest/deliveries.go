package kvtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/scailabs/webhookd/kv"
)

var deliveryTests = []subtest{
	{"CreateAndGet", testCreateDelivery},
	{"CreateMany", testCreateDeliveries},
	{"IdempotentConcurrent", testCreateDeliveryConcurrentSamePair},
	{"UniqueIDsConcurrent", testDeliveryIDsConcurrent},
	{"List", testListDeliveries},
}

func testCreateDelivery(t *testing.T, s kv.Store) {
	ctx := context.Background()
	createWebhook(t, s, newWebhook("wh_1", base))
	createWebhook(t, s, newWebhook("wh_2", base))

	d := newDelivery("wh_1", "evt_1", base)
	d.Payload = []byte(`{"event_id":"evt_1"}`)
	d.NextAttemptAt = timePtr(base)
	d.Status, d.AttemptCount = kv.DeliveryFailed, 7 // a new delivery is pending with no attempts
	created, err := s.CreateDelivery(ctx, d)
	if err != nil || !created {
		t.Fatalf("CreateDelivery = %v, %v; want true, nil", created, err)
	}
	if d.ID <= 0 || d.Status != kv.DeliveryPending || d.AttemptCount != 0 {
		t.Fatalf("created delivery = id %d status %q attempts %d; want a positive id, pending, 0", d.ID, d.Status, d.AttemptCount)
	}

	got := getDelivery(t, s, "wh_1", d.ID)
	if got.ID != d.ID || got.WebhookID != "wh_1" || got.EventID != "evt_1" || got.EventType != "user.created" ||
		got.TenantID != "tnt_acme" || got.EventSeq != 42 || string(got.Payload) != `{"event_id":"evt_1"}` ||
		got.Status != kv.DeliveryPending || got.Generation != 0 || !sameTime(got.NextAttemptAt, timePtr(base)) ||
		!got.CreatedAt.Equal(base) || !got.EventTime.Equal(eventTime) || got.CompletedAt != nil || len(got.Attempts) != 0 {
		t.Fatalf("GetDelivery = %+v, want the created delivery", got)
	}

	// Same pair again: not created, d overwritten with the stored record.
	again := newDelivery("wh_1", "evt_1", base.Add(time.Hour))
	again.EventType = "user.deleted"
	created, err = s.CreateDelivery(ctx, again)
	if err != nil || created || again.ID != d.ID || again.EventType != "user.created" || !again.CreatedAt.Equal(base) {
		t.Fatalf("CreateDelivery(same pair) = %v, %v, %+v; want false and the stored delivery %d", created, err, again, d.ID)
	}
	// An event without a time (as stored before times were kept) is
	// known by its id alone.
	untimed := newDelivery("wh_1", "evt_untimed", base)
	untimed.EventTime = time.Time{}
	if created, err := s.CreateDelivery(ctx, untimed); err != nil || !created || untimed.ID == d.ID {
		t.Fatalf("CreateDelivery(no event time) = %v, %v, id %d; want a new delivery", created, err, untimed.ID)
	}
	again = newDelivery("wh_1", "evt_untimed", base)
	again.EventTime = time.Time{}
	if created, err := s.CreateDelivery(ctx, again); err != nil || created || again.ID != untimed.ID || !again.EventTime.IsZero() {
		t.Fatalf("CreateDelivery(no event time, again) = %v, %v, %+v; want false and delivery %d", created, err, again, untimed.ID)
	}
	// Same event, other webhook: a delivery of its own.
	other := createDelivery(t, s, "wh_2", "evt_1", base)
	if other.ID == d.ID {
		t.Fatalf("deliveries of two webhooks share id %d", d.ID)
	}
	if _, err := s.GetDelivery(ctx, "wh_2", d.ID); err == nil {
		t.Fatalf("GetDelivery(wh_2, delivery of wh_1) succeeded, want ErrNotFound")
	}
	if total := listTotal(t, s, kv.DeliveryFilter{WebhookID: "wh_1"}); total != 2 {
		t.Fatalf("wh_1 holds %d deliveries after idempotent creates, want 2", total)
	}
}

// CreateDeliveries answers each delivery as CreateDelivery would, in
// order: new, found again, webhook missing, event id missing.
func testCreateDeliveries(t *testing.T, s kv.Store) {
	ctx := context.Background()
	createWebhook(t, s, newWebhook("wh_1", base))
	old := createDelivery(t, s, "wh_1", "evt_old", base)
	ds := []*kv.Delivery{
		newDelivery("wh_1", "evt_1", base),
		newDelivery("wh_1", "evt_old", base.Add(time.Hour)),
		newDelivery("wh_gone", "evt_1", base),
		newDelivery("wh_1", "", base),
		newDelivery("wh_1", "evt_2", base),
	}
	out := s.CreateDeliveries(ctx, ds)
	if len(out) != len(ds) {
		t.Fatalf("CreateDeliveries: %d outcomes for %d deliveries", len(out), len(ds))
	}
	if !out[0].Created || out[0].Err != nil || ds[0].ID <= 0 || ds[0].Status != kv.DeliveryPending {
		t.Errorf("new delivery: %+v, %+v", out[0], ds[0])
	}
	if out[1].Created || out[1].Err != nil || ds[1].ID != old.ID || !ds[1].CreatedAt.Equal(base) {
		t.Errorf("existing pair: %+v, id %d created %v; want the stored delivery %d", out[1], ds[1].ID, ds[1].CreatedAt, old.ID)
	}
	if !errors.Is(out[2].Err, kv.ErrNotFound) || out[2].Created {
		t.Errorf("missing webhook: %+v, want ErrNotFound", out[2])
	}
	if out[3].Err == nil || out[3].Created {
		t.Errorf("no event id: %+v, want an error", out[3])
	}
	if !out[4].Created || out[4].Err != nil || ds[4].ID == ds[0].ID || ds[4].ID == old.ID {
		t.Errorf("second new delivery: %+v id %d, want a new id", out[4], ds[4].ID)
	}
	for _, i := range []int{0, 4} {
		if got := getDelivery(t, s, "wh_1", ds[i].ID); got.EventID != ds[i].EventID {
			t.Errorf("delivery %d stored for %s, want %s", ds[i].ID, got.EventID, ds[i].EventID)
		}
	}
	if total := listTotal(t, s, kv.DeliveryFilter{WebhookID: "wh_1"}); total != 3 {
		t.Errorf("wh_1 holds %d deliveries, want 3", total)
	}
	if st, err := s.WebhookStats(ctx, "wh_1", base); err != nil || st.Pending != 3 {
		t.Errorf("stats = %+v, %v; want 3 pending", st, err)
	}
	if out := s.CreateDeliveries(ctx, nil); len(out) != 0 {
		t.Errorf("CreateDeliveries(nil) = %v", out)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if out := s.CreateDeliveries(cancelled, []*kv.Delivery{newDelivery("wh_1", "evt_3", base)}); !errors.Is(out[0].Err, context.Canceled) {
		t.Errorf("cancelled context: %+v", out[0])
	}
}

func testCreateDeliveryConcurrentSamePair(t *testing.T, s kv.Store) {
	createWebhook(t, s, newWebhook("wh_1", base))
	const n = 10
	type result struct {
		id      int64
		created bool
		err     error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			d := newDelivery("wh_1", "evt_same", base)
			ok, err := s.CreateDelivery(context.Background(), d)
			results[i] = result{d.ID, ok, err}
		})
	}
	wg.Wait()
	createdCount := 0
	for _, r := range results {
		if r.err != nil {
			t.Fatalf("CreateDelivery: %v", r.err)
		}
		if r.id != results[0].id || r.id <= 0 {
			t.Fatalf("concurrent creates of one pair returned ids %v", results)
		}
		if r.created {
			createdCount++
		}
	}
	if createdCount != 1 {
		t.Fatalf("created = true %d times, want exactly once", createdCount)
	}
	if total := listTotal(t, s, kv.DeliveryFilter{WebhookID: "wh_1"}); total != 1 {
		t.Fatalf("%d deliveries stored, want 1", total)
	}
}

func testDeliveryIDsConcurrent(t *testing.T, s kv.Store) {
	createWebhook(t, s, newWebhook("wh_1", base))
	createWebhook(t, s, newWebhook("wh_2", base))
	const workers, each = 8, 15
	got := make([][]int64, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				d := newDelivery(fmt.Sprintf("wh_%d", 1+w%2), fmt.Sprintf("evt_%d_%d", w, i), base)
				if _, err := s.CreateDelivery(context.Background(), d); err != nil {
					errs[w] = err
					return
				}
				got[w] = append(got[w], d.ID)
			}
		})
	}
	wg.Wait()
	seen := map[int64]bool{}
	for w, list := range got {
		if errs[w] != nil {
			t.Fatalf("CreateDelivery: %v", errs[w])
		}
		for i, id := range list {
			if id <= 0 || seen[id] {
				t.Fatalf("delivery id %d is not positive or not unique", id)
			}
			seen[id] = true
			if i > 0 && id <= list[i-1] {
				t.Fatalf("worker %d got ids %v: not increasing", w, list)
			}
		}
	}
	if len(seen) != workers*each {
		t.Fatalf("%d ids, want %d", len(seen), workers*each)
	}
}

func listTotal(t *testing.T, s kv.Store, f kv.DeliveryFilter) int {
	t.Helper()
	_, total, err := s.ListDeliveries(context.Background(), f)
	if err != nil {
		t.Fatalf("ListDeliveries(%+v): %v", f, err)
	}
	return total
}

func testListDeliveries(t *testing.T, s kv.Store) {
	ctx := context.Background()
	createWebhook(t, s, newWebhook("wh_1", base))
	createWebhook(t, s, newWebhook("wh_2", base))
	// Seven deliveries: 0,3,6 succeed; 1,4 fail for good; 2,5 stay pending.
	var all []*kv.Delivery
	byStatus := map[kv.DeliveryStatus][]*kv.Delivery{}
	for i := range 7 {
		d := createDelivery(t, s, "wh_1", fmt.Sprintf("evt_%d", i), base.Add(time.Duration(i)*time.Second))
		createDelivery(t, s, "wh_2", fmt.Sprintf("evt_%d", i), base) // noise in another webhook
		switch i % 3 {
		case 0:
			record(t, s, attempt(d, base, 10, 200, true))
		case 1:
			o := attempt(d, base, 10, 500, false)
			o.Final = true
			record(t, s, o)
		}
		d = getDelivery(t, s, "wh_1", d.ID)
		all = append([]*kv.Delivery{d}, all...) // newest first
		byStatus[d.Status] = append([]*kv.Delivery{d}, byStatus[d.Status]...)
	}
	if len(byStatus[kv.DeliverySuccess]) != 3 || len(byStatus[kv.DeliveryFailed]) != 2 || len(byStatus[kv.DeliveryPending]) != 2 {
		t.Fatalf("fixture statuses = %d success, %d failed, %d pending; want 3, 2, 2",
			len(byStatus[kv.DeliverySuccess]), len(byStatus[kv.DeliveryFailed]), len(byStatus[kv.DeliveryPending]))
	}
	cases := map[kv.DeliveryStatus][]*kv.Delivery{"": all}
	for st, ds := range byStatus {
		cases[st] = ds
	}
	for st, want := range cases {
		f := kv.DeliveryFilter{WebhookID: "wh_1", Status: st}
		got, total, err := s.ListDeliveries(ctx, f)
		if err != nil {
			t.Fatalf("ListDeliveries(%+v): %v", f, err)
		}
		if !slices.Equal(deliveryIDs(got), deliveryIDs(want)) || total != len(want) {
			t.Errorf("ListDeliveries(%+v) = %v total %d, want %v total %d", f, deliveryIDs(got), total, deliveryIDs(want), len(want))
		}
		for _, d := range got {
			if d.WebhookID != "wh_1" || (st != "" && d.Status != st) || d.Attempts != nil {
				t.Errorf("listed delivery %+v: wrong webhook or status, or carries attempts", d)
			}
		}
		var paged []*kv.Delivery
		for off := 0; off < len(want)+2; off += 2 {
			f.Offset, f.Limit = off, 2
			page, total, err := s.ListDeliveries(ctx, f)
			if err != nil || total != len(want) || len(page) > 2 {
				t.Fatalf("ListDeliveries(%+v) = %d items total %d err %v", f, len(page), total, err)
			}
			paged = append(paged, page...)
		}
		if !slices.Equal(deliveryIDs(paged), deliveryIDs(want)) {
			t.Errorf("pages of status %q = %v, want %v", st, deliveryIDs(paged), deliveryIDs(want))
		}
	}
}
