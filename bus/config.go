package bus

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Defaults applied by Start to zero Config fields.
const (
	DefaultListen           = "off"
	DefaultEventPrefix      = "events"
	DefaultDuplicateWindow  = 2 * time.Minute
	DefaultMaxEventBytes    = 256 << 10
	DefaultEventsMaxAge     = 7 * 24 * time.Hour
	DefaultDeadLetterMaxAge = 30 * 24 * time.Hour
	DefaultDeliverAckWait   = 20 * time.Second
	DefaultSyncInterval     = time.Second
	DefaultStartTimeout     = 30 * time.Second
	DefaultDrainTimeout     = 10 * time.Second
	DefaultName             = "webhookd"

	// MaxEventBytesLimit bounds MaxEventBytes: tasks carry the envelope
	// plus headers and must fit a NATS message.
	MaxEventBytesLimit = 8 << 20
)

// Config configures Start. Zero values take the defaults named.
type Config struct {
	// URLs are external NATS servers, comma-separated. Empty: run the
	// embedded server.
	URLs string
	// Listen is the embedded server's client address for publishers
	// ("127.0.0.1:4222"); "off" runs it in-process only. Port 0 or -1
	// lets the OS pick (see Bus.ClientURL). Defaults to "off".
	Listen string
	// DataDir holds the embedded JetStream store (DataDir/jetstream).
	// Required in embedded mode.
	DataDir string
	// Replicas for streams on an external cluster. Defaults to 1. The
	// embedded server always uses 1.
	Replicas int
	// SyncAlways makes the embedded server fsync every write before it
	// acknowledges it.
	SyncAlways bool
	// SyncInterval is how often the embedded server fsyncs when SyncAlways
	// is false. Defaults to 1s.
	SyncInterval time.Duration
	// EventPrefix is the subject prefix of events. Defaults to "events".
	EventPrefix string
	// DuplicateWindow of the events and tasks streams. Defaults to 2m.
	DuplicateWindow time.Duration
	// MaxEventBytes is the largest accepted envelope. Defaults to 256 KiB;
	// at most MaxEventBytesLimit.
	MaxEventBytes int
	// EventsMaxAge is how long the events stream keeps events (for replay
	// and manual retries). Defaults to 7 days.
	EventsMaxAge time.Duration
	// DeadLetterMaxAge is how long the dead-letter stream keeps messages.
	// Defaults to 30 days.
	DeadLetterMaxAge time.Duration
	// DeliverAckWait is the deliver consumer's AckWait. The tasks a process
	// holds are kept alive with InProgress every quarter of it, so it does
	// not bound an attempt's length: it is how long the tasks of a process
	// that died wait before JetStream hands them out again. Defaults to 20s.
	DeliverAckWait time.Duration
	// StartTimeout bounds how long the embedded server may take to become
	// ready (JetStream recovery included). Defaults to 30s.
	StartTimeout time.Duration
	// DrainTimeout bounds Close's connection drain. Defaults to 10s.
	DrainTimeout time.Duration
	// Name is the NATS connection name. Defaults to "webhookd".
	Name string

	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// TracerProvider defaults to otel.GetTracerProvider().
	TracerProvider trace.TracerProvider
	// MeterProvider defaults to otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
}

// withDefaults returns cfg with zero fields set to their defaults.
func (cfg Config) withDefaults() Config {
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.SyncInterval == 0 {
		cfg.SyncInterval = DefaultSyncInterval
	}
	if cfg.EventPrefix == "" {
		cfg.EventPrefix = DefaultEventPrefix
	}
	if cfg.DuplicateWindow == 0 {
		cfg.DuplicateWindow = DefaultDuplicateWindow
	}
	if cfg.MaxEventBytes == 0 {
		cfg.MaxEventBytes = DefaultMaxEventBytes
	}
	if cfg.EventsMaxAge == 0 {
		cfg.EventsMaxAge = DefaultEventsMaxAge
	}
	if cfg.DeadLetterMaxAge == 0 {
		cfg.DeadLetterMaxAge = DefaultDeadLetterMaxAge
	}
	if cfg.DeliverAckWait == 0 {
		cfg.DeliverAckWait = DefaultDeliverAckWait
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	if cfg.DrainTimeout == 0 {
		cfg.DrainTimeout = DefaultDrainTimeout
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg
}

// embedded reports whether cfg runs the embedded server.
func (cfg Config) embedded() bool { return strings.TrimSpace(cfg.URLs) == "" }

// validate checks a defaulted Config, naming the bad field.
func (cfg Config) validate() error {
	if cfg.embedded() {
		if cfg.DataDir == "" {
			return fmt.Errorf("%w: DataDir is required for the embedded server", ErrInvalidConfig)
		}
		if _, _, _, err := parseListen(cfg.Listen); err != nil {
			return err
		}
	}
	if cfg.Replicas < 1 || cfg.Replicas > 5 {
		return fmt.Errorf("%w: Replicas must be 1..5, got %d", ErrInvalidConfig, cfg.Replicas)
	}
	if err := validPrefix(cfg.EventPrefix); err != nil {
		return err
	}
	if cfg.SyncInterval < 0 {
		return fmt.Errorf("%w: SyncInterval must be positive", ErrInvalidConfig)
	}
	if cfg.DuplicateWindow < 0 {
		return fmt.Errorf("%w: DuplicateWindow must be positive", ErrInvalidConfig)
	}
	if cfg.EventsMaxAge < cfg.DuplicateWindow {
		return fmt.Errorf("%w: EventsMaxAge (%s) must be at least DuplicateWindow (%s)",
			ErrInvalidConfig, cfg.EventsMaxAge, cfg.DuplicateWindow)
	}
	if cfg.DeadLetterMaxAge < cfg.DuplicateWindow {
		return fmt.Errorf("%w: DeadLetterMaxAge (%s) must be at least DuplicateWindow (%s)",
			ErrInvalidConfig, cfg.DeadLetterMaxAge, cfg.DuplicateWindow)
	}
	if cfg.MaxEventBytes < 0 || cfg.MaxEventBytes > MaxEventBytesLimit {
		return fmt.Errorf("%w: MaxEventBytes must be 1..%d, got %d", ErrInvalidConfig, MaxEventBytesLimit, cfg.MaxEventBytes)
	}
	if cfg.DeliverAckWait < time.Second {
		return fmt.Errorf("%w: DeliverAckWait must be at least 1s, got %s", ErrInvalidConfig, cfg.DeliverAckWait)
	}
	if cfg.StartTimeout < 0 || cfg.DrainTimeout < 0 {
		return fmt.Errorf("%w: StartTimeout and DrainTimeout must be positive", ErrInvalidConfig)
	}
	return nil
}

// parseListen splits Listen into host and port; off reports "off". Port 0
// is returned as -1 (nats-server's "random port"): its own 0 means 4222.
func parseListen(listen string) (host string, port int, off bool, err error) {
	if listen == "off" {
		return "", 0, true, nil
	}
	h, p, err := net.SplitHostPort(listen)
	if err != nil {
		return "", 0, false, fmt.Errorf("%w: Listen %q: want host:port or \"off\"", ErrInvalidConfig, listen)
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < -1 || n > 65535 {
		return "", 0, false, fmt.Errorf("%w: Listen %q: bad port", ErrInvalidConfig, listen)
	}
	if n == 0 {
		n = -1
	}
	return h, n, false, nil
}

// validPrefix checks an event subject prefix: literal subject tokens, not
// inside webhookd's own "webhookd." namespace nor a "$" system subject.
func validPrefix(p string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w: EventPrefix %q: %s", ErrInvalidConfig, p, why)
	}
	if len(p) > 64 {
		return bad("longer than 64 bytes")
	}
	for tok := range strings.SplitSeq(p, ".") {
		if tok == "" {
			return bad("empty token")
		}
		for i := 0; i < len(tok); i++ {
			c := tok[i]
			if c <= ' ' || c == '*' || c == '>' || c >= 0x7f {
				return bad("tokens must be printable ASCII without wildcards")
			}
		}
	}
	first, _, _ := strings.Cut(p, ".")
	if first == "webhookd" || strings.HasPrefix(first, "$") {
		return bad("reserved namespace")
	}
	return nil
}
