package fanout

import (
	"fmt"
	"strings"
	"time"
)

// Schedule is the delays between attempts; the last one repeats.
type Schedule []time.Duration

// DefaultSchedule is contract section 3's: 30 s, 2 min, 10 min, 30 min,
// 2 h, then 5 h repeating.
var DefaultSchedule = Schedule{30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour}

// ParseSchedule reads comma-separated Go durations ("30s,2m,10m", "50ms");
// it refuses an empty list, empty items and non-positive delays.
func ParseSchedule(s string) (Schedule, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("%w: empty", ErrInvalidSchedule)
	}
	parts := strings.Split(s, ",")
	out := make(Schedule, 0, len(parts))
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			return nil, fmt.Errorf("%w: item %d is empty", ErrInvalidSchedule, i+1)
		}
		d, err := time.ParseDuration(p)
		if err != nil {
			return nil, fmt.Errorf("%w: item %d %q is not a duration", ErrInvalidSchedule, i+1, p)
		}
		if d <= 0 {
			return nil, fmt.Errorf("%w: item %d %q is not positive", ErrInvalidSchedule, i+1, p)
		}
		out = append(out, d)
	}
	return out, nil
}

// String renders the schedule as ParseSchedule reads it.
func (s Schedule) String() string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = d.String()
	}
	return strings.Join(parts, ",")
}

// Delay is the wait before retry number n (n=1 after the first attempt),
// ±20% jitter from rnd (a float64 in [0,1)); with retryAfter > 0 the result
// is clamped into [scheduled, 2*scheduled], where scheduled is the
// jittered delay. n below 1 counts as 1; an empty schedule uses
// DefaultSchedule.
func (s Schedule) Delay(n int, retryAfter time.Duration, rnd float64) time.Duration {
	if len(s) == 0 {
		s = DefaultSchedule
	}
	n = max(n, 1)
	base := s[min(n-1, len(s)-1)]
	if !(rnd >= 0) { // also catches NaN
		rnd = 0
	}
	rnd = min(rnd, 1)
	d := time.Duration(float64(base) * (0.8 + 0.4*rnd))
	if retryAfter > 0 {
		d = min(max(retryAfter, d), 2*d)
	}
	return d
}
