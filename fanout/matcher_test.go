package fanout

import (
	"bytes"
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scailabs/webhookd/bus"
	"github.com/scailabs/webhookd/kv"
)

func TestMatchDeadLettersInvalidEvents(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	ep := newEndpoint(t, nil)
	w := h.addWebhook(ep.url(), []string{"*"}, nil)
	js := h.bus.JetStream()
	ctx := context.Background()
	cases := []struct {
		subject  string
		body     []byte
		category string
	}{
		{"events.user.created", []byte("{not json"), "invalid_json"},
		// The envelope says order.created but travels on user.created.
		{"events.user.created", envelopeBytes(t, "evt_mismatch", "order.created", "", "", ""), ""},
		{"events.user.created", []byte(`{"event_type":"user.created","timestamp":"2026-04-22T14:30:00.000Z"}`), ""},
	}
	for i, c := range cases {
		if _, err := js.Publish(ctx, c.subject, c.body); err != nil {
			t.Fatal(err)
		}
		eventually(t, "dead letter", func() bool { return h.streamMsgs(bus.DeadLetterStream) == uint64(i+1) })
		m := h.dlqMessage()
		if !bytes.Equal(m.Data, c.body) || m.Subject != bus.DeadLetterEventsSubject {
			t.Errorf("case %d: dlq has %q on %s", i, m.Data, m.Subject)
		}
		reason := m.Header.Get(bus.HeaderDeadLetterReason)
		if reason == "" || (c.category != "" && !strings.Contains(reason, c.category)) {
			t.Errorf("case %d: dlq reason %q, want %q", i, reason, c.category)
		}
	}
	// The next good event flows.
	id, _ := h.publish("user.created", "", "", "")
	h.waitStatus(w.ID, id, kv.DeliverySuccess)
	eventually(t, "events acked", h.eventsSettled)
	if n := len(h.deliveries(w.ID)); n != 1 || ep.count() != 1 {
		t.Errorf("%d deliveries, %d requests; want only the good event's", n, ep.count())
	}
}

func TestMatchRedeliveredEventMakesNoSecondDelivery(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	ep := newEndpoint(t, nil)
	w := h.addWebhook(ep.url(), []string{"user.created"}, nil)
	id := "evt_" + rand.Text()
	body := envelopeBytes(t, id, "user.created", "", "", "")
	// The same envelope stored twice (a publisher retrying under another
	// message id looks to the matcher like a redelivered event).
	for _, msgID := range []string{"first", "second"} {
		msg := &nats.Msg{Subject: "events.user.created", Header: nats.Header{}, Data: body}
		msg.Header.Set(jetstream.MsgIDHeader, msgID)
		if _, err := h.bus.JetStream().PublishMsg(context.Background(), msg); err != nil {
			t.Fatal(err)
		}
	}
	h.waitStatus(w.ID, id, kv.DeliverySuccess)
	eventually(t, "events acked", h.eventsSettled)
	eventually(t, "tasks acked", func() bool { return h.streamMsgs(bus.TasksStream) == 0 })
	if n := len(h.deliveries(w.ID)); n != 1 {
		t.Errorf("%d deliveries for one event, want 1", n)
	}
	if ep.count() != 1 {
		t.Errorf("endpoint got %d requests, want 1", ep.count())
	}
}

func TestMatchRepublishesPendingDelivery(t *testing.T) {
	t.Parallel()
	// A crash after the delivery was stored but before its task was
	// published: the redelivered event must publish the task.
	h := newHarness(t, harnessOpts{noStart: true})
	ep := newEndpoint(t, nil)
	w := h.addWebhook(ep.url(), []string{"user.created"}, nil)
	done := h.addWebhook(ep.url(), []string{"user.created"}, nil)
	id := "evt_" + rand.Text()
	body := envelopeBytes(t, id, "user.created", "", "", "")
	ctx := context.Background()
	now := time.Now()
	pending := &kv.Delivery{WebhookID: w.ID, EventID: id, EventType: "user.created", Status: kv.DeliveryPending, CreatedAt: now}
	if _, err := h.store.CreateDelivery(ctx, pending); err != nil {
		t.Fatal(err)
	}
	// And one already delivered before the crash: left alone.
	finished := &kv.Delivery{WebhookID: done.ID, EventID: id, EventType: "user.created", Status: kv.DeliveryPending, CreatedAt: now}
	if _, err := h.store.CreateDelivery(ctx, finished); err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.RecordAttempt(ctx, kv.AttemptOutcome{WebhookID: done.ID, DeliveryID: finished.ID, Success: true,
		Attempt: kv.Attempt{StartedAt: now, StatusCode: 200}}); err != nil {
		t.Fatal(err)
	}
	h.start()
	if err := h.bus.PublishEvent(ctx, id, "user.created", body); err != nil {
		t.Fatal(err)
	}
	d := h.waitStatus(w.ID, id, kv.DeliverySuccess)
	eventually(t, "events acked", h.eventsSettled)
	eventually(t, "tasks acked", func() bool { return h.streamMsgs(bus.TasksStream) == 0 })
	if d.ID != pending.ID || len(h.deliveries(w.ID)) != 1 {
		t.Errorf("delivery %d, want the stored %d alone", d.ID, pending.ID)
	}
	if got := h.delivery(done.ID, id); got.AttemptCount != 1 || ep.count() != 1 {
		t.Errorf("finished delivery attempted again: %d attempts, %d requests", got.AttemptCount, ep.count())
	}
}

func TestMatchManyEventsManyWebhooks(t *testing.T) {
	t.Parallel()
	const hooks, events = 5, 40
	h := newHarness(t, harnessOpts{cfg: func(c *Config) { c.MatchWorkers = 2 }})
	ep := newEndpoint(t, nil)
	var ws []*kv.Webhook
	for range hooks {
		ws = append(ws, h.addWebhook(ep.url(), []string{"bulk.*"}, nil))
	}
	for range events {
		h.publish("bulk.event", "", "", "")
	}
	eventually(t, "every delivery made", func() bool { return ep.count() >= hooks*events })
	eventually(t, "tasks acked", func() bool { return h.streamMsgs(bus.TasksStream) == 0 })
	for _, w := range ws {
		if n := len(h.deliveries(w.ID)); n != events {
			t.Errorf("webhook %s has %d deliveries, want %d", w.ID, n, events)
		}
	}
	if ep.count() != hooks*events {
		t.Errorf("endpoint got %d requests, want %d", ep.count(), hooks*events)
	}
}

// An event matching more webhooks than one store call takes (createChunk)
// gets a delivery to each, stored in several calls.
func TestMatchStoresDeliveriesInChunks(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	ep := newEndpoint(t, nil)
	n := createChunk + 44
	hooks := make([]*kv.Webhook, n)
	for i := range hooks {
		hooks[i] = h.addWebhook(ep.url(), []string{"user.created"}, nil)
	}
	id, _ := h.publish("user.created", "", "", "")
	for _, w := range hooks {
		h.waitStatus(w.ID, id, kv.DeliverySuccess)
	}
	eventually(t, "event acked", h.eventsSettled)
	if ep.count() != n {
		t.Errorf("%d requests for %d webhooks, want one each", ep.count(), n)
	}
}
