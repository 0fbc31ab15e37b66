package test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scailabs/webhookd/kv"
)

// soak reports whether the long fault runs were asked for (WEBHOOKD_SOAK=1,
// `make soak`); CI runs the small sizes.
func soak() bool { return os.Getenv("WEBHOOKD_SOAK") == "1" }

// faultRand returns a random source whose seed is logged, so a failing run
// can be replayed with WEBHOOKD_FAULT_SEED.
func faultRand(t *testing.T) *rand.Rand {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("WEBHOOKD_FAULT_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("WEBHOOKD_FAULT_SEED: %v", err)
		}
		seed = n
	}
	t.Logf("random seed %d (WEBHOOKD_FAULT_SEED=%d replays it)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// freeAddr returns a loopback address with a port free right now, for a
// daemon that must keep its NATS and HTTP ports across restarts (as a real
// deployment does: publishers reconnect to the same URL).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// fixedPorts are the flags that pin a daemon's ports (the later flag wins
// over the harness's port 0).
func fixedPorts(t *testing.T) []string {
	t.Helper()
	return []string{"--nats-listen", freeAddr(t), "--http-addr", freeAddr(t)}
}

// pid returns the running process's id.
func (d *daemon) pid() int { return d.cmd.Process.Pid }

// procStatus reads a field of /proc/<pid>/status in bytes (VmRSS, VmHWM).
func procStatus(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("%s: unexpected %q", field, rest)
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		return kb << 10, err
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, field)
}

// metrics scrapes /metrics and returns the unlabelled samples by name.
func (d *daemon) metrics(t *testing.T) map[string]float64 {
	t.Helper()
	resp, err := http.Get(d.HTTPURL + "/metrics")
	if err != nil {
		t.Fatalf("scrape /metrics: %v", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("scrape /metrics: status %d, %v", resp.StatusCode, err)
	}
	out := make(map[string]float64)
	for _, line := range strings.Split(string(raw), "\n") {
		if line == "" || line[0] == '#' || strings.Contains(line, "{") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
			out[name] = v
		}
	}
	return out
}

// gauge returns one metric, failing the test when it is not exported.
func (d *daemon) gauge(t *testing.T, name string) float64 {
	t.Helper()
	v, ok := d.metrics(t)[name]
	if !ok {
		t.Fatalf("/metrics has no %s", name)
	}
	return v
}

// boltPath is the daemon's record store.
func (d *daemon) boltPath() string { return filepath.Join(d.dataDir, "webhookd.db") }

// openStore opens the bbolt file of a daemon that is not running.
func (d *daemon) openStore(t *testing.T) *kv.Bolt {
	t.Helper()
	select {
	case <-d.done:
	default:
		t.Fatal("openStore while webhookd runs")
	}
	st, err := kv.OpenBolt(kv.BoltOptions{Path: d.boltPath(), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("open %s: %v", d.boltPath(), err)
	}
	return st
}

// checkStore runs bbolt's consistency check on a stopped daemon's file.
func (d *daemon) checkStore(t *testing.T) {
	t.Helper()
	st := d.openStore(t)
	defer st.Close()
	if err := st.Check(); err != nil {
		t.Fatalf("bbolt consistency check after the process ended: %v", err)
	}
}

// storedDeliveries returns a webhook's deliveries by event id, attempts
// included, read straight from a stopped daemon's file.
func storedDeliveries(t *testing.T, st *kv.Bolt, webhookID string) map[string]*kv.Delivery {
	t.Helper()
	ctx := context.Background()
	list, _, err := st.ListDeliveries(ctx, kv.DeliveryFilter{WebhookID: webhookID})
	if err != nil {
		t.Fatalf("list deliveries of %s: %v", webhookID, err)
	}
	out := make(map[string]*kv.Delivery, len(list))
	for _, d := range list {
		full, err := st.GetDelivery(ctx, webhookID, d.ID)
		if err != nil {
			t.Fatalf("get delivery %d: %v", d.ID, err)
		}
		if _, dup := out[full.EventID]; dup {
			t.Errorf("webhook %s has two deliveries of event %s", webhookID, full.EventID)
		}
		out[full.EventID] = full
	}
	return out
}

// percentile returns the p-th percentile (0..100) of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return sorted[i]
}
