package kv

import (
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// RecordAttempt applies one attempt's outcome as one journal operation
// (committer): the attempt is appended, the delivery, the stats and the
// webhook's health (kept with the stats) move on; when the outcome
// disables the webhook, its record is rewritten and the change published
// to watchers before RecordAttempt returns. Stale (nothing written) when
// the delivery is gone, not pending, or of another generation. A Skipped
// outcome (no request made) moves the delivery and its status counts
// only: the health, the latency figures and last_delivery stay as they
// were.
func (b *Bolt) RecordAttempt(ctx context.Context, o AttemptOutcome) (*AttemptResult, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	// In UTC, as the journal keeps times: a replay must write the same.
	now := time.Now().UTC()
	o.Attempt.StartedAt = o.Attempt.StartedAt.UTC()
	o.NextAttemptAt = utcTime(o.NextAttemptAt)
	op := &attemptOp{o: o, now: now, hooks: &b.hooks}
	if err := b.commit.apply(op); err != nil {
		return nil, b.wrap("record attempt", err)
	}
	res, ticket := op.res, op.ticket
	if ticket != 0 {
		b.pub.publish(ticket, res.Webhook.ID, res.Webhook)
	}
	return res, nil
}

// applyAttempt is RecordAttempt's transaction. It returns the ticket of
// the webhook change to publish, 0 when the webhook did not change.
func applyAttempt(g *groupTx, o AttemptOutcome, now time.Time, hooks *webhookCache) (*AttemptResult, uint64, error) {
	tx := g.Tx
	stale := &AttemptResult{Stale: true}
	hb, ok := hook(tx, o.WebhookID)
	if !ok {
		return stale, 0, nil
	}
	d, err := hb.delivery(o.DeliveryID)
	if errors.Is(err, ErrNotFound) {
		return stale, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	if d.Status != DeliveryPending || d.Generation != o.Generation {
		return stale, 0, nil
	}
	w, err := hooks.get(tx, o.WebhookID)
	if err != nil {
		return nil, 0, err
	}

	a, done := numberAttempt(o.Attempt, d, now)
	av, err := encodeAttempt(nil, &a)
	if err != nil {
		return nil, 0, err
	}
	if err := hb.attempts.Put(attemptKey(d.ID, a.Attempt), av); err != nil {
		return nil, 0, err
	}
	from := d.Status
	if err := unschedule(tx, d); err != nil {
		return nil, 0, err
	}
	applyToDelivery(d, o, a, done)
	if o.Defer {
		if err := schedule(tx, d); err != nil {
			return nil, 0, err
		}
	}
	if err := hb.putDelivery(d, from); err != nil {
		return nil, 0, err
	}

	s, err := g.statsOf(hb)
	if err != nil {
		return nil, 0, err
	}
	s.healthOf(w)
	s.onStatus(from, d.Status, d.CreatedAt)
	if !o.Skipped {
		s.onAttempt(a.StartedAt, a.DurationMS)
		s.onLast(d.ID, d.Status, a.StatusCode, done)
	}
	if o.Skipped || a.Trigger == TriggerTest {
		// A test attempt is the admin's probe, not the endpoint's record:
		// it never moves the failure streak toward auto-disable.
		return &AttemptResult{Delivery: d, Webhook: w}, 0, nil
	}

	// The health moves in the stats record; the webhook's own record (and
	// its watchers) only hear of a change of status.
	status := w.Status
	res := &AttemptResult{Delivery: d, Webhook: w, AutoDisabled: applyToWebhook(w, o, done)}
	var ticket uint64
	if w.Status != status {
		// An attempt never moves what the webhook indexes hold (id,
		// tenant, partner, created_at): only the record is rewritten.
		var rec []byte
		if ticket, rec, err = storeWebhook(tx, w); err != nil {
			return nil, 0, err
		}
		hooks.put(w.ID, rec, w.Clone())
	}
	s.setHealth(w) // for w's revision: a new one when it was stored above
	if res.AutoDisabled && o.NoticeID != "" {
		n := AutoDisabledNotice{
			EventID:             o.NoticeID,
			WebhookID:           w.ID,
			URL:                 w.URL,
			TenantID:            w.TenantID,
			PartnerID:           w.PartnerID,
			ConsecutiveFailures: w.ConsecutiveFailures,
			DisabledReason:      w.DisabledReason,
			At:                  done,
		}
		if err := putNotice(tx, n); err != nil {
			return nil, 0, err
		}
		res.Notice = &n
	}
	return res, ticket, nil
}

// numberAttempt numbers a after d's attempts and returns it with the time
// it finished: started_at + duration, or now when it has no start.
func numberAttempt(a Attempt, d *Delivery, now time.Time) (Attempt, time.Time) {
	a.Attempt = d.AttemptCount + 1
	if a.Trigger == "" {
		a.Trigger = TriggerScheduled
	}
	if a.StartedAt.IsZero() {
		a.StartedAt = now
		return a, now
	}
	return a, a.StartedAt.Add(time.Duration(a.DurationMS) * time.Millisecond)
}

func applyToDelivery(d *Delivery, o AttemptOutcome, a Attempt, done time.Time) {
	d.AttemptCount = a.Attempt
	d.ResponseStatusCode = a.StatusCode
	d.Error = a.Error
	d.DurationMS = a.DurationMS
	d.UpdatedAt = done
	switch {
	case o.Success:
		d.Status, d.CompletedAt, d.NextAttemptAt = DeliverySuccess, cloneTime(&done), nil
	case o.Final:
		d.Status, d.CompletedAt, d.NextAttemptAt = DeliveryFailed, cloneTime(&done), nil
	default:
		d.NextAttemptAt = cloneTime(o.NextAttemptAt)
	}
}

// applyToWebhook moves the failure streak and timestamps, and disables w
// for a DisableReason or on reaching AutoDisableAfter. It returns whether
// this outcome auto-disabled w: only on the transition from active.
func applyToWebhook(w *Webhook, o AttemptOutcome, done time.Time) (autoDisabled bool) {
	if o.Success {
		w.ConsecutiveFailures = 0
		w.LastSuccessAt = cloneTime(&done)
	} else {
		w.ConsecutiveFailures++
		w.LastFailureAt = cloneTime(&done)
	}
	if o.DisableReason != "" && w.Status != WebhookDisabled {
		w.Status, w.DisabledReason, w.UpdatedAt = WebhookDisabled, o.DisableReason, done
	}
	if !o.Success && o.AutoDisableAfter > 0 && w.ConsecutiveFailures >= o.AutoDisableAfter && w.Status == WebhookActive {
		w.Status, w.UpdatedAt = WebhookDisabled, done
		w.DisabledReason = fmt.Sprintf("auto-disabled after %d consecutive failures", w.ConsecutiveFailures)
		return true
	}
	return false
}

// WebhookStats returns a webhook's figures as of now from its counters.
func (b *Bolt) WebhookStats(ctx context.Context, webhookID string, now time.Time) (*Stats, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	var st *Stats
	err := b.commit.read(func(tx *bolt.Tx) error {
		w, err := getWebhook(tx, webhookID)
		if err != nil {
			return err
		}
		hb, ok := hook(tx, webhookID)
		if !ok {
			return fmt.Errorf("webhook %q has no hooks bucket", webhookID)
		}
		s, err := hb.stats()
		if err != nil {
			return err
		}
		st = s.summary(now, w.ConsecutiveFailures)
		return nil
	})
	if err != nil {
		return nil, b.wrap("webhook stats", err)
	}
	return st, nil
}
