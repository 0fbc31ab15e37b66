package fanout

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/scailabs/webhookd/bus"
	"github.com/scailabs/webhookd/kv"
)

// errNoEventType is the dead-letter reason of a message whose subject
// carries no event type (outside the events prefix).
var errNoEventType = errors.New("bad_subject: the subject carries no event type")

// createChunk is the most deliveries stored as one group of the store's
// committer: an event matching thousands of webhooks must not hold every
// attempt's record back until all of them are written.
const createChunk = 256

// matchLoop pulls events and matches them in small batches: whatever has
// arrived when the previous batch is done. It ends when Stop begins (after
// its current pull; events that arrive after that are handed back).
func (f *Fanout) matchLoop(cons jetstream.Consumer) {
	defer f.wg.Done()
	for !f.stopping() {
		// Events wait in their stream while a fast webhook's queue is
		// over its size, as tasks do (deliverLoop): matched now, their
		// deliveries would only go through the tasks stream.
		if crowded, _ := f.limiter.isCrowded(); crowded {
			f.limiter.waitRoom(f.soft.Done())
			continue
		}
		batch, err := cons.Fetch(fetchBatch, jetstream.FetchMaxWait(fetchWait))
		if err != nil {
			f.log.Warn("fetching events failed", "error", err)
			f.pause(retryPause)
			continue
		}
		msgs := batch.Messages()
		for {
			m, ok := <-msgs
			if !ok {
				break
			}
			group := []*heldMsg{f.matchHeld.add(m)}
		gather:
			for len(group) < fetchBatch {
				select {
				case m, ok := <-msgs:
					if !ok {
						break gather
					}
					group = append(group, f.matchHeld.add(m))
				default:
					break gather
				}
			}
			if f.stopping() {
				for _, h := range group {
					h.nak()
				}
				continue
			}
			f.matchGroup(group)
		}
		if err := batch.Error(); err != nil && !f.stopping() {
			f.log.Warn("fetching events failed", "error", err)
			f.pause(retryPause)
		}
	}
}

// matchEvent is one event of a batch on its way to tasks.
type matchEvent struct {
	h     *heldMsg
	held  *heldEvent // while deliveries run without a task (direct.go)
	env   *bus.Envelope
	ctx   context.Context
	span  trace.Span
	seq   uint64
	hooks []*kv.Webhook
	tasks []bus.Task
	// fresh marks the tasks of deliveries this match created: only those
	// may run without a task message. A delivery found again (a replayed
	// event) may have a task in the stream already, or a manual retry's:
	// its task is published, and JetStream's duplicate window and the
	// deliverer's checks treat it as before. seen is each task's webhook's
	// copies count from before its delivery was stored (limiter.claim).
	fresh []bool
	seen  []uint64
	err   error // a store error: the event is handed back
}

// matchGroup turns a batch of events into stored deliveries, run here
// when their webhook has room (direct.go) or published as tasks, then
// settles each event: at once when all its deliveries went as tasks,
// after the last direct one otherwise.
func (f *Fanout) matchGroup(group []*heldMsg) {
	events := make([]*matchEvent, 0, len(group))
	for _, h := range group {
		e, ok := f.matchOne(h)
		if !ok {
			continue
		}
		events = append(events, e)
	}
	f.createDeliveries(events)

	var tasks []bus.Task
	for _, e := range events {
		if e.err != nil {
			continue
		}
		e.held = newHeldEvent(f, e.h)
		for i, t := range e.tasks {
			if e.fresh[i] && !f.stopping() && f.runDirect(e.held, t, e.seen[i]) {
				continue
			}
			tasks = append(tasks, t)
		}
	}
	var pubErr error
	if len(tasks) > 0 {
		pubErr = f.bus.PublishTasks(f.hard, tasks)
		if pubErr != nil {
			f.log.Warn("publishing delivery tasks failed", "tasks", len(tasks), "error", pubErr)
		}
	}
	for _, e := range events {
		err := e.err
		if err == nil {
			err = pubErr
		}
		switch {
		case e.held == nil:
			// Records already made are found again on redelivery (the
			// (webhook, event) pair is idempotent) and their tasks republished.
			e.span.SetStatus(codes.Error, "storing deliveries failed")
			f.later(e.h, retryPause)
		case err != nil:
			// The same, once its direct deliveries have settled.
			e.span.SetStatus(codes.Error, "publishing delivery tasks failed")
			e.held.release(false)
		default:
			e.held.release(true)
			if len(e.tasks) > 0 {
				f.tel.matched.Add(e.ctx, 1)
			}
		}
		e.span.SetAttributes(attribute.Int("tasks", len(e.tasks)))
		e.span.End()
	}
}

// matchOne validates one event and finds its webhooks. false means the
// event is settled (dead-lettered, or matched nothing).
func (f *Fanout) matchOne(h *heldMsg) (*matchEvent, bool) {
	ctx := bus.ExtractTrace(f.hard, h.msg.Headers())
	ctx, span := f.tel.tracer.Start(ctx, "match "+h.msg.Subject(),
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", h.msg.Subject())))
	subjectType, ok := f.bus.EventType(h.msg.Subject())
	var env *bus.Envelope
	err := errNoEventType
	if ok {
		// An empty subject type would skip the comparison: never pass one.
		env, err = bus.ParseEnvelope(h.msg.Data(), subjectType, f.cfg.MaxEventBytes)
	}
	if err != nil {
		// The error text starts with the category DeadLetter counts by.
		span.SetStatus(codes.Error, "invalid envelope")
		f.deadLetter(ctx, h, err.Error())
		span.End()
		return nil, false
	}
	span.SetAttributes(attribute.String("event_id", env.EventID), attribute.String("event_type", env.EventType))
	var seq uint64
	if md, err := h.msg.Metadata(); err == nil {
		seq = md.Sequence.Stream
	}
	hooks := f.index.Match(env.EventType, env.TenantID, env.PartnerID, nil)
	if len(hooks) == 0 {
		h.ack()
		span.SetAttributes(attribute.Int("tasks", 0))
		span.End()
		return nil, false
	}
	return &matchEvent{h: h, env: env, ctx: ctx, span: span, seq: seq, hooks: hooks}, true
}

// deadLetter moves an invalid event to the DLQ, then acks it; when the
// move fails the event is handed back and tried again later: never lost.
func (f *Fanout) deadLetter(ctx context.Context, h *heldMsg, reason string) {
	if err := f.bus.DeadLetter(ctx, h.msg, reason); err != nil {
		f.log.Warn("dead-lettering event failed", "subject", h.msg.Subject(), "reason", reason, "error", err)
		f.later(h, deadLetterPause)
		return
	}
	// bus.DeadLetter logged it, once even across redeliveries.
	h.ack()
}

// createDeliveries stores one delivery per (event, webhook), in groups
// of createChunk that the store writes at once, and builds the task of
// each that is still pending. A delivery that exists already (a
// redelivered event) is not made again: pending, its task is republished
// (JetStream's duplicate window and the deliverer's stale checks make that
// harmless); finished, it is left alone.
func (f *Fanout) createDeliveries(events []*matchEvent) {
	type pair struct {
		e    *matchEvent
		d    *kv.Delivery
		seen uint64
	}
	now := f.cfg.Now()
	var pairs []pair
	for _, e := range events {
		for _, w := range e.hooks {
			// Before the delivery exists: a copy of it can only run later.
			seen := f.limiter.copiesOf(w.ID).Load()
			pairs = append(pairs, pair{e, newDelivery(e, w, now), seen})
		}
	}
	ds := make([]*kv.Delivery, 0, min(len(pairs), createChunk))
	for chunk := range slices.Chunk(pairs, createChunk) {
		ds = ds[:0]
		for _, p := range chunk {
			ds = append(ds, p.d)
		}
		for i, out := range f.store.CreateDeliveries(f.hard, ds) {
			e, d, seen := chunk[i].e, chunk[i].d, chunk[i].seen
			switch {
			case errors.Is(out.Err, kv.ErrNotFound):
				// Deleted since it matched: nothing to deliver, and no
				// reason to hold the event back from its other webhooks.
			case out.Err != nil:
				if e.err == nil {
					f.log.Warn("creating delivery failed", "webhook_id", d.WebhookID, "event_id", e.env.EventID, "error", out.Err)
				}
				e.err = out.Err
			case out.Created || d.Status == kv.DeliveryPending:
				e.tasks = append(e.tasks, taskOf(e, d))
				e.fresh = append(e.fresh, out.Created)
				e.seen = append(e.seen, seen)
			}
		}
	}
}

// newDelivery is the pending delivery of e to w.
func newDelivery(e *matchEvent, w *kv.Webhook, now time.Time) *kv.Delivery {
	return &kv.Delivery{
		WebhookID: w.ID,
		EventID:   e.env.EventID,
		EventType: e.env.EventType,
		TenantID:  e.env.TenantID,
		PartnerID: e.env.PartnerID,
		EventSeq:  e.seq,
		EventTime: e.env.Timestamp,
		Status:    kv.DeliveryPending,
		CreatedAt: now,
		UpdatedAt: now,
	}
}

// taskOf is the task of e's stored delivery d.
func taskOf(e *matchEvent, d *kv.Delivery) bus.Task {
	hdr := nats.Header{}
	bus.InjectTrace(e.ctx, hdr)
	return bus.Task{
		DeliveryID: d.ID,
		WebhookID:  d.WebhookID,
		EventID:    e.env.EventID,
		EventType:  e.env.EventType,
		Generation: d.Generation,
		Trigger:    string(kv.TriggerScheduled),
		Body:       e.env.Raw,
		Header:     hdr,
	}
}
