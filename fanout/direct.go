package fanout

import (
	"sync/atomic"
	"time"

	"github.com/scailabs/webhookd/bus"
)

// msgHandle is how a job settles what it came as: a task message (heldMsg)
// or, for a job the match stage runs without one, its share of the held
// event (directMsg).
type msgHandle interface {
	ack()
	term()
	nak()
	nakDelay(time.Duration)
	forget()
	subject() string
	// streamSeq tells copies of a job apart (limiter.claim).
	streamSeq() uint64
}

// A delivery whose webhook has room when its event is matched runs
// straight from the match stage: no task message is published, stored,
// delivered and acked for its first attempt. The event stays held (kept
// alive like any held message) until each such delivery has settled, and
// is acked only then, so a crash before that replays the event: matched
// again, each delivery still pending is found (CreateDelivery is
// idempotent) and dispatched again, just as its task would have been
// redelivered. Anything that would keep the job waiting (a retry, a slow
// webhook's queue, a pause) publishes its task after all, and the task
// path takes over; a fast webhook queues direct jobs like tasks.

// directBit marks a direct job's claim sequence, so that it never equals
// a task message's stream sequence.
const directBit = 1 << 63

// heldEvent is an event the match stage holds while deliveries of it run
// here without a task message. It is acked when every share is settled,
// or handed back when one could not be (then matched again).
type heldEvent struct {
	f        *Fanout
	h        *heldMsg
	shares   atomic.Int32 // unsettled direct jobs, plus the match stage's own
	handBack atomic.Bool
}

func newHeldEvent(f *Fanout, h *heldMsg) *heldEvent {
	e := &heldEvent{f: f, h: h}
	e.shares.Store(1)
	return e
}

// release settles one share; ok false hands the event back once every
// share is settled.
func (e *heldEvent) release(ok bool) {
	if !ok {
		e.handBack.Store(true)
	}
	if e.shares.Add(-1) != 0 {
		return
	}
	if e.handBack.Load() {
		e.f.later(e.h, retryPause)
		return
	}
	e.h.ack()
}

var directSeq atomic.Uint64

// directMsg is a direct job's handle: its share of the held event.
type directMsg struct {
	ev      *heldEvent
	task    bus.Task
	seq     uint64
	settled atomic.Bool
}

func newDirectMsg(ev *heldEvent, t bus.Task) *directMsg {
	ev.shares.Add(1)
	return &directMsg{ev: ev, task: t, seq: directBit | directSeq.Add(1)}
}

func (d *directMsg) settle(ok bool) {
	if d.settled.CompareAndSwap(false, true) {
		d.ev.f.direct.Add(-1)
		d.ev.release(ok)
	}
}

func (d *directMsg) ack()    { d.settle(true) }
func (d *directMsg) term()   { d.settle(true) }
func (d *directMsg) forget() { d.settle(true) }

// nak hands the event back (Stop, a cancelled attempt): matched again
// later, the delivery is dispatched again.
func (d *directMsg) nak() { d.settle(false) }

// nakDelay publishes the job's task, not before wait: the deliverer holds
// it in the stream until then (a message's own delayed Nak would). It is
// the task the match stage would have published, with the same message
// id: the delivery is new (only those run directly), so within JetStream's
// duplicate window a copy with that id can only come from a replay of the
// event while this job ran, and that copy then carries the delivery on
// (the deliverer's due-time check holds it until the retry is due).
// Should publishing fail, the event is handed back.
func (d *directMsg) nakDelay(wait time.Duration) {
	if d.settled.Load() {
		return
	}
	f := d.ev.f
	if f.stopping() {
		d.settle(false)
		return
	}
	t := d.task
	if wait > handBackDelay {
		t.NotBefore = f.cfg.Now().Add(wait)
	}
	err := f.bus.PublishTasks(f.hard, []bus.Task{t})
	if err != nil {
		f.log.Warn("publishing the task of a direct delivery failed; its event is handed back",
			"webhook_id", d.task.WebhookID, "delivery_id", d.task.DeliveryID, "error", err)
	}
	d.settle(err == nil)
}

func (d *directMsg) subject() string   { return bus.TaskSubject(d.task.WebhookID) }
func (d *directMsg) streamSeq() uint64 { return d.seq }

// maxDirect bounds the jobs running or queued without a task message:
// each holds its event, and the match consumer lets 4,096 events be held
// (bus.matchMaxAckPending) for all webhooks together.
const maxDirect = 1024

// runDirect admits t as a job of the held event when its webhook has room
// for it (limiter.admitDirect) and fewer than maxDirect such jobs are out;
// false means it goes as a task message.
func (f *Fanout) runDirect(ev *heldEvent, t bus.Task, seen uint64) bool {
	if f.direct.Add(1) > maxDirect {
		f.direct.Add(-1)
		return false
	}
	h := newDirectMsg(ev, t)
	j := &job{h: h, task: t, created: true, seen: seen}
	switch adm, ok := f.limiter.admitDirect(t.WebhookID, j, f.cfg.Now()); {
	case ok && adm == admitRun:
		f.startRunner(j)
		return true
	case ok:
		return true
	}
	ev.shares.Add(-1) // never ran: its share goes without settling
	f.direct.Add(-1)
	return false
}
