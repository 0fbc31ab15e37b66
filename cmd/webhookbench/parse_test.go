package main

import (
	"encoding/json"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scailabs/webhookd/bus"
)

func TestParseProcStat(t *testing.T) {
	t.Parallel()
	// Fields 14 and 15 (utime, stime) are 250 and 50 ticks; the name holds
	// a space and a ')'.
	line := "4242 (web hook)d) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 12 0 100 2000000 5000 18446744073709551615"
	got, err := parseProcStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 * time.Second; got != want {
		t.Errorf("cpu = %s, want %s", got, want)
	}
	for _, bad := range []string{"", "4242 webhookd S 1", "1 (x) S 1 2 3", "1 (x) S 1 2 3 4 5 6 7 8 9 10 x 50 0"} {
		if _, err := parseProcStat(bad); err == nil {
			t.Errorf("parseProcStat(%q) accepted", bad)
		}
	}
}

func TestParseProcStatus(t *testing.T) {
	t.Parallel()
	status := "Name:\twebhookd\nVmPeak:\t 2000000 kB\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n" +
		"RssAnon:\t   71680 kB\nRssFile:\t   30720 kB\nThreads:\t12\n"
	m, err := parseProcStatus(status)
	if err != nil {
		t.Fatal(err)
	}
	if m["VmRSS"] != 100<<20 || m["VmHWM"] != 200<<20 || m["RssAnon"] != 70<<20 || m["RssFile"] != 30<<20 {
		t.Errorf("parsed %v", m)
	}
	const rest = "RssAnon:\t1 kB\nRssFile:\t1 kB\n"
	for _, bad := range []string{"Name:\tx\n", "VmHWM:\t1 kB\n" + rest, "VmHWM:\t1 MB\nVmRSS:\t1 kB\n" + rest, "VmHWM:\tx kB\nVmRSS:\t1 kB\n" + rest} {
		if _, err := parseProcStatus(bad); err == nil {
			t.Errorf("parseProcStatus(%q) accepted", bad)
		}
	}
}

func TestReadProcUsageOfSelf(t *testing.T) {
	t.Parallel()
	u, err := readProcUsage(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if u.RSS <= 0 || u.PeakR < u.RSS {
		t.Errorf("usage %+v: want 0 < RSS <= peak", u)
	}
}

func TestPercentile(t *testing.T) {
	t.Parallel()
	v := make([]int64, 100)
	for i := range v {
		v[i] = int64(i + 1)
	}
	for _, c := range []struct {
		p    float64
		want int64
	}{{50, 50}, {90, 90}, {99, 99}, {100, 100}, {0, 1}, {1, 1}} {
		if got := percentile(v, c.p); got != c.want {
			t.Errorf("p%g = %d, want %d", c.p, got, c.want)
		}
	}
	if percentile(nil, 50) != 0 || percentile([]int64{7}, 99) != 7 {
		t.Error("empty or single-value percentiles wrong")
	}
}

func TestParseBenchFields(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		body     string
		seq, pub int64
		ok       bool
	}{
		{`{"data":{"seq":12,"bench_ns":1700000000000000000,"pad":"x"}}`, 12, 1700000000000000000, true},
		{`{"data":{"bench_ns":5,"seq":0}}`, 0, 5, true},
		{`{"data":{"seq":12}}`, 0, 0, false},
		{`{"data":{"seq":"12","bench_ns":5}}`, 0, 0, false},
		{`{"data":{"seq":-1,"bench_ns":5}}`, 0, 0, false},
		{``, 0, 0, false},
	} {
		seq, pub, ok := parseBenchFields([]byte(c.body))
		if ok != c.ok || (ok && (seq != c.seq || pub != c.pub)) {
			t.Errorf("%s: got %d, %d, %v; want %d, %d, %v", c.body, seq, pub, ok, c.seq, c.pub, c.ok)
		}
	}
}

func TestAppendEnvelopeIsValidAndSized(t *testing.T) {
	t.Parallel()
	at := time.Unix(1_700_000_000, 123_000_000)
	for _, size := range []int{256, 512, 4096} {
		b := appendEnvelope(nil, "evt_run_7", 7, at, size)
		env, err := bus.ParseEnvelope(b, benchEventType, 0)
		if err != nil {
			t.Fatalf("size %d: webhookd refuses the envelope: %v\n%s", size, err, b)
		}
		if env.EventID != "evt_run_7" || env.EventType != benchEventType {
			t.Errorf("size %d: parsed %+v", size, env)
		}
		if len(b) != size {
			t.Errorf("size %d: envelope is %d bytes", size, len(b))
		}
		seq, pub, ok := parseBenchFields(b)
		if !ok || seq != 7 || pub != at.UnixNano() {
			t.Errorf("size %d: bench fields %d, %d, %v", size, seq, pub, ok)
		}
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Errorf("size %d: not JSON: %v", size, err)
		}
	}
}

func TestSumMetric(t *testing.T) {
	t.Parallel()
	text := `# HELP webhookd_deliveries_attempted_total Delivery attempts by outcome.
# TYPE webhookd_deliveries_attempted_total counter
webhookd_deliveries_attempted_total{otel_scope_name="x",outcome="retry"} 1500
webhookd_deliveries_attempted_total{otel_scope_name="x",outcome="success"} 2.5e+03
webhookd_deliveries_attempted_totalx{outcome="retry"} 99
webhookd_deliveries_in_flight 3
`
	if got := sumMetric(text, "webhookd_deliveries_attempted_total"); got != 4000 {
		t.Errorf("sum = %d, want 4000", got)
	}
	if got := sumMetric(text, "webhookd_deliveries_in_flight"); got != 3 {
		t.Errorf("unlabelled sum = %d, want 3", got)
	}
	if got := sumMetric(text, "missing"); got != 0 {
		t.Errorf("missing metric sum = %d", got)
	}
}

func TestParseReceiverLine(t *testing.T) {
	t.Parallel()
	h, c, err := parseReceiverLine("hooks=127.0.0.1:4000 control=127.0.0.1:4001")
	if err != nil || h != "127.0.0.1:4000" || c != "127.0.0.1:4001" {
		t.Errorf("got %q, %q, %v", h, c, err)
	}
	if _, _, err := parseReceiverLine("hooks=127.0.0.1:4000"); err == nil {
		t.Error("line without control accepted")
	}
}

func TestParseConfig(t *testing.T) {
	t.Parallel()
	c, err := parseConfig(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Deliveries != 20000 || c.Runs != 1 || c.Backlog != 10000 || c.has(scnRSS) || !c.has(scnBacklog) ||
		!slices.Equal(c.Fanouts, []int{1, 10}) || !slices.Equal(c.Fsync, []string{"interval", "always"}) ||
		c.RSSSettle != 15*time.Second || c.RSSWindow != 20*time.Second {
		t.Errorf("defaults: %+v", c)
	}
	if c.concurrency(1) != 8 || c.concurrency(10) != 80 || c.concurrency(100) != 128 {
		t.Errorf("concurrency: %d %d %d", c.concurrency(1), c.concurrency(10), c.concurrency(100))
	}
	// -full sets the sizes except where a flag says otherwise.
	c, err = parseConfig([]string{"-full", "-runs", "5"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Deliveries != 50000 || c.Backlog != 100000 || c.Runs != 5 || !c.has(scnRSS) || c.LatencyDuration != 30*time.Second {
		t.Errorf("-full: %+v", c)
	}
	c, err = parseConfig([]string{"-webhookd-flags", "--pprof-addr 127.0.0.1:6060", "-fanout", "3"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if f := c.daemonFlags(); !slices.Contains(f, "--pprof-addr") || !slices.Contains(f, "--workers") {
		t.Errorf("daemon flags %q", f)
	}

	for _, bad := range [][]string{
		{"-scenarios", "nope"}, {"-scenarios", ""}, {"-fsync", "sometimes"}, {"-fanout", "0"},
		{"-fanout", "x"}, {"-deliveries", "0"}, {"-latency-load", "1.5"}, {"-event-bytes", "10"},
		{"-runs", "0"}, {"-backlog-retry", "1ms"}, {"-stall", "10ms"}, {"extra"},
		{"-rss-settle", "-1s"}, {"-rss-window", "-1s"}, {"-event-ids", "uuid"},
	} {
		if _, err := parseConfig(bad, io.Discard); err == nil {
			t.Errorf("parseConfig(%q) accepted", bad)
		}
	}
}

func TestMedianRows(t *testing.T) {
	t.Parallel()
	runs := []runResult{
		{Scenario: scnThroughput, Fsync: "interval", Fanout: 1, Rate: 300, P99: 3 * time.Millisecond, Lost: 0},
		{Scenario: scnThroughput, Fsync: "always", Fanout: 1, Rate: 50},
		{Scenario: scnThroughput, Fsync: "interval", Fanout: 1, Rate: 100, P99: 9 * time.Millisecond, Lost: 2},
		{Scenario: scnThroughput, Fsync: "interval", Fanout: 1, Rate: 200, P99: 1 * time.Millisecond, Duplicates: 1},
	}
	rows := medianRows(runs)
	if len(rows) != 2 || rows[0].Fsync != "interval" || rows[1].Fsync != "always" {
		t.Fatalf("rows %+v", rows)
	}
	r := rows[0]
	if r.n != 3 || r.Rate != 200 || r.P99 != 3*time.Millisecond || r.Lost != 2 || r.Duplicates != 1 {
		t.Errorf("median row %+v", r)
	}
	if got := medianRate(runs, scnThroughput, "interval", 1); got != 200 {
		t.Errorf("medianRate = %g", got)
	}
	if got := medianRate(runs, scnLatency, "interval", 1); got != 0 {
		t.Errorf("medianRate of nothing = %g", got)
	}
	if c := medianCeiling([]ceilingResult{{Rate: 3}, {Rate: 1}, {Rate: 2}}); c.Rate != 2 {
		t.Errorf("medianCeiling = %g", c.Rate)
	}
}

func TestPrintReport(t *testing.T) {
	t.Parallel()
	cfg, err := parseConfig([]string{"-fanout", "1"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	res := &results{
		HTTPCeiling: map[int][]ceilingResult{1: {{Rate: 4000}}},
		JSCeiling:   map[string][]ceilingResult{"interval": {{Rate: 20000}}, "always": {{Rate: 1000}}},
		Runs: []runResult{
			{Scenario: scnThroughput, Fsync: "interval", Fanout: 1, Rate: 2000, Delivered: 10},
			{Scenario: scnThroughput, Fsync: "always", Fanout: 1, Rate: 600},
			{Scenario: scnBacklog, Fsync: "interval", Fanout: 1, Events: 100000, Rate: 1500, Drain: time.Minute},
		},
	}
	var b strings.Builder
	printReport(&b, cfg, "test machine", res, time.Minute)
	out := b.String()
	for _, want := range []string{"test machine", "raw HTTP, concurrency 8 (as 1→1)", "4000", "throughput 1→1", "50%", "60%", "backlog drain 100k"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
