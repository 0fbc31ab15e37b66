package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/scailabs/webhookd/admin"
	"github.com/scailabs/webhookd/bus"
	"github.com/scailabs/webhookd/fanout"
	"github.com/scailabs/webhookd/kv"
)

// serve runs the service until ctx ends, then drains and returns nil.
func serve(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, err := parseServeConfig(args, stderr)
	if err != nil {
		return err
	}
	log, err := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	if err := applyMemoryLimit(cfg.MemoryLimit, log); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	// The data dir lock comes first: a second process on the same dir must
	// fail before it touches the JetStream store or the bbolt file.
	unlock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer unlock()

	stopPprof, err := startPprof(cfg.PprofAddr, log)
	if err != nil {
		return err
	}
	defer stopPprof()

	tel, err := startTelemetry(ctx, log)
	if err != nil {
		return err
	}
	defer tel.shutdown(context.Background())

	auth, err := cfg.authConfig()
	if err != nil {
		return err
	}
	catalog, err := admin.LoadCatalog(cfg.EventCatalog)
	if err != nil {
		return fmt.Errorf("--event-catalog: %w", err)
	}

	// bus → kv → fanout → admin; stopped in reverse.
	b, err := bus.Start(ctx, bus.Config{
		URLs:           cfg.NATSURL,
		Listen:         cfg.NATSListen,
		DataDir:        cfg.DataDir,
		Replicas:       cfg.Replicas,
		SyncAlways:     cfg.Fsync == "always",
		EventPrefix:    cfg.EventPrefix,
		MaxEventBytes:  cfg.MaxEventBytes,
		Logger:         log.With("component", "bus"),
		TracerProvider: tel.tracer,
		MeterProvider:  tel.meter,
	})
	if err != nil {
		return startErr(ctx, "start bus", err)
	}
	defer b.Close()

	store, err := kv.OpenBolt(kv.BoltOptions{
		Path:    filepath.Join(cfg.DataDir, "webhookd.db"),
		Timeout: time.Second,
		NoSync:  cfg.Fsync == "interval",
		Logger:  log.With("component", "kv"),
	})
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer store.Close()

	fo, err := fanout.New(fanout.Config{
		Bus:   b,
		Store: store,
		Sender: fanout.SenderConfig{
			Policy:    fanout.AddrPolicy{Allow: cfg.AllowTargets},
			AllowHTTP: cfg.AllowHTTP,
			UserAgent: "webhookd/" + version,
		},
		Workers:               cfg.Workers,
		PerWebhookConcurrency: cfg.PerWebhookConcurrency,
		Schedule:              cfg.RetrySchedule,
		AutoDisableAfter:      autoDisableAfter(cfg.AutoDisableAfter),
		DeferRetriesAfter:     deferRetriesAfter(cfg.DeferRetriesAfter),
		MaxEventBytes:         cfg.MaxEventBytes,
		LegacyPrefix:          cfg.LegacyHeaderPrefix,
		Logger:                log.With("component", "fanout"),
		TracerProvider:        tel.tracer,
		MeterProvider:         tel.meter,
	})
	if err != nil {
		return err
	}
	if err := fo.Start(ctx); err != nil {
		return startErr(ctx, "start fanout", err)
	}

	api, err := admin.New(admin.Config{
		Store:        store,
		Tasks:        b,
		Tester:       fo,
		Auth:         auth,
		Catalog:      catalog,
		AllowHTTP:    cfg.AllowHTTP,
		LegacyPrefix: cfg.LegacyHeaderPrefix,
		Ready: func(context.Context) error {
			if !b.Ready() {
				return errors.New("nats connection down")
			}
			return nil
		},
		Metrics:        tel.metricsHandler,
		Logger:         log.With("component", "admin"),
		TracerProvider: tel.tracer,
	})
	if err != nil {
		stopFanout(fo, cfg.DrainTimeout, log)
		return err
	}
	defer api.Close()

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		stopFanout(fo, cfg.DrainTimeout, log)
		return fmt.Errorf("--http-addr: %w", err)
	}
	srv := &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	httpErr := make(chan error, 1)
	go func() { httpErr <- srv.Serve(ln) }()
	log.Info("webhookd started",
		"version", version,
		"http_addr", ln.Addr().String(),
		"nats_url", b.ClientURL(),
		"store", cfg.Store,
		"fsync", cfg.Fsync,
		"data_dir", cfg.DataDir)

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down", "drain_timeout", cfg.DrainTimeout.String())
	case err := <-httpErr:
		runErr = fmt.Errorf("http server: %w", err)
	}

	// One drain deadline for both: the admin API stops taking requests and
	// finishes those in flight (a test attempt may take its webhook's whole
	// timeout) while the deliverer finishes its attempts. The store closes
	// only after both.
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		ctx, cancel := context.WithTimeout(context.Background(), cfg.DrainTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			log.Warn("http shutdown", "error", err)
		}
	}()
	stopFanout(fo, cfg.DrainTimeout, log)
	<-drained
	log.Info("webhookd stopped")
	return runErr
}

// startErr is a start-up failure, unless it only says that SIGTERM or
// SIGINT came during start-up: that is a clean stop, exit 0.
func startErr(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

func stopFanout(fo *fanout.Fanout, timeout time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := fo.Stop(ctx); err != nil {
		log.Warn("fanout stop", "error", err)
	}
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: want json or text, got %q", format)
}

// autoDisableAfter maps the flag (0: never) to fanout's config (0: the
// default, negative: never).
func autoDisableAfter(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// deferRetriesAfter maps the flag's 0 (never) to fanout's negative.
func deferRetriesAfter(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
