package fanout

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"
)

func TestParseSchedule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Schedule
	}{
		{"30s,2m,10m,30m,2h,5h", DefaultSchedule},
		{"50ms", Schedule{50 * time.Millisecond}},
		{" 50ms , 100ms ,1s", Schedule{50 * time.Millisecond, 100 * time.Millisecond, time.Second}},
		{"1h30m,1.5s", Schedule{90 * time.Minute, 1500 * time.Millisecond}},
	}
	for _, tt := range tests {
		got, err := ParseSchedule(tt.in)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ParseSchedule(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", " ", "30s,,2m", "30s,", ",30s", "0s", "-1s", "30", "30s,abc", "5x", "1s,0"} {
		if got, err := ParseSchedule(bad); !errors.Is(err, ErrInvalidSchedule) {
			t.Errorf("ParseSchedule(%q) = %v, %v; want ErrInvalidSchedule", bad, got, err)
		}
	}
}

func TestScheduleStringRoundTrip(t *testing.T) {
	t.Parallel()
	for _, s := range []Schedule{DefaultSchedule, {50 * time.Millisecond, 1500 * time.Millisecond}} {
		got, err := ParseSchedule(s.String())
		if err != nil || !slices.Equal(got, s) {
			t.Errorf("ParseSchedule(%q) = %v, %v", s.String(), got, err)
		}
	}
}

func TestDelay(t *testing.T) {
	t.Parallel()
	s := Schedule{10 * time.Second, 100 * time.Second}
	tests := []struct {
		name       string
		s          Schedule
		n          int
		retryAfter time.Duration
		rnd        float64
		want       time.Duration
	}{
		{"first retry, lowest jitter", s, 1, 0, 0, 8 * time.Second},
		{"first retry, middle", s, 1, 0, 0.5, 10 * time.Second},
		{"first retry, top jitter", s, 1, 0, 0.999999, 11999996 * time.Microsecond},
		{"second retry", s, 2, 0, 0.5, 100 * time.Second},
		{"last one repeats", s, 7, 0, 0.5, 100 * time.Second},
		{"n below 1 is the first", s, 0, 0, 0.5, 10 * time.Second},
		{"negative n", s, -3, 0, 0.5, 10 * time.Second},
		{"rnd above range clamps", s, 1, 0, 5, 12 * time.Second},
		{"rnd below range clamps", s, 1, 0, -1, 8 * time.Second},
		{"rnd NaN", s, 1, 0, math.NaN(), 8 * time.Second},
		{"retry-after inside the window", s, 1, 15 * time.Second, 0.5, 15 * time.Second},
		{"retry-after below the schedule", s, 1, time.Second, 0.5, 10 * time.Second},
		{"retry-after above twice the schedule", s, 1, time.Hour, 0.5, 20 * time.Second},
		{"retry-after clamps around the jittered delay", s, 1, time.Hour, 0, 16 * time.Second},
		{"retry-after equal to the jittered delay", s, 1, 8 * time.Second, 0, 8 * time.Second},
		{"empty schedule uses the default", nil, 1, 0, 0.5, 30 * time.Second},
		{"default, sixth retry repeats 5h", DefaultSchedule, 9, 0, 0.5, 5 * time.Hour},
		{"milliseconds for tests", Schedule{50 * time.Millisecond}, 3, 0, 0.5, 50 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := tt.s.Delay(tt.n, tt.retryAfter, tt.rnd); got != tt.want {
			t.Errorf("%s: Delay(%d, %v, %v) = %v, want %v", tt.name, tt.n, tt.retryAfter, tt.rnd, got, tt.want)
		}
	}
}

func TestDelayJitterBounds(t *testing.T) {
	t.Parallel()
	for n := 1; n <= 8; n++ {
		base := DefaultSchedule[min(n-1, len(DefaultSchedule)-1)]
		for i := range 100 {
			rnd := float64(i) / 100
			d := DefaultSchedule.Delay(n, 0, rnd)
			if d < base*8/10 || d > base*12/10 {
				t.Fatalf("Delay(%d, 0, %v) = %v outside ±20%% of %v", n, rnd, d, base)
			}
			ra := DefaultSchedule.Delay(n, 3*base, rnd)
			if ra != 2*d {
				t.Fatalf("Delay(%d, %v, %v) = %v, want 2x the jittered %v", n, 3*base, rnd, ra, d)
			}
		}
	}
}

func FuzzParseSchedule(f *testing.F) {
	for _, s := range []string{"30s,2m,10m,30m,2h,5h", "50ms", "", ",", "-1s", "1e9h", "9223372036s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseSchedule(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidSchedule) {
				t.Fatalf("error %v does not wrap ErrInvalidSchedule", err)
			}
			return
		}
		if len(s) == 0 {
			t.Fatal("accepted an empty schedule")
		}
		for _, d := range s {
			if d <= 0 {
				t.Fatalf("accepted non-positive %v", d)
			}
		}
	})
}
