package fanout

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/scailabs/webhookd/bus"
	"github.com/scailabs/webhookd/kv"
)

// deliverPending is what the deliver consumer holds unacked or undelivered.
func (h *harness) deliverPending() int {
	h.t.Helper()
	info := h.consumerInfo(bus.TasksStream, bus.DeliverConsumer)
	return info.NumAckPending + int(info.NumPending)
}

// publishCopy publishes a copy of d's task outside PublishTasks, under a
// message id of its own (as a copy republished by another process, or
// redelivered after a crash, would arrive), with the given attempt header.
func (h *harness) publishCopy(d *kv.Delivery, body []byte, attempt int, msgID string) {
	h.t.Helper()
	hdr := nats.Header{}
	hdr.Set(bus.HeaderDeliveryID, strconv.FormatInt(d.ID, 10))
	hdr.Set(bus.HeaderWebhookID, d.WebhookID)
	hdr.Set(bus.HeaderEventID, d.EventID)
	hdr.Set(bus.HeaderEventType, d.EventType)
	hdr.Set(bus.HeaderGeneration, strconv.Itoa(d.Generation))
	hdr.Set(bus.HeaderTrigger, bus.TriggerScheduled)
	if attempt > 0 {
		hdr.Set(bus.HeaderAttempt, strconv.Itoa(attempt))
	}
	hdr.Set("Nats-Msg-Id", msgID)
	if _, err := h.bus.JetStream().PublishMsg(context.Background(), &nats.Msg{Subject: bus.TaskSubject(d.WebhookID), Header: hdr, Data: body}); err != nil {
		h.t.Fatalf("publish copy: %v", err)
	}
}

func TestEngineLongRetriesWaitInTheStoreNotTheStream(t *testing.T) {
	t.Parallel()
	ep := newEndpoint(t, statusSeq(http.StatusServiceUnavailable, http.StatusServiceUnavailable, http.StatusOK))
	h := newHarness(t, harnessOpts{cfg: func(c *Config) {
		c.Schedule = Schedule{3 * time.Second}
		c.DeferRetriesAfter = time.Second
	}})
	w := h.addWebhook(ep.url(), []string{"user.created"}, func(w *kv.Webhook) { w.MaxRetries = 3 })
	id, body := h.publish("user.created", "", "", "")

	// After the first failure the delivery waits on the due list, its
	// task acked: nothing of it is left in the deliver consumer.
	var d *kv.Delivery
	eventually(t, "first failure deferred, its task acked", func() bool {
		d = h.delivery(w.ID, id)
		if d == nil || d.AttemptCount != 1 || !d.Deferred || h.deliverPending() != 0 {
			return false
		}
		due, err := h.store.DueDeliveries(context.Background(), d.NextAttemptAt.Add(time.Millisecond), 10)
		return err == nil && len(due) == 1 && due[0].DeliveryID == d.ID
	})
	// Copies that are not the due list's task for attempt 2 make no
	// attempt: one without an attempt number (an old copy) and one for
	// attempt 1, which was made.
	h.publishCopy(d, body, 0, "copy-old")
	h.publishCopy(d, body, 1, "copy-attempt-1")
	eventually(t, "copies dropped", func() bool { return h.deliverPending() == 0 })
	if n := ep.count(); n != 1 {
		t.Fatalf("requests after the copies = %d, want 1", n)
	}

	// Due: the task comes back from the store; it fails once more, then
	// succeeds, each attempt numbered on.
	d = h.waitStatus(w.ID, id, kv.DeliverySuccess)
	if d.AttemptCount != 3 || ep.count() != 3 || d.Deferred {
		t.Fatalf("attempts %d, requests %d, deferred %v; want 3, 3, false", d.AttemptCount, ep.count(), d.Deferred)
	}
	for i, a := range d.Attempts {
		if a.Attempt != i+1 || a.Trigger != kv.TriggerScheduled {
			t.Errorf("attempt %d: %+v", i+1, a)
		}
	}
	if due, _ := h.store.DueDeliveries(context.Background(), time.Now().Add(time.Hour), 10); len(due) != 0 {
		t.Errorf("due list after success: %+v", due)
	}
}

func TestEngineDeferredRetryOfAnExpiredEventFailsRecorded(t *testing.T) {
	t.Parallel()
	ep := newEndpoint(t, statusSeq(http.StatusInternalServerError))
	h := newHarness(t, harnessOpts{cfg: func(c *Config) {
		c.Schedule = Schedule{2 * time.Second}
		c.DeferRetriesAfter = time.Second
	}})
	w := h.addWebhook(ep.url(), []string{"user.created"}, func(w *kv.Webhook) { w.MaxRetries = 3 })
	id, _ := h.publish("user.created", "", "", "")
	eventually(t, "first failure deferred", func() bool {
		d := h.delivery(w.ID, id)
		return d != nil && d.Deferred && h.eventsSettled()
	})
	s, err := h.bus.JetStream().Stream(context.Background(), bus.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(context.Background()); err != nil {
		t.Fatal(err)
	}
	d := h.waitStatus(w.ID, id, kv.DeliveryFailed)
	last := d.Attempts[len(d.Attempts)-1]
	if ep.count() != 1 || len(d.Attempts) != 2 || last.Error != "event no longer in the events stream" {
		t.Fatalf("requests %d, attempts %+v; want 1 request and a second attempt failed for the expired event", ep.count(), d.Attempts)
	}
	if wh := h.webhook(w.ID); wh.ConsecutiveFailures != 1 {
		t.Errorf("consecutive failures %d: the expiry counted against the endpoint", wh.ConsecutiveFailures)
	}
}

// A retry due soon after an attempt made from the due list still waits on
// the due list: the attempt's task carries its attempt number, so handed
// back for the next attempt it would be dropped as stale and the delivery
// would stay pending for ever.
func TestEngineShortRetryAfterADeferredOneIsNotLost(t *testing.T) {
	t.Parallel()
	ep := newEndpoint(t, statusSeq(http.StatusServiceUnavailable, http.StatusServiceUnavailable, http.StatusOK))
	h := newHarness(t, harnessOpts{cfg: func(c *Config) {
		c.Schedule = Schedule{2 * time.Second, 100 * time.Millisecond}
		c.DeferRetriesAfter = time.Second
	}})
	w := h.addWebhook(ep.url(), []string{"user.created"}, func(w *kv.Webhook) { w.MaxRetries = 3 })
	id, _ := h.publish("user.created", "", "", "")
	d := h.waitStatus(w.ID, id, kv.DeliverySuccess)
	if d.AttemptCount != 3 || ep.count() != 3 {
		t.Fatalf("attempts %d, requests %d; want 3 and 3", d.AttemptCount, ep.count())
	}
}
