package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/scailabs/webhookd/bus"
	"github.com/scailabs/webhookd/kv"
)

func (a *API) listDeliveries(w http.ResponseWriter, r *http.Request) error {
	v := &validationError{}
	q := r.URL.Query()
	page := parsePage(v, q)
	status := parseDeliveryStatus(v, q)
	if err := v.err(); err != nil {
		return err
	}
	wh, _, err := a.loadWebhook(r)
	if err != nil {
		return err
	}
	list, total, err := a.store.ListDeliveries(r.Context(), kv.DeliveryFilter{
		WebhookID: wh.ID, Status: status, Offset: page.offset(), Limit: page.perPage,
	})
	if err != nil {
		return err
	}
	items := make([]deliveryView, 0, len(list))
	for _, d := range list {
		items = append(items, newDeliveryView(d))
	}
	writeJSON(w, http.StatusOK, newPage(items, total, page))
	return nil
}

// loadDelivery returns the {delivery_id} delivery of the {webhook_id}
// webhook, the webhook being visible to the caller.
func (a *API) loadDelivery(r *http.Request) (*kv.Delivery, error) {
	id, err := parseDeliveryID(chi.URLParam(r, "delivery_id"))
	if err != nil {
		return nil, err
	}
	wh, _, err := a.loadWebhook(r)
	if err != nil {
		return nil, err
	}
	trace.SpanFromContext(r.Context()).SetAttributes(attribute.Int64("webhookd.delivery_id", id))
	d, err := a.store.GetDelivery(r.Context(), wh.ID, id)
	if errors.Is(err, kv.ErrNotFound) || err == nil && d.WebhookID != wh.ID {
		return nil, errDeliveryNotFound
	}
	return d, err
}

func (a *API) getDelivery(w http.ResponseWriter, r *http.Request) error {
	d, err := a.loadDelivery(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newDeliveryDetailView(d))
	return nil
}

// retryDelivery sends a finished delivery again now: the envelope is read
// back first (so a delivery whose event is gone is refused untouched), then
// the delivery goes back to pending under a new generation, then a manual
// task of that generation is published.
func (a *API) retryDelivery(w http.ResponseWriter, r *http.Request) error {
	d, err := a.loadDelivery(r)
	if err != nil {
		return err
	}
	if d.Status == kv.DeliveryPending {
		return errDeliveryPending
	}
	body, err := a.envelope(r.Context(), d)
	if err != nil {
		return err
	}
	re, err := a.store.RequeueDelivery(r.Context(), d.WebhookID, d.ID, a.now())
	switch {
	case errors.Is(err, kv.ErrConflict):
		return errDeliveryPending
	case errors.Is(err, kv.ErrNotFound):
		return errDeliveryNotFound
	case err != nil:
		return err
	}
	task := bus.Task{
		DeliveryID: re.ID,
		WebhookID:  re.WebhookID,
		EventID:    re.EventID,
		EventType:  re.EventType,
		Generation: re.Generation,
		Trigger:    bus.TriggerManual,
		Body:       body, // the bus adds the trace context of r's span
	}
	if err := a.tasks.PublishTasks(r.Context(), []bus.Task{task}); err != nil {
		a.unqueue(re)
		return fmt.Errorf("admin: publish manual retry of delivery %d: %w", re.ID, err)
	}
	a.log.LogAttrs(r.Context(), slog.LevelInfo, "delivery requeued", slog.String("webhook_id", re.WebhookID),
		slog.Int64("delivery_id", re.ID), slog.Int("generation", re.Generation))
	if len(re.Attempts) == 0 {
		re.Attempts = d.Attempts
	}
	writeJSON(w, http.StatusOK, newDeliveryDetailView(re))
	return nil
}

// unqueue ends a requeued delivery whose task could not be published: left
// pending it would wait for a task that never comes, and every later retry
// would answer 409. It is recorded as a failed manual attempt (no request
// made), so it can be retried again.
func (a *API) unqueue(d *kv.Delivery) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := a.store.RecordAttempt(ctx, kv.AttemptOutcome{
		WebhookID:  d.WebhookID,
		DeliveryID: d.ID,
		Generation: d.Generation,
		Attempt: kv.Attempt{StartedAt: a.now(), Trigger: kv.TriggerManual,
			Error: "manual retry could not be queued"},
		Final:   true,
		Skipped: true,
	})
	if err != nil {
		a.log.LogAttrs(ctx, slog.LevelError, "manual retry left pending without a task",
			slog.String("webhook_id", d.WebhookID), slog.Int64("delivery_id", d.ID), slog.Any("error", err))
	}
}

// envelope returns the bytes a delivery sends: read back from the events
// stream, or kept in the delivery itself for test deliveries.
func (a *API) envelope(ctx context.Context, d *kv.Delivery) ([]byte, error) {
	if d.EventSeq == 0 {
		if len(d.Payload) == 0 {
			return nil, errEventGone
		}
		return d.Payload, nil
	}
	body, err := a.tasks.GetEvent(ctx, d.EventSeq)
	switch {
	case errors.Is(err, bus.ErrEventGone):
		return nil, errEventGone
	case err != nil:
		return nil, fmt.Errorf("admin: read event %d: %w", d.EventSeq, err)
	case len(body) == 0:
		return nil, errEventGone
	}
	return body, nil
}
