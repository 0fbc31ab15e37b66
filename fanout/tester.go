package fanout

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/scailabs/webhookd/bus"
	"github.com/scailabs/webhookd/kv"
)

// testGrace is how long past its timeout a test attempt may take to be
// recorded before the due loop takes it for interrupted.
const testGrace = time.Minute

// Test makes one synchronous attempt of a test event to w and records it
// as a delivery (trigger "test"), with no retries and without disabling
// the webhook whatever the answer. eventType defaults to "webhook.test";
// data defaults to {}. It returns the stored delivery with its attempt.
// It needs no Start: the admin API may call it on any Fanout.
func (f *Fanout) Test(ctx context.Context, w *kv.Webhook, eventType string, data json.RawMessage) (*kv.Delivery, error) {
	if eventType == "" {
		eventType = EventTest
	}
	if !bus.ValidEventType(eventType) {
		return nil, fmt.Errorf("fanout: test: %w: event type %q", ErrInvalidTestEvent, eventType)
	}
	if len(data) == 0 {
		data = json.RawMessage("{}")
	}
	if !json.Valid(data) {
		return nil, fmt.Errorf("fanout: test: %w: data is not valid JSON", ErrInvalidTestEvent)
	}
	now := f.cfg.Now()
	eventID := bus.NewEventID()
	body, err := buildEnvelope(eventID, eventType, now, w.TenantID, w.PartnerID, data)
	if err != nil {
		return nil, err
	}
	ctx, span := f.tel.tracer.Start(ctx, "test "+eventType, trace.WithAttributes(
		attribute.String("webhook_id", w.ID),
		attribute.String("event_id", eventID),
		attribute.String("event_type", eventType)))
	defer span.End()

	deadline := now.Add(f.timeout(w) + testGrace)
	d := &kv.Delivery{
		WebhookID: w.ID,
		EventID:   eventID,
		EventType: eventType,
		TenantID:  w.TenantID,
		PartnerID: w.PartnerID,
		// No stream sequence: a manual retry reads the envelope from here.
		Payload:   body,
		EventTime: now.Truncate(time.Millisecond), // as the envelope has it
		Status:    kv.DeliveryPending,
		CreatedAt: now,
		UpdatedAt: now,
		// On the due list until the attempt below is recorded: should the
		// process die during it, the due loop fails the delivery at this
		// deadline instead of leaving it pending for good.
		Deferred:      true,
		NextAttemptAt: &deadline,
	}
	if _, err := f.store.CreateDelivery(ctx, d); err != nil {
		return nil, fmt.Errorf("fanout: test: create delivery: %w", err)
	}
	span.SetAttributes(attribute.Int64("delivery_id", d.ID))

	resp := f.send(ctx, w, d.ID, eventID, eventType, body, now)
	verdict := Classify(resp)
	outcome := outcomeFailed
	if verdict == VerdictSuccess {
		outcome = outcomeSuccess
	}
	// Final, and neither DisableReason nor AutoDisableAfter: a test never
	// disables the webhook, not even on 410.
	if _, err := f.record(ctx, kv.AttemptOutcome{
		WebhookID:  w.ID,
		DeliveryID: d.ID,
		Generation: d.Generation,
		Attempt:    attemptOf(now, resp, kv.TriggerTest),
		Success:    verdict == VerdictSuccess,
		Final:      true,
	}); err != nil {
		return nil, fmt.Errorf("fanout: test: record attempt: %w", err)
	}
	f.tel.attempt(ctx, outcome, resp.Duration)
	out, err := f.store.GetDelivery(ctx, w.ID, d.ID)
	if err != nil {
		return nil, fmt.Errorf("fanout: test: %w", err)
	}
	return out, nil
}
