package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// runResult is one measured run of a scenario.
type runResult struct {
	Scenario string  `json:"scenario"`
	Fsync    string  `json:"fsync"`
	Fanout   int     `json:"fanout"`
	Events   int     `json:"events"`
	Offered  float64 `json:"offered_events_per_s,omitempty"` // 0: flat out

	Expected   int64   `json:"expected"`
	Delivered  int64   `json:"delivered"` // unique (webhook, event) receipts
	Duplicates int64   `json:"duplicates"`
	Lost       int64   `json:"lost"`
	PubErrors  int64   `json:"publish_errors"`
	Rate       float64 `json:"deliveries_per_s"`

	P50 time.Duration `json:"p50_ns"`
	P90 time.Duration `json:"p90_ns"`
	P99 time.Duration `json:"p99_ns"`
	Max time.Duration `json:"max_ns"`

	CPUPer1k   time.Duration `json:"cpu_per_1k_ns"`               // webhookd CPU per 1,000 deliveries
	PeakRSS    int64         `json:"peak_rss_bytes"`              // VmHWM of webhookd
	PendingRSS int64         `json:"pending_rss_bytes,omitempty"` // VmRSS with the backlog pending (rss: held once settled)
	ReachedRSS int64         `json:"reached_rss_bytes,omitempty"` // VmRSS when the last delivery became pending
	// PendingAnon and PendingFile split PendingRSS: anonymous memory (Go
	// heap of webhookd and its NATS server) and mapped files (bbolt).
	PendingAnon int64 `json:"pending_rss_anon_bytes,omitempty"`
	PendingFile int64 `json:"pending_rss_file_bytes,omitempty"`
	// Load is the 1-minute load average when the run ended: how busy the
	// machine was with everything else too.
	Load    float64       `json:"loadavg_1m"`
	BuildUp time.Duration `json:"build_up_ns,omitempty"` // backlog: publish until all pending
	Drain   time.Duration `json:"drain_ns,omitempty"`    // backlog: receiver up until all delivered
}

// bench runs the scenarios.
type bench struct {
	cfg     *config
	bin     string // webhookd
	self    string // this executable, re-run as the receiver
	workDir string
	log     io.Writer // progress
}

// startReceiver runs this binary's hidden receiver command.
func (b *bench) startReceiver(ctx context.Context) (*receiverProc, error) {
	logPath := filepath.Join(b.workDir, fmt.Sprintf("receiver-%d.log", time.Now().UnixNano()))
	p, err := startProcess("receiver", b.self, []string{"receiver"}, logPath)
	if err != nil {
		return nil, err
	}
	line, err := p.waitLine("hooks=", 30*time.Second)
	if err != nil {
		_ = p.stop(5 * time.Second)
		return nil, err
	}
	hooks, control, err := parseReceiverLine(line)
	if err != nil {
		_ = p.stop(5 * time.Second)
		return nil, err
	}
	if !b.cfg.Keep {
		os.Remove(logPath)
	}
	return &receiverProc{proc: p, HookAddr: hooks, control: "http://" + control,
		client: &http.Client{Timeout: 30 * time.Second}}, nil
}

// setup starts a receiver and a fresh webhookd with n webhooks pointing at
// the receiver.
func (b *bench) setup(ctx context.Context, fsync string, n int, o daemonOptions) (*receiverProc, *daemon, []string, error) {
	recv, err := b.startReceiver(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	o.Fsync = fsync
	o.Extra = append(o.Extra, b.cfg.daemonFlags()...)
	d, err := startDaemon(ctx, b.bin, b.workDir, o)
	if err != nil {
		_ = recv.proc.stop(5 * time.Second)
		return nil, nil, nil, err
	}
	ids := make([]string, n)
	for i := range n {
		if ids[i], err = d.createWebhook(ctx, recv.HookURL(i)); err != nil {
			b.teardown(recv, d)
			return nil, nil, nil, err
		}
	}
	return recv, d, ids, nil
}

func (b *bench) teardown(recv *receiverProc, d *daemon) {
	if d != nil {
		if err := d.stop(); err != nil {
			fmt.Fprintf(b.log, "  webhookd stop: %v\n", err)
		}
		d.cleanup(b.cfg.Keep)
	}
	if recv != nil {
		_ = recv.proc.stop(5 * time.Second)
	}
}

// waitDelivered polls the receiver's counts until want unique deliveries
// arrived, or nothing arrived for the stall time.
func (b *bench) waitDelivered(ctx context.Context, recv *receiverProc, want int64) (receiverStats, error) {
	var last receiverStats
	progress := time.Now()
	for {
		st, err := recv.Progress(ctx)
		if err != nil {
			return st, err
		}
		if st.Unique >= want {
			return st, nil
		}
		if st.Unique != last.Unique || st.Received != last.Received {
			progress = time.Now()
		}
		last = st
		if time.Since(progress) > b.cfg.Stall {
			fmt.Fprintf(b.log, "  stalled: %d of %d delivered, nothing new for %s\n", st.Unique, want, b.cfg.Stall)
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// settle waits briefly for late duplicates, then reads the final counts.
func (b *bench) settle(ctx context.Context, recv *receiverProc) (receiverStats, error) {
	select {
	case <-ctx.Done():
	case <-time.After(300 * time.Millisecond):
	}
	return recv.Stats(ctx)
}

// throughput publishes events for fanout webhooks each (flat out when rate
// is 0) and measures the deliveries: the throughput and latency runs.
func (b *bench) throughput(ctx context.Context, scenario, fsync string, fanout, events int, rate float64) (runResult, error) {
	r := runResult{Scenario: scenario, Fsync: fsync, Fanout: fanout, Events: events, Offered: rate,
		Expected: int64(events) * int64(fanout)}
	recv, d, _, err := b.setup(ctx, fsync, fanout, daemonOptions{AutoDisableAfter: -1})
	if err != nil {
		return r, err
	}
	defer b.teardown(recv, d)
	pub, err := newPublisher(d.NATSURL, b.cfg.EventBytes, newEventIDs(b.cfg.EventIDs), pubAckTimeout)
	if err != nil {
		return r, err
	}
	defer pub.close()

	// Warm up connections, caches and both runtimes.
	warm := max(min(events/10, 1000), 1)
	if err := recv.Reset(ctx, fanout, warm); err != nil {
		return r, err
	}
	if _, err := pub.publish(ctx, "warm", warm, 0); err != nil {
		return r, err
	}
	if _, err := b.waitDelivered(ctx, recv, int64(warm*fanout)); err != nil {
		return r, err
	}

	if err := recv.Reset(ctx, fanout, events); err != nil {
		return r, err
	}
	u0, err := readProcUsage(d.pid())
	if err != nil {
		return r, err
	}
	pr, err := pub.publish(ctx, "run", events, rate)
	if err != nil {
		return r, err
	}
	st, u1, err := b.collect(ctx, d, recv, r.Expected, pr, &r)
	if err != nil {
		return r, err
	}
	if st.Unique > 0 {
		r.Rate = float64(st.Unique) / time.Duration(st.LastNS-pr.Start.UnixNano()).Seconds()
		r.CPUPer1k = (u1.CPU - u0.CPU) * 1000 / time.Duration(st.Unique)
	}
	r.PeakRSS = u1.PeakR
	return r, nil
}

// collect ends a measured run: it waits for want deliveries, reads
// webhookd's CPU then, lets late duplicates arrive and fills r from the
// receiver's figures.
func (b *bench) collect(ctx context.Context, d *daemon, recv *receiverProc, want int64, pr pubResult, r *runResult) (receiverStats, procUsage, error) {
	if _, err := b.waitDelivered(ctx, recv, want); err != nil {
		return receiverStats{}, procUsage{}, err
	}
	u, err := readProcUsage(d.pid())
	if err != nil {
		return receiverStats{}, procUsage{}, err
	}
	st, err := b.settle(ctx, recv)
	if err != nil {
		return receiverStats{}, procUsage{}, err
	}
	r.fill(st, pr)
	return st, u, nil
}

// fill copies the receiver's counts and latencies.
func (r *runResult) fill(st receiverStats, pr pubResult) {
	r.Delivered, r.Duplicates = st.Unique, st.Duplicates
	r.Lost = r.Expected - st.Unique
	r.PubErrors = pr.Errors
	r.P50 = time.Duration(st.P50US) * time.Microsecond
	r.P90 = time.Duration(st.P90US) * time.Microsecond
	r.P99 = time.Duration(st.P99US) * time.Microsecond
	r.Max = time.Duration(st.MaxUS) * time.Microsecond
}

// maxRSSOver samples pid's memory every 250 ms for d and returns the
// sample with the largest RSS, with the last sample's CPU and peak.
func maxRSSOver(ctx context.Context, pid int, d time.Duration) (procUsage, error) {
	var top procUsage
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	end := time.Now().Add(d)
	for {
		u, err := readProcUsage(pid)
		if err != nil {
			return top, err
		}
		if u.RSS >= top.RSS {
			top = u
		} else {
			top.CPU, top.PeakR = u.CPU, u.PeakR
		}
		if time.Now().After(end) {
			return top, nil
		}
		select {
		case <-ctx.Done():
			return top, ctx.Err()
		case <-tick.C:
		}
	}
}

// backlog takes the receiver down, publishes n events for one webhook,
// waits until all n deliveries are pending, and reads webhookd's RSS.
// With drain it then brings the receiver back and measures how fast the
// backlog is delivered.
func (b *bench) backlog(ctx context.Context, scenario, fsync string, n int, retry time.Duration, drain bool) (runResult, error) {
	r := runResult{Scenario: scenario, Fsync: fsync, Fanout: 1, Events: n, Expected: int64(n)}
	recv, d, ids, err := b.setup(ctx, fsync, 1, daemonOptions{RetrySchedule: retry.String(), AutoDisableAfter: 0})
	if err != nil {
		return r, err
	}
	defer b.teardown(recv, d)
	pub, err := newPublisher(d.NATSURL, b.cfg.EventBytes, newEventIDs(b.cfg.EventIDs), pubAckTimeout)
	if err != nil {
		return r, err
	}
	defer pub.close()
	if err := recv.Down(ctx); err != nil {
		return r, err
	}
	if err := recv.Reset(ctx, 1, n); err != nil {
		return r, err
	}
	pr, err := pub.publish(ctx, "backlog", n, 0)
	if err != nil {
		return r, err
	}
	// All n are pending once every event is matched; then wait for as many
	// attempts (refused), so the tasks sit in webhookd's retry path rather
	// than unread in the stream (with the rss scenario's 1 h delay: each
	// attempted once).
	exhausted, err := b.waitPending(ctx, d, ids[0], int64(n))
	if err != nil {
		return r, err
	}
	if exhausted > 0 {
		fmt.Fprintf(b.log, "  %d deliveries used up their retries while the receiver was down: they count as lost\n", exhausted)
	}
	r.BuildUp = time.Since(pr.Start)
	pending, err := readProcUsage(d.pid())
	if err != nil {
		return r, err
	}
	fmt.Fprintf(b.log, "  %d pending after %s: RSS %s (anon %s, files %s), peak %s\n", n, r.BuildUp.Round(time.Second),
		mb(pending.RSS), mb(pending.Anon), mb(pending.File), mb(pending.PeakR))
	keep := func(u procUsage) {
		r.PendingRSS, r.PeakRSS = u.RSS, u.PeakR
		r.PendingAnon, r.PendingFile = u.Anon, u.File
	}
	r.ReachedRSS = pending.RSS
	keep(pending)
	if !drain {
		// Left alone, the store drops its mapping of the file's pages
		// (every second, kv.BoltOptions ReleaseEvery) and the Go runtime
		// returns freed heap: what remains is what the backlog costs.
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(b.cfg.RSSSettle):
		}
		held, err := maxRSSOver(ctx, d.pid(), b.cfg.RSSWindow)
		if err != nil {
			return r, err
		}
		keep(held)
		fmt.Fprintf(b.log, "  held over %s after %s more: RSS %s (anon %s, files %s)\n", b.cfg.RSSWindow, b.cfg.RSSSettle,
			mb(held.RSS), mb(held.Anon), mb(held.File))
		r.Expected, r.Delivered = 0, 0
		return r, nil
	}

	up := time.Now()
	if err := recv.Up(ctx); err != nil {
		return r, err
	}
	st, u1, err := b.collect(ctx, d, recv, int64(n)-exhausted, pr, &r)
	if err != nil {
		return r, err
	}
	r.P50, r.P90, r.P99, r.Max = 0, 0, 0, 0 // publish→receipt includes the outage: meaningless
	if st.Unique > 0 {
		r.Drain = time.Duration(st.LastNS - up.UnixNano())
		r.Rate = float64(st.Unique) / r.Drain.Seconds()
		r.CPUPer1k = (u1.CPU - pending.CPU) * 1000 / time.Duration(st.Unique)
	}
	r.PeakRSS = u1.PeakR
	return r, nil
}

// waitPending polls the webhook's stats until want deliveries are pending
// and webhookd has made at least want attempts (its attempt counter). A
// delivery that used up its retries meanwhile is failed, not pending: once
// every delivery exists, the wait ends and exhausted says how many. It
// fails when no delivery is made for the stall time.
func (b *bench) waitPending(ctx context.Context, d *daemon, id string, want int64) (exhausted int64, err error) {
	var lastMade int64
	progress := time.Now()
	for {
		s, err := d.stats(ctx, id)
		if err != nil {
			return 0, err
		}
		attempts, err := d.attempts(ctx)
		if err != nil {
			return 0, err
		}
		made := s.Pending + s.Failed + s.Success
		if made >= want && (attempts >= want || s.Pending < want) {
			return s.Failed, nil
		}
		if made != lastMade || made >= want {
			progress = time.Now()
		}
		lastMade = made
		if time.Since(progress) > b.cfg.Stall {
			return 0, fmt.Errorf("backlog stalled at %d of %d deliveries (%d pending), %d attempts", made, want, s.Pending, attempts)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// attempts sums webhookd_deliveries_attempted_total over outcomes from
// /metrics.
func (d *daemon) attempts(ctx context.Context) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.HTTPURL+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	return sumMetric(string(body), "webhookd_deliveries_attempted_total"), nil
}

// sumMetric adds up every sample of a metric in Prometheus text format.
func sumMetric(text, name string) int64 {
	var sum float64
	for line := range strings.SplitSeq(text, "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		f := strings.Fields(rest[strings.LastIndexByte(rest, '}')+1:])
		if len(f) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(f[0], 64); err == nil {
			sum += v
		}
	}
	return int64(sum)
}
