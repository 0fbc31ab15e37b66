package kvtest

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/scailabs/webhookd/kv"
)

var attemptTests = []subtest{
	{"RetryThenSuccess", testRetryThenSuccess},
	{"FinalFailure", testFinalFailure},
	{"Stale", testStaleOutcomes},
	{"DisableReason", testDisableReason},
	{"AutoDisableOnce", testAutoDisableOnce},
	{"Requeue", testRequeue},
	{"Skipped", testSkipped},
	{"TestTriggerLeavesWebhook", testTestTriggerLeavesWebhook},
	{"HealthSurvivesUpdatesNotRecreation", testHealthSurvivesUpdates},
}

// The health attempts move (failure streak, last success and failure)
// stays through an update of other fields, shows in lists, and a webhook
// deleted and created again under its id starts without it.
func testHealthSurvivesUpdates(t *testing.T, s kv.Store) {
	bg := context.Background()
	createWebhook(t, s, newWebhook("wh_1", base))
	for i, ok := range []bool{true, false, false} {
		d := createDelivery(t, s, "wh_1", "evt_"+string(rune('a'+i)), base)
		o := attempt(d, base.Add(time.Duration(i)*time.Second), 10, 500, ok)
		if ok {
			o.Attempt.StatusCode = 200
		}
		o.Final = !ok
		record(t, s, o)
	}
	upd, err := s.UpdateWebhook(bg, "wh_1", func(w *kv.Webhook) error {
		w.URL = "https://receiver.example/v2"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, w *kv.Webhook) {
		t.Helper()
		if w.ConsecutiveFailures != 2 || w.LastSuccessAt == nil || w.LastFailureAt == nil || !w.LastFailureAt.After(*w.LastSuccessAt) {
			t.Fatalf("%s: consecutive_failures %d, last success %v, last failure %v; want 2 and both set, failure later",
				what, w.ConsecutiveFailures, w.LastSuccessAt, w.LastFailureAt)
		}
	}
	check("update's result", upd)
	check("get after an update", getWebhook(t, s, "wh_1"))
	list, _, err := s.ListWebhooks(bg, kv.WebhookFilter{})
	if err != nil || len(list) != 1 {
		t.Fatalf("ListWebhooks: %d webhooks, %v", len(list), err)
	}
	check("list", list[0])

	if err := s.DeleteWebhook(bg, "wh_1"); err != nil {
		t.Fatal(err)
	}
	createWebhook(t, s, newWebhook("wh_1", base))
	if w := getWebhook(t, s, "wh_1"); w.ConsecutiveFailures != 0 || w.LastSuccessAt != nil || w.LastFailureAt != nil {
		t.Fatalf("recreated webhook carries health: %+v", w)
	}
}

// A test attempt is recorded with its delivery and stats but never moves
// the webhook toward auto-disable.
func testTestTriggerLeavesWebhook(t *testing.T, s kv.Store) {
	createWebhook(t, s, newWebhook("wh_1", base))
	d := createDelivery(t, s, "wh_1", "evt_test", base)
	o := attempt(d, base, 30, 500, false)
	o.Attempt.Trigger = kv.TriggerTest
	o.Final = true
	o.AutoDisableAfter = 1
	res := record(t, s, o)
	if res.AutoDisabled || res.Delivery.Status != kv.DeliveryFailed || res.Delivery.AttemptCount != 1 {
		t.Fatalf("test attempt result = %+v, want the delivery failed and nothing disabled", res)
	}
	w := getWebhook(t, s, "wh_1")
	if w.ConsecutiveFailures != 0 || w.LastFailureAt != nil || w.Status != kv.WebhookActive {
		t.Fatalf("webhook after a failed test attempt = %+v, want untouched", w)
	}
	if st := stats(t, s, "wh_1", base); st.Failed != 1 || st.LastDelivery == nil || st.LastDelivery.ID != d.ID {
		t.Fatalf("stats after a test attempt = %+v, want it counted", st)
	}
	if got := getDelivery(t, s, "wh_1", d.ID); len(got.Attempts) != 1 || got.Attempts[0].Trigger != kv.TriggerTest {
		t.Fatalf("attempts = %+v, want one test attempt", got.Attempts)
	}
}

func testRetryThenSuccess(t *testing.T, s kv.Store) {
	createWebhook(t, s, newWebhook("wh_1", base))
	d := createDelivery(t, s, "wh_1", "evt_1", base)

	next := base.Add(30 * time.Second)
	o := attempt(d, base.Add(time.Second), 120, 503, false)
	o.Attempt.Attempt = 99 // ignored: the store numbers attempts
	o.NextAttemptAt = &next
	res := record(t, s, o)
	if res.Stale || res.AutoDisabled {
		t.Fatalf("first failure: Stale %v AutoDisabled %v, want false", res.Stale, res.AutoDisabled)
	}
	rd := res.Delivery
	if rd.Status != kv.DeliveryPending || rd.AttemptCount != 1 || !sameTime(rd.NextAttemptAt, &next) ||
		rd.ResponseStatusCode != 503 || rd.Error != "status 503" || rd.DurationMS != 120 || rd.CompletedAt != nil {
		t.Fatalf("after a retryable failure delivery = %+v", rd)
	}
	if w := res.Webhook; w.ConsecutiveFailures != 1 || w.LastFailureAt == nil || w.LastSuccessAt != nil || w.Status != kv.WebhookActive {
		t.Fatalf("after a failure webhook = %+v, want 1 failure and last_failure_at", w)
	}

	succ := base.Add(40 * time.Second)
	res = record(t, s, attempt(d, succ, 80, 200, true))
	rd = res.Delivery
	if rd.Status != kv.DeliverySuccess || rd.AttemptCount != 2 || rd.NextAttemptAt != nil || rd.CompletedAt == nil ||
		rd.ResponseStatusCode != 200 || rd.Error != "" || rd.DurationMS != 80 {
		t.Fatalf("after success delivery = %+v", rd)
	}
	if rd.CompletedAt.Before(succ) || rd.CompletedAt.After(succ.Add(time.Second)) {
		t.Errorf("completed_at = %v, want the attempt's end (%v + 80ms)", rd.CompletedAt, succ)
	}
	if w := res.Webhook; w.ConsecutiveFailures != 0 || w.LastSuccessAt == nil || w.LastFailureAt == nil {
		t.Fatalf("after success webhook = %+v, want 0 failures and both timestamps", w)
	}
	if w := getWebhook(t, s, "wh_1"); w.ConsecutiveFailures != 0 || w.LastSuccessAt == nil {
		t.Fatalf("stored webhook after success = %+v", w)
	}

	got := getDelivery(t, s, "wh_1", d.ID)
	if got.Status != kv.DeliverySuccess || len(got.Attempts) != 2 {
		t.Fatalf("GetDelivery = %+v, want success with 2 attempts", got)
	}
	state, err := s.DeliveryState(context.Background(), "wh_1", d.ID)
	if err != nil {
		t.Fatal(err)
	}
	withoutAttempts := *got
	withoutAttempts.Attempts = nil
	if !reflect.DeepEqual(state, &withoutAttempts) {
		t.Fatalf("DeliveryState = %+v, want GetDelivery's without attempts %+v", state, &withoutAttempts)
	}
	createWebhook(t, s, newWebhook("wh_2", base))
	if _, err := s.DeliveryState(context.Background(), "wh_2", d.ID); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("DeliveryState(another webhook) = %v, want ErrNotFound", err)
	}
	if _, err := s.DeliveryState(context.Background(), "wh_1", d.ID+1000); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("DeliveryState(no such id) = %v, want ErrNotFound", err)
	}
	a1, a2 := got.Attempts[0], got.Attempts[1]
	if a1.Attempt != 1 || a1.StatusCode != 503 || a1.Error != "status 503" || a1.ResponseBody != "body of 503" ||
		a1.DurationMS != 120 || !a1.StartedAt.Equal(base.Add(time.Second)) || a1.Trigger != kv.TriggerScheduled {
		t.Errorf("attempt 1 = %+v", a1)
	}
	if a2.Attempt != 2 || a2.StatusCode != 200 || a2.ResponseBody != "body of 200" || !a2.StartedAt.Equal(succ) {
		t.Errorf("attempt 2 = %+v", a2)
	}
}

func testFinalFailure(t *testing.T, s kv.Store) {
	createWebhook(t, s, newWebhook("wh_1", base))
	d := createDelivery(t, s, "wh_1", "evt_1", base)
	o := attempt(d, base, 10, 500, false)
	o.Final = true
	o.NextAttemptAt = timePtr(base.Add(time.Hour)) // ignored on a final failure
	res := record(t, s, o)
	if rd := res.Delivery; rd.Status != kv.DeliveryFailed || rd.CompletedAt == nil || rd.NextAttemptAt != nil || rd.AttemptCount != 1 {
		t.Fatalf("after a final failure delivery = %+v", rd)
	}
	if got := getDelivery(t, s, "wh_1", d.ID); got.Status != kv.DeliveryFailed || len(got.Attempts) != 1 {
		t.Fatalf("stored delivery = %+v", got)
	}
}

func testStaleOutcomes(t *testing.T, s kv.Store) {
	createWebhook(t, s, newWebhook("wh_1", base))
	d := createDelivery(t, s, "wh_1", "evt_1", base)

	wrongGen := attempt(d, base, 10, 200, true)
	wrongGen.Generation = d.Generation + 1
	missing := attempt(d, base, 10, 200, true)
	missing.DeliveryID = d.ID + 1000
	otherHook := attempt(d, base, 10, 200, true)
	otherHook.WebhookID = "wh_missing"
	for name, o := range map[string]kv.AttemptOutcome{"other generation": wrongGen, "missing delivery": missing, "missing webhook": otherHook} {
		if res := record(t, s, o); !res.Stale {
			t.Errorf("%s: Stale = false", name)
		}
	}
	if got := getDelivery(t, s, "wh_1", d.ID); got.AttemptCount != 0 || len(got.Attempts) != 0 || got.Status != kv.DeliveryPending {
		t.Fatalf("a stale outcome was written: %+v", got)
	}
	if w := getWebhook(t, s, "wh_1"); w.ConsecutiveFailures != 0 || w.LastSuccessAt != nil {
		t.Fatalf("a stale outcome changed the webhook: %+v", w)
	}

	record(t, s, attempt(d, base, 10, 200, true))
	// Finished: a late duplicate of the task is stale too.
	if res := record(t, s, attempt(d, base, 10, 500, false)); !res.Stale {
		t.Fatal("outcome for a finished delivery: Stale = false")
	}
	if got := getDelivery(t, s, "wh_1", d.ID); got.AttemptCount != 1 || len(got.Attempts) != 1 || got.Status != kv.DeliverySuccess {
		t.Fatalf("late outcome was written: %+v", got)
	}
}

func testDisableReason(t *testing.T, s kv.Store) {
	createWebhook(t, s, newWebhook("wh_1", base))
	d := createDelivery(t, s, "wh_1", "evt_1", base)
	o := attempt(d, base, 10, 410, false)
	o.Final = true
	o.DisableReason = "endpoint answered 410 Gone"
	o.AutoDisableAfter = 50
	res := record(t, s, o)
	if res.AutoDisabled {
		t.Error("AutoDisabled = true for a 410, want false")
	}
	for _, w := range []*kv.Webhook{res.Webhook, getWebhook(t, s, "wh_1")} {
		if w.Status != kv.WebhookDisabled || w.DisabledReason != "endpoint answered 410 Gone" {
			t.Fatalf("webhook after 410 = status %q reason %q", w.Status, w.DisabledReason)
		}
	}
}

func testAutoDisableOnce(t *testing.T, s kv.Store) {
	createWebhook(t, s, newWebhook("wh_1", base))
	var autoDisabled []int
	for i := 1; i <= 5; i++ {
		d := createDelivery(t, s, "wh_1", "evt_"+string(rune('a'+i)), base)
		o := attempt(d, base.Add(time.Duration(i)*time.Second), 10, 500, false)
		o.Final = true
		o.AutoDisableAfter = 3
		res := record(t, s, o)
		if res.AutoDisabled {
			autoDisabled = append(autoDisabled, i)
		}
		if res.Webhook.ConsecutiveFailures != i {
			t.Fatalf("after failure %d consecutive_failures = %d", i, res.Webhook.ConsecutiveFailures)
		}
		if wantDisabled := i >= 3; (res.Webhook.Status == kv.WebhookDisabled) != wantDisabled {
			t.Fatalf("after failure %d status = %q", i, res.Webhook.Status)
		}
	}
	if len(autoDisabled) != 1 || autoDisabled[0] != 3 {
		t.Fatalf("AutoDisabled on failures %v, want only on the 3rd", autoDisabled)
	}
	w := getWebhook(t, s, "wh_1")
	if w.Status != kv.WebhookDisabled || !strings.Contains(w.DisabledReason, "3") {
		t.Fatalf("webhook = status %q reason %q, want disabled with a reason naming 3 failures", w.Status, w.DisabledReason)
	}

	// Re-enabled by an admin, a success resets the streak.
	if _, err := s.UpdateWebhook(context.Background(), "wh_1", func(w *kv.Webhook) error {
		w.Status, w.DisabledReason, w.ConsecutiveFailures = kv.WebhookActive, "", 0
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	d := createDelivery(t, s, "wh_1", "evt_z", base)
	o := attempt(d, base, 10, 500, false)
	o.AutoDisableAfter = 3
	record(t, s, o)
	if res := record(t, s, attempt(getDelivery(t, s, "wh_1", d.ID), base, 10, 200, true)); res.Webhook.ConsecutiveFailures != 0 || res.Webhook.Status != kv.WebhookActive {
		t.Fatalf("after success webhook = %+v", res.Webhook)
	}
}

func testRequeue(t *testing.T, s kv.Store) {
	ctx := context.Background()
	createWebhook(t, s, newWebhook("wh_1", base))
	d := createDelivery(t, s, "wh_1", "evt_1", base)
	if _, err := s.RequeueDelivery(ctx, "wh_1", d.ID, base); !errors.Is(err, kv.ErrConflict) {
		t.Fatalf("RequeueDelivery(pending) = %v, want ErrConflict", err)
	}
	o := attempt(d, base, 10, 500, false)
	o.Final = true
	record(t, s, o)

	now := base.Add(time.Hour)
	rq, err := s.RequeueDelivery(ctx, "wh_1", d.ID, now)
	if err != nil {
		t.Fatalf("RequeueDelivery(failed): %v", err)
	}
	if rq.Status != kv.DeliveryPending || rq.Generation != d.Generation+1 || !sameTime(rq.NextAttemptAt, &now) ||
		rq.CompletedAt != nil || !rq.UpdatedAt.Equal(now) || rq.AttemptCount != 1 {
		t.Fatalf("requeued delivery = %+v", rq)
	}
	if _, err := s.RequeueDelivery(ctx, "wh_1", d.ID, now); !errors.Is(err, kv.ErrConflict) {
		t.Fatalf("RequeueDelivery(requeued) = %v, want ErrConflict", err)
	}
	if st, _ := s.WebhookStats(ctx, "wh_1", now); st.Pending != 1 || st.Failed != 0 || st.Total != 1 {
		t.Fatalf("stats after requeue = %+v, want the delivery back in pending", st)
	}

	// The old generation's task is stale; the new one records attempt 2.
	if res := record(t, s, attempt(d, now, 10, 200, true)); !res.Stale {
		t.Fatal("outcome of the old generation: Stale = false")
	}
	manual := attempt(rq, now, 10, 200, true)
	manual.Attempt.Trigger = kv.TriggerManual
	res := record(t, s, manual)
	if res.Stale || res.Delivery.Status != kv.DeliverySuccess || res.Delivery.AttemptCount != 2 {
		t.Fatalf("outcome of the new generation = %+v", res)
	}
	got := getDelivery(t, s, "wh_1", d.ID)
	if len(got.Attempts) != 2 || got.Attempts[0].StatusCode != 500 || got.Attempts[1].Trigger != kv.TriggerManual || got.Attempts[1].Attempt != 2 {
		t.Fatalf("history after a manual retry = %+v, want both attempts kept", got.Attempts)
	}
	if _, err := s.RequeueDelivery(ctx, "wh_1", d.ID, now); err != nil {
		t.Fatalf("RequeueDelivery(success): %v", err)
	}
}

func testSkipped(t *testing.T, s kv.Store) {
	ctx := context.Background()
	createWebhook(t, s, newWebhook("wh_1", base))
	first := createDelivery(t, s, "wh_1", "evt_1", base)
	record(t, s, attempt(first, base, 40, 500, false))
	if _, err := s.UpdateWebhook(ctx, "wh_1", func(w *kv.Webhook) error {
		w.Status = kv.WebhookInactive
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	before := getWebhook(t, s, "wh_1")
	statsBefore := stats(t, s, "wh_1", base)

	d := createDelivery(t, s, "wh_1", "evt_2", base)
	o := kv.AttemptOutcome{
		WebhookID: "wh_1", DeliveryID: d.ID, Generation: d.Generation,
		Attempt:          kv.Attempt{StartedAt: base.Add(time.Minute), Error: "webhook inactive", Trigger: kv.TriggerScheduled},
		Final:            true,
		Skipped:          true,
		AutoDisableAfter: 1,
	}
	res := record(t, s, o)
	if res.Stale || res.AutoDisabled || res.Delivery.Status != kv.DeliveryFailed || res.Delivery.AttemptCount != 1 {
		t.Fatalf("skipped outcome = %+v, want the delivery failed after 1 attempt, not auto-disabled", res)
	}
	after := getWebhook(t, s, "wh_1")
	if after.ConsecutiveFailures != before.ConsecutiveFailures || after.Status != kv.WebhookInactive ||
		!sameTime(after.LastFailureAt, before.LastFailureAt) || after.Revision != before.Revision {
		t.Fatalf("a skipped attempt changed the webhook: before %+v after %+v", before, after)
	}
	got := getDelivery(t, s, "wh_1", d.ID)
	if len(got.Attempts) != 1 || got.Attempts[0].Error != "webhook inactive" {
		t.Fatalf("skipped attempt not in history: %+v", got.Attempts)
	}
	st := stats(t, s, "wh_1", base)
	if st.Failed != statsBefore.Failed+1 || st.Pending != statsBefore.Pending || st.AvgLatencyMS != statsBefore.AvgLatencyMS ||
		st.LastDelivery == nil || st.LastDelivery.ID != first.ID {
		t.Fatalf("stats after a skipped attempt = %+v, before %+v: want one more failed, latency and last_delivery kept", st, statsBefore)
	}
}
