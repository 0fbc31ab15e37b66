package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Subjects of webhookd's own streams.
const (
	// TasksSubjectPrefix + webhook id is the subject of that webhook's tasks.
	TasksSubjectPrefix = "webhookd.tasks."
	// DeadLetterEventsSubject receives events that could not be processed.
	DeadLetterEventsSubject = "webhookd.dlq.events"
	// DeadLetterTasksSubject receives task messages that could not be
	// processed.
	DeadLetterTasksSubject = "webhookd.dlq.tasks"
)

// Stream metadata marking a stream webhookd created and may update.
const (
	ownerMetadataKey   = "webhookd_owner"
	ownerMetadataValue = "webhookd"
)

// Consumer settings that are not configuration.
const (
	// matchAckWait: held events are kept alive with InProgress, so this is
	// how long a dead process's events wait before they are matched again.
	matchAckWait       = 20 * time.Second
	matchMaxAckPending = 4096
	// eventHeaderAllowance is room for Nats-Msg-Id and trace headers above
	// MaxEventBytes in the events stream's MaxMsgSize (which counts headers).
	eventHeaderAllowance = 16 << 10
)

// declare creates or updates every stream and consumer. It is idempotent.
func (b *Bus) declare(ctx context.Context) error {
	created, err := b.declareEvents(ctx)
	if err != nil {
		return err
	}
	if _, err := b.js.CreateOrUpdateStream(ctx, b.tasksConfig()); err != nil {
		return fmt.Errorf("declare stream %s: %w", TasksStream, err)
	}
	if _, err := b.js.CreateOrUpdateStream(ctx, b.deadLetterConfig()); err != nil {
		return fmt.Errorf("declare stream %s: %w", DeadLetterStream, err)
	}
	if _, err := b.declareMatchConsumer(ctx, created); err != nil {
		return err
	}
	if _, err := b.declareDeliverConsumer(ctx); err != nil {
		return err
	}
	return nil
}

func (b *Bus) eventsConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        EventsStream,
		Description: "Events published by platform services, consumed by webhookd.",
		Subjects:    []string{b.prefix + ">"},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		Storage:     jetstream.FileStorage,
		MaxAge:      b.cfg.EventsMaxAge,
		Duplicates:  b.cfg.DuplicateWindow,
		MaxMsgSize:  int32(b.cfg.MaxEventBytes + eventHeaderAllowance),
		Replicas:    b.cfg.Replicas,
		Metadata:    map[string]string{ownerMetadataKey: ownerMetadataValue},
	}
}

func (b *Bus) tasksConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        TasksStream,
		Description: "webhookd delivery tasks, one per (event, webhook).",
		Subjects:    []string{TasksSubjectPrefix + ">"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Duplicates:  b.cfg.DuplicateWindow,
		Replicas:    b.cfg.Replicas,
		// With sync always a matched group's tasks are one atomic batch
		// (publishTasks), sharing one fsync.
		AllowAtomicPublish: b.cfg.useAtomicTasks(),
		Metadata:           map[string]string{ownerMetadataKey: ownerMetadataValue},
	}
}

func (b *Bus) deadLetterConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        DeadLetterStream,
		Description: "Messages webhookd could not process, with the reason in a header.",
		Subjects:    []string{"webhookd.dlq.>"},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		Storage:     jetstream.FileStorage,
		MaxAge:      b.cfg.DeadLetterMaxAge,
		Duplicates:  b.cfg.DuplicateWindow,
		Replicas:    b.cfg.Replicas,
		Metadata:    map[string]string{ownerMetadataKey: ownerMetadataValue},
	}
}

// declareEvents creates the EVENTS stream, or updates it when webhookd
// owns it (its metadata says so). A stream someone else created (an
// operator sharing EVENTS with other consumers) is never modified: it is
// only checked to cover "<prefix>.>". created reports a fresh stream.
func (b *Bus) declareEvents(ctx context.Context) (created bool, err error) {
	want := b.eventsConfig()
	s, err := b.js.Stream(ctx, EventsStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = b.js.CreateStream(ctx, want)
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return false, fmt.Errorf("declare stream %s: %w", EventsStream, err)
		}
		// Another worker created it meanwhile: treat it as existing.
		s, err = b.js.Stream(ctx, EventsStream)
	}
	if err != nil {
		return false, fmt.Errorf("declare stream %s: %w", EventsStream, err)
	}
	have := s.CachedInfo().Config
	if have.Metadata[ownerMetadataKey] == ownerMetadataValue {
		if _, err := b.js.UpdateStream(ctx, want); err != nil {
			return false, fmt.Errorf("declare stream %s: %w", EventsStream, err)
		}
		return false, nil
	}
	if !coveredBy(b.prefix+">", have.Subjects) {
		return false, fmt.Errorf("stream %s (not created by webhookd) has subjects %v, which do not cover %q: %w",
			EventsStream, have.Subjects, b.prefix+">", ErrStreamConflict)
	}
	if have.Retention == jetstream.WorkQueuePolicy {
		return false, fmt.Errorf("stream %s (not created by webhookd) has work-queue retention: %w",
			EventsStream, ErrStreamConflict)
	}
	b.log.Info("using existing events stream as is", "stream", EventsStream,
		"max_age", have.MaxAge, "duplicate_window", have.Duplicates)
	return false, nil
}

// declareMatchConsumer creates or updates webhookd-match. An existing
// consumer keeps its start position (the server refuses to change it). A
// new one starts at the first event when the stream is fresh or empty,
// otherwise at new events: replaying days of retained history to every
// webhook would be worse than skipping it.
func (b *Bus) declareMatchConsumer(ctx context.Context, freshStream bool) (jetstream.Consumer, error) {
	cfg := jetstream.ConsumerConfig{
		Durable:       MatchConsumer,
		Description:   "webhookd: matches events against webhooks.",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       matchAckWait,
		MaxDeliver:    -1,
		FilterSubject: b.prefix + ">",
		MaxAckPending: matchMaxAckPending,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	existing, err := b.js.Consumer(ctx, EventsStream, MatchConsumer)
	switch {
	case err == nil:
		have := existing.CachedInfo().Config
		cfg.DeliverPolicy, cfg.OptStartSeq, cfg.OptStartTime = have.DeliverPolicy, have.OptStartSeq, have.OptStartTime
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		if !freshStream {
			s, err := b.js.Stream(ctx, EventsStream)
			if err != nil {
				return nil, fmt.Errorf("declare consumer %s: %w", MatchConsumer, err)
			}
			if n := s.CachedInfo().State.Msgs; n > 0 {
				cfg.DeliverPolicy = jetstream.DeliverNewPolicy
				b.log.Warn("match consumer created on a stream with retained events; starting at new events",
					"stream", EventsStream, "retained", n)
			}
		}
	default:
		return nil, fmt.Errorf("declare consumer %s: %w", MatchConsumer, err)
	}
	c, err := b.js.CreateOrUpdateConsumer(ctx, EventsStream, cfg)
	if err != nil {
		return nil, fmt.Errorf("declare consumer %s: %w", MatchConsumer, err)
	}
	return c, nil
}

// declareDeliverConsumer creates or updates webhookd-deliver. MaxAckPending
// is unlimited: a message held back with NakWithDelay stays in the pending
// map and counts against the limit (nats-server #6093), so retries waiting
// hours would otherwise starve fresh tasks.
func (b *Bus) declareDeliverConsumer(ctx context.Context) (jetstream.Consumer, error) {
	c, err := b.js.CreateOrUpdateConsumer(ctx, TasksStream, jetstream.ConsumerConfig{
		Durable:       DeliverConsumer,
		Description:   "webhookd: delivers tasks to webhook endpoints.",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       b.cfg.DeliverAckWait,
		MaxDeliver:    -1,
		MaxAckPending: -1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("declare consumer %s: %w", DeliverConsumer, err)
	}
	return c, nil
}

// coveredBy reports whether every subject matching filter also matches one
// of subjects (NATS wildcards: "*" one token, ">" one or more at the end).
func coveredBy(filter string, subjects []string) bool {
	for _, s := range subjects {
		if subjectSubset(filter, s) {
			return true
		}
	}
	return false
}

// subjectSubset reports whether every subject matching a matches b.
func subjectSubset(a, b string) bool {
	at, bt := strings.Split(a, "."), strings.Split(b, ".")
	for i, t := range bt {
		if t == ">" {
			return i < len(at)
		}
		if i >= len(at) {
			return false
		}
		switch {
		case at[i] == ">":
			return false
		case t == "*":
		case at[i] == "*" || at[i] != t:
			return false
		}
	}
	return len(at) == len(bt)
}
