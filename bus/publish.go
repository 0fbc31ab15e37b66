package bus

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// taskWindow bounds one PublishTasks call's unacknowledged publishes, so a
// large fan-out neither stalls the shared async publisher nor holds
// thousands of futures at once.
const taskWindow = 512

// PublishEvent publishes an envelope on <prefix>.<eventType> with
// Nats-Msg-Id eventID and the trace context of ctx (a producer span),
// waiting for the ack. A duplicate inside the window is acknowledged
// without being stored again and is not an error.
func (b *Bus) PublishEvent(ctx context.Context, eventID, eventType string, body []byte) error {
	switch {
	case eventID == "" || len(eventID) > MaxEventIDLen || !visibleASCII(eventID):
		return fmt.Errorf("publish event: %w: bad event id", ErrInvalidEvent)
	case !ValidEventType(eventType):
		return fmt.Errorf("publish event: %w: bad event type", ErrInvalidEvent)
	case len(body) > b.cfg.MaxEventBytes:
		return fmt.Errorf("publish event: %w: %d bytes exceeds the limit of %d",
			ErrInvalidEvent, len(body), b.cfg.MaxEventBytes)
	}
	subject := b.EventSubject(eventType)
	ctx, span := b.tracer.Start(ctx, "publish "+subject, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", subject),
			attribute.String("messaging.message.id", eventID),
		))
	defer span.End()

	h := make(nats.Header, 3)
	h[jetstream.MsgIDHeader] = []string{eventID}
	InjectTrace(ctx, h)
	ack, err := b.js.PublishMsg(ctx, &nats.Msg{Subject: subject, Header: h, Data: body})
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "publish failed")
		return fmt.Errorf("publish event %s: %w", eventID, err)
	}
	span.SetAttributes(attribute.Int64("messaging.nats.stream_sequence", int64(ack.Sequence)),
		attribute.Bool("messaging.nats.duplicate", ack.Duplicate))
	return nil
}

// PublishTasks publishes delivery tasks (async, then waits for every ack,
// bounded by ctx). Each carries Nats-Msg-Id "<delivery_id>.<generation>"
// so a republish inside the duplicate window is dropped by JetStream. Any
// failure fails the call; tasks acknowledged before it stay published, and
// publishing the whole batch again is safe thanks to the message ids.
func (b *Bus) PublishTasks(ctx context.Context, tasks []Task) error {
	if len(tasks) == 0 {
		return nil
	}
	for i := range tasks {
		if err := tasks[i].validate(); err != nil {
			return fmt.Errorf("publish tasks: %w", err)
		}
	}
	ctx, span := b.tracer.Start(ctx, "publish "+TasksSubjectPrefix+"*", trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", TasksStream),
			attribute.Int("messaging.batch.message_count", len(tasks)),
		))
	defer span.End()

	err := b.publishTasks(ctx, tasks)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "publish failed")
	}
	return err
}

func (b *Bus) publishTasks(ctx context.Context, tasks []Task) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("publish tasks: %w", err)
	}
	if b.cfg.useAtomicTasks() && len(tasks) > 1 {
		return b.publishTasksAtomic(ctx, tasks)
	}
	return b.publishTasksAsync(ctx, tasks)
}

// publishTasksAtomic stores tasks in atomic batches. A refused batch
// stored nothing and is published again message by message: that is how
// a republished task (a redelivered event) meets the duplicate window,
// which refuses a whole batch but only drops a single message.
func (b *Bus) publishTasksAtomic(ctx context.Context, tasks []Task) error {
	for len(tasks) > 0 {
		n := nextAtomicBatch(tasks)
		err := b.publishTaskBatch(ctx, tasks[:n])
		if errors.Is(err, errBatchRefused) {
			// Duplicates after a replayed event are expected; anything else
			// (a server limit) costs the fsyncs the batch was to save.
			b.log.Debug("task batch refused, publishing its tasks one by one", "tasks", n, "error", err)
			err = b.publishTasksAsync(ctx, tasks[:n])
		}
		if err != nil {
			return err
		}
		tasks = tasks[n:]
	}
	return nil
}

// publishTasksAsync publishes tasks one message each, at most taskWindow
// unacknowledged.
func (b *Bus) publishTasksAsync(ctx context.Context, tasks []Task) error {
	futures := make([]jetstream.PubAckFuture, 0, min(len(tasks), taskWindow))
	for i := range tasks {
		if len(futures) == taskWindow {
			if err := awaitAcks(ctx, futures); err != nil {
				return err
			}
			futures = futures[:0]
		}
		f, err := b.js.PublishMsgAsync(taskMsg(ctx, &tasks[i]))
		if err != nil {
			return fmt.Errorf("publish task for delivery %d: %w", tasks[i].DeliveryID, err)
		}
		futures = append(futures, f)
	}
	return awaitAcks(ctx, futures)
}

// awaitAcks waits for every future; the first failure or ctx ends it.
func awaitAcks(ctx context.Context, futures []jetstream.PubAckFuture) error {
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			if err == nil {
				err = errors.New("no ack")
			}
			return fmt.Errorf("publish task %s: %w", f.Msg().Header.Get(jetstream.MsgIDHeader), err)
		case <-ctx.Done():
			return fmt.Errorf("publish tasks: waiting for acks: %w", ctx.Err())
		}
	}
	return nil
}
