package fanout

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/scailabs/webhookd/bus"
	"github.com/scailabs/webhookd/kv"
)

func TestEngineDeliversSignedPost(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	ep := newEndpoint(t, nil)
	w := h.addWebhook(ep.url()+"/hook?token=abc", []string{"user.*"}, func(w *kv.Webhook) {
		w.TenantID = "tnt_a"
		w.Headers = map[string]string{"X-Custom": "yes"}
	})
	id, body := h.publish("user.created", "tnt_a", "prt_x", `{"user_id":"u1"}`)

	d := h.waitStatus(w.ID, id, kv.DeliverySuccess)
	reqs := ep.requests()
	if len(reqs) != 1 {
		t.Fatalf("endpoint got %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if !bytes.Equal(r.Body, body) {
		t.Errorf("body = %s, want the envelope exactly as published %s", r.Body, body)
	}
	if r.Path != "/hook" || r.Query != "token=abc" {
		t.Errorf("request to %s?%s, want /hook?token=abc", r.Path, r.Query)
	}
	for name, want := range map[string]string{
		"Content-Type":         "application/json",
		"Webhook-Id":           id,
		"X-Scaikey-Webhook-Id": strconv.FormatInt(d.ID, 10),
		"X-Scaikey-Event-Id":   id,
		"X-Scaikey-Event-Type": "user.created",
		"X-Custom":             "yes",
	} {
		if got := r.Header.Get(name); got != want {
			t.Errorf("header %s = %q, want %q", name, got, want)
		}
	}
	checkSignatures(t, w.Secret, r)

	if d.AttemptCount != 1 || len(d.Attempts) != 1 {
		t.Fatalf("attempts = %d (%d listed), want 1", d.AttemptCount, len(d.Attempts))
	}
	if a := d.Attempts[0]; a.Trigger != kv.TriggerScheduled || a.StatusCode != 200 || a.Error != "" {
		t.Errorf("attempt = %+v, want scheduled 200 without error", a)
	}
	if d.EventSeq == 0 || d.EventType != "user.created" || d.TenantID != "tnt_a" || d.PartnerID != "prt_x" {
		t.Errorf("delivery = seq %d type %q tenant %q partner %q", d.EventSeq, d.EventType, d.TenantID, d.PartnerID)
	}
	// The envelope's timestamp is the event's time, which with its id
	// finds the delivery when the event comes again.
	if env, err := bus.ParseEnvelope(body, "user.created", 0); err != nil || !d.EventTime.Equal(env.Timestamp) {
		t.Errorf("event time = %v, want the envelope's (%v)", d.EventTime, err)
	}
	// The event sequence reads the envelope back (what a manual retry does).
	got, err := h.bus.GetEvent(context.Background(), d.EventSeq)
	if err != nil || !bytes.Equal(got, body) {
		t.Errorf("GetEvent(%d) = %s, %v; want the envelope", d.EventSeq, got, err)
	}
}

func TestEngineUnmatchedEventIsAcked(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	ep := newEndpoint(t, nil)
	w := h.addWebhook(ep.url(), []string{"order.created"}, nil)
	h.publish("user.created", "", "", "")
	eventually(t, "events acked", h.eventsSettled)
	if n := len(h.deliveries(w.ID)); n != 0 || ep.count() != 0 {
		t.Errorf("unmatched event made %d deliveries, %d requests", n, ep.count())
	}
}

func TestEngineTenantIsolation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	epA, epB := newEndpoint(t, nil), newEndpoint(t, nil)
	wa := h.addWebhook(epA.url(), []string{"*"}, func(w *kv.Webhook) { w.TenantID = "tnt_a" })
	wb := h.addWebhook(epB.url(), []string{"*"}, func(w *kv.Webhook) { w.TenantID = "tnt_b" })

	idB, _ := h.publish("user.created", "tnt_b", "", "")
	idA, _ := h.publish("user.created", "tnt_a", "", "")
	h.waitStatus(wa.ID, idA, kv.DeliverySuccess)
	h.waitStatus(wb.ID, idB, kv.DeliverySuccess)
	eventually(t, "events acked", h.eventsSettled)

	if ids := epA.eventIDs(); len(ids) != 1 || ids[idA] != 1 {
		t.Errorf("tenant A got %v, want only %s", ids, idA)
	}
	if ids := epB.eventIDs(); len(ids) != 1 || ids[idB] != 1 {
		t.Errorf("tenant B got %v, want only %s", ids, idB)
	}
	if d := h.delivery(wa.ID, idB); d != nil {
		t.Errorf("tenant A has a delivery of tenant B's event: %+v", d)
	}
}

func TestEngineAutoDisablePublishesEvent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{cfg: func(c *Config) { c.AutoDisableAfter = 3 }})
	failing := newEndpoint(t, statusSeq(500))
	listener := newEndpoint(t, nil)
	wf := h.addWebhook(failing.url()+"/x?secret=1", []string{"order.*"}, func(w *kv.Webhook) {
		w.TenantID, w.MaxRetries = "tnt_a", 0
	})
	wl := h.addWebhook(listener.url(), []string{EventAutoDisabled}, func(w *kv.Webhook) { w.TenantID = "tnt_a" })
	other := h.addWebhook(listener.url(), []string{EventAutoDisabled}, func(w *kv.Webhook) { w.TenantID = "tnt_b" })

	for range 3 {
		h.publish("order.created", "tnt_a", "", "")
	}
	eventually(t, "auto-disabled event delivered", func() bool { return listener.count() >= 1 })
	w := h.webhook(wf.ID)
	if w.Status != kv.WebhookDisabled || w.DisabledReason == "" || w.ConsecutiveFailures != 3 {
		t.Fatalf("webhook = %s %q after %d failures, want disabled after 3", w.Status, w.DisabledReason, w.ConsecutiveFailures)
	}
	r := listener.requests()[0]
	checkSignatures(t, wl.Secret, r)
	var env struct {
		EventID   string `json:"event_id"`
		EventType string `json:"event_type"`
		Timestamp string `json:"timestamp"`
		Source    string `json:"source"`
		TenantID  string `json:"tenant_id"`
		Data      struct {
			WebhookID           string `json:"webhook_id"`
			URL                 string `json:"url"`
			ConsecutiveFailures int    `json:"consecutive_failures"`
			DisabledReason      string `json:"disabled_reason"`
		} `json:"data"`
	}
	if err := json.Unmarshal(r.Body, &env); err != nil {
		t.Fatalf("auto-disabled body: %v", err)
	}
	if env.EventType != EventAutoDisabled || env.Source != "webhookd" || env.TenantID != "tnt_a" ||
		len(env.EventID) < 8 || env.EventID[:4] != "evt_" || r.Header.Get("webhook-id") != env.EventID {
		t.Errorf("envelope = %+v", env)
	}
	if _, err := time.Parse(time.RFC3339, env.Timestamp); err != nil {
		t.Errorf("timestamp %q: %v", env.Timestamp, err)
	}
	if env.Data.WebhookID != wf.ID || env.Data.URL != wf.URL || env.Data.ConsecutiveFailures != 3 ||
		env.Data.DisabledReason != w.DisabledReason {
		t.Errorf("data = %+v", env.Data)
	}
	// The event is an ordinary one: parsed by the bus, in tenant A's scope
	// only.
	if _, err := bus.ParseEnvelope(r.Body, EventAutoDisabled, 0); err != nil {
		t.Errorf("auto-disabled envelope invalid: %v", err)
	}
	eventually(t, "events acked", h.eventsSettled)
	if n := len(h.deliveries(other.ID)); n != 0 {
		t.Errorf("tenant B's listener got %d deliveries of tenant A's event", n)
	}
}

// The notice of an auto-disable is kept in the store with the change, so
// a notice the process did not get to publish (it died right after the
// record) is published by the next round of the due loop, and once.
func TestEngineAutoDisabledNoticeLeftBehindIsPublished(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	ctx := context.Background()
	listener := newEndpoint(t, nil)
	dead := h.addWebhook("https://gone.example/hook", []string{"order.*"}, func(w *kv.Webhook) { w.TenantID = "tnt_a" })
	h.addWebhook(listener.url(), []string{EventAutoDisabled}, func(w *kv.Webhook) { w.TenantID = "tnt_a" })

	// What a process that died right after recording the disabling
	// failure leaves behind: the record, with its notice.
	d, _ := h.createDelivery(dead, "order.created")
	res, err := h.store.RecordAttempt(ctx, kv.AttemptOutcome{
		WebhookID: dead.ID, DeliveryID: d.ID,
		Attempt: kv.Attempt{StartedAt: time.Now(), StatusCode: 500, Error: "status 500"},
		Final:   true, AutoDisableAfter: 1, NoticeID: "evt_left_behind",
	})
	if err != nil || !res.AutoDisabled || res.Notice == nil {
		t.Fatalf("RecordAttempt = %+v, %v", res, err)
	}

	eventually(t, "notice published and delivered", func() bool { return listener.count() >= 1 })
	eventually(t, "notice cleared", func() bool {
		n, err := h.store.Notices(ctx, 10)
		return err == nil && len(n) == 0
	})
	eventually(t, "events acked", h.eventsSettled)
	r := listener.requests()[0]
	var env struct {
		EventType string `json:"event_type"`
		Data      struct {
			WebhookID string `json:"webhook_id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(r.Body, &env); err != nil {
		t.Fatal(err)
	}
	if r.Header.Get("webhook-id") != "evt_left_behind" || env.EventType != EventAutoDisabled || env.Data.WebhookID != dead.ID {
		t.Errorf("delivered %s %+v, want the kept notice", r.Header.Get("webhook-id"), env)
	}
	if n := listener.count(); n != 1 {
		t.Errorf("listener got %d requests, want the notice once", n)
	}
}

func TestEngineStopCancelsInFlightAndHandsBack(t *testing.T) {
	t.Parallel()
	started := make(chan struct{}, 1)
	ep := newEndpoint(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			started <- struct{}{}
			<-r.Context().Done() // hangs until the client gives up
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	h := newHarness(t, harnessOpts{})
	w := h.addWebhook(ep.url(), []string{"user.created"}, func(w *kv.Webhook) { w.TimeoutSeconds = 30 })
	id, _ := h.publish("user.created", "", "", "")
	select {
	case <-started:
	case <-time.After(waitDeadline):
		t.Fatal("first attempt never started")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := h.f.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop with a hung attempt = %v, want DeadlineExceeded", err)
	}
	if d := h.delivery(w.ID, id); d == nil || d.AttemptCount != 0 || d.Status != kv.DeliveryPending {
		t.Fatalf("after a cancelled attempt delivery = %+v, want pending without attempts", d)
	}
	// The task was handed back without delay: a new engine takes it long
	// before the 20s AckWait.
	h.start()
	d := h.waitStatus(w.ID, id, kv.DeliverySuccess)
	if d.AttemptCount != 1 || ep.count() != 2 {
		t.Errorf("attempts = %d, requests = %d; want 1 recorded, 2 made", d.AttemptCount, ep.count())
	}
}

func TestEngineRestartContinuesAttemptCounting(t *testing.T) {
	t.Parallel()
	ep := newEndpoint(t, statusSeq(http.StatusInternalServerError, http.StatusInternalServerError, http.StatusOK))
	h := newHarness(t, harnessOpts{cfg: func(c *Config) { c.Schedule = Schedule{500 * time.Millisecond} }})
	w := h.addWebhook(ep.url(), []string{"user.created"}, func(w *kv.Webhook) { w.MaxRetries = 2 })
	id, _ := h.publish("user.created", "", "", "")
	eventually(t, "first attempt recorded", func() bool {
		d := h.delivery(w.ID, id)
		return d != nil && d.AttemptCount >= 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.f.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := h.f.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if err := h.f.Start(ctx); !errors.Is(err, ErrStopped) {
		t.Fatalf("Start after Stop = %v, want ErrStopped", err)
	}
	h.start()
	// MaxRetries 2 allows exactly 3 attempts: success on the third only if
	// the count went on from the store rather than restarting.
	d := h.waitStatus(w.ID, id, kv.DeliverySuccess)
	if d.AttemptCount != 3 || len(d.Attempts) != 3 || ep.count() != 3 {
		t.Fatalf("attempts = %d (%d listed), requests = %d; want 3", d.AttemptCount, len(d.Attempts), ep.count())
	}
	for i, a := range d.Attempts {
		if a.Attempt != i+1 {
			t.Errorf("attempt %d numbered %d", i+1, a.Attempt)
		}
	}
}

func TestEngineLifecycleErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{noStart: true})
	f, err := New(h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Stop(context.Background()); !errors.Is(err, ErrNotStarted) {
		t.Errorf("Stop before Start = %v, want ErrNotStarted", err)
	}
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := f.Start(context.Background()); !errors.Is(err, ErrAlreadyStarted) {
		t.Errorf("second Start = %v, want ErrAlreadyStarted", err)
	}
	if err := f.Stop(context.Background()); err != nil {
		t.Errorf("Stop = %v", err)
	}
}
