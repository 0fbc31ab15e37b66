package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Stream and consumer names.
const (
	EventsStream     = "EVENTS"
	TasksStream      = "WEBHOOKD_TASKS"
	DeadLetterStream = "WEBHOOKD_DLQ"
	MatchConsumer    = "webhookd-match"
	DeliverConsumer  = "webhookd-deliver"
)

// instrumentationName names webhookd's bus tracer and meter.
const instrumentationName = "github.com/scailabs/webhookd/bus"

// Async publish limits: enough in flight for a large fan-out, and a ceiling
// so an ack the server never sends does not pin its future forever.
const (
	asyncMaxPending = 4096
	asyncAckTimeout = 30 * time.Second
)

// Bus is a started NATS side. Its methods are safe for concurrent use.
type Bus struct {
	cfg       Config
	log       *slog.Logger
	srv       *server.Server // nil when connected to external servers
	nc        *nats.Conn
	js        jetstream.JetStream
	clientURL string
	prefix    string // EventPrefix + "."

	tracer      trace.Tracer
	deadLetters metric.Int64Counter

	closedOnce sync.Once
	closed     chan struct{} // closed when nc is closed
	closeOnce  sync.Once
	closeErr   error
}

// Start runs or connects to NATS and declares streams and consumers. With
// Config.URLs empty it starts the embedded server (stopped again by Close).
func Start(ctx context.Context, cfg Config) (*Bus, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if !cfg.embedded() {
		cfg.Listen = "off" // meaningless for an external cluster
	} else {
		cfg.Replicas = 1
	}
	b := &Bus{
		cfg:    cfg,
		log:    cfg.Logger,
		prefix: cfg.EventPrefix + ".",
		closed: make(chan struct{}),
	}
	if err := b.instruments(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if cfg.embedded() {
		if err := b.startEmbedded(ctx); err != nil {
			return nil, err
		}
	}
	if err := b.connect(); err != nil {
		b.stopServer()
		return nil, err
	}
	js, err := jetstream.New(b.nc,
		jetstream.WithPublishAsyncMaxPending(asyncMaxPending),
		jetstream.WithPublishAsyncTimeout(asyncAckTimeout))
	if err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("jetstream context: %w", err)
	}
	b.js = js
	if err := b.declare(ctx); err != nil {
		_ = b.Close()
		return nil, err
	}
	b.log.Info("bus started", "embedded", cfg.embedded(), "client_url", b.clientURL,
		"event_prefix", cfg.EventPrefix)
	return b, nil
}

// instruments builds the tracer and the dead-letter counter.
func (b *Bus) instruments() error {
	tp := b.cfg.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	b.tracer = tp.Tracer(instrumentationName)
	mp := b.cfg.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	c, err := mp.Meter(instrumentationName).Int64Counter("webhookd_dead_letters_total",
		metric.WithDescription("Messages moved to the dead-letter stream, by reason category."))
	if err != nil {
		return fmt.Errorf("dead-letter counter: %w", err)
	}
	b.deadLetters = c
	return nil
}

// connect opens the NATS connection: in-process to the embedded server,
// or to cfg.URLs reconnecting forever.
func (b *Bus) connect() error {
	opts := []nats.Option{
		nats.Name(b.cfg.Name),
		nats.DrainTimeout(b.cfg.DrainTimeout),
		nats.ClosedHandler(func(*nats.Conn) {
			b.closedOnce.Do(func() { close(b.closed) })
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if sub != nil {
				b.log.Warn("nats async error", "subject", sub.Subject, "error", err)
				return
			}
			b.log.Warn("nats async error", "error", err)
		}),
	}
	if b.srv != nil {
		opts = append(opts, nats.InProcessServer(b.srv))
		nc, err := nats.Connect("", opts...)
		if err != nil {
			return fmt.Errorf("connect to embedded nats: %w", err)
		}
		b.nc = nc
		return nil
	}
	opts = append(opts,
		nats.MaxReconnects(-1),
		nats.ReconnectWait(2*time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				b.log.Warn("nats disconnected", "error", err)
				return
			}
			b.log.Info("nats disconnected")
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			b.log.Info("nats reconnected", "server", nc.ConnectedUrlRedacted())
		}),
	)
	nc, err := nats.Connect(strings.TrimSpace(b.cfg.URLs), opts...)
	if err != nil {
		return fmt.Errorf("connect to nats: %w", err)
	}
	b.nc = nc
	return nil
}

// Conn is the NATS connection.
func (b *Bus) Conn() *nats.Conn { return b.nc }

// JetStream is the JetStream context on Conn.
func (b *Bus) JetStream() jetstream.JetStream { return b.js }

// ClientURL is where publishers connect ("" when in-process only or when
// connected to external servers). For a wildcard bind address it names
// loopback.
func (b *Bus) ClientURL() string { return b.clientURL }

// Ready reports whether the connection is up (and, embedded, the server
// is running).
func (b *Bus) Ready() bool {
	if b.nc == nil || b.nc.Status() != nats.CONNECTED {
		return false
	}
	return b.srv == nil || b.srv.Running()
}

// Close drains the connection (bounded by Config.DrainTimeout) and stops
// the embedded server, waiting for it. It is idempotent; later calls
// return the first call's result.
func (b *Bus) Close() error {
	b.closeOnce.Do(func() { b.closeErr = b.close() })
	return b.closeErr
}

func (b *Bus) close() error {
	var errs []error
	if b.nc != nil {
		if err := b.nc.Drain(); err != nil {
			if !errors.Is(err, nats.ErrConnectionClosed) {
				errs = append(errs, fmt.Errorf("drain nats connection: %w", err))
			}
			b.nc.Close()
		}
		// The client closes the connection itself once DrainTimeout passes;
		// the margin only guards against that never happening.
		select {
		case <-b.closed:
		case <-time.After(b.cfg.DrainTimeout + 5*time.Second):
			b.nc.Close()
			errs = append(errs, errors.New("drain nats connection: timed out"))
		}
	}
	b.stopServer()
	return errors.Join(errs...)
}

// stopServer shuts the embedded server down and waits for it.
func (b *Bus) stopServer() {
	if b.srv == nil {
		return
	}
	b.srv.Shutdown()
	b.srv.WaitForShutdown()
}

// MatchConsumer is the durable pull consumer on the events stream. It is
// declared again if someone deleted it.
func (b *Bus) MatchConsumer(ctx context.Context) (jetstream.Consumer, error) {
	c, err := b.js.Consumer(ctx, EventsStream, MatchConsumer)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return b.declareMatchConsumer(ctx, false)
	}
	if err != nil {
		return nil, fmt.Errorf("match consumer: %w", err)
	}
	return c, nil
}

// DeliverConsumer is the durable pull consumer on the tasks stream. It is
// declared again if someone deleted it.
func (b *Bus) DeliverConsumer(ctx context.Context) (jetstream.Consumer, error) {
	c, err := b.js.Consumer(ctx, TasksStream, DeliverConsumer)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return b.declareDeliverConsumer(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("deliver consumer: %w", err)
	}
	return c, nil
}

// EventType returns the event type a subject carries ("events.user.created"
// → "user.created"), false when the subject is outside the prefix or
// carries nothing after it. The type is not validated (see ValidEventType).
func (b *Bus) EventType(subject string) (string, bool) {
	t, ok := strings.CutPrefix(subject, b.prefix)
	if !ok || t == "" {
		return "", false
	}
	return t, true
}

// EventSubject is the subject an event of eventType is published on.
func (b *Bus) EventSubject(eventType string) string { return b.prefix + eventType }
