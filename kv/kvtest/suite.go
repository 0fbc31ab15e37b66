package kvtest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/scailabs/webhookd/kv"
)

// Run runs every conformance subtest against stores made by open.
func Run(t *testing.T, open func(t *testing.T) kv.Store) {
	t.Helper()
	groups := []struct {
		name  string
		tests []subtest
	}{
		{"Webhooks", webhookTests},
		{"Deliveries", deliveryTests},
		{"Attempts", attemptTests},
		{"Stats", statsTests},
		{"Watch", watchTests},
		{"Due", dueTests},
		{"Notices", noticeTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, st := range g.tests {
				t.Run(st.name, func(t *testing.T) {
					t.Parallel()
					st.run(t, open(t))
				})
			}
		})
	}
}

type subtest struct {
	name string
	run  func(t *testing.T, s kv.Store)
}

// base is a fixed instant for tests that do not depend on the clock.
var base = time.Date(2026, 4, 22, 14, 30, 0, 0, time.UTC)

// eventTime is every test event's envelope timestamp: an event created
// again at a later time is the same event.
var eventTime = base.Add(-time.Second)

func newWebhook(id string, created time.Time) *kv.Webhook {
	return &kv.Webhook{
		ID:             id,
		URL:            "https://receiver.example/hooks/" + id,
		Description:    "hook " + id,
		Events:         []string{"user.created", "request.*"},
		Status:         kv.WebhookActive,
		MaxRetries:     5,
		TimeoutSeconds: 10,
		Headers:        map[string]string{"X-Team": "core"},
		Secret:         "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		CreatedAt:      created,
		UpdatedAt:      created,
	}
}

func createWebhook(t *testing.T, s kv.Store, w *kv.Webhook) *kv.Webhook {
	t.Helper()
	if err := s.CreateWebhook(context.Background(), w); err != nil {
		t.Fatalf("CreateWebhook(%s): %v", w.ID, err)
	}
	return w
}

func getWebhook(t *testing.T, s kv.Store, id string) *kv.Webhook {
	t.Helper()
	w, err := s.GetWebhook(context.Background(), id)
	if err != nil {
		t.Fatalf("GetWebhook(%s): %v", id, err)
	}
	return w
}

func newDelivery(webhookID, eventID string, created time.Time) *kv.Delivery {
	return &kv.Delivery{
		WebhookID: webhookID,
		EventID:   eventID,
		EventType: "user.created",
		TenantID:  "tnt_acme",
		EventSeq:  42,
		EventTime: eventTime,
		CreatedAt: created,
		UpdatedAt: created,
	}
}

func createDelivery(t *testing.T, s kv.Store, webhookID, eventID string, created time.Time) *kv.Delivery {
	t.Helper()
	d := newDelivery(webhookID, eventID, created)
	ok, err := s.CreateDelivery(context.Background(), d)
	if err != nil || !ok {
		t.Fatalf("CreateDelivery(%s, %s) = %v, %v; want true, nil", webhookID, eventID, ok, err)
	}
	return d
}

func getDelivery(t *testing.T, s kv.Store, webhookID string, id int64) *kv.Delivery {
	t.Helper()
	d, err := s.GetDelivery(context.Background(), webhookID, id)
	if err != nil {
		t.Fatalf("GetDelivery(%s, %d): %v", webhookID, id, err)
	}
	return d
}

// attempt builds an outcome for d's current generation.
func attempt(d *kv.Delivery, started time.Time, durMS int64, code int, success bool) kv.AttemptOutcome {
	o := kv.AttemptOutcome{
		WebhookID:  d.WebhookID,
		DeliveryID: d.ID,
		Generation: d.Generation,
		Attempt: kv.Attempt{
			StartedAt:    started,
			DurationMS:   durMS,
			StatusCode:   code,
			ResponseBody: fmt.Sprintf("body of %d", code),
			Trigger:      kv.TriggerScheduled,
		},
		Success: success,
	}
	if !success {
		o.Attempt.Error = fmt.Sprintf("status %d", code)
	}
	return o
}

func record(t *testing.T, s kv.Store, o kv.AttemptOutcome) *kv.AttemptResult {
	t.Helper()
	res, err := s.RecordAttempt(context.Background(), o)
	if err != nil {
		t.Fatalf("RecordAttempt(%s, %d): %v", o.WebhookID, o.DeliveryID, err)
	}
	return res
}

func timePtr(t time.Time) *time.Time { return &t }

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

func ids[T any](items []T, id func(T) string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = id(it)
	}
	return out
}

func webhookIDs(ws []*kv.Webhook) []string {
	return ids(ws, func(w *kv.Webhook) string { return w.ID })
}

func deliveryIDs(ds []*kv.Delivery) []string {
	return ids(ds, func(d *kv.Delivery) string { return fmt.Sprint(d.ID) })
}
