package fanout

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scailabs/webhookd/bus"
)

// job is one delivery attempt to make: a task message held by the deliver
// stage, or a delivery the match stage runs without one (direct.go).
type job struct {
	h    msgHandle
	task bus.Task
	// created: the match stage stored the delivery a moment ago (a direct
	// job), so its state is known: pending, never attempted, unless a copy
	// of the delivery has run since (limiter.claim). seen is its webhook's
	// copies count from before the delivery was stored.
	created bool
	seen    uint64
}

// admission is what the limiter decided for a task.
type admission int

const (
	admitRun    admission = iota // run it now (in a new or an idle runner)
	admitQueued                  // a runner of its webhook will take it
	admitFull                    // webhook at cap and queue full: hand it back
)

// limiter caps each webhook's attempts in flight and holds a queue per
// webhook beyond the cap, sized by how fast the webhook works through it:
// a fast webhook may queue what it does in about queueBudget, a slow or
// dead endpoint only a short queue, so it holds at most cap+2*cap tasks and
// cap workers while every other webhook keeps flowing.
//
// Beyond its queue, a slow webhook's task is handed back to the stream
// for as long as its pace says it will take to get to it (park). A fast
// webhook's is queued anyway and the webhook counts as crowded: the
// deliverer stops pulling until its queue is half worked off. Handing a
// fast webhook's surplus back instead would cycle every task of a burst
// through the server many times (JetStream redelivers before it delivers
// new messages, and each delayed Nak postpones its redelivery timer).
//
// It also remembers which deliveries are in flight in this process, so a
// duplicate task of one (a republish outside JetStream's duplicate window)
// is dropped instead of racing the original.
type limiter struct {
	cap, queueMax int

	mu       sync.Mutex
	hooks    map[string]*hookSlot
	inflight map[int64]uint64
	crowded  int           // webhooks whose queue is over its size
	room     chan struct{} // closed (and replaced) when no webhook is crowded any more

	// copies counts, per webhook (by a hash of its id), the claims of jobs
	// that did not create their delivery: a task, or the copy of a
	// delivery found again (a republished or redelivered event). A direct
	// job knows its delivery's state only while its webhook's count is
	// what it was before the delivery was stored: any copy of the
	// delivery runs through claim after that, and bumps it. Other
	// processes' copies do not: only with a store of its own (keepFresh)
	// does a direct job that waited in the queue skip the read.
	copies    [copyCounters]atomic.Uint64
	seed      maphash.Seed
	keepFresh bool
}

// copyCounters is how many webhook hashes share the copies counts: a
// copy of one webhook's delivery costs direct jobs of few others a read.
const copyCounters = 256

type hookSlot struct {
	active int    // runners of this webhook (each runs one job at a time)
	queue  []*job // waiting for one of them, oldest first
	// took is a moving average of how long its jobs take, parkedUntil
	// when the latest task handed back (park) is due to return.
	took        time.Duration
	parkedUntil time.Time
	crowded     bool
}

const (
	// queueBudget is about how long a fast webhook's queue lasts it.
	queueBudget = 250 * time.Millisecond
	// maxPark bounds how long a task is handed back for. A webhook that
	// sped up is not left waiting on its old pace for longer than this.
	maxPark = time.Minute
	// unknownTook stands for how long a webhook's jobs take until one has
	// ended: quick, so a burst's first tasks handed back do not leave a
	// fast webhook idle (a slow one's come back a few more times).
	unknownTook = time.Millisecond
)

func newLimiter(perWebhook, queue int) *limiter {
	return &limiter{
		cap:      perWebhook,
		queueMax: queue,
		hooks:    make(map[string]*hookSlot),
		inflight: make(map[int64]uint64),
		room:     make(chan struct{}),
		seed:     maphash.MakeSeed(),
	}
}

// queueSize is how many tasks s may queue: what it works off in
// queueBudget at its pace, between 2*cap and queueMax. fast says it may
// queue more than 2*cap: its pace is known and quick.
func (l *limiter) queueSize(s *hookSlot) (n int, fast bool) {
	short := min(2*l.cap, l.queueMax)
	if s.took <= 0 {
		return short, false
	}
	n = int(min(int64(queueBudget)*int64(l.cap)/int64(s.took), int64(l.queueMax)))
	if n <= short {
		return short, false
	}
	return n, true
}

// admit decides for a new task of webhookID.
func (l *limiter) admit(webhookID string, j *job) admission {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.slot(webhookID)
	if s.active < l.cap {
		s.active++
		return admitRun
	}
	if size, fast := l.queueSize(s); len(s.queue) >= size && !fast {
		return admitFull
	}
	return l.enqueue(s, j)
}

// slot returns webhookID's slot, made when missing. Called with mu held.
func (l *limiter) slot(webhookID string) *hookSlot {
	s := l.hooks[webhookID]
	if s == nil {
		s = &hookSlot{}
		l.hooks[webhookID] = s
	}
	return s
}

// enqueue queues j on s, crowding when s is fast and its queue reaches its
// size. Called with mu held.
func (l *limiter) enqueue(s *hookSlot, j *job) admission {
	if !l.keepFresh {
		// It reads its delivery's state when it runs: by then another
		// process may have moved the delivery on.
		j.created = false
	}
	s.queue = append(s.queue, j)
	if size, fast := l.queueSize(s); fast && len(s.queue) >= size && !s.crowded {
		s.crowded = true
		l.crowded++
	}
	return admitQueued
}

// admitDirect admits a job the match stage would run without a task
// message, only where that takes nothing from older work: not while the
// webhook has tasks handed back (they would be pushed back again and
// again by new events), and queued only for a fast webhook (a slow one's
// queue is for the tasks it parks; a fast one queues whatever comes, past
// its size too, and crowds: the match stage then waits, as the deliverer
// does). false means the job goes as a task message.
func (l *limiter) admitDirect(webhookID string, j *job, now time.Time) (admission, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.slot(webhookID)
	if s.parkedUntil.After(now) {
		return 0, false
	}
	if s.active < l.cap {
		s.active++
		return admitRun, true
	}
	if _, fast := l.queueSize(s); !fast {
		return 0, false
	}
	return l.enqueue(s, j), true
}

// isCrowded reports whether some fast webhook's queue is over its size:
// the deliverer and the match stage then wait for room before they pull
// more. When crowded, room is closed once that is over (every waiter wakes).
func (l *limiter) isCrowded() (crowded bool, room <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.crowded > 0, l.room
}

// waitRoom waits until no webhook is crowded, or done is closed.
func (l *limiter) waitRoom(done <-chan struct{}) {
	for {
		crowded, room := l.isCrowded()
		if !crowded {
			return
		}
		select {
		case <-room:
		case <-done:
			return
		}
	}
}

// uncrowd clears s's crowded mark when its queue is down to half its size
// or when force is set. Called with mu held.
func (l *limiter) uncrowd(s *hookSlot, force bool) {
	if !s.crowded {
		return
	}
	if size, _ := l.queueSize(s); !force && len(s.queue) > size/2 {
		return
	}
	s.crowded = false
	l.crowded--
	if l.crowded == 0 {
		close(l.room)
		l.room = make(chan struct{})
	}
}

// next is called by a runner of webhookID when its job is done: it returns
// the next queued job for that runner, or nil when the runner is done with
// webhookID (it may wait for another webhook's job, Fanout.runner).
func (l *limiter) next(webhookID string) *job {
	return l.nextAt(webhookID, time.Now())
}

func (l *limiter) nextAt(webhookID string, now time.Time) *job {
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
		l.uncrowd(s, false)
		return j
	}
	s.active--
	if s.active <= 0 && !s.parkedUntil.After(now) {
		// Idle, and none of its tasks is handed back: nothing to keep.
		// (With tasks handed back, their schedule and the pace stay for
		// when they return.)
		delete(l.hooks, webhookID)
	}
	return nil
}

// took records how long one of webhookID's jobs took. A
// webhook that turned slow gives up what it queued beyond its new size:
// surplus is to be handed back (park), or it would hold the deliverer up.
func (l *limiter) took(webhookID string, d time.Duration) (surplus []*job) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.hooks[webhookID]
	if s == nil {
		return nil
	}
	if s.took == 0 {
		s.took = d
	} else {
		s.took += (d - s.took) / 8
	}
	if size, fast := l.queueSize(s); !fast && len(s.queue) > size {
		surplus = append([]*job(nil), s.queue[size:]...)
		clear(s.queue[size:])
		s.queue = s.queue[:size]
		l.uncrowd(s, true)
	}
	return surplus
}

// park returns how long a task of webhookID that found it at its cap and
// its queue full should stay in the stream: until the webhook has worked
// through its queue and every task handed back before this one, at the
// pace its recent jobs set (cap of them at a time), with a margin.
// JetStream hands out redeliveries before new messages: tasks handed back
// for a fixed time would come back in a crowd, again and again, and crowd
// out every other webhook's new tasks (a hanging endpoint's backlog).
func (l *limiter) park(webhookID string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.hooks[webhookID]
	if s == nil {
		return handBackDelay // it has room again
	}
	took := s.took
	if took == 0 {
		took = unknownTook
	}
	// Paced a quarter faster than measured: a task back too early is
	// handed back once more, one back too late leaves the webhook idle.
	each := took * 3 / time.Duration(4*max(l.cap, 1))
	at := now.Add(time.Duration(len(s.queue)) * each)
	if s.parkedUntil.After(at) {
		at = s.parkedUntil
	}
	at = at.Add(each)
	s.parkedUntil = at
	return max(min(at.Sub(now), maxPark), handBackDelay)
}

// drain removes and returns every queued job (at Stop, to hand them back).
func (l *limiter) drain() []*job {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*job
	for _, s := range l.hooks {
		out = append(out, s.queue...)
		s.queue = nil
		l.uncrowd(s, true)
	}
	return out
}

// claim marks j's delivery in flight. When the delivery is in flight
// already it returns false, and same reports whether it is the very same
// message (a redelivery of one we hold) rather than another copy of the
// task. A job that created its delivery stops trusting what it knows of
// it when a copy of one of its webhook's deliveries has run since.
func (l *limiter) claim(j *job) (ok, same bool) {
	id, seq := j.task.DeliveryID, j.h.streamSeq()
	l.mu.Lock()
	defer l.mu.Unlock()
	if held, busy := l.inflight[id]; busy {
		return false, held == seq
	}
	copies := l.copiesOf(j.task.WebhookID)
	switch {
	case !j.created:
		copies.Add(1)
	case copies.Load() != j.seen:
		j.created = false
	}
	l.inflight[id] = seq
	return true, false
}

// copiesOf is webhookID's copies count (shared with the webhooks of the
// same hash).
func (l *limiter) copiesOf(webhookID string) *atomic.Uint64 {
	return &l.copies[maphash.String(l.seed, webhookID)%copyCounters]
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
