package fanout

import (
	"context"
	"errors"
	"time"

	"github.com/scailabs/webhookd/bus"
	"github.com/scailabs/webhookd/kv"
)

const (
	// dueEvery is how often the store's due list is read.
	dueEvery = time.Second
	// dueBatch is how many due attempts one read takes at most.
	dueBatch = 512
)

// dueLoop publishes a task for every deferred attempt that has come due
// (AttemptOutcome.Defer), then takes it off the store's due list; each
// round it first publishes the webhook.auto_disabled notices the store
// still holds (announce). It ends when Stop begins.
//
// Publish, then clear: a crash in between publishes the task again, and
// its message id (delivery, generation, attempt) makes JetStream drop the
// copy within its duplicate window, the deliverer's attempt check after.
// Several processes on one store may all run it for the same reason.
func (f *Fanout) dueLoop() {
	defer f.wg.Done()
	t := time.NewTicker(dueEvery)
	defer t.Stop()
	for {
		select {
		case <-f.soft.Done():
			return
		case <-t.C:
		}
		for !f.stopping() && f.publishNotices(f.soft) == noticeBatch {
			// A full batch went out: more may be waiting.
		}
		for !f.stopping() {
			n, err := f.publishDue(f.soft)
			if err != nil {
				if !f.stopping() {
					f.log.Warn("publishing due retries failed", "error", err)
				}
				break
			}
			if n < dueBatch {
				break
			}
		}
	}
}

// publishDue handles one batch of due attempts and returns its size.
func (f *Fanout) publishDue(ctx context.Context) (int, error) {
	due, err := f.store.DueDeliveries(ctx, f.cfg.Now(), dueBatch)
	if err != nil || len(due) == 0 {
		return 0, err
	}
	var (
		tasks []bus.Task
		done  []kv.Due // published below, or nothing left to publish
	)
	for _, e := range due {
		task, ok, err := f.dueTask(ctx, e)
		if err != nil {
			// Leave this one and the rest for the next round.
			f.log.Warn("preparing a due retry failed", "webhook_id", e.WebhookID, "delivery_id", e.DeliveryID, "error", err)
			break
		}
		if ok {
			tasks = append(tasks, task)
		}
		done = append(done, e)
	}
	if err := f.bus.PublishTasks(ctx, tasks); err != nil {
		return 0, err
	}
	if err := f.store.ClearDue(ctx, done); err != nil {
		return 0, err
	}
	return len(due), nil
}

// dueTask builds the task of one due attempt; ok is false when there is
// nothing to publish (the delivery is gone or moved on, or its event has
// expired from the events stream: then it fails for good, recorded).
func (f *Fanout) dueTask(ctx context.Context, e kv.Due) (bus.Task, bool, error) {
	d, err := f.store.DeliveryState(ctx, e.WebhookID, e.DeliveryID)
	if errors.Is(err, kv.ErrNotFound) {
		return bus.Task{}, false, nil
	}
	if err != nil {
		return bus.Task{}, false, err
	}
	if d.Status != kv.DeliveryPending || !d.Deferred || d.NextAttemptAt == nil || !d.NextAttemptAt.Equal(e.At) {
		return bus.Task{}, false, nil
	}
	if len(d.Payload) > 0 {
		// Only a test delivery keeps its envelope, and it is deferred only
		// to the deadline of its synchronous attempt: that attempt was
		// never recorded, so the process stopped during it. Never retried.
		return bus.Task{}, false, f.failUnattempted(ctx, d, kv.TriggerTest, reasonTestInterrupted)
	}
	// The event's own trace headers carry the attempt on in the
	// publisher's trace, as a task from the matcher does.
	body, trace, err := f.bus.GetEventTrace(ctx, d.EventSeq)
	if errors.Is(err, bus.ErrEventGone) {
		f.log.Warn("event expired before its retry: delivery failed", "webhook_id", d.WebhookID, "delivery_id", d.ID, "event_id", d.EventID)
		return bus.Task{}, false, f.failUnattempted(ctx, d, kv.TriggerScheduled, reasonEventExpired)
	}
	if err != nil {
		return bus.Task{}, false, err
	}
	return bus.Task{
		DeliveryID: d.ID,
		WebhookID:  d.WebhookID,
		EventID:    d.EventID,
		EventType:  d.EventType,
		Generation: d.Generation,
		Trigger:    bus.TriggerScheduled,
		Body:       body,
		Header:     trace,
		Attempt:    d.AttemptCount + 1,
	}, true, nil
}

// Why failUnattempted ends a delivery, in its attempt's error.
const (
	reasonEventExpired    = "event no longer in the events stream"
	reasonTestInterrupted = "interrupted: webhookd stopped before this test attempt was recorded"
)

// failUnattempted fails a deferred delivery that no request is made for
// (its event expired from the events stream, or its test attempt was
// interrupted), recorded with reason. No request was made, so the
// webhook's failure streak is left alone.
func (f *Fanout) failUnattempted(ctx context.Context, d *kv.Delivery, trigger kv.Trigger, reason string) error {
	_, err := f.record(ctx, kv.AttemptOutcome{
		WebhookID:  d.WebhookID,
		DeliveryID: d.ID,
		Generation: d.Generation,
		Attempt: kv.Attempt{
			StartedAt: f.cfg.Now(),
			Error:     reason,
			Trigger:   trigger,
		},
		Final:   true,
		Skipped: true,
	})
	return err
}
