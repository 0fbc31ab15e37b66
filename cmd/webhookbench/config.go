package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Scenario names, in the order they run.
const (
	scnCeilings   = "ceilings"
	scnThroughput = "throughput"
	scnLatency    = "latency"
	scnBacklog    = "backlog"
	scnRSS        = "rss"
)

var allScenarios = []string{scnCeilings, scnThroughput, scnLatency, scnBacklog, scnRSS}

// maxEventBytes bounds -event-bytes (webhookd's own limit is 256 KiB).
const maxEventBytes = 64 << 10

// config is what the flags ask for.
type config struct {
	Scenarios []string
	Fsync     []string // "interval", "always"
	Fanouts   []int    // webhooks per event

	// Deliveries is the size of one throughput run: Deliveries/fanout
	// events. Defaults to 20,000 (-full: 50,000).
	Deliveries int
	// Rate is the event rate of throughput runs; 0 publishes flat out.
	Rate float64
	// LatencyLoad is the fraction of the measured 1→1 maximum the
	// latency runs publish at. Defaults to 0.2.
	LatencyLoad float64
	// LatencyDuration is how long a latency run publishes. Defaults to
	// 10s (-full: 30s).
	LatencyDuration time.Duration
	// Backlog is how many deliveries pile up while the receiver is down
	// before it comes back. Defaults to 10,000 (-full: 100,000).
	Backlog int
	// BacklogRetry is webhookd's retry schedule in the backlog run: short,
	// so every pending delivery is due soon after the receiver is up, yet
	// long enough that 20 retries outlast the outage. Defaults to 10s,
	// webhookd's default --defer-retries-after: the backlog waits on the
	// due list, as it would with the default schedule.
	BacklogRetry time.Duration
	// RSSPending is how many pending deliveries the rss scenario builds
	// up (receiver down, a 1 h retry delay) before it reads webhookd's
	// RSS. Defaults to 1,000,000.
	RSSPending int
	// RSSSettle and RSSWindow: once the rss scenario's deliveries are
	// pending, webhookd is left alone for RSSSettle, then the largest RSS
	// over RSSWindow is what it holds while they wait. Default 15s, 20s.
	RSSSettle, RSSWindow time.Duration
	// Runs repeats each measurement; the table shows medians. Defaults to
	// 1 (-full: 3).
	Runs int
	// EventBytes is the size of one envelope. Defaults to 512.
	EventBytes int
	// EventIDs is the event id scheme: idsRandom (the default) or
	// idsSequential (eventids.go).
	EventIDs string
	// Workers and PerWebhook are passed to webhookd (--workers,
	// --per-webhook-concurrency) and set the raw HTTP ceiling's
	// concurrency. Default to webhookd's defaults, 128 and 8.
	Workers    int
	PerWebhook int
	// Stall ends a wait in which nothing was delivered for this long; what
	// is missing then counts as lost. Defaults to 60s.
	Stall time.Duration

	Webhookd      string   // a prebuilt webhookd; empty: go build it
	WebhookdFlags []string // extra flags for every webhookd serve
	WorkDir       string   // where data dirs go; empty: a temp dir
	Keep          bool     // keep data dirs and logs
	JSON          string   // also write the results as JSON here
	Full          bool
}

// fullPresets are the sizes, applied by -full to the flags not
// given explicitly.
var fullPresets = map[string]string{
	"deliveries":       "50000",
	"latency-duration": "30s",
	"backlog":          "100000",
	"runs":             "3",
	"scenarios":        strings.Join(allScenarios, ","),
}

func parseConfig(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("webhookbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	scenarios := fs.String("scenarios", "ceilings,throughput,latency,backlog", "comma-separated: "+strings.Join(allScenarios, ","))
	fsync := fs.String("fsync", "interval,always", "webhookd --fsync modes to measure")
	fanouts := fs.String("fanout", "1,10", "webhooks per event, comma-separated")
	fs.IntVar(&c.Deliveries, "deliveries", 20000, "deliveries per throughput run (events = deliveries / fan-out)")
	fs.Float64Var(&c.Rate, "rate", 0, "events/s of throughput runs (0: flat out)")
	fs.Float64Var(&c.LatencyLoad, "latency-load", 0.2, "latency runs publish at this fraction of the measured 1→1 maximum")
	fs.DurationVar(&c.LatencyDuration, "latency-duration", 10*time.Second, "how long a latency run publishes")
	fs.IntVar(&c.Backlog, "backlog", 10000, "deliveries pending while the receiver is down (backlog scenario)")
	fs.DurationVar(&c.BacklogRetry, "backlog-retry", 10*time.Second, "webhookd --retry-schedule in the backlog scenario (20 retries must outlast the outage; 10s or more waits on the due list)")
	fs.IntVar(&c.RSSPending, "rss-pending", 1000000, "pending deliveries built up by the rss scenario")
	fs.DurationVar(&c.RSSSettle, "rss-settle", 15*time.Second, "rss: how long webhookd is left alone once the deliveries are pending")
	fs.DurationVar(&c.RSSWindow, "rss-window", 20*time.Second, "rss: then the largest RSS over this long is reported")
	fs.IntVar(&c.Runs, "runs", 1, "repeat every measurement this often; the table shows medians")
	fs.IntVar(&c.EventBytes, "event-bytes", 512, "size of one event envelope")
	fs.StringVar(&c.EventIDs, "event-ids", idsRandom, "event ids: random (like the contract's evt_a3f9k2bWqL8Hn5pZ) or sequential (evt_<run>_<n>, as time-ordered ids)")
	fs.IntVar(&c.Workers, "workers", 128, "webhookd --workers")
	fs.IntVar(&c.PerWebhook, "per-webhook-concurrency", 8, "webhookd --per-webhook-concurrency")
	fs.DurationVar(&c.Stall, "stall", 60*time.Second, "give up waiting after this long without a delivery (the rest counts as lost)")
	fs.StringVar(&c.Webhookd, "webhookd", "", "use this webhookd binary instead of building cmd/webhookd")
	wflags := fs.String("webhookd-flags", "", `extra flags for webhookd serve, space-separated (e.g. "--pprof-addr 127.0.0.1:6060")`)
	fs.StringVar(&c.WorkDir, "workdir", "", "directory for data dirs and logs (default: a new temp dir)")
	fs.BoolVar(&c.Keep, "keep", false, "keep data dirs and logs")
	fs.StringVar(&c.JSON, "json", "", "also write every run's results as JSON to this file")
	fs.BoolVar(&c.Full, "full", false, "the issue's sizes: "+presetText())
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.Full {
		given := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
		for name, v := range fullPresets {
			if !given[name] {
				if err := fs.Set(name, v); err != nil {
					return nil, err
				}
			}
		}
	}
	c.Scenarios = splitList(*scenarios)
	c.Fsync = splitList(*fsync)
	c.WebhookdFlags = strings.Fields(*wflags)
	for _, s := range splitList(*fanouts) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return nil, fmt.Errorf("-fanout: %q is not 1..1000", s)
		}
		c.Fanouts = append(c.Fanouts, n)
	}
	return c, c.validate()
}

// validate names the first bad flag.
func (c *config) validate() error {
	for _, s := range c.Scenarios {
		if !slices.Contains(allScenarios, s) {
			return fmt.Errorf("-scenarios: unknown %q (want %s)", s, strings.Join(allScenarios, ","))
		}
	}
	for _, m := range c.Fsync {
		if m != "interval" && m != "always" {
			return fmt.Errorf("-fsync: want interval or always, got %q", m)
		}
	}
	switch {
	case len(c.Scenarios) == 0:
		return errors.New("-scenarios: none given")
	case len(c.Fsync) == 0:
		return errors.New("-fsync: none given")
	case len(c.Fanouts) == 0:
		return errors.New("-fanout: none given")
	case c.Deliveries < 1:
		return fmt.Errorf("-deliveries: want at least 1, got %d", c.Deliveries)
	case c.Rate < 0:
		return fmt.Errorf("-rate: want 0 or more, got %g", c.Rate)
	case c.LatencyLoad <= 0 || c.LatencyLoad > 1:
		return fmt.Errorf("-latency-load: want (0, 1], got %g", c.LatencyLoad)
	case c.LatencyDuration < time.Second:
		return fmt.Errorf("-latency-duration: want at least 1s, got %s", c.LatencyDuration)
	case c.Backlog < 1:
		return fmt.Errorf("-backlog: want at least 1, got %d", c.Backlog)
	case c.BacklogRetry < 100*time.Millisecond:
		return fmt.Errorf("-backlog-retry: want at least 100ms, got %s", c.BacklogRetry)
	case c.RSSPending < 1:
		return fmt.Errorf("-rss-pending: want at least 1, got %d", c.RSSPending)
	case c.RSSSettle < 0:
		return fmt.Errorf("-rss-settle: want 0 or more, got %s", c.RSSSettle)
	case c.RSSWindow < 0:
		return fmt.Errorf("-rss-window: want 0 or more, got %s", c.RSSWindow)
	case c.Runs < 1:
		return fmt.Errorf("-runs: want at least 1, got %d", c.Runs)
	case c.EventBytes < 256 || c.EventBytes > maxEventBytes:
		return fmt.Errorf("-event-bytes: want 256..%d, got %d", maxEventBytes, c.EventBytes)
	case c.EventIDs != idsRandom && c.EventIDs != idsSequential:
		return fmt.Errorf("-event-ids: want %s or %s, got %q", idsRandom, idsSequential, c.EventIDs)
	case c.Workers < 1:
		return fmt.Errorf("-workers: want at least 1, got %d", c.Workers)
	case c.PerWebhook < 1:
		return fmt.Errorf("-per-webhook-concurrency: want at least 1, got %d", c.PerWebhook)
	case c.Stall < time.Second:
		return fmt.Errorf("-stall: want at least 1s, got %s", c.Stall)
	}
	return nil
}

// has reports whether scenario s was asked for.
func (c *config) has(s string) bool { return slices.Contains(c.Scenarios, s) }

// concurrency is the attempts webhookd can have in flight for fan-out w:
// what the raw HTTP ceiling is measured at.
func (c *config) concurrency(w int) int { return min(c.Workers, w*c.PerWebhook) }

// daemonFlags are the pass-through flags of every webhookd run.
func (c *config) daemonFlags() []string {
	f := []string{"--workers", strconv.Itoa(c.Workers), "--per-webhook-concurrency", strconv.Itoa(c.PerWebhook)}
	return append(f, c.WebhookdFlags...)
}

func splitList(s string) []string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func presetText() string {
	keys := make([]string, 0, len(fullPresets))
	for k := range fullPresets {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "-%s %s", k, fullPresets[k])
	}
	return b.String()
}

const usage = `usage: go run ./cmd/webhookbench [flags]

Builds and starts webhookd (embedded NATS, fresh data dir) and a receiver,
each in its own process, measures the machine's raw HTTP and JetStream
ceilings, then webhookd's throughput, latency and backlog drain, and prints
a table. A default run takes a minute or two; -full runs the sizes of
issue 5 (several minutes more).

`
