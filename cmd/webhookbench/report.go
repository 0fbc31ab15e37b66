package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// machineInfo describes where the figures were measured.
func machineInfo() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			mem = fmt.Sprintf(", %.1f GiB RAM", float64(kb)/(1<<20))
		}
	}
	kernel := ""
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = ", Linux " + strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%d CPUs (%s)%s%s, %s %s/%s", runtime.NumCPU(), model, mem, kernel,
		runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// row is the median of one scenario's runs with one setting.
type row struct {
	runResult
	n int // runs
}

// medianRows groups runs by (scenario, fsync, fan-out), in first-seen
// order, and takes the median of every figure (duplicates and losses: the
// worst run).
func medianRows(runs []runResult) []row {
	type key struct {
		scn, fsync string
		fanout     int
	}
	var order []key
	groups := map[key][]runResult{}
	for _, r := range runs {
		k := key{r.Scenario, r.Fsync, r.Fanout}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	out := make([]row, 0, len(order))
	for _, k := range order {
		g := groups[k]
		m := g[0]
		m.Events = medianOf(g, func(r runResult) int { return r.Events })
		m.Offered = medianOf(g, func(r runResult) float64 { return r.Offered })
		m.Rate = medianOf(g, func(r runResult) float64 { return r.Rate })
		m.P50 = medianOf(g, func(r runResult) time.Duration { return r.P50 })
		m.P90 = medianOf(g, func(r runResult) time.Duration { return r.P90 })
		m.P99 = medianOf(g, func(r runResult) time.Duration { return r.P99 })
		m.Max = medianOf(g, func(r runResult) time.Duration { return r.Max })
		m.CPUPer1k = medianOf(g, func(r runResult) time.Duration { return r.CPUPer1k })
		m.PeakRSS = medianOf(g, func(r runResult) int64 { return r.PeakRSS })
		m.PendingRSS = medianOf(g, func(r runResult) int64 { return r.PendingRSS })
		m.ReachedRSS = medianOf(g, func(r runResult) int64 { return r.ReachedRSS })
		m.PendingAnon = medianOf(g, func(r runResult) int64 { return r.PendingAnon })
		m.PendingFile = medianOf(g, func(r runResult) int64 { return r.PendingFile })
		m.BuildUp = medianOf(g, func(r runResult) time.Duration { return r.BuildUp })
		m.Drain = medianOf(g, func(r runResult) time.Duration { return r.Drain })
		for _, r := range g {
			m.Duplicates = max(m.Duplicates, r.Duplicates)
			m.Lost = max(m.Lost, r.Lost)
			m.PubErrors = max(m.PubErrors, r.PubErrors)
		}
		out = append(out, row{runResult: m, n: len(g)})
	}
	return out
}

type number interface {
	~int | ~int64 | ~float64
}

// medianOf is the median of f over runs (the lower middle for an even
// count).
func medianOf[T number](runs []runResult, f func(runResult) T) T {
	v := make([]T, len(runs))
	for i, r := range runs {
		v[i] = f(r)
	}
	slices.Sort(v)
	return v[(len(v)-1)/2]
}

func medianCeiling(cs []ceilingResult) ceilingResult {
	if len(cs) == 0 {
		return ceilingResult{}
	}
	s := slices.Clone(cs)
	slices.SortFunc(s, func(a, b ceilingResult) int {
		switch {
		case a.Rate < b.Rate:
			return -1
		case a.Rate > b.Rate:
			return 1
		}
		return 0
	})
	return s[(len(s)-1)/2]
}

// medianRate is the median deliveries/s of the runs of one setting, 0 when
// there are none.
func medianRate(runs []runResult, scn, fsync string, fanout int) float64 {
	var g []runResult
	for _, r := range runs {
		if r.Scenario == scn && r.Fsync == fsync && r.Fanout == fanout && r.Rate > 0 {
			g = append(g, r)
		}
	}
	if len(g) == 0 {
		return 0
	}
	return medianOf(g, func(r runResult) float64 { return r.Rate })
}

// printReport writes the tables.
func printReport(w io.Writer, cfg *config, machine string, res *results, took time.Duration) {
	fmt.Fprintf(w, "\nwebhookbench: %s\n", machine)
	fmt.Fprintf(w, "%d run(s) of each, medians shown (dup and lost: worst run); events of %d bytes, %s ids; webhookd --workers %d --per-webhook-concurrency %d; took %s\n",
		cfg.Runs, cfg.EventBytes, cfg.EventIDs, cfg.Workers, cfg.PerWebhook, took.Round(time.Second))
	if len(res.Runs) > 0 {
		loads := make([]float64, len(res.Runs))
		for i, r := range res.Runs {
			loads[i] = r.Load
		}
		slices.Sort(loads)
		fmt.Fprintf(w, "machine load at the end of each run (1-min load average, %d CPUs): median %.1f, %.1f to %.1f\n",
			runtime.NumCPU(), loads[(len(loads)-1)/2], loads[0], loads[len(loads)-1])
	}
	fmt.Fprintln(w)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	if len(res.HTTPCeiling)+len(res.JSCeiling) > 0 {
		fmt.Fprintln(tw, "ceiling\tper s\tp50 ms\tp99 ms\t")
		for _, f := range cfg.Fanouts {
			if cs := res.HTTPCeiling[f]; len(cs) > 0 {
				c := medianCeiling(cs)
				fmt.Fprintf(tw, "raw HTTP, concurrency %d (as 1→%d)\t%.0f\t%s\t%s\t\n", cfg.concurrency(f), f, c.Rate, ms(c.P50), ms(c.P99))
			}
		}
		for _, m := range cfg.Fsync {
			if cs := res.JSCeiling[m]; len(cs) > 0 {
				c := medianCeiling(cs)
				fmt.Fprintf(tw, "raw JetStream sync publish, fsync %s\t%.0f\t%s\t%s\t\n", m, c.Rate, ms(c.P50), ms(c.P99))
			}
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()

	rows := medianRows(res.Runs)
	if len(rows) == 0 {
		return
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tfsync\tdeliveries/s\tof HTTP\tof JS\tp50 ms\tp90 ms\tp99 ms\tCPU s/1k\tpeak RSS\tdup\tlost\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t\n",
			r.label(), r.Fsync, rateOrDash(r.Rate),
			ratio(r.Rate, medianCeiling(res.HTTPCeiling[r.Fanout]).Rate),
			ratio(r.Rate, medianCeiling(res.JSCeiling[r.Fsync]).Rate),
			ms(r.P50), ms(r.P90), ms(r.P99), secs(r.CPUPer1k), mb(r.PeakRSS), r.Duplicates, r.Lost)
	}
	tw.Flush()
	for _, r := range rows {
		switch r.Scenario {
		case scnBacklog:
			fmt.Fprintf(w, "backlog fsync=%s: %d pending after %s (RSS then %s); drained in %s after the receiver came back (retry delay %s ±20%% included)\n",
				r.Fsync, r.Events, r.BuildUp.Round(100*time.Millisecond), mb(r.PendingRSS), r.Drain.Round(100*time.Millisecond), cfg.BacklogRetry)
		case scnRSS:
			fmt.Fprintf(w, "rss fsync=%s: %d deliveries pending (each attempted once, receiver down) after %s: RSS %s then; held while they wait %s (anonymous %s, mapped files %s); peak %s\n",
				r.Fsync, r.Events, r.BuildUp.Round(time.Second), mb(r.ReachedRSS), mb(r.PendingRSS), mb(r.PendingAnon), mb(r.PendingFile), mb(r.PeakRSS))
		}
		if r.PubErrors > 0 {
			fmt.Fprintf(w, "%s fsync=%s: %d publishes were not acknowledged\n", r.label(), r.Fsync, r.PubErrors)
		}
	}
	fmt.Fprintln(w, "\nof HTTP: deliveries/s over the raw HTTP ceiling at the same concurrency; of JS: over the raw")
	fmt.Fprintln(w, "JetStream sync-publish ceiling with the same fsync. Latency is publish → receipt, measured by the")
	fmt.Fprintln(w, "receiver; flat-out rows include queueing. CPU and RSS are webhookd's (embedded NATS included).")
}

func (r row) label() string {
	switch r.Scenario {
	case scnLatency:
		return fmt.Sprintf("latency 1→%d at %.0f ev/s", r.Fanout, r.Offered)
	case scnBacklog:
		return fmt.Sprintf("backlog drain %s", count(r.Events))
	case scnRSS:
		return fmt.Sprintf("rss, %s pending", count(r.Events))
	}
	if r.Offered > 0 {
		return fmt.Sprintf("throughput 1→%d at %.0f ev/s", r.Fanout, r.Offered)
	}
	return fmt.Sprintf("throughput 1→%d", r.Fanout)
}

func count(n int) string {
	switch {
	case n >= 1000000 && n%1000000 == 0:
		return fmt.Sprintf("%dM", n/1000000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

func ratio(v, ceiling float64) string {
	if v == 0 || ceiling == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*v/ceiling)
}

func rateOrDash(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", v)
}

func ms(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond))
}

func secs(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3f", d.Seconds())
}

func mb(b int64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f MB", float64(b)/(1<<20))
}
