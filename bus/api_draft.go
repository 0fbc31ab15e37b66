package bus

// DRAFT SURFACE: signatures are fixed; bodies are being written.

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

const (
	EventsStream     = "EVENTS"
	TasksStream      = "WEBHOOKD_TASKS"
	DeadLetterStream = "WEBHOOKD_DLQ"
	MatchConsumer    = "webhookd-match"
	DeliverConsumer  = "webhookd-deliver"
)

// Config configures Start. Zero values take the defaults named.
type Config struct {
	// URLs are external NATS servers, comma-separated. Empty: run the
	// embedded server.
	URLs string
	// Listen is the embedded server's client address for publishers
	// ("127.0.0.1:4222"); "off" runs it in-process only. Defaults to "off".
	Listen string
	// DataDir holds the embedded JetStream store (DataDir/jetstream).
	DataDir string
	// Replicas for streams on an external cluster. Defaults to 1.
	Replicas int
	// SyncAlways makes the embedded server fsync every write before it
	// acknowledges it.
	SyncAlways bool
	// EventPrefix is the subject prefix of events. Defaults to "events".
	EventPrefix string
	// DuplicateWindow of the events and tasks streams. Defaults to 2m.
	DuplicateWindow time.Duration
	// MaxEventBytes is the largest accepted envelope. Defaults to 256 KiB.
	MaxEventBytes int
	// EventsMaxAge is how long the events stream keeps events (for replay
	// and manual retries). Defaults to 7 days.
	EventsMaxAge time.Duration
	// DeliverAckWait is the deliver consumer's AckWait; it must exceed the
	// longest HTTP attempt. Defaults to 60s.
	DeliverAckWait time.Duration
	// Name is the NATS connection name. Defaults to "webhookd".
	Name string

	Logger         *slog.Logger
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
}

// Bus is a started NATS side. Its methods are safe for concurrent use.
type Bus struct{}

// Start runs or connects to NATS and declares streams and consumers.
func Start(ctx context.Context, cfg Config) (*Bus, error) { return nil, errors.New("todo") }

// Conn is the NATS connection.
func (b *Bus) Conn() *nats.Conn { return nil }

// JetStream is the JetStream context on Conn.
func (b *Bus) JetStream() jetstream.JetStream { return nil }

// ClientURL is where publishers connect ("" when in-process only).
func (b *Bus) ClientURL() string { return "" }

// Ready reports whether the connection is up.
func (b *Bus) Ready() bool { return false }

// Close drains the connection and stops the embedded server.
func (b *Bus) Close() error { return nil }

// MatchConsumer is the durable pull consumer on the events stream.
func (b *Bus) MatchConsumer(ctx context.Context) (jetstream.Consumer, error) { return nil, nil }

// DeliverConsumer is the durable pull consumer on the tasks stream.
func (b *Bus) DeliverConsumer(ctx context.Context) (jetstream.Consumer, error) { return nil, nil }

// EventType returns the event type a subject carries ("events.user.created"
// → "user.created"), false when the subject is outside the prefix.
func (b *Bus) EventType(subject string) (string, bool) { return "", false }

// PublishEvent publishes an envelope on <prefix>.<eventType> with
// Nats-Msg-Id eventID and the trace context of ctx, waiting for the ack.
func (b *Bus) PublishEvent(ctx context.Context, eventID, eventType string, body []byte) error {
	return nil
}

// PublishTasks publishes delivery tasks (async, then waits for every ack).
// Each carries Nats-Msg-Id "<delivery_id>.<generation>" so a republish
// inside the duplicate window is dropped by JetStream.
func (b *Bus) PublishTasks(ctx context.Context, tasks []Task) error { return nil }

// DeadLetter moves an unprocessable message to the DLQ stream with the
// reason and counts it; the caller acks the original afterwards.
func (b *Bus) DeadLetter(ctx context.Context, msg jetstream.Msg, reason string) error { return nil }

// GetEvent reads an envelope back from the events stream by sequence (for
// a manual retry); ErrEventGone when it is no longer retained.
func (b *Bus) GetEvent(ctx context.Context, seq uint64) ([]byte, error) { return nil, nil }

// ErrEventGone is returned by GetEvent for an event the stream no longer holds.
var ErrEventGone = errors.New("event no longer retained")

// PurgeTasks drops the pending tasks of one webhook.
func (b *Bus) PurgeTasks(ctx context.Context, webhookID string) error { return nil }

// Envelope is a validated event; Raw is the body exactly as published.
type Envelope struct {
	EventID   string
	EventType string
	Timestamp time.Time
	Source    string
	TenantID  string
	PartnerID string
	Raw       []byte
}

// EnvelopeError says why a body is not a valid envelope.
type EnvelopeError struct{ Reason string }

func (e *EnvelopeError) Error() string { return "invalid envelope: " + e.Reason }

// ParseEnvelope validates body as an event envelope published on a subject
// carrying subjectType (contract section 1).
func ParseEnvelope(body []byte, subjectType string, maxBytes int) (*Envelope, error) {
	return nil, nil
}

// ValidEventType reports whether s is dot-separated lowercase tokens.
func ValidEventType(s string) bool { return false }

// Task is one delivery attempt request on the tasks stream.
type Task struct {
	DeliveryID int64
	WebhookID  string
	EventID    string
	EventType  string
	Generation int
	Trigger    string // "scheduled" or "manual"
	Body       []byte // the envelope, exactly as published
	// Header carries trace context (traceparent, tracestate) forward.
	Header nats.Header
}

// ParseTask decodes a task message.
func ParseTask(msg jetstream.Msg) (Task, error) { return Task{}, nil }

// InjectTrace writes ctx's trace context into h.
func InjectTrace(ctx context.Context, h nats.Header) {}

// ExtractTrace returns ctx carrying the trace context found in h.
func ExtractTrace(ctx context.Context, h nats.Header) context.Context { return ctx }

// ErrInvalidPattern is wrapped by ParsePattern's errors.
var ErrInvalidPattern = errors.New("invalid event pattern")

// DefaultLegacyPrefix is the legacy signature header prefix.
const DefaultLegacyPrefix = "X-ScaiKey"

// Pattern is one webhook event pattern: "user.created" (exact), "user.*"
// (prefix: one or more further tokens), "*" (every type).
type Pattern struct{ s string }

// ParsePattern validates s.
func ParsePattern(s string) (Pattern, error) { return Pattern{s}, nil }

// Match reports whether eventType matches.
func (p Pattern) Match(eventType string) bool { return false }

// Exact returns the type when the pattern is exact.
func (p Pattern) Exact() (string, bool) { return "", false }

// Prefix returns "user" for "user.*" and ("", true) for "*".
func (p Pattern) Prefix() (string, bool) { return "", false }

func (p Pattern) String() string { return p.s }

// ReservedHeader reports whether a webhook may not set this header name.
func ReservedHeader(name, legacyPrefix string) bool { return false }
