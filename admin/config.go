package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/scailabs/webhookd/bus"
	"github.com/scailabs/webhookd/kv"
)

// DefaultMaxBodyBytes is the largest request body accepted by default.
const DefaultMaxBodyBytes = 1 << 20

// Config configures New. Zero values take the defaults named.
type Config struct {
	// Store persists webhooks and deliveries. Required.
	Store kv.Store
	// Tasks publishes manual retries and purges a deleted webhook's tasks.
	// Required; *bus.Bus satisfies it.
	Tasks TaskPublisher
	// Tester runs the synchronous test delivery. Required;
	// *fanout.Fanout satisfies it.
	Tester Tester
	// Auth says how bearer tokens are verified. At least one key source is
	// required.
	Auth AuthConfig
	// Catalog is the event-type catalogue. Defaults to the built-in one.
	Catalog *Catalog
	// AllowHTTP allows http:// webhook URLs. Defaults to false (https only).
	AllowHTTP bool
	// LegacyPrefix is the legacy signature header prefix, whose headers a
	// webhook may not set. Defaults to bus.DefaultLegacyPrefix.
	LegacyPrefix string
	// Ready answers /readyz. Defaults to always ready.
	Ready func(ctx context.Context) error
	// Metrics is served at /metrics when set.
	Metrics http.Handler
	// MaxBodyBytes is the largest request body. Defaults to 1 MiB.
	MaxBodyBytes int64
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// TracerProvider defaults to the global one.
	TracerProvider trace.TracerProvider
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
}

// TaskPublisher is the slice of the bus admin uses.
type TaskPublisher interface {
	PublishTasks(ctx context.Context, tasks []bus.Task) error
	PurgeTasks(ctx context.Context, webhookID string) error
	GetEvent(ctx context.Context, seq uint64) ([]byte, error)
}

// Tester runs one synchronous test attempt of a webhook, recorded as a
// delivery, and returns that delivery. An endpoint that fails is not an
// error: the delivery says so.
type Tester interface {
	Test(ctx context.Context, w *kv.Webhook, eventType string, data json.RawMessage) (*kv.Delivery, error)
}

// AuthConfig says how bearer tokens are verified. Key sources may be
// combined; each algorithm is accepted only with its own kind of key.
type AuthConfig struct {
	// HS256Key is a shared key of at least 32 bytes; HS256 tokens are
	// accepted only when it is set.
	HS256Key []byte
	// PublicKeyPEM holds RSA (RS256, at least 2048 bits) or EC P-256
	// (ES256) public keys or certificates, PEM encoded.
	PublicKeyPEM []byte
	// JWKSURL is a JWK Set of RS256 / ES256 keys. It is cached, refreshed
	// hourly, and at most once a minute when a token names an unknown kid.
	JWKSURL string
	// Issuer and Audience are required in every token when set.
	Issuer   string
	Audience string
	// Leeway is the clock skew allowed on exp, nbf and iat. Defaults to 30s.
	Leeway time.Duration
}

func (c *Config) validate() error {
	switch {
	case c.Store == nil:
		return errors.New("admin: Config.Store is required")
	case c.Tasks == nil:
		return errors.New("admin: Config.Tasks is required")
	case c.Tester == nil:
		return errors.New("admin: Config.Tester is required")
	case c.MaxBodyBytes < 0:
		return fmt.Errorf("admin: Config.MaxBodyBytes %d is negative", c.MaxBodyBytes)
	}
	return c.Auth.validate()
}

func (c *AuthConfig) validate() error {
	if len(c.HS256Key) == 0 && len(c.PublicKeyPEM) == 0 && c.JWKSURL == "" {
		return errors.New("admin: Config.Auth needs HS256Key, PublicKeyPEM or JWKSURL")
	}
	if len(c.HS256Key) > 0 && len(c.HS256Key) < MinHS256KeyBytes {
		return fmt.Errorf("admin: Config.Auth.HS256Key has %d bytes, want at least %d", len(c.HS256Key), MinHS256KeyBytes)
	}
	if c.Leeway < 0 {
		return fmt.Errorf("admin: Config.Auth.Leeway %s is negative", c.Leeway)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.LegacyPrefix == "" {
		c.LegacyPrefix = bus.DefaultLegacyPrefix
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Auth.Leeway == 0 {
		c.Auth.Leeway = 30 * time.Second
	}
	return c
}
