package fanout

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

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

	// announceTimeout bounds one publish of an auto-disabled event, and
	// one clearing of published notices.
	announceTimeout = 5 * time.Second
	// noticeBatch is how many kept notices one round publishes at most.
	noticeBatch = 64
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

// announce publishes a webhook.auto_disabled notice in the webhook's
// scope, so its owners' other webhooks hear of it. The store kept it in
// the transaction that disabled the webhook; whoever publishes it clears
// it (clearNotices). Should publishing fail here, or the process die
// first, dueLoop publishes it later (publishNotices), under the same event
// id, which JetStream's duplicate window uses to drop a repeat that did
// land.
func (f *Fanout) announce(ctx context.Context, n kv.AutoDisabledNotice) error {
	data, err := json.Marshal(autoDisabledData{
		WebhookID:           n.WebhookID,
		URL:                 n.URL,
		ConsecutiveFailures: n.ConsecutiveFailures,
		DisabledReason:      n.DisabledReason,
	})
	if err != nil {
		return fmt.Errorf("fanout: auto-disabled data: %w", err)
	}
	body, err := buildEnvelope(n.EventID, EventAutoDisabled, n.At, n.TenantID, n.PartnerID, data)
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, announceTimeout)
	defer cancel()
	if err := f.bus.PublishEvent(pctx, n.EventID, EventAutoDisabled, body); err != nil {
		return err
	}
	f.log.Info("published auto-disabled event", "webhook_id", n.WebhookID, "event_id", n.EventID)
	return nil
}

// clearNotices takes published notices off the store's list. Left there
// (this failed), they are published again: a repeat, not a loss.
func (f *Fanout) clearNotices(ctx context.Context, notices []kv.AutoDisabledNotice) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), announceTimeout)
	defer cancel()
	if err := f.store.ClearNotices(cctx, notices); err != nil {
		f.log.Warn("clearing published auto-disabled notices failed", "notices", len(notices), "error", err)
	}
}

// publishNotices publishes the notices the store still holds (left by a
// failed publish or a crash), then clears those it published, in one
// write. It returns how many it read. One that fails to publish is left
// for the next round and does not hold back the others.
func (f *Fanout) publishNotices(ctx context.Context) int {
	notices, err := f.store.Notices(ctx, noticeBatch)
	if err != nil {
		if !f.stopping() {
			f.log.Warn("reading auto-disabled notices failed", "error", err)
		}
		return 0
	}
	var published []kv.AutoDisabledNotice
	for _, n := range notices {
		if ctx.Err() != nil {
			break
		}
		if err := f.announce(ctx, n); err != nil {
			f.log.Warn("publishing auto-disabled event failed; will try again", "webhook_id", n.WebhookID, "event_id", n.EventID, "error", err)
			continue
		}
		published = append(published, n)
	}
	if len(published) > 0 {
		f.clearNotices(ctx, published)
	}
	if len(published) < len(notices) {
		return 0 // some are left: the next round tries them again
	}
	return len(notices)
}
