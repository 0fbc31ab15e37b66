package test

import (
	"fmt"
	"testing"
	"time"
)

// The JSON shapes of contract §4, as a client sees them.
type webhookJSON struct {
	ID                  string            `json:"id"`
	URL                 string            `json:"url"`
	Events              []string          `json:"events"`
	Status              string            `json:"status"`
	DisabledReason      *string           `json:"disabled_reason"`
	MaxRetries          int               `json:"max_retries"`
	TimeoutSeconds      int               `json:"timeout_seconds"`
	Headers             map[string]string `json:"headers"`
	TenantID            *string           `json:"tenant_id"`
	PartnerID           *string           `json:"partner_id"`
	Secret              string            `json:"secret"`
	SecretHint          string            `json:"secret_hint"`
	ConsecutiveFailures int               `json:"consecutive_failures"`
}

type attemptJSON struct {
	Attempt    int     `json:"attempt"`
	StatusCode *int    `json:"status_code"`
	Error      *string `json:"error"`
	Trigger    string  `json:"trigger"`
}

type deliveryJSON struct {
	ID           int64         `json:"id"`
	WebhookID    string        `json:"webhook_id"`
	EventID      string        `json:"event_id"`
	EventType    string        `json:"event_type"`
	Status       string        `json:"status"`
	AttemptCount int           `json:"attempt_count"`
	Attempts     []attemptJSON `json:"attempts"`
}

type deliveryPage struct {
	Items []deliveryJSON `json:"items"`
	Total int            `json:"total"`
}

// createWebhook creates a webhook as super admin and returns it with its secret.
func (d *daemon) createWebhook(t *testing.T, tok string, body map[string]any) webhookJSON {
	t.Helper()
	var w webhookJSON
	if code := d.api(t, "POST", "/api/v1/admin/webhooks", tok, body, &w); code != 201 {
		t.Fatalf("create webhook: status %d (%+v)", code, w)
	}
	if w.Secret == "" || w.ID == "" {
		t.Fatalf("create webhook: no id or secret in %+v", w)
	}
	return w
}

func (d *daemon) deliveries(t *testing.T, tok, webhookID string) []deliveryJSON {
	t.Helper()
	var p deliveryPage
	if code := d.api(t, "GET", "/api/v1/admin/webhooks/"+webhookID+"/deliveries?per_page=100", tok, nil, &p); code != 200 {
		t.Fatalf("list deliveries: status %d", code)
	}
	return p.Items
}

func (d *daemon) delivery(t *testing.T, tok, webhookID string, id int64) deliveryJSON {
	t.Helper()
	var out deliveryJSON
	path := fmt.Sprintf("/api/v1/admin/webhooks/%s/deliveries/%d", webhookID, id)
	if code := d.api(t, "GET", path, tok, nil, &out); code != 200 {
		t.Fatalf("get delivery: status %d", code)
	}
	return out
}

func (d *daemon) webhook(t *testing.T, tok, id string) webhookJSON {
	t.Helper()
	var w webhookJSON
	if code := d.api(t, "GET", "/api/v1/admin/webhooks/"+id, tok, nil, &w); code != 200 {
		t.Fatalf("get webhook: status %d", code)
	}
	return w
}

// waitDelivery waits until the webhook has a delivery for eventID in one of
// the given states and returns it with its attempts.
func (d *daemon) waitDelivery(t *testing.T, tok, webhookID, eventID string, timeout time.Duration, states ...string) deliveryJSON {
	t.Helper()
	var found deliveryJSON
	eventually(t, timeout, "delivery of "+eventID+" in "+fmt.Sprint(states), func() bool {
		for _, dl := range d.deliveries(t, tok, webhookID) {
			if dl.EventID != eventID {
				continue
			}
			for _, s := range states {
				if dl.Status == s {
					found = dl
					return true
				}
			}
		}
		return false
	})
	return d.delivery(t, tok, webhookID, found.ID)
}
