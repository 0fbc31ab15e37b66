package fanout

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/scailabs/webhookd/bus"
	"github.com/scailabs/webhookd/kv"
)

func TestTestRecordsFailedAttempt(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{noStart: true}) // Test needs no Start
	f, err := New(h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	ep := newEndpoint(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("boom"))
	})
	w := h.addWebhook(ep.url(), []string{"user.created"}, func(w *kv.Webhook) { w.TenantID, w.PartnerID = "tnt_a", "prt_a" })

	d, err := f.Test(context.Background(), w, "", nil)
	if err != nil {
		t.Fatalf("Test: %v", err)
	}
	if d.Status != kv.DeliveryFailed || d.AttemptCount != 1 || len(d.Attempts) != 1 || d.EventType != EventTest {
		t.Fatalf("delivery = %s, %d attempts (%d listed), type %q", d.Status, d.AttemptCount, len(d.Attempts), d.EventType)
	}
	a := d.Attempts[0]
	if a.Trigger != kv.TriggerTest || a.StatusCode != 500 || a.Error != "http 500" || a.ResponseBody != "boom" {
		t.Errorf("attempt = %+v", a)
	}
	reqs := ep.requests()
	if len(reqs) != 1 {
		t.Fatalf("endpoint got %d requests, want 1 (no retries)", len(reqs))
	}
	if !bytes.Equal(reqs[0].Body, d.Payload) || d.EventSeq != 0 {
		t.Errorf("sent %s, stored payload %s (seq %d)", reqs[0].Body, d.Payload, d.EventSeq)
	}
	checkSignatures(t, w.Secret, reqs[0])
	env, err := bus.ParseEnvelope(d.Payload, EventTest, 0)
	if err != nil {
		t.Fatalf("test envelope invalid: %v", err)
	}
	if env.EventID != d.EventID || env.TenantID != "tnt_a" || env.PartnerID != "prt_a" || env.Source != "webhookd" ||
		string(env.Data) != "{}" || reqs[0].Header.Get("webhook-id") != env.EventID || !env.Timestamp.Equal(d.EventTime) {
		t.Errorf("envelope %s of %s/%s from %s at %v, data %s; delivery's event time %v",
			env.EventID, env.TenantID, env.PartnerID, env.Source, env.Timestamp, env.Data, d.EventTime)
	}
}

func TestTestNeverDisables(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{cfg: func(c *Config) { c.AutoDisableAfter = 1 }})
	ep := newEndpoint(t, statusSeq(410))
	w := h.addWebhook(ep.url(), []string{"user.created"}, nil)
	for range 2 {
		d, err := h.f.Test(context.Background(), w, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if d.Status != kv.DeliveryFailed || d.ResponseStatusCode != 410 {
			t.Fatalf("delivery = %s %d", d.Status, d.ResponseStatusCode)
		}
	}
	if got := h.webhook(w.ID); got.Status != kv.WebhookActive || got.DisabledReason != "" {
		t.Errorf("a test disabled the webhook: %s %q", got.Status, got.DisabledReason)
	}
}

func TestTestCustomEvent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	ep := newEndpoint(t, nil)
	w := h.addWebhook(ep.url(), []string{"user.created"}, nil)
	d, err := h.f.Test(context.Background(), w, "user.created", json.RawMessage(`{"user_id": "u1"}`))
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != kv.DeliverySuccess || d.Attempts[0].StatusCode != 200 || d.Attempts[0].Error != "" {
		t.Fatalf("delivery = %+v", d)
	}
	var env struct {
		EventType string          `json:"event_type"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(ep.requests()[0].Body, &env); err != nil {
		t.Fatal(err)
	}
	if env.EventType != "user.created" || string(env.Data) != `{"user_id":"u1"}` {
		t.Errorf("sent %s %s", env.EventType, env.Data)
	}

	for _, c := range []struct {
		typ  string
		data string
	}{{"Not A Type", ""}, {"user.created", "{oops"}} {
		if _, err := h.f.Test(context.Background(), w, c.typ, json.RawMessage(c.data)); !errors.Is(err, ErrInvalidTestEvent) {
			t.Errorf("Test(%q, %q) = %v, want ErrInvalidTestEvent", c.typ, c.data, err)
		}
	}
	if n := len(h.deliveries(w.ID)); n != 1 {
		t.Errorf("%d deliveries, want 1 (invalid tests store nothing)", n)
	}
}

// A test delivery waits on the due list only while its attempt runs: once
// recorded, nothing of it is left there.
func TestTestLeavesNothingDue(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{noStart: true})
	f, err := New(h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	ep := newEndpoint(t, nil)
	w := h.addWebhook(ep.url(), []string{"user.created"}, nil)
	d, err := f.Test(context.Background(), w, "", nil)
	if err != nil {
		t.Fatalf("Test: %v", err)
	}
	if d.Status != kv.DeliverySuccess || d.Deferred || d.NextAttemptAt != nil {
		t.Fatalf("delivery = %s, deferred %v, next %v", d.Status, d.Deferred, d.NextAttemptAt)
	}
	if due, err := h.store.DueDeliveries(context.Background(), time.Now().Add(24*time.Hour), 10); err != nil || len(due) != 0 {
		t.Fatalf("due after the test = %+v, %v", due, err)
	}
}

// A process that died during a test attempt left its delivery pending,
// deferred to the attempt's deadline: the due loop then fails it as
// interrupted, recorded, and never sends it again (tests are not retried).
func TestTestInterruptedByACrashIsFailedAtItsDeadline(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	ep := newEndpoint(t, nil)
	w := h.addWebhook(ep.url(), []string{"user.created"}, nil)

	// What Test leaves when the process dies before the record, its
	// deadline passed.
	now := time.Now().UTC()
	deadline := now.Add(-time.Second)
	d := &kv.Delivery{WebhookID: w.ID, EventID: "evt_interrupted", EventType: EventTest,
		Payload: envelopeBytes(t, "evt_interrupted", EventTest, "", "", ""), Status: kv.DeliveryPending,
		Deferred: true, NextAttemptAt: &deadline, CreatedAt: now, UpdatedAt: now}
	if _, err := h.store.CreateDelivery(context.Background(), d); err != nil {
		t.Fatal(err)
	}

	got := h.waitStatus(w.ID, d.EventID, kv.DeliveryFailed)
	if len(got.Attempts) != 1 || got.Attempts[0].Error != reasonTestInterrupted || got.Attempts[0].Trigger != kv.TriggerTest {
		t.Fatalf("attempts = %+v, want one interrupted test attempt", got.Attempts)
	}
	eventually(t, "nothing left due", func() bool {
		due, err := h.store.DueDeliveries(context.Background(), time.Now().Add(time.Hour), 10)
		return err == nil && len(due) == 0
	})
	if n := ep.count(); n != 0 {
		t.Errorf("endpoint got %d requests, want none", n)
	}
	if w := h.webhook(w.ID); w.ConsecutiveFailures != 0 || w.Status != kv.WebhookActive {
		t.Errorf("webhook after an interrupted test: %d failures, %s", w.ConsecutiveFailures, w.Status)
	}
}
