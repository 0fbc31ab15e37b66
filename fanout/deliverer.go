package fanout

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/scailabs/webhookd/bus"
	"github.com/scailabs/webhookd/kv"
)

// earlyTolerance is how much before a delivery's NextAttemptAt a task may
// arrive and still be attempted. A task much earlier than that is a second
// copy (a republish, or a redelivery after AckWait of a task whose Nak was
// lost in a crash): it is pushed back to the due time, no attempt made.
const earlyTolerance = time.Second

// idleRunnerKeep is how long a runner with nothing left to run waits for
// a new job before it ends.
const idleRunnerKeep = 2 * time.Second

// deliverLoop pulls tasks while there is room for them and hands each to
// the limiter. It ends when Stop begins (after its current pull).
func (f *Fanout) deliverLoop(cons jetstream.Consumer) {
	defer f.wg.Done()
	for !f.stopping() {
		free := f.heldMax - f.deliverHeld.len()
		if free <= 0 {
			select {
			case <-f.deliverHeld.freed:
			case <-f.soft.Done():
			}
			continue
		}
		if crowded, _ := f.limiter.isCrowded(); crowded {
			f.limiter.waitRoom(f.soft.Done())
			continue
		}
		batch, err := cons.Fetch(min(free, fetchBatch), jetstream.FetchMaxWait(fetchWait))
		if err != nil {
			f.log.Warn("fetching delivery tasks failed", "error", err)
			f.pause(retryPause)
			continue
		}
		for m := range batch.Messages() {
			h := f.deliverHeld.add(m)
			if f.stopping() {
				h.nak()
				continue
			}
			f.dispatch(h)
		}
		if err := batch.Error(); err != nil && !f.stopping() {
			f.log.Warn("fetching delivery tasks failed", "error", err)
			f.pause(retryPause)
		}
	}
}

// pause sleeps d or until Stop begins.
func (f *Fanout) pause(d time.Duration) {
	t := time.NewTimer(f.jitter(d))
	defer t.Stop()
	select {
	case <-t.C:
	case <-f.soft.Done():
	}
}

// dispatch parses a task and runs, queues or hands it back per its
// webhook's cap.
func (f *Fanout) dispatch(h *heldMsg) {
	task, err := bus.ParseTask(h.msg)
	if err != nil {
		// A task nobody can read would come back forever: keep a copy in
		// the dead-letter stream and terminate it.
		f.log.Error("dropping garbled delivery task", "subject", h.msg.Subject(), "error", err)
		if dlErr := f.bus.DeadLetter(f.hard, h.msg, "invalid_task: "+err.Error()); dlErr != nil {
			f.log.Warn("dead-lettering task failed", "subject", h.msg.Subject(), "error", dlErr)
			f.later(h, deadLetterPause)
			return
		}
		h.term()
		return
	}
	if wait := task.NotBefore.Sub(f.cfg.Now()); wait > 0 {
		// Published by a direct job that was to wait (direct.go): back to
		// the stream until then, like the delayed Nak it stands for.
		h.nakDelay(wait)
		return
	}
	j := &job{h: h, task: task}
	switch f.limiter.admit(task.WebhookID, j) {
	case admitRun:
		f.startRunner(j)
	case admitQueued:
	case admitFull:
		f.parkJob(j)
	}
}

// parkJob hands a task back, not an attempt: it waits in the stream until
// its webhook is likely to have room for it (at once while stopping).
func (f *Fanout) parkJob(j *job) {
	if f.stopping() {
		j.h.nak()
		return
	}
	j.h.nakDelay(f.limiter.park(j.task.WebhookID, time.Now()))
}

// startRunner hands j to an idle runner, or starts a new one.
func (f *Fanout) startRunner(j *job) {
	if f.idle.handOff(j) {
		return
	}
	f.wg.Add(1)
	f.runners.Add(1)
	go f.runner(j)
}

// runner runs its job, then its webhook's queued jobs one by one. When
// that queue is empty it waits Config.runnerKeep (idleRunnerKeep) for a
// new job of any webhook (startRunner) before it ends: at a low rate every
// delivery would otherwise start a goroutine and grow its stack again
// under bbolt and net/http. At most Workers runners wait so, none once
// Stop has begun.
func (f *Fanout) runner(j *job) {
	defer f.wg.Done()
	defer f.runners.Add(-1)
	handed := make(chan *job, 1)
	keep := time.NewTimer(f.cfg.runnerKeep)
	keep.Stop() // armed each time the runner waits
	defer keep.Stop()
	for {
		for j != nil {
			f.runJob(j)
			j = f.limiter.next(j.task.WebhookID)
		}
		if f.stopping() || !f.idle.park(handed) {
			return
		}
		keep.Reset(f.cfg.runnerKeep)
		select {
		case j = <-handed:
		case <-keep.C:
		case <-f.soft.Done():
		}
		if j == nil && !f.idle.unpark(handed) {
			j = <-handed // handed one as it gave up waiting
		}
		if j == nil {
			return
		}
	}
}

// runJob waits for a worker slot and delivers; once Stop has begun it
// hands the job back instead. How long the job took once it had its slot
// sets its webhook's pace (waiting for a slot is every webhook's lot, not
// this one's speed).
func (f *Fanout) runJob(j *job) {
	select {
	case f.slots <- struct{}{}:
	case <-f.soft.Done():
		j.h.nak()
		return
	}
	defer func() { <-f.slots }()
	if f.stopping() {
		j.h.nak()
		return
	}
	start := time.Now()
	f.deliver(j)
	for _, s := range f.limiter.took(j.task.WebhookID, time.Since(start)) {
		f.parkJob(s)
	}
}

// deliver makes one attempt of a task (or decides none is due) and settles
// its message.
func (f *Fanout) deliver(j *job) {
	t, h := j.task, j.h
	ctx := f.hard
	if t.Header != nil {
		ctx = bus.ExtractTrace(ctx, t.Header)
	}
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer)}
	if f.tel.spanAttrs {
		opts = append(opts, trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", h.subject()),
			attribute.String("webhook_id", t.WebhookID),
			attribute.Int64("delivery_id", t.DeliveryID),
			attribute.String("event_id", t.EventID),
			attribute.String("event_type", t.EventType),
			attribute.Int("generation", t.Generation),
			attribute.String("trigger", t.Trigger)))
	}
	ctx, span := f.tel.tracer.Start(ctx, "deliver "+t.EventType, opts...)
	defer span.End()
	f.tel.inFlight.Add(ctx, 1)
	defer f.tel.inFlight.Add(context.WithoutCancel(ctx), -1)
	log := &taskLog{base: f.log, task: &t}

	w, err := f.webhook(ctx, t.WebhookID)
	switch {
	case errors.Is(err, kv.ErrNotFound):
		// Deleted: its deliveries went with it.
		log.get().Debug("dropping task of a deleted webhook")
		span.SetAttributes(attribute.String("drop", "webhook deleted"))
		h.term()
		return
	case err != nil:
		log.get().Warn("loading webhook failed", "error", err)
		span.SetStatus(codes.Error, "loading webhook failed")
		f.later(h, retryPause)
		return
	}
	if ok, same := f.limiter.claim(j); !ok {
		if same {
			// The server redelivered a message we still work on: the
			// first copy settles it, for both.
			h.forget()
			return
		}
		// Another task of this delivery is in flight here. This copy is
		// redundant unless it is of a newer generation (a manual retry
		// racing a stale copy): look again shortly; the stale checks then
		// drop it or run it.
		log.get().Debug("task of a delivery in flight, deferred")
		f.later(h, retryPause)
		return
	}
	defer f.limiter.release(t.DeliveryID)

	d, err := f.deliveryState(ctx, j, w.ID)
	switch {
	case errors.Is(err, kv.ErrNotFound):
		h.ack()
		return
	case err != nil:
		log.get().Warn("loading delivery failed", "error", err)
		span.SetStatus(codes.Error, "loading delivery failed")
		f.later(h, retryPause)
		return
	case d.Status != kv.DeliveryPending || d.Generation != t.Generation ||
		(t.Attempt != 0 && t.Attempt != d.AttemptCount+1):
		log.get().Debug("dropping stale task", "status", string(d.Status), "generation", d.Generation, "task_generation", t.Generation,
			"attempt_count", d.AttemptCount, "task_attempt", t.Attempt)
		span.SetAttributes(attribute.String("drop", "stale"))
		h.ack()
		return
	case d.Deferred && t.Attempt == 0:
		// The store's due list owns the next attempt and publishes its own
		// task: this is an older copy (redelivered after a crash).
		log.get().Debug("dropping task of a deferred delivery")
		span.SetAttributes(attribute.String("drop", "deferred"))
		h.ack()
		return
	}
	now := f.cfg.Now()
	if d.NextAttemptAt != nil && d.NextAttemptAt.Sub(now) > earlyTolerance {
		h.nakDelay(d.NextAttemptAt.Sub(now))
		return
	}
	// Only a current task at its due time ends the delivery of a paused
	// webhook: an early or stale copy must not fail it ahead of time.
	if w.Status != kv.WebhookActive {
		f.skip(ctx, h, t, w, log)
		return
	}

	resp := f.send(ctx, w, d.ID, t.EventID, t.EventType, t.Body, now)
	if resp.Err != nil && f.hard.Err() != nil {
		// Cancelled by Stop: not the receiver's doing, and not an attempt.
		h.nak()
		return
	}
	o := kv.AttemptOutcome{
		WebhookID:        w.ID,
		DeliveryID:       d.ID,
		Generation:       t.Generation,
		Attempt:          attemptOf(now, resp, triggerOf(t.Trigger)),
		AutoDisableAfter: f.cfg.AutoDisableAfter,
	}
	var outcome string
	var delay time.Duration
	switch Classify(resp) {
	case VerdictSuccess:
		o.Success, outcome = true, outcomeSuccess
	case VerdictGone:
		o.Final, o.DisableReason, outcome = true, "endpoint returned 410 Gone", outcomeGone
	default:
		// A manual retry is one attempt now, not a new retry schedule.
		if n := d.AttemptCount + 1; n-1 >= max(w.MaxRetries, 0) || t.Trigger == bus.TriggerManual {
			o.Final, outcome = true, outcomeFailed
		} else {
			var retryAfter time.Duration
			if resp.StatusCode == 429 || resp.StatusCode == 503 {
				retryAfter = resp.RetryAfter
			}
			delay = f.cfg.Schedule.Delay(n, retryAfter, f.cfg.Rand())
			next := f.cfg.Now().Add(delay)
			o.NextAttemptAt, outcome = &next, outcomeRetry
			// A task of one attempt (from the due list) is used once: its
			// attempt number would make it stale for the next one, so the
			// next waits on the due list too, however soon it is due.
			o.Defer = (f.cfg.DeferRetriesAfter > 0 && delay >= f.cfg.DeferRetriesAfter) || t.Attempt != 0
		}
	}
	if !o.Success && o.AutoDisableAfter > 0 {
		// Should this failure disable the webhook, the store keeps the
		// notice of it under this id until it is published.
		o.NoticeID = bus.NewEventID()
	}
	// The runner waits for the record before its next attempt: an attempt
	// made and not yet recorded is one a crash repeats, so at most cap of
	// them per webhook, the bound of the duplicates a crash can cause.
	f.finish(ctx, span, h, o, outcome, delay, resp.Duration, log)
}

// deliveryState is the state of j's delivery as stored, without reading
// it back when the match stage has just created it and nothing else here
// has run it since (job.created; limiter.claim). A read goes through the
// store's committer between the writes: skipping it saved 3 % of the
// daemon's CPU at full load, and for the direct jobs that wait in their
// webhook's queue about 5 % more deliveries per second flat out.
func (f *Fanout) deliveryState(ctx context.Context, j *job, webhookID string) (*kv.Delivery, error) {
	if j.created {
		t := &j.task
		return &kv.Delivery{ID: t.DeliveryID, WebhookID: webhookID, EventID: t.EventID, EventType: t.EventType,
			Status: kv.DeliveryPending, Generation: t.Generation}, nil
	}
	return f.store.DeliveryState(ctx, webhookID, j.task.DeliveryID)
}

// finish records an attempt's outcome and settles its task.
func (f *Fanout) finish(ctx context.Context, span trace.Span, h msgHandle, o kv.AttemptOutcome,
	outcome string, delay, took time.Duration, log *taskLog) {
	res, err := f.record(ctx, o)
	if err != nil {
		// The attempt will be made again: at-least-once.
		log.get().Warn("recording attempt failed", "error", err)
		span.SetStatus(codes.Error, "recording attempt failed")
		f.later(h, retryPause)
		return
	}
	f.tel.attempt(ctx, outcome, took)
	span.SetAttributes(attribute.String("outcome", outcome))
	if res.Stale {
		h.ack()
		return
	}
	if outcome != outcomeSuccess {
		log.get().Info("delivery attempt failed", "outcome", outcome, "status_code", o.Attempt.StatusCode,
			"error", o.Attempt.Error, "attempt", res.Delivery.AttemptCount)
	}
	if o.DisableReason != "" {
		log.get().Warn("webhook disabled", "reason", o.DisableReason)
	}
	if res.AutoDisabled && res.Webhook != nil {
		log.get().Warn("webhook auto-disabled", "consecutive_failures", res.Webhook.ConsecutiveFailures, "reason", res.Webhook.DisabledReason)
	}
	if res.Notice != nil {
		if err := f.announce(ctx, *res.Notice); err != nil {
			log.get().Warn("publishing auto-disabled event failed; will try again", "event_id", res.Notice.EventID, "error", err)
		} else {
			f.clearNotices(ctx, []kv.AutoDisabledNotice{*res.Notice})
		}
	}
	if outcome == outcomeRetry && !o.Defer {
		h.nakDelay(delay)
		return
	}
	// Done, or the next attempt waits in the store (dueLoop).
	h.ack()
}

// skip records a delivery to an inactive or disabled webhook as failed
// without an HTTP request; Skipped keeps it out of the failure streak.
func (f *Fanout) skip(ctx context.Context, h msgHandle, t bus.Task, w *kv.Webhook, log *taskLog) {
	reason := "webhook inactive"
	if w.Status == kv.WebhookDisabled {
		reason = "webhook disabled"
	}
	o := kv.AttemptOutcome{
		WebhookID:  w.ID,
		DeliveryID: t.DeliveryID,
		Generation: t.Generation,
		Attempt: kv.Attempt{
			StartedAt: f.cfg.Now(),
			Error:     reason,
			Trigger:   triggerOf(t.Trigger),
		},
		Final:            true,
		Skipped:          true,
		AutoDisableAfter: f.cfg.AutoDisableAfter,
	}
	res, err := f.record(ctx, o)
	if err != nil {
		log.get().Warn("recording skipped attempt failed", "error", err)
		f.later(h, retryPause)
		return
	}
	if !res.Stale {
		f.tel.attempt(ctx, outcomeSkipped, 0)
	}
	h.ack()
}

// webhook returns the webhook from the index, falling back to the store
// for one the index has not seen yet (a change from another process).
func (f *Fanout) webhook(ctx context.Context, id string) (*kv.Webhook, error) {
	if w, ok := f.index.Get(id); ok {
		return w, nil
	}
	return f.store.GetWebhook(ctx, id)
}

// record writes an attempt's outcome even while stopping: the attempt was
// made, and forgetting it would repeat it.
func (f *Fanout) record(ctx context.Context, o kv.AttemptOutcome) (*kv.AttemptResult, error) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	return f.store.RecordAttempt(rctx, o)
}

// timeout is how long one attempt to w may take.
func (f *Fanout) timeout(w *kv.Webhook) time.Duration {
	if w.TimeoutSeconds > 0 {
		return time.Duration(w.TimeoutSeconds) * time.Second
	}
	return f.cfg.DefaultTimeout
}

// send makes one signed POST of body to w, inside a client span.
func (f *Fanout) send(ctx context.Context, w *kv.Webhook, deliveryID int64, eventID, eventType string, body []byte, now time.Time) Response {
	hdr := BuildHeader(AttemptHeader{
		EventID:      eventID,
		EventType:    eventType,
		DeliveryID:   deliveryID,
		Timestamp:    now.Unix(),
		Secrets:      w.LiveSecrets(now), // read per attempt: a rotation applies at once
		Body:         body,
		UserAgent:    f.cfg.Sender.UserAgent,
		LegacyPrefix: f.cfg.LegacyPrefix,
		Custom:       w.Headers,
	})
	ctx, span := f.tel.startClient(ctx, w.URL)
	resp := f.sender.Send(ctx, Request{URL: w.URL, Header: hdr, Body: body, Timeout: f.timeout(w)})
	endClient(span, resp)
	return resp
}

// attemptOf is the history entry of one HTTP attempt.
func attemptOf(started time.Time, r Response, trig kv.Trigger) kv.Attempt {
	return kv.Attempt{
		StartedAt:    started,
		DurationMS:   r.Duration.Milliseconds(),
		StatusCode:   r.StatusCode,
		Error:        ErrorText(r),
		ResponseBody: r.Body,
		Trigger:      trig,
	}
}

func triggerOf(s string) kv.Trigger {
	if s == string(kv.TriggerManual) {
		return kv.TriggerManual
	}
	return kv.TriggerScheduled
}

// taskLog is a task's logger, made on first use: most attempts log
// nothing, and making it (slog's With) took 2 % of the daemon's CPU at
// full load.
type taskLog struct {
	base *slog.Logger
	task *bus.Task
	l    *slog.Logger
}

func (tl *taskLog) get() *slog.Logger {
	if tl.l == nil {
		t := tl.task
		tl.l = tl.base.With("webhook_id", t.WebhookID, "delivery_id", t.DeliveryID, "event_id", t.EventID)
	}
	return tl.l
}
