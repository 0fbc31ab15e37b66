package kvtest

import (
	"context"
	"testing"
	"time"

	"github.com/scailabs/webhookd/kv"
)

var dueTests = []subtest{
	{"DeferredAttemptsListedByDueTime", testDueOrder},
	{"NextOutcomeTakesADeliveryOffTheList", testDueMovesOn},
	{"ClearDueRemovesOnlyTheGivenEntries", testClearDue},
	{"DeliveryCreatedDeferredIsDueUntilRecorded", testCreateDeferred},
}

// A delivery whose creator attempts it at once (a synchronous test) is
// created deferred to a deadline, on the due list until the attempt is
// recorded: should the creator die first, the due list still knows it.
func testCreateDeferred(t *testing.T, s kv.Store) {
	ctx := context.Background()
	createWebhook(t, s, newWebhook("wh_1", base))
	deadline := base.Add(time.Minute)
	d := &kv.Delivery{WebhookID: "wh_1", EventID: "evt_test", EventType: "webhook.test", Payload: []byte(`{}`),
		Status: kv.DeliveryPending, Deferred: true, NextAttemptAt: &deadline, CreatedAt: base, UpdatedAt: base}
	if created, err := s.CreateDelivery(ctx, d); err != nil || !created {
		t.Fatalf("CreateDelivery = %v, %v", created, err)
	}
	if !d.Deferred || !sameTime(d.NextAttemptAt, &deadline) {
		t.Fatalf("created delivery: deferred %v, next %v", d.Deferred, d.NextAttemptAt)
	}
	got := due(t, s, deadline, 10)
	if len(got) != 1 || got[0].DeliveryID != d.ID || got[0].WebhookID != "wh_1" || !got[0].At.Equal(deadline) {
		t.Fatalf("due = %+v, want the new delivery at its deadline", got)
	}
	// Created again (idempotent): still one entry.
	again := *d
	again.ID = 0
	if created, err := s.CreateDelivery(ctx, &again); err != nil || created || again.ID != d.ID {
		t.Fatalf("CreateDelivery again = %v, %v (id %d)", created, err, again.ID)
	}
	if n := len(due(t, s, deadline, 10)); n != 1 {
		t.Fatalf("due after the repeat = %d entries", n)
	}
	o := attempt(d, base, 10, 200, true)
	o.Final = true
	if res := record(t, s, o); res.Delivery.Deferred || res.Delivery.Status != kv.DeliverySuccess {
		t.Fatalf("after its attempt: deferred %v, status %s", res.Delivery.Deferred, res.Delivery.Status)
	}
	if got := due(t, s, deadline.Add(time.Hour), 10); len(got) != 0 {
		t.Fatalf("due after the attempt was recorded: %+v", got)
	}
}

func due(t *testing.T, s kv.Store, until time.Time, limit int) []kv.Due {
	t.Helper()
	out, err := s.DueDeliveries(context.Background(), until, limit)
	if err != nil {
		t.Fatalf("DueDeliveries: %v", err)
	}
	return out
}

// deferFailure records a failed attempt of d whose next attempt, at next,
// waits in the store.
func deferFailure(t *testing.T, s kv.Store, d *kv.Delivery, next time.Time) *kv.Delivery {
	t.Helper()
	o := attempt(d, base, 10, 503, false)
	o.NextAttemptAt, o.Defer = timePtr(next), true
	res := record(t, s, o)
	if res.Stale || !res.Delivery.Deferred || !sameTime(res.Delivery.NextAttemptAt, &next) {
		t.Fatalf("deferred failure: stale %v, deferred %v, next %v", res.Stale, res.Delivery.Deferred, res.Delivery.NextAttemptAt)
	}
	return res.Delivery
}

func testDueOrder(t *testing.T, s kv.Store) {
	createWebhook(t, s, newWebhook("wh_a", base))
	createWebhook(t, s, newWebhook("wh_b", base))
	d1 := createDelivery(t, s, "wh_a", "evt_1", base)
	d2 := createDelivery(t, s, "wh_b", "evt_2", base)
	d3 := createDelivery(t, s, "wh_a", "evt_3", base)
	d4 := createDelivery(t, s, "wh_a", "evt_4", base)
	deferFailure(t, s, d1, base.Add(3*time.Minute))
	deferFailure(t, s, d2, base.Add(time.Minute))
	deferFailure(t, s, d3, base.Add(2*time.Minute))
	// A retry kept in a message, not deferred: never listed.
	o := attempt(d4, base, 10, 503, false)
	o.NextAttemptAt = timePtr(base.Add(time.Second))
	if res := record(t, s, o); res.Delivery.Deferred {
		t.Fatal("a retry recorded without Defer is deferred")
	}
	if got := getDelivery(t, s, "wh_a", d1.ID); !got.Deferred {
		t.Fatal("GetDelivery lost the deferred mark")
	}

	if got := due(t, s, base.Add(30*time.Second), 10); len(got) != 0 {
		t.Fatalf("due before any due time: %+v", got)
	}
	got := due(t, s, base.Add(2*time.Minute), 10)
	want := []kv.Due{
		{WebhookID: "wh_b", DeliveryID: d2.ID, At: base.Add(time.Minute)},
		{WebhookID: "wh_a", DeliveryID: d3.ID, At: base.Add(2 * time.Minute)},
	}
	if len(got) != len(want) {
		t.Fatalf("due until +2m = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].WebhookID != want[i].WebhookID || got[i].DeliveryID != want[i].DeliveryID || !got[i].At.Equal(want[i].At) {
			t.Errorf("due[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	if got := due(t, s, base.Add(time.Hour), 2); len(got) != 2 || got[1].DeliveryID != d3.ID {
		t.Errorf("due with limit 2 = %+v, want the two soonest", got)
	}
	if got := due(t, s, base.Add(time.Hour), 0); len(got) != 0 {
		t.Errorf("due with limit 0 = %+v", got)
	}
}

func testDueMovesOn(t *testing.T, s kv.Store) {
	createWebhook(t, s, newWebhook("wh_a", base))
	d := createDelivery(t, s, "wh_a", "evt_1", base)
	d = deferFailure(t, s, d, base.Add(time.Minute))
	// The next attempt fails again: the entry moves to the new due time.
	d = deferFailure(t, s, d, base.Add(5*time.Minute))
	if got := due(t, s, base.Add(time.Hour), 10); len(got) != 1 || !got[0].At.Equal(base.Add(5*time.Minute)) {
		t.Fatalf("after a second deferred failure: %+v, want one entry at +5m", got)
	}
	// A retry kept in a message: off the list, no longer deferred.
	o := attempt(d, base, 10, 503, false)
	o.NextAttemptAt = timePtr(base.Add(10 * time.Minute))
	if res := record(t, s, o); res.Delivery.Deferred {
		t.Fatal("still deferred after a retry recorded without Defer")
	}
	if got := due(t, s, base.Add(time.Hour), 10); len(got) != 0 {
		t.Fatalf("a retry without Defer left entries: %+v", got)
	}
	// Deferred again, then a success: off the list.
	d = deferFailure(t, s, getDelivery(t, s, "wh_a", d.ID), base.Add(20*time.Minute))
	res := record(t, s, attempt(d, base, 10, 200, true))
	if res.Delivery.Deferred || res.Delivery.Status != kv.DeliverySuccess {
		t.Fatalf("after success: status %s, deferred %v", res.Delivery.Status, res.Delivery.Deferred)
	}
	if got := due(t, s, base.Add(time.Hour), 10); len(got) != 0 {
		t.Fatalf("a delivered delivery is still due: %+v", got)
	}
	// A final failure with Defer set defers nothing.
	d2 := createDelivery(t, s, "wh_a", "evt_2", base)
	o = attempt(d2, base, 10, 503, false)
	o.Final, o.Defer = true, true
	if res := record(t, s, o); res.Delivery.Deferred || res.Delivery.Status != kv.DeliveryFailed {
		t.Fatalf("final failure with Defer: status %s, deferred %v", res.Delivery.Status, res.Delivery.Deferred)
	}
	if got := due(t, s, base.Add(time.Hour), 10); len(got) != 0 {
		t.Fatalf("a failed delivery is due: %+v", got)
	}
}

func testClearDue(t *testing.T, s kv.Store) {
	createWebhook(t, s, newWebhook("wh_a", base))
	d1 := deferFailure(t, s, createDelivery(t, s, "wh_a", "evt_1", base), base.Add(time.Minute))
	deferFailure(t, s, createDelivery(t, s, "wh_a", "evt_2", base), base.Add(2*time.Minute))
	all := due(t, s, base.Add(time.Hour), 10)
	if len(all) != 2 {
		t.Fatalf("due = %+v, want 2", all)
	}
	// Clearing the first, plus an entry that never was, leaves the second.
	gone := kv.Due{WebhookID: "wh_a", DeliveryID: 999, At: base}
	if err := s.ClearDue(context.Background(), []kv.Due{all[0], gone}); err != nil {
		t.Fatalf("ClearDue: %v", err)
	}
	if got := due(t, s, base.Add(time.Hour), 10); len(got) != 1 || got[0].DeliveryID == d1.ID {
		t.Fatalf("after clearing the first: %+v", got)
	}
	// The delivery itself is untouched: still pending, still deferred.
	if got := getDelivery(t, s, "wh_a", d1.ID); got.Status != kv.DeliveryPending || !got.Deferred {
		t.Fatalf("ClearDue changed the delivery: status %s, deferred %v", got.Status, got.Deferred)
	}
	if err := s.ClearDue(context.Background(), nil); err != nil {
		t.Fatalf("ClearDue(nil): %v", err)
	}
}
