package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/scailabs/webhookd/admin"
	"github.com/scailabs/webhookd/fanout"
)

// serveConfig is everything `webhookd serve` reads from flags and env.
type serveConfig struct {
	DataDir               string
	HTTPAddr              string
	NATSURL               string
	NATSListen            string
	Store                 string
	Replicas              int
	Fsync                 string
	HS256KeyFile          string
	PublicKeyFile         string
	JWKSURL               string
	Issuer                string
	Audience              string
	AllowHTTP             bool
	AllowTargets          []netip.Prefix
	RetrySchedule         fanout.Schedule
	EventCatalog          string
	MasterKeyFile         string
	EventPrefix           string
	MaxEventBytes         int
	LegacyHeaderPrefix    string
	Workers               int
	PerWebhookConcurrency int
	AutoDisableAfter      int
	DeferRetriesAfter     time.Duration
	DrainTimeout          time.Duration
	LogLevel              string
	LogFormat             string
	PprofAddr             string
	MemoryLimit           string
}

func parseServeConfig(args []string, stderr io.Writer) (*serveConfig, error) {
	c := &serveConfig{}
	fs := newFlagSet("serve", stderr)
	fs.StringVar(&c.DataDir, "data-dir", "./data", "JetStream store, bbolt file, generated keys")
	fs.StringVar(&c.HTTPAddr, "http-addr", "127.0.0.1:8080", "admin API, /openapi.json, /healthz, /readyz, /metrics")
	fs.StringVar(&c.NATSURL, "nats-url", "", "external NATS server(s), comma-separated; empty runs the embedded server")
	fs.StringVar(&c.NATSListen, "nats-listen", "127.0.0.1:4222", `the embedded server's client address for publishers ("off": in-process only)`)
	fs.StringVar(&c.Store, "store", "bbolt", "record store: bbolt (jetstream is planned)")
	fs.IntVar(&c.Replicas, "replicas", 1, "stream replicas on an external cluster")
	fs.StringVar(&c.Fsync, "fsync", "always", "always: acknowledged means on disk; interval: faster, may lose the last moments on power loss")
	fs.StringVar(&c.HS256KeyFile, "jwt-hs256-key-file", "", "HS256 shared key file (text, at least 32 bytes)")
	fs.StringVar(&c.PublicKeyFile, "jwt-public-key-file", "", "RS256/ES256 public key(s), PEM")
	fs.StringVar(&c.JWKSURL, "jwks-url", "", "JWKS URL for RS256/ES256 keys")
	fs.StringVar(&c.Issuer, "jwt-issuer", "", "required iss claim")
	fs.StringVar(&c.Audience, "jwt-audience", "", "required aud claim")
	fs.BoolVar(&c.AllowHTTP, "allow-http", false, "allow http:// webhook URLs")
	allowTargets := fs.String("allow-targets", "", "CIDRs exempt from the SSRF block, comma-separated (e.g. 127.0.0.1/32)")
	schedule := fs.String("retry-schedule", "30s,2m,10m,30m,2h,5h", "delays between attempts; the last one repeats")
	fs.StringVar(&c.EventCatalog, "event-catalog", "", "JSON or YAML file of extra event types")
	fs.StringVar(&c.MasterKeyFile, "master-key-file", "", "key that encrypts webhook secrets at rest (not yet supported)")
	fs.StringVar(&c.EventPrefix, "event-prefix", "events", "subject prefix of events")
	fs.IntVar(&c.MaxEventBytes, "max-event-bytes", 256<<10, "largest accepted envelope")
	fs.StringVar(&c.LegacyHeaderPrefix, "legacy-header-prefix", "X-ScaiKey", "prefix of the legacy delivery headers")
	fs.IntVar(&c.Workers, "workers", 128, "concurrent delivery attempts")
	fs.IntVar(&c.PerWebhookConcurrency, "per-webhook-concurrency", 8, "concurrent attempts to one webhook")
	fs.IntVar(&c.AutoDisableAfter, "auto-disable-after", 50, "disable a webhook after this many consecutive failed attempts (0: never)")
	fs.DurationVar(&c.DeferRetriesAfter, "defer-retries-after", 10*time.Second, "a retry due this far ahead or later waits in the store, not in JetStream's memory (0: never)")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", 25*time.Second, "how long SIGTERM waits for in-flight deliveries")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", "json", "json or text")
	fs.StringVar(&c.MemoryLimit, "memory-limit", "auto", `Go runtime's soft memory limit: a size (200MiB), "off", or "auto": 90 % of the cgroup's memory limit, or GOMEMLIMIT when that is set`)
	fs.StringVar(&c.PprofAddr, "pprof-addr", "", "serve net/http/pprof on this address, e.g. 127.0.0.1:6060 (off when empty)")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	var err error
	if c.AllowTargets, err = parsePrefixes(*allowTargets); err != nil {
		return nil, fmt.Errorf("--allow-targets: %w", err)
	}
	if c.RetrySchedule, err = fanout.ParseSchedule(*schedule); err != nil {
		return nil, fmt.Errorf("--retry-schedule: %w", err)
	}
	return c, c.validate()
}

// validate names the first bad flag.
func (c *serveConfig) validate() error {
	switch {
	case c.Store == "jetstream":
		return errors.New("--store jetstream: the JetStream KV store is not implemented yet; use bbolt")
	case c.Store != "bbolt":
		return fmt.Errorf("--store: want bbolt or jetstream, got %q", c.Store)
	case c.Fsync != "always" && c.Fsync != "interval":
		return fmt.Errorf("--fsync: want always or interval, got %q", c.Fsync)
	case c.Replicas < 1 || c.Replicas > 5:
		return fmt.Errorf("--replicas: want 1 to 5, got %d", c.Replicas)
	case c.NATSURL == "" && c.Replicas != 1:
		return errors.New("--replicas needs --nats-url: the embedded server is a single node")
	case c.MasterKeyFile != "":
		// Refuse rather than store secrets in the clear while the operator
		// believes they are encrypted.
		return errors.New("--master-key-file: encryption at rest is not implemented yet")
	case c.MaxEventBytes < 1024:
		return fmt.Errorf("--max-event-bytes: want at least 1024, got %d", c.MaxEventBytes)
	case c.Workers < 1:
		return fmt.Errorf("--workers: want at least 1, got %d", c.Workers)
	case c.PerWebhookConcurrency < 1:
		return fmt.Errorf("--per-webhook-concurrency: want at least 1, got %d", c.PerWebhookConcurrency)
	case c.AutoDisableAfter < 0:
		return fmt.Errorf("--auto-disable-after: want 0 or more, got %d", c.AutoDisableAfter)
	case c.DeferRetriesAfter < 0:
		return fmt.Errorf("--defer-retries-after: want 0 or a positive duration, got %s", c.DeferRetriesAfter)
	case c.DrainTimeout <= 0:
		return fmt.Errorf("--drain-timeout: want a positive duration, got %s", c.DrainTimeout)
	}
	if c.MemoryLimit != "auto" && c.MemoryLimit != "off" {
		if _, err := parseSize(c.MemoryLimit); err != nil {
			return fmt.Errorf("--memory-limit: %w", err)
		}
	}
	keys := 0
	for _, k := range []string{c.HS256KeyFile, c.PublicKeyFile, c.JWKSURL} {
		if k != "" {
			keys++
		}
	}
	if keys > 1 {
		return errors.New("choose one of --jwt-hs256-key-file, --jwt-public-key-file, --jwks-url")
	}
	return nil
}

// authConfig loads the token verification key; with none configured it
// generates (once) an HS256 key at <data-dir>/jwt.key, which `webhookd
// token` signs with.
func (c *serveConfig) authConfig() (admin.AuthConfig, error) {
	a := admin.AuthConfig{JWKSURL: c.JWKSURL, Issuer: c.Issuer, Audience: c.Audience}
	var err error
	switch {
	case c.HS256KeyFile != "":
		a.HS256Key, err = admin.LoadHS256KeyFile(c.HS256KeyFile)
		if err != nil {
			err = fmt.Errorf("--jwt-hs256-key-file: %w", err)
		}
	case c.PublicKeyFile != "":
		a.PublicKeyPEM, err = os.ReadFile(c.PublicKeyFile)
		if err != nil {
			err = fmt.Errorf("--jwt-public-key-file: %w", err)
		}
	case c.JWKSURL != "":
	default:
		a.HS256Key, err = admin.LoadOrCreateHS256Key(defaultKeyPath(c.DataDir))
	}
	return a, err
}

func parsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			// A bare address means just that address.
			a, aerr := netip.ParseAddr(part)
			if aerr != nil {
				return nil, fmt.Errorf("%q is not a CIDR or an address", part)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
