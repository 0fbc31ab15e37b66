package fanout

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/scailabs/webhookd/bus"
	"github.com/scailabs/webhookd/kv"
)

// Config configures New. Zero values take the defaults named.
type Config struct {
	// Bus carries events in and delivery tasks between the two stages, and
	// receives the webhook.auto_disabled events. Required.
	Bus *bus.Bus
	// Store holds webhooks, deliveries and attempts. Required.
	Store kv.Store
	// Sender configures the HTTP client of every attempt (address policy,
	// http:// permission, user agent, response limits).
	Sender SenderConfig

	// Workers bounds the attempts in flight at once, all webhooks together.
	// Defaults to 128.
	Workers int
	// PerWebhookConcurrency bounds one webhook's attempts in flight, so one
	// slow or dead endpoint cannot take every worker. Defaults to 8.
	PerWebhookConcurrency int
	// PerWebhookQueue bounds how many more of one webhook's tasks may wait
	// in memory while it is at its cap. A webhook queues what it works off
	// in about a quarter second, between 2 x PerWebhookConcurrency and
	// this; beyond that a slow webhook's task goes back to the stream (no
	// attempt counted) until its pace says it will have room, and a fast
	// one's makes the deliverer wait before pulling more. Defaults to 256.
	PerWebhookQueue int
	// MatchWorkers is the number of goroutines matching events to webhooks,
	// each fetching events in small batches. Defaults to 4.
	MatchWorkers int

	// Schedule is the delays between attempts; its last entry repeats.
	// Defaults to DefaultSchedule.
	Schedule Schedule
	// DeferRetriesAfter: a retry due this far ahead or more waits in the
	// store, not in the tasks stream (a delayed Nak keeps its message
	// pending in the consumer, a few hundred bytes of server memory each
	// for as long as it waits); the store's due list publishes a task for
	// it when due, checked every second. Defaults to 10s; negative keeps
	// every retry in the stream.
	DeferRetriesAfter time.Duration
	// AutoDisableAfter disables a webhook whose last this-many attempts all
	// failed. Defaults to 50; negative means never.
	AutoDisableAfter int
	// DefaultTimeout is one attempt's timeout for a webhook that names
	// none. Defaults to 10s.
	DefaultTimeout time.Duration
	// MaxEventBytes is the largest envelope accepted; larger ones are
	// dead-lettered. Keep it equal to the bus's MaxEventBytes. Defaults to
	// 256 KiB.
	MaxEventBytes int
	// LegacyPrefix names the legacy headers ("X-ScaiKey-Signature", ...).
	// Defaults to bus.DefaultLegacyPrefix.
	LegacyPrefix string

	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// TracerProvider defaults to otel.GetTracerProvider().
	TracerProvider trace.TracerProvider
	// MeterProvider defaults to otel.GetMeterProvider().
	MeterProvider metric.MeterProvider

	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
	// Rand returns a float64 in [0,1) for jitter; it must be safe for
	// concurrent use. Defaults to math/rand/v2.Float64.
	Rand func() float64

	// runnerKeep is how long an idle runner waits for a new job
	// (idleRunnerKeep; tests shorten or lengthen it).
	runnerKeep time.Duration
}

const (
	defaultWorkers           = 128
	defaultPerWebhook        = 8
	defaultPerWebhookQueue   = 256
	defaultMatchWorkers      = 4
	defaultAutoDisableAfter  = 50
	defaultDeferRetriesAfter = 10 * time.Second
	defaultTimeout           = 10 * time.Second
	defaultMaxEventBytes     = 256 << 10
)

// validate names the first bad field.
func (c *Config) validate() error {
	bad := func(field, why string) error {
		return fmt.Errorf("%w: %s %s", ErrInvalidConfig, field, why)
	}
	switch {
	case c.Bus == nil:
		return bad("Bus", "is required")
	case c.Store == nil:
		return bad("Store", "is required")
	case c.Workers < 0:
		return bad("Workers", "must not be negative")
	case c.PerWebhookConcurrency < 0:
		return bad("PerWebhookConcurrency", "must not be negative")
	case c.PerWebhookQueue < 0:
		return bad("PerWebhookQueue", "must not be negative")
	case c.MatchWorkers < 0:
		return bad("MatchWorkers", "must not be negative")
	case c.DefaultTimeout < 0:
		return bad("DefaultTimeout", "must not be negative")
	case c.MaxEventBytes < 0:
		return bad("MaxEventBytes", "must not be negative")
	}
	for i, d := range c.Schedule {
		if d <= 0 {
			return bad("Schedule", fmt.Sprintf("entry %d is not positive", i))
		}
	}
	return nil
}

// withDefaults returns a copy with every zero value replaced.
func (c Config) withDefaults() Config {
	if c.Workers == 0 {
		c.Workers = defaultWorkers
	}
	if c.PerWebhookConcurrency == 0 {
		c.PerWebhookConcurrency = defaultPerWebhook
	}
	if c.PerWebhookQueue == 0 {
		c.PerWebhookQueue = defaultPerWebhookQueue
	}
	if c.MatchWorkers == 0 {
		c.MatchWorkers = defaultMatchWorkers
	}
	if len(c.Schedule) == 0 {
		c.Schedule = DefaultSchedule
	}
	c.Schedule = append(Schedule(nil), c.Schedule...)
	if c.DeferRetriesAfter == 0 {
		c.DeferRetriesAfter = defaultDeferRetriesAfter
	}
	if c.AutoDisableAfter == 0 {
		c.AutoDisableAfter = defaultAutoDisableAfter
	}
	if c.AutoDisableAfter < 0 {
		c.AutoDisableAfter = 0 // kv: 0 means never
	}
	if c.DefaultTimeout == 0 {
		c.DefaultTimeout = defaultTimeout
	}
	if c.runnerKeep == 0 {
		c.runnerKeep = idleRunnerKeep
	}
	if c.MaxEventBytes == 0 {
		c.MaxEventBytes = defaultMaxEventBytes
	}
	if c.LegacyPrefix == "" {
		c.LegacyPrefix = bus.DefaultLegacyPrefix
	}
	if c.Sender.UserAgent == "" {
		c.Sender.UserAgent = "webhookd/dev"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.TracerProvider == nil {
		c.TracerProvider = otel.GetTracerProvider()
	}
	if c.MeterProvider == nil {
		c.MeterProvider = otel.GetMeterProvider()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.Float64
	}
	return c
}
