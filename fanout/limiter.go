package fanout

import (
	"sync"
	"time"

	"github.com/scailabs/webhookd/bus"
)

// job is one delivery task held by the deliver stage.
type job struct {
	h    *heldMsg
	task bus.Task
}

// admission is what the limiter decided for a task.
type admission int

const (
	admitRun    admission = iota // run it now (in a new runner)
	admitQueued                  // a runner of its webhook will take it
	admitFull                    // webhook at cap and queue full: hand it back
)

// limiter caps each webhook's attempts in flight and holds a short queue
// per webhook beyond the cap, so one slow or dead endpoint holds at most
// cap+queue tasks and cap workers while every other webhook keeps flowing.
// It also remembers which deliveries are in flight in this process, so a
// duplicate task of one (a republish outside JetStream's duplicate window)
// is dropped instead of racing the original.
type limiter struct {
	cap, queueCap int

	mu       sync.Mutex
	hooks    map[string]*hookSlot
	inflight map[int64]uint64
}

type hookSlot struct {
	active int    // runners of this webhook (each runs one job at a time)
	queue  []*job // waiting for one of them, oldest first
	slow   bool   // its latest job took slowJob or longer
}

// slowJob is how long a job must take for its webhook to count as slow:
// an endpoint that hangs or times out, whose tasks beyond the cap are
// handed back for longer each time (busyDelay).
const slowJob = time.Second

func newLimiter(perWebhook, queue int) *limiter {
	return &limiter{
		cap:      perWebhook,
		queueCap: queue,
		hooks:    make(map[string]*hookSlot),
		inflight: make(map[int64]uint64),
	}
}

// admit decides for a new task of webhookID.
func (l *limiter) admit(webhookID string, j *job) admission {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.hooks[webhookID]
	if s == nil {
		s = &hookSlot{}
		l.hooks[webhookID] = s
	}
	switch {
	case s.active < l.cap:
		s.active++
		return admitRun
	case len(s.queue) < l.queueCap:
		s.queue = append(s.queue, j)
		return admitQueued
	}
	return admitFull
}

// next is called by a runner of webhookID when its job is done: it returns
// the next queued job for that runner, or nil when the runner should end.
func (l *limiter) next(webhookID string) *job {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.hooks[webhookID]
	if s == nil {
		return nil // cannot happen: a runner holds an active slot
	}
	if len(s.queue) > 0 {
		j := s.queue[0]
		s.queue[0] = nil
		s.queue = s.queue[1:]
		return j
	}
	s.active--
	if s.active <= 0 {
		delete(l.hooks, webhookID)
	}
	return nil
}

// took records how long one of webhookID's jobs took.
func (l *limiter) took(webhookID string, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.hooks[webhookID]; s != nil {
		s.slow = d >= slowJob
	}
}

// slow reports whether webhookID's latest job was slow.
func (l *limiter) slow(webhookID string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.hooks[webhookID]
	return s != nil && s.slow
}

// drain removes and returns every queued job (at Stop, to hand them back).
func (l *limiter) drain() []*job {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*job
	for _, s := range l.hooks {
		out = append(out, s.queue...)
		s.queue = nil
	}
	return out
}

// claim marks a delivery in flight, carried by the task message of stream
// sequence seq. When the delivery is in flight already it returns false,
// and same reports whether it is the very same message (a redelivery of
// one we hold) rather than another copy of the task.
func (l *limiter) claim(deliveryID int64, seq uint64) (ok, same bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if held, busy := l.inflight[deliveryID]; busy {
		return false, held == seq
	}
	l.inflight[deliveryID] = seq
	return true, false
}

func (l *limiter) release(deliveryID int64) {
	l.mu.Lock()
	delete(l.inflight, deliveryID)
	l.mu.Unlock()
}

// queued returns how many of webhookID's tasks wait (for tests).
func (l *limiter) queued(webhookID string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.hooks[webhookID]; s != nil {
		return len(s.queue)
	}
	return 0
}
