package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for webhookbench: the bench
// re-executes itself (os.Executable) as the receiver.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "receiver" {
		if err := runReceiver(context.Background(), os.Args[2:], os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestBenchSmall runs the whole benchmark at a tiny size against a freshly
// built webhookd: every scenario must deliver everything, exactly once.
func TestBenchSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs webhookd")
	}
	t.Parallel()
	dir := t.TempDir()
	jsonPath := filepath.Join(dir, "results.json")
	var out, log strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	err := run(ctx, []string{
		"-scenarios", "ceilings,throughput,latency,backlog,rss",
		"-fsync", "interval", "-fanout", "1,3",
		"-deliveries", "300", "-latency-duration", "1s", "-latency-load", "0.5",
		"-backlog", "150", "-rss-pending", "100", "-rss-settle", "1s", "-rss-window", "1s",
		"-workdir", filepath.Join(dir, "work"), "-json", jsonPath,
	}, &out, &log)
	if err != nil {
		t.Fatalf("run: %v\nlog:\n%s", err, log.String())
	}
	raw, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var res results
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.HTTPCeiling[1]) != 1 || len(res.HTTPCeiling[3]) != 1 || len(res.JSCeiling["interval"]) != 1 {
		t.Fatalf("ceilings %+v", res)
	}
	seen := map[string]bool{}
	for _, r := range res.Runs {
		seen[r.Scenario] = true
		if r.Lost != 0 || r.Duplicates != 0 || r.PubErrors != 0 {
			t.Errorf("%s 1→%d: lost %d, duplicates %d, publish errors %d", r.Scenario, r.Fanout, r.Lost, r.Duplicates, r.PubErrors)
		}
		if r.Scenario != scnRSS && (r.Rate <= 0 || r.CPUPer1k <= 0) {
			t.Errorf("%s 1→%d: rate %g, cpu %s", r.Scenario, r.Fanout, r.Rate, r.CPUPer1k)
		}
		if r.PeakRSS <= 0 {
			t.Errorf("%s: no peak RSS", r.Scenario)
		}
		if r.Scenario == scnRSS && (r.PendingRSS <= 0 || r.ReachedRSS <= 0 || r.PendingAnon <= 0) {
			t.Errorf("rss: held %d, reached %d, anonymous %d bytes", r.PendingRSS, r.ReachedRSS, r.PendingAnon)
		}
	}
	for _, s := range []string{scnThroughput, scnLatency, scnBacklog, scnRSS} {
		if !seen[s] {
			t.Errorf("no %s run", s)
		}
	}
	for _, want := range []string{"raw HTTP", "raw JetStream", "throughput 1→3", "latency 1→1", "backlog drain", "rss, 100 pending"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "work"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "webhookd-data-") || strings.HasPrefix(e.Name(), "receiver-") {
			t.Errorf("%s left behind without -keep", e.Name())
		}
	}
}
