package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	var err error
	if len(os.Args) > 1 && os.Args[1] == "receiver" {
		err = runReceiver(ctx, os.Args[2:], os.Stdin, os.Stdout)
	} else {
		err = run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	}
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "webhookbench:", err)
		}
		os.Exit(2)
	}
}

// run is the benchmark: flags, build, scenarios, table.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, stderr)
	if err != nil {
		return err
	}
	b := &bench{cfg: cfg, log: stderr}
	if b.self, err = os.Executable(); err != nil {
		return err
	}
	b.workDir = cfg.WorkDir
	if b.workDir == "" {
		if b.workDir, err = os.MkdirTemp("", "webhookbench-"); err != nil {
			return err
		}
		if !cfg.Keep {
			defer os.RemoveAll(b.workDir)
		}
	} else if err := os.MkdirAll(b.workDir, 0o700); err != nil {
		return err
	}
	b.bin = cfg.Webhookd
	if b.bin == "" {
		fmt.Fprintln(stderr, "building webhookd ...")
		if b.bin, err = buildWebhookd(ctx, b.workDir); err != nil {
			return err
		}
	}
	started := time.Now()
	res, err := b.runAll(ctx)
	if cfg.JSON != "" {
		if werr := writeJSON(cfg.JSON, res); werr != nil && err == nil {
			err = werr
		}
	}
	printReport(stdout, cfg, machineInfo(), res, time.Since(started))
	if cfg.Keep {
		fmt.Fprintln(stderr, "data dirs and logs kept in", b.workDir)
	}
	return err
}

// results is everything measured, every run kept.
type results struct {
	HTTPCeiling map[int][]ceilingResult    `json:"http_ceiling"` // by fan-out
	JSCeiling   map[string][]ceilingResult `json:"jetstream_ceiling"`
	Runs        []runResult                `json:"runs"`
}

// runAll runs the chosen scenarios; repeated runs are interleaved so a
// noisy neighbour hits every row alike. On an error it returns what was
// measured so far.
func (b *bench) runAll(ctx context.Context) (*results, error) {
	cfg := b.cfg
	res := &results{HTTPCeiling: map[int][]ceilingResult{}, JSCeiling: map[string][]ceilingResult{}}
	for run := 1; run <= cfg.Runs; run++ {
		if cfg.has(scnCeilings) {
			if err := b.ceilings(ctx, res, run); err != nil {
				return res, err
			}
		}
		if cfg.has(scnThroughput) {
			for _, fsync := range cfg.Fsync {
				for _, w := range cfg.Fanouts {
					events := max(cfg.Deliveries/w, 1)
					b.progress(run, "throughput fsync=%s 1→%d: %d events, %s", fsync, w, events, rateText(cfg.Rate))
					r, err := b.throughput(ctx, scnThroughput, fsync, w, events, cfg.Rate)
					if err != nil {
						return res, fmt.Errorf("throughput fsync=%s 1→%d: %w", fsync, w, err)
					}
					b.done(&r)
					res.Runs = append(res.Runs, r)
				}
			}
		}
	}
	if cfg.has(scnLatency) {
		for run := 1; run <= cfg.Runs; run++ {
			for _, fsync := range cfg.Fsync {
				maxRate := medianRate(res.Runs, scnThroughput, fsync, 1)
				if maxRate == 0 {
					b.progress(run, "latency fsync=%s needs the 1→1 maximum: measuring it first", fsync)
					r, err := b.throughput(ctx, scnThroughput, fsync, 1, cfg.Deliveries, 0)
					if err != nil {
						return res, fmt.Errorf("throughput fsync=%s 1→1: %w", fsync, err)
					}
					b.done(&r)
					res.Runs = append(res.Runs, r)
					maxRate = r.Rate
				}
				rate := maxRate * cfg.LatencyLoad
				events := max(int(rate*cfg.LatencyDuration.Seconds()), 1)
				b.progress(run, "latency fsync=%s 1→1: %d events at %.0f/s (%.0f%% of %.0f/s)", fsync, events, rate, cfg.LatencyLoad*100, maxRate)
				r, err := b.throughput(ctx, scnLatency, fsync, 1, events, rate)
				if err != nil {
					return res, fmt.Errorf("latency fsync=%s: %w", fsync, err)
				}
				b.done(&r)
				res.Runs = append(res.Runs, r)
			}
		}
	}
	if cfg.has(scnBacklog) {
		for run := 1; run <= cfg.Runs; run++ {
			for _, fsync := range cfg.Fsync {
				b.progress(run, "backlog fsync=%s: %d deliveries pending with the receiver down, then up", fsync, cfg.Backlog)
				r, err := b.backlog(ctx, scnBacklog, fsync, cfg.Backlog, cfg.BacklogRetry, true)
				if err != nil {
					return res, fmt.Errorf("backlog fsync=%s: %w", fsync, err)
				}
				b.done(&r)
				res.Runs = append(res.Runs, r)
			}
		}
	}
	if cfg.has(scnRSS) {
		// Once: it is a memory ceiling check, not a timing.
		fsync := cfg.Fsync[0]
		b.progress(1, "rss fsync=%s: %d deliveries pending with the receiver down", fsync, cfg.RSSPending)
		r, err := b.backlog(ctx, scnRSS, fsync, cfg.RSSPending, time.Hour, false)
		if err != nil {
			return res, fmt.Errorf("rss: %w", err)
		}
		b.done(&r)
		res.Runs = append(res.Runs, r)
	}
	return res, nil
}

// ceilings measures the raw HTTP ceiling at each fan-out's concurrency and
// the raw JetStream ceiling for each fsync mode.
func (b *bench) ceilings(ctx context.Context, res *results, run int) error {
	cfg := b.cfg
	recv, err := b.startReceiver(ctx)
	if err != nil {
		return err
	}
	defer recv.proc.stop(5 * time.Second)
	for _, w := range cfg.Fanouts {
		conc := cfg.concurrency(w)
		b.progress(run, "raw HTTP ceiling at concurrency %d (1→%d): %d requests", conc, w, cfg.Deliveries)
		c, err := rawHTTP(ctx, recv, conc, cfg.Deliveries, w, cfg.EventBytes)
		if err != nil {
			return fmt.Errorf("raw HTTP ceiling: %w", err)
		}
		fmt.Fprintf(b.log, "  %.0f requests/s, p50 %s, p99 %s, %d errors\n", c.Rate, ms(c.P50), ms(c.P99), c.Errors)
		res.HTTPCeiling[w] = append(res.HTTPCeiling[w], c)
	}
	for _, fsync := range cfg.Fsync {
		n := min(cfg.Deliveries, 20000)
		if fsync == "always" {
			n = min(n, 5000) // a few seconds at fsync speed
		}
		b.progress(run, "raw JetStream ceiling, fsync=%s: %d sync publishes", fsync, n)
		c, err := rawJetStream(ctx, b.workDir, fsync == "always", n, cfg.EventBytes, newEventIDs(cfg.EventIDs))
		if err != nil {
			return fmt.Errorf("raw JetStream ceiling: %w", err)
		}
		fmt.Fprintf(b.log, "  %.0f publishes/s, p50 %s, p99 %s\n", c.Rate, ms(c.P50), ms(c.P99))
		res.JSCeiling[fsync] = append(res.JSCeiling[fsync], c)
	}
	return nil
}

func (b *bench) progress(run int, format string, args ...any) {
	prefix := ""
	if b.cfg.Runs > 1 {
		prefix = fmt.Sprintf("[run %d/%d] ", run, b.cfg.Runs)
	}
	fmt.Fprintf(b.log, "%s%s\n", prefix, fmt.Sprintf(format, args...))
}

func (b *bench) done(r *runResult) {
	r.Load = loadAverage()
	fmt.Fprintf(b.log, "  %d/%d delivered, %.0f/s, p50 %s p99 %s, CPU %s/1k, peak RSS %s, dup %d, lost %d (load %.1f)\n",
		r.Delivered, r.Expected, r.Rate, ms(r.P50), ms(r.P99), secs(r.CPUPer1k), mb(r.PeakRSS), r.Duplicates, r.Lost, r.Load)
}

func rateText(rate float64) string {
	if rate == 0 {
		return "flat out"
	}
	return fmt.Sprintf("%.0f events/s", rate)
}

func writeJSON(path string, res *results) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
