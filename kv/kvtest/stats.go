package kvtest

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/scailabs/webhookd/kv"
)

var statsTests = []subtest{
	{"Empty", testStatsEmpty},
	{"Figures", testStatsFigures},
	{"P95", testStatsP95},
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func stats(t *testing.T, s kv.Store, id string, now time.Time) *kv.Stats {
	t.Helper()
	st, err := s.WebhookStats(context.Background(), id, now)
	if err != nil {
		t.Fatalf("WebhookStats(%s): %v", id, err)
	}
	return st
}

func testStatsEmpty(t *testing.T, s kv.Store) {
	createWebhook(t, s, newWebhook("wh_1", base))
	st := stats(t, s, "wh_1", base)
	if *st != (kv.Stats{}) {
		t.Fatalf("stats of a new webhook = %+v, want zeros and no last delivery", st)
	}
}

func testStatsFigures(t *testing.T, s kv.Store) {
	now := time.Now().UTC()
	old, recent := now.Add(-30*time.Hour), now.Add(-time.Hour)
	createWebhook(t, s, newWebhook("wh_1", old.Add(-time.Hour)))
	createWebhook(t, s, newWebhook("wh_noise", old))

	// O: created and delivered 30 h ago, outside the window.
	o := createDelivery(t, s, "wh_1", "evt_old", old)
	record(t, s, attempt(o, old.Add(time.Minute), 2000, 200, true))
	// D1, D2 succeed; D3 fails twice, the second final; D4 fails once and
	// stays pending; D5 is never attempted. All created an hour ago.
	var d [6]*kv.Delivery
	for i := 1; i <= 5; i++ {
		d[i] = createDelivery(t, s, "wh_1", fmt.Sprintf("evt_%d", i), recent)
	}
	at := func(m int) time.Time { return recent.Add(time.Duration(m) * time.Minute) }
	record(t, s, attempt(d[1], at(1), 100, 200, true))
	record(t, s, attempt(d[2], at(2), 100, 204, true))
	record(t, s, attempt(d[3], at(3), 300, 500, false))
	final := attempt(d[3], at(4), 300, 500, false)
	final.Final = true
	record(t, s, final)
	record(t, s, attempt(d[4], at(5), 100, 502, false))
	// Noise in another webhook must not count.
	n := createDelivery(t, s, "wh_noise", "evt_1", recent)
	record(t, s, attempt(n, at(6), 5000, 200, true))

	st := stats(t, s, "wh_1", now)
	if st.Total != 6 || st.Success != 3 || st.Failed != 1 || st.Pending != 2 {
		t.Errorf("counts = total %d success %d failed %d pending %d, want 6 3 1 2", st.Total, st.Success, st.Failed, st.Pending)
	}
	if !near(st.SuccessRate, 0.75) {
		t.Errorf("success_rate = %v, want 0.75", st.SuccessRate)
	}
	if want := 2900.0 / 6; !near(st.AvgLatencyMS, want) {
		t.Errorf("avg_latency_ms = %v, want %v", st.AvgLatencyMS, want)
	}
	// Nearest-rank p95 of {100,100,100,300,300,2000} is 2000.
	if st.P95LatencyMS < 1600 || st.P95LatencyMS > 2000 {
		t.Errorf("p95_latency_ms = %v, want within 20%% below 2000 (never above the largest)", st.P95LatencyMS)
	}
	if st.Last24h.Deliveries != 5 {
		t.Errorf("last_24h.deliveries = %d, want 5", st.Last24h.Deliveries)
	}
	if !near(st.Last24h.SuccessRate, 2.0/3) {
		t.Errorf("last_24h.success_rate = %v, want 2/3", st.Last24h.SuccessRate)
	}
	if !near(st.Last24h.AvgLatencyMS, 180) {
		t.Errorf("last_24h.avg_latency_ms = %v, want 180", st.Last24h.AvgLatencyMS)
	}
	if st.ConsecutiveFailures != 3 {
		t.Errorf("consecutive_failures = %d, want 3", st.ConsecutiveFailures)
	}
	ld := st.LastDelivery
	if ld == nil || ld.ID != d[4].ID || ld.Status != kv.DeliveryPending || ld.ResponseStatusCode != 502 ||
		ld.At.Before(at(5)) || ld.At.After(at(5).Add(100*time.Millisecond)) {
		t.Errorf("last_delivery = %+v, want delivery %d, pending, 502, at %v (+100ms)", ld, d[4].ID, at(5))
	}

	// A day later nothing is in the window; the totals stay.
	later := stats(t, s, "wh_1", now.Add(26*time.Hour))
	if later.Last24h != (kv.WindowStats{}) || later.Total != 6 {
		t.Errorf("stats 26 h later = %+v, want an empty window and total 6", later)
	}

	// A manual retry of the old delivery moves it back to pending.
	if _, err := s.RequeueDelivery(context.Background(), "wh_1", o.ID, now); err != nil {
		t.Fatal(err)
	}
	st = stats(t, s, "wh_1", now)
	if st.Success != 2 || st.Pending != 3 || st.Total != 6 || !near(st.SuccessRate, 2.0/3) {
		t.Errorf("after requeue = success %d pending %d total %d rate %v, want 2 3 6 2/3", st.Success, st.Pending, st.Total, st.SuccessRate)
	}
}

func testStatsP95(t *testing.T, s kv.Store) {
	cases := []struct {
		name string
		durs func(i int) int64 // duration of attempt i of 100
		want float64           // nearest-rank p95
	}{
		{"uniform 1..100", func(i int) int64 { return int64(i + 1) }, 95},
		{"slow tail", func(i int) int64 {
			if i < 10 {
				return 10
			}
			return 1000
		}, 1000},
		{"spread", func(i int) int64 { return int64(50 * (i + 1)) }, 4750},
	}
	for ci, c := range cases {
		id := fmt.Sprintf("wh_%d", ci)
		createWebhook(t, s, newWebhook(id, base))
		d := createDelivery(t, s, id, "evt_1", base)
		for i := range 100 {
			o := attempt(d, base.Add(time.Duration(i)*time.Second), c.durs(i), 500, false)
			record(t, s, o)
		}
		st := stats(t, s, id, base)
		if st.P95LatencyMS < 0.8*c.want || st.P95LatencyMS > 1.2*c.want {
			t.Errorf("%s: p95 = %v, want %v within 20%%", c.name, st.P95LatencyMS, c.want)
		}
	}
}
