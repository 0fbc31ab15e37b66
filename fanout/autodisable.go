package fanout

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/scailabs/webhookd/bus"
	"github.com/scailabs/webhookd/kv"
)

const (
	// EventAutoDisabled is the type of the event published when a webhook
	// is disabled after too many consecutive failures.
	EventAutoDisabled = "webhook.auto_disabled"
	// EventTest is the default type of a Test event.
	EventTest = "webhook.test"
	// eventSource is the envelope source of events webhookd makes itself.
	eventSource = "webhookd"

	announceTries   = 3
	announceTimeout = 5 * time.Second
)

// envelope is the JSON shape of events webhookd publishes itself, field
// order as in contract section 1.
type envelope struct {
	EventID   string          `json:"event_id"`
	EventType string          `json:"event_type"`
	Timestamp string          `json:"timestamp"`
	Source    string          `json:"source"`
	TenantID  string          `json:"tenant_id,omitempty"`
	PartnerID string          `json:"partner_id,omitempty"`
	Data      json.RawMessage `json:"data"`
}

// buildEnvelope returns the bytes of one event envelope.
func buildEnvelope(eventID, eventType string, at time.Time, tenantID, partnerID string, data json.RawMessage) ([]byte, error) {
	b, err := json.Marshal(envelope{
		EventID:   eventID,
		EventType: eventType,
		Timestamp: at.UTC().Format("2006-01-02T15:04:05.000Z"),
		Source:    eventSource,
		TenantID:  tenantID,
		PartnerID: partnerID,
		Data:      data,
	})
	if err != nil {
		return nil, fmt.Errorf("fanout: envelope: %w", err)
	}
	return b, nil
}

// autoDisabledData is the data of a webhook.auto_disabled event.
type autoDisabledData struct {
	WebhookID           string `json:"webhook_id"`
	URL                 string `json:"url"`
	ConsecutiveFailures int    `json:"consecutive_failures"`
	DisabledReason      string `json:"disabled_reason"`
}

// announceAutoDisabled publishes webhook.auto_disabled for w, in w's scope,
// so its owners' other webhooks hear of it. The webhook is already
// disabled in the store, so this is tried a few times even while stopping
// (one event id throughout: JetStream drops a repeat that did land).
func (f *Fanout) announceAutoDisabled(ctx context.Context, w *kv.Webhook) {
	log := f.log.With("webhook_id", w.ID)
	log.Warn("webhook auto-disabled", "consecutive_failures", w.ConsecutiveFailures, "reason", w.DisabledReason)
	data, err := json.Marshal(autoDisabledData{
		WebhookID:           w.ID,
		URL:                 w.URL,
		ConsecutiveFailures: w.ConsecutiveFailures,
		DisabledReason:      w.DisabledReason,
	})
	if err != nil {
		log.Error("encoding auto-disabled event failed", "error", err)
		return
	}
	id := bus.NewEventID()
	body, err := buildEnvelope(id, EventAutoDisabled, f.cfg.Now(), w.TenantID, w.PartnerID, data)
	if err != nil {
		log.Error("encoding auto-disabled event failed", "error", err)
		return
	}
	base := context.WithoutCancel(ctx)
	for try := 1; ; try++ {
		pctx, cancel := context.WithTimeout(base, announceTimeout)
		err = f.bus.PublishEvent(pctx, id, EventAutoDisabled, body)
		cancel()
		if err == nil {
			log.Info("published auto-disabled event", "event_id", id)
			return
		}
		if try == announceTries {
			log.Error("publishing auto-disabled event failed", "event_id", id, "error", err)
			return
		}
		time.Sleep(time.Duration(try) * 200 * time.Millisecond)
	}
}
