package kv

import (
	"math"
	"testing"
	"time"
)

func TestLatencyBucket(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		ms   int64
		want int
	}{
		{0, 0}, {5, 0}, {6, 1}, {10, 1}, {11, 2}, {100, 5}, {101, 6},
		{30000, len(latencyBoundsMS) - 1}, {30001, len(latencyBoundsMS)}, {1 << 40, len(latencyBoundsMS)},
	} {
		if got := latencyBucket(c.ms); got != c.want {
			t.Errorf("latencyBucket(%d) = %d, want %d", c.ms, got, c.want)
		}
	}
}

func TestP95(t *testing.T) {
	t.Parallel()
	repeat := func(n int, ms int64) []int64 {
		out := make([]int64, n)
		for i := range out {
			out[i] = ms
		}
		return out
	}
	seq := func(from, to, step int64) (out []int64) {
		for v := from; v <= to; v += step {
			out = append(out, v)
		}
		return out
	}
	for _, c := range []struct {
		name string
		durs []int64
		want float64
	}{
		{"none", nil, 0},
		{"one", []int64{42}, 25 + 0.95*17},           // bucket (25,50] capped at the largest duration
		{"all equal", repeat(20, 100), 75 + 0.95*25}, // within (75,100]
		{"uniform 1..100", seq(1, 100, 1), 95},       // exact when spread evenly
		{"tail above last bound", append(repeat(90, 10), repeat(10, 45000)...), 45000 - (45000-30000)*0.5},
		{"zero durations", repeat(10, 0), 0},
		{"slow tail", append(repeat(10, 10), repeat(90, 1000)...), 750 + 250*85.0/90},
	} {
		var s statCounters
		for _, d := range c.durs {
			s.onAttempt(time.Unix(0, 0), d)
		}
		if got := s.p95(); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("%s: p95 = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestStatsWindowRing(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 4, 22, 14, 30, 0, 0, time.UTC)
	var s statCounters
	s.onCreate(now.Add(-25 * time.Hour)) // slot of hour-1, older
	s.onCreate(now.Add(-time.Hour))      // same slot, newer: resets it
	s.onCreate(now.Add(-25 * time.Hour)) // too old for the slot now: dropped from the window
	s.onCreate(now)
	s.onCreate(now.Add(-23 * time.Hour)) // oldest hour still in the window
	s.onCreate(now.Add(-24 * time.Hour)) // just outside
	if got := s.summary(now, 0); got.Last24h.Deliveries != 3 || got.Pending != 6 || got.Total != 6 {
		t.Fatalf("summary = %+v, want 3 in the window and 6 in total", got)
	}

	// A completion adjusts the creation hour's bucket while it is kept.
	s.onStatus(DeliveryPending, DeliverySuccess, now)
	s.onStatus(DeliveryPending, DeliveryFailed, now.Add(-23*time.Hour))
	s.onStatus(DeliveryPending, DeliverySuccess, now.Add(-25*time.Hour)) // its bucket is gone
	got := s.summary(now, 2)
	if got.Success != 2 || got.Failed != 1 || got.Pending != 3 || got.Last24h.SuccessRate != 0.5 || got.ConsecutiveFailures != 2 {
		t.Fatalf("summary after completions = %+v", got)
	}
	if later := s.summary(now.Add(48*time.Hour), 0); later.Last24h != (WindowStats{}) {
		t.Fatalf("window two days later = %+v, want empty", later.Last24h)
	}
}

func TestStatsLast(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 4, 22, 14, 30, 0, 0, time.UTC)
	var s statCounters
	s.onLast(7, DeliveryPending, 503, at)
	s.onLast(8, DeliverySuccess, 200, at.Add(-time.Second)) // recorded late: older, ignored
	s.onLast(9, DeliveryFailed, 500, at.Add(time.Second))
	got := s.summary(at, 0).LastDelivery
	if got == nil || got.ID != 9 || got.Status != DeliveryFailed || got.ResponseStatusCode != 500 || !got.At.Equal(at.Add(time.Second)) {
		t.Fatalf("last delivery = %+v, want 9 failed 500", got)
	}
}

func TestStatsEncoding(t *testing.T) {
	t.Parallel()
	var s statCounters
	s.onCreate(time.Now())
	s.onAttempt(time.Now(), 123)
	s.onStatus(DeliveryPending, DeliveryFailed, time.Now())
	s.onLast(3, DeliveryFailed, 500, time.Now())
	s.LatencySumMS = -5 // negative values survive too
	got, err := decodeStats(s.encode())
	if err != nil || *got != s {
		t.Fatalf("decode(encode(s)) = %+v, %v; want %+v", got, err, s)
	}
	if empty, err := decodeStats(nil); err != nil || *empty != (statCounters{}) {
		t.Fatalf("decodeStats(nil) = %+v, %v; want zeros", empty, err)
	}
	for _, bad := range [][]byte{{2}, {statsVersion}, s.encode()[:10]} {
		if _, err := decodeStats(bad); err == nil {
			t.Errorf("decodeStats(%x) succeeded, want an error", bad)
		}
	}
}

func FuzzDecodeStats(f *testing.F) {
	var s statCounters
	s.onAttempt(time.Now(), 250)
	f.Add(s.encode())
	f.Add([]byte{statsVersion, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeStats(b)
		if err != nil {
			return
		}
		again, err := decodeStats(got.encode())
		if err != nil || *again != *got {
			t.Fatalf("re-encoding %x does not round-trip", b)
		}
		_ = got.summary(time.Now(), 0)
	})
}
