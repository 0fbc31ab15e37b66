package kv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Stats definitions, shared by every backend (kvtest checks them):
//
//   - total = success + failed + pending, the deliveries' current states.
//   - success_rate = success / (success + failed); 0 when none completed.
//   - avg_latency_ms = mean duration of every recorded attempt.
//   - p95_latency_ms is read from a fixed-bucket histogram of attempt
//     durations (latencyBoundsMS): the bucket holding the 95th percentile
//     (rank 0.95*count) is found and the value interpolated linearly inside
//     it, capped at the largest duration seen. The true p95 lies in the same
//     bucket, so the error is at most that bucket's width (a quarter to a
//     half of its upper bound above 50 ms; exact when durations spread
//     evenly inside the bucket).
//   - last_24h covers the current hour and the 23 before it (23-24 h,
//     hourly buckets keyed by unix hour in a 24-slot ring):
//     deliveries = deliveries created in the window; success_rate = success
//     / (success + failed) among those deliveries as they stand now (a
//     delivery created 30 h ago that succeeds now does not count);
//     avg_latency_ms = mean duration of the attempts started in the window.
//   - consecutive_failures comes from the webhook's health (below).
//   - last_delivery = the most recently finished attempt: its delivery id,
//     the delivery's status right after it, its response status code, and
//     when it finished (started_at + duration).
//
// Test deliveries count like any other.

// latencyBoundsMS are the inclusive upper bounds of the latency histogram
// buckets; one more bucket holds everything above the last bound.
var latencyBoundsMS = [...]int64{
	5, 10, 25, 50, 75, 100, 150, 200, 300, 400, 500, 750,
	1000, 1500, 2000, 3000, 5000, 7500, 10000, 15000, 20000, 30000,
}

const (
	statsWindowHours = 24
	statsVersion     = 1
)

// hourCounters are the figures of one unix hour.
type hourCounters struct {
	Hour         int64 // unix hour these counters belong to
	Created      int64 // deliveries created in this hour
	Success      int64 // of those, now success
	Failed       int64 // of those, now failed
	LatencySumMS int64 // attempts started in this hour
	LatencyCount int64
}

// statCounters are what a store keeps per webhook to answer WebhookStats
// without scanning history. Every field is an int64 so that the encoding is
// a flat list of varints.
type statCounters struct {
	Success, Failed, Pending int64
	LatencySumMS             int64
	LatencyCount             int64
	LatencyMaxMS             int64
	Hist                     [len(latencyBoundsMS) + 1]int64
	Hours                    [statsWindowHours]hourCounters

	LastID         int64 // 0: no attempt yet
	LastStatus     int64 // statusCode of DeliveryStatus
	LastStatusCode int64
	LastAtNano     int64

	// The webhook's health (consecutive_failures, last_success_at,
	// last_failure_at) lives here, in the record every attempt rewrites
	// anyway, rather than in the webhook's JSON: rewriting that JSON and
	// telling every watcher on each attempt was 7 % of the daemon's CPU.
	// It holds for the webhook record of revision HealthRevision only
	// (attempts keep the revision; every other write of the record takes
	// a new one and writes the health here again). Records written before
	// these fields end without them (Health 0), and a record rewritten by
	// an older binary, which knows nothing of them, may carry them stale:
	// in both cases the webhook's JSON holds its health.
	Health              int64 // healthSet | healthSuccess | healthFailure bits
	HealthRevision      int64
	ConsecutiveFailures int64
	LastSuccessSec      int64
	LastSuccessNsec     int64
	LastFailureSec      int64
	LastFailureNsec     int64
}

// Bits of statCounters.Health.
const (
	healthSet     = 1 << iota // the health fields below are the webhook's
	healthSuccess             // LastSuccess* is set
	healthFailure             // LastFailure* is set
)

// statsFields is how many counters a statCounters holds; the last
// healthFields of them came later and may be missing from a record.
const (
	healthFields = 7
	statsFields  = 6 + len(latencyBoundsMS) + 1 + statsWindowHours*6 + 4 + healthFields
)

// fields lists every counter in encoding order. Append only: the order is
// the storage format. (A list rather than a callback: the callback would
// make every statCounters escape to the heap, and the hot writes decode
// and encode one per delivery twice.)
func (s *statCounters) fields() (f [statsFields]*int64) {
	f[0], f[1], f[2], f[3], f[4], f[5] = &s.Success, &s.Failed, &s.Pending, &s.LatencySumMS, &s.LatencyCount, &s.LatencyMaxMS
	n := 6
	for i := range s.Hist {
		f[n] = &s.Hist[i]
		n++
	}
	for i := range s.Hours {
		h := &s.Hours[i]
		f[n], f[n+1], f[n+2], f[n+3], f[n+4], f[n+5] = &h.Hour, &h.Created, &h.Success, &h.Failed, &h.LatencySumMS, &h.LatencyCount
		n += 6
	}
	f[n], f[n+1], f[n+2], f[n+3] = &s.LastID, &s.LastStatus, &s.LastStatusCode, &s.LastAtNano
	n += 4
	f[n], f[n+1], f[n+2] = &s.Health, &s.HealthRevision, &s.ConsecutiveFailures
	f[n+3], f[n+4], f[n+5], f[n+6] = &s.LastSuccessSec, &s.LastSuccessNsec, &s.LastFailureSec, &s.LastFailureNsec
	return f
}

func (s *statCounters) encode() []byte {
	buf := make([]byte, 1, 256)
	buf[0] = statsVersion
	for _, p := range s.fields() {
		buf = binary.AppendVarint(buf, *p)
	}
	return buf
}

var errBadStats = errors.New("kv: malformed stats record")

func decodeStats(b []byte) (*statCounters, error) {
	s := &statCounters{}
	if err := s.decode(b); err != nil {
		return nil, err
	}
	return s, nil
}

// decode overwrites s with the record b (all zero when b is empty).
func (s *statCounters) decode(b []byte) error {
	*s = statCounters{}
	if len(b) == 0 {
		return nil
	}
	if b[0] != statsVersion {
		return fmt.Errorf("%w: version %d", errBadStats, b[0])
	}
	b = b[1:]
	for i, p := range s.fields() {
		if i == statsFields-healthFields && len(b) == 0 {
			return nil // written before the health fields
		}
		v, n := binary.Varint(b)
		if n <= 0 {
			return errBadStats
		}
		*p, b = v, b[n:]
	}
	return nil
}

// healthOf puts the health kept here into w, when this record keeps the
// health of w's revision.
func (s *statCounters) healthOf(w *Webhook) {
	if s.Health&healthSet == 0 || s.HealthRevision != int64(w.Revision) {
		return
	}
	w.ConsecutiveFailures = int(s.ConsecutiveFailures)
	w.LastSuccessAt = secTime(s.Health&healthSuccess != 0, s.LastSuccessSec, s.LastSuccessNsec)
	w.LastFailureAt = secTime(s.Health&healthFailure != 0, s.LastFailureSec, s.LastFailureNsec)
}

// setHealth keeps w's health here, for w's revision.
func (s *statCounters) setHealth(w *Webhook) {
	s.Health = healthSet
	s.HealthRevision = int64(w.Revision)
	s.ConsecutiveFailures = int64(w.ConsecutiveFailures)
	s.LastSuccessSec, s.LastSuccessNsec, s.LastFailureSec, s.LastFailureNsec = 0, 0, 0, 0
	if t := w.LastSuccessAt; t != nil {
		s.Health |= healthSuccess
		s.LastSuccessSec, s.LastSuccessNsec = t.Unix(), int64(t.Nanosecond())
	}
	if t := w.LastFailureAt; t != nil {
		s.Health |= healthFailure
		s.LastFailureSec, s.LastFailureNsec = t.Unix(), int64(t.Nanosecond())
	}
}

// secTime is the time of Unix seconds and nanoseconds (any year, unlike
// UnixNano), nil when not set.
func secTime(set bool, sec, nsec int64) *time.Time {
	if !set {
		return nil
	}
	t := time.Unix(sec, nsec).UTC()
	return &t
}

func unixHour(t time.Time) int64 {
	u := t.Unix()
	if u < 0 {
		return (u - 3599) / 3600
	}
	return u / 3600
}

// hour returns the ring slot for the unix hour of t, reset when it held an
// older hour, or nil when the slot already holds a newer hour (t is too old
// to be in any window the ring can still answer).
func (s *statCounters) hour(t time.Time) *hourCounters {
	h := unixHour(t)
	slot := &s.Hours[((h%statsWindowHours)+statsWindowHours)%statsWindowHours]
	switch {
	case slot.Hour == h:
		return slot
	case slot.Hour < h:
		*slot = hourCounters{Hour: h}
		return slot
	default:
		return nil
	}
}

// existingHour is hour without the reset: counters of a delivery created at
// t are only adjusted while its hour is still in the ring.
func (s *statCounters) existingHour(t time.Time) *hourCounters {
	h := unixHour(t)
	slot := &s.Hours[((h%statsWindowHours)+statsWindowHours)%statsWindowHours]
	if slot.Hour != h {
		return nil
	}
	return slot
}

// onCreate counts a new pending delivery created at createdAt.
func (s *statCounters) onCreate(createdAt time.Time) {
	s.Pending++
	if h := s.hour(createdAt); h != nil {
		h.Created++
	}
}

// onAttempt counts one attempt's duration.
func (s *statCounters) onAttempt(startedAt time.Time, durationMS int64) {
	if durationMS < 0 {
		durationMS = 0
	}
	s.LatencySumMS += durationMS
	s.LatencyCount++
	s.LatencyMaxMS = max(s.LatencyMaxMS, durationMS)
	s.Hist[latencyBucket(durationMS)]++
	if h := s.hour(startedAt); h != nil {
		h.LatencySumMS += durationMS
		h.LatencyCount++
	}
}

// onStatus moves a delivery created at createdAt from one status to another.
func (s *statCounters) onStatus(from, to DeliveryStatus, createdAt time.Time) {
	if from == to {
		return
	}
	h := s.existingHour(createdAt)
	s.bump(from, h, -1)
	s.bump(to, h, +1)
}

func (s *statCounters) bump(st DeliveryStatus, h *hourCounters, d int64) {
	switch st {
	case DeliveryPending:
		s.Pending += d
	case DeliverySuccess:
		s.Success += d
		if h != nil {
			h.Success += d
		}
	case DeliveryFailed:
		s.Failed += d
		if h != nil {
			h.Failed += d
		}
	}
}

// onLast records the most recently finished attempt, unless a later one
// was already recorded.
func (s *statCounters) onLast(id int64, st DeliveryStatus, statusCode int, at time.Time) {
	if s.LastID != 0 && at.UnixNano() < s.LastAtNano {
		return
	}
	s.LastID, s.LastStatus, s.LastStatusCode, s.LastAtNano = id, statusCode64(st), int64(statusCode), at.UnixNano()
}

func statusCode64(st DeliveryStatus) int64 {
	switch st {
	case DeliveryPending:
		return 1
	case DeliverySuccess:
		return 2
	case DeliveryFailed:
		return 3
	}
	return 0
}

func statusFromCode(c int64) DeliveryStatus {
	switch c {
	case 1:
		return DeliveryPending
	case 2:
		return DeliverySuccess
	case 3:
		return DeliveryFailed
	}
	return ""
}

func latencyBucket(ms int64) int {
	for i, b := range latencyBoundsMS {
		if ms <= b {
			return i
		}
	}
	return len(latencyBoundsMS)
}

// summary computes the Stats as of now.
func (s *statCounters) summary(now time.Time, consecutiveFailures int) *Stats {
	out := &Stats{
		Success:             s.Success,
		Failed:              s.Failed,
		Pending:             s.Pending,
		Total:               s.Success + s.Failed + s.Pending,
		SuccessRate:         ratio(s.Success, s.Success+s.Failed),
		AvgLatencyMS:        ratio(s.LatencySumMS, s.LatencyCount),
		P95LatencyMS:        s.p95(),
		ConsecutiveFailures: consecutiveFailures,
	}
	nowH := unixHour(now)
	var win hourCounters
	for _, h := range s.Hours {
		if h.Hour > nowH-statsWindowHours && h.Hour <= nowH {
			win.Created += h.Created
			win.Success += h.Success
			win.Failed += h.Failed
			win.LatencySumMS += h.LatencySumMS
			win.LatencyCount += h.LatencyCount
		}
	}
	out.Last24h = WindowStats{
		Deliveries:   win.Created,
		SuccessRate:  ratio(win.Success, win.Success+win.Failed),
		AvgLatencyMS: ratio(win.LatencySumMS, win.LatencyCount),
	}
	if s.LastID != 0 {
		out.LastDelivery = &LastDelivery{
			ID:                 s.LastID,
			Status:             statusFromCode(s.LastStatus),
			ResponseStatusCode: int(s.LastStatusCode),
			At:                 time.Unix(0, s.LastAtNano).UTC(),
		}
	}
	return out
}

// p95 interpolates the 95th percentile inside the histogram bucket that
// holds it.
func (s *statCounters) p95() float64 {
	var count int64
	for _, n := range s.Hist {
		count += n
	}
	if count == 0 {
		return 0
	}
	rank := 0.95 * float64(count)
	var cum int64
	for i, n := range s.Hist {
		if n == 0 || float64(cum+n) < rank {
			cum += n
			continue
		}
		lower := int64(0)
		if i > 0 {
			lower = latencyBoundsMS[i-1]
		}
		upper := s.LatencyMaxMS
		if i < len(latencyBoundsMS) {
			upper = min(latencyBoundsMS[i], s.LatencyMaxMS)
		}
		if upper < lower {
			return float64(upper)
		}
		frac := (rank - float64(cum)) / float64(n)
		return float64(lower) + frac*float64(upper-lower)
	}
	return float64(s.LatencyMaxMS)
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
