package fanout

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scailabs/webhookd/bus"
	"github.com/scailabs/webhookd/kv"
)

const (
	// fetchWait bounds one pull request. Fetches are never cancelled
	// (a cancelled pull can strand messages the server already sent until
	// AckWait), so this is also how long Stop may wait for a fetcher.
	fetchWait = time.Second
	// fetchBatch is the most messages asked for by one pull.
	fetchBatch = 64
	// retryPause is the base of the short, jittered delay after a store or
	// bus error.
	retryPause = time.Second
	// deadLetterPause is the delay before an invalid event whose move to
	// the dead-letter stream failed is tried again.
	deadLetterPause = 5 * time.Second
	// recordTimeout bounds a store write that must happen even while
	// stopping (an attempt already made is recorded if at all possible).
	recordTimeout = 10 * time.Second
)

const (
	stateNew = iota
	stateStarted
	stateStopped
)

// Fanout is the delivery engine: it matches events to webhooks and
// delivers them. Build it with New, run it with Start, end it with Stop.
type Fanout struct {
	cfg    Config
	log    *slog.Logger
	bus    *bus.Bus
	store  kv.Store
	sender *Sender
	index  *Index
	tel    *telemetry

	mu    sync.Mutex
	state int

	// soft ends when Stop begins: no more pulling, no new attempts.
	soft       context.Context
	softCancel context.CancelFunc
	// hard ends when Stop's deadline passes: in-flight work is cancelled.
	hard        context.Context
	hardCancel  context.CancelFunc
	watchCancel context.CancelFunc

	wg      sync.WaitGroup // stage goroutines: fetchers, matchers, runners
	keepWG  sync.WaitGroup // keep-alive goroutines, stopped last
	keepEnd chan struct{}
	stopped chan struct{} // closed when Stop is done

	matchHeld   *heldSet
	deliverHeld *heldSet
	limiter     *limiter
	slots       chan struct{} // one per worker
	idle        idleRunners   // runners waiting for a job (startRunner)
	runners     atomic.Int64  // runners alive, for tests
	heldMax     int
	direct      atomic.Int64 // jobs out without a task message (direct.go)
}

// New validates cfg and builds a Fanout; nothing runs until Start.
func New(cfg Config) (*Fanout, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("fanout: %w", err)
	}
	cfg = cfg.withDefaults()
	tel, err := newTelemetry(cfg.TracerProvider, cfg.MeterProvider)
	if err != nil {
		return nil, err
	}
	f := &Fanout{
		cfg:     cfg,
		log:     cfg.Logger,
		bus:     cfg.Bus,
		store:   cfg.Store,
		sender:  NewSender(cfg.Sender),
		index:   NewIndex(),
		tel:     tel,
		keepEnd: make(chan struct{}),
		stopped: make(chan struct{}),
		limiter: newLimiter(cfg.PerWebhookConcurrency, cfg.PerWebhookQueue),
		slots:   make(chan struct{}, cfg.Workers),
		idle:    idleRunners{max: cfg.Workers},
		// Queued tasks need room beside the running ones and those being
		// recorded, or a few webhooks' queues would stop the fetcher.
		heldMax: max(4*cfg.Workers, 4*cfg.PerWebhookQueue),
	}
	f.limiter.keepFresh = !cfg.Store.Shared()
	f.soft, f.softCancel = context.WithCancel(context.Background())
	f.hard, f.hardCancel = context.WithCancel(context.Background())
	return f, nil
}

// Index is the in-memory webhook index the match stage reads (fed by
// Store.WatchWebhooks once started).
func (f *Fanout) Index() *Index { return f.index }

// Start loads every webhook into the index, keeps it fed, and starts both
// stages. ctx bounds the start-up only; the goroutines live until Stop.
func (f *Fanout) Start(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch f.state {
	case stateStarted:
		return ErrAlreadyStarted
	case stateStopped:
		return ErrStopped
	}
	watchCtx, watchCancel := context.WithCancel(context.WithoutCancel(ctx))
	if err := f.store.WatchWebhooks(watchCtx, f.index.Apply); err != nil {
		watchCancel()
		return fmt.Errorf("fanout: watch webhooks: %w", err)
	}
	match, err := f.bus.MatchConsumer(ctx)
	if err != nil {
		watchCancel()
		return fmt.Errorf("fanout: match consumer: %w", err)
	}
	deliver, err := f.bus.DeliverConsumer(ctx)
	if err != nil {
		watchCancel()
		return fmt.Errorf("fanout: deliver consumer: %w", err)
	}
	f.watchCancel = watchCancel
	f.matchHeld = newHeldSet(f.log, keepAliveEvery(match))
	f.deliverHeld = newHeldSet(f.log, keepAliveEvery(deliver))
	f.matchHeld.conn, f.deliverHeld.conn = f.bus.Conn(), f.bus.Conn()
	f.keepWG.Add(2)
	go f.matchHeld.keepAlive(&f.keepWG, f.keepEnd)
	go f.deliverHeld.keepAlive(&f.keepWG, f.keepEnd)

	f.wg.Add(f.cfg.MatchWorkers + 2)
	for range f.cfg.MatchWorkers {
		go f.matchLoop(match)
	}
	go f.deliverLoop(deliver)
	go f.dueLoop()
	f.state = stateStarted
	f.log.Info("fanout started", "webhooks", f.index.Len(), "workers", f.cfg.Workers,
		"match_workers", f.cfg.MatchWorkers, "per_webhook_concurrency", f.cfg.PerWebhookConcurrency)
	return nil
}

// Stop stops pulling, hands queued tasks back at once, lets in-flight
// attempts finish until ctx ends, then cancels them and hands their
// messages back too (nak: a restart or another process takes them at
// once). It returns when every goroutine has ended; the error is
// ctx's when attempts had to be cancelled. A later Stop waits for the first
// one (or its own ctx) and returns nil.
func (f *Fanout) Stop(ctx context.Context) error {
	f.mu.Lock()
	switch f.state {
	case stateNew:
		f.mu.Unlock()
		return ErrNotStarted
	case stateStopped:
		f.mu.Unlock()
		select { // another Stop is (or was) at work: wait for it
		case <-f.stopped:
		case <-ctx.Done():
		}
		return nil
	}
	f.state = stateStopped
	f.mu.Unlock()
	defer close(f.stopped)

	f.softCancel()
	for _, j := range f.limiter.drain() {
		j.h.nak()
	}
	done := make(chan struct{})
	go func() {
		f.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("fanout: stop: in-flight attempts cancelled: %w", ctx.Err())
		f.hardCancel()
		<-done
	}
	f.hardCancel()
	close(f.keepEnd)
	f.keepWG.Wait()
	// Nothing should be left; hand back whatever is, rather than leave it
	// to AckWait.
	f.matchHeld.nakAll()
	f.deliverHeld.nakAll()
	f.watchCancel()
	f.sender.Close()
	f.log.Info("fanout stopped")
	return err
}

// stopping reports whether Stop has begun.
func (f *Fanout) stopping() bool { return f.soft.Err() != nil }

// jitter returns d scaled by a random factor in [0.5, 1.5).
func (f *Fanout) jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(f.cfg.Rand()*float64(d))
}

// later hands a message back after a short jittered pause (a transient
// store or bus error), or at once while stopping.
func (f *Fanout) later(h msgHandle, pause time.Duration) {
	if f.stopping() {
		h.nak()
		return
	}
	h.nakDelay(f.jitter(pause))
}

// keepAliveEvery is the InProgress period for a consumer: well under its
// AckWait.
func keepAliveEvery(c jetstream.Consumer) time.Duration {
	ackWait := 30 * time.Second // JetStream's default
	if info := c.CachedInfo(); info != nil && info.Config.AckWait > 0 {
		ackWait = info.Config.AckWait
	}
	return max(ackWait/4, 50*time.Millisecond)
}

// heldMsg is a message this process holds: fetched, not yet acked, naked
// or termed. Its first settle wins; the keep-alive never touches a settled
// message.
type heldMsg struct {
	set     *heldSet
	msg     jetstream.Msg
	mu      sync.Mutex
	settled bool
}

func (h *heldMsg) settle(op string, fn func(jetstream.Msg) error) {
	h.mu.Lock()
	if h.settled {
		h.mu.Unlock()
		return
	}
	h.settled = true
	err := fn(h.msg)
	h.mu.Unlock()
	h.set.remove(h)
	if err != nil {
		// The server redelivers after AckWait; nothing is lost.
		h.set.log.Warn("settling message failed", "op", op, "subject", h.msg.Subject(), "error", err)
	}
}

// forget stops holding the message without telling the server (another
// handle of the same message settles it).
func (h *heldMsg) forget() { h.settle("forget", func(jetstream.Msg) error { return nil }) }

func (h *heldMsg) ack() { h.settle("ack", func(m jetstream.Msg) error { return m.Ack() }) }

func (h *heldMsg) subject() string { return h.msg.Subject() }

// streamSeq is the message's stream sequence (0 when unknown).
func (h *heldMsg) streamSeq() uint64 {
	if md, err := h.msg.Metadata(); err == nil {
		return md.Sequence.Stream
	}
	return 0
}
func (h *heldMsg) term() { h.settle("term", func(m jetstream.Msg) error { return m.Term() }) }

// handBackDelay is the delay of nak: a plain Nak only queues the message
// in the server's memory, which the embedded server loses when it stops
// right after us, so the message would wait a whole AckWait after a
// restart; a delayed Nak's due time is kept in the consumer's state.
const handBackDelay = time.Millisecond

// handBackWait bounds how long nak waits for the server's confirmation.
const handBackWait = 2 * time.Second

// nakPayload is a Nak with handBackDelay, as NakWithDelay sends it.
var nakPayload = []byte(fmt.Sprintf(`-NAK {"delay": %d}`, handBackDelay.Nanoseconds()))

// nak hands a message back for redelivery at once, and waits until the
// server has taken it in: nak is how Stop hands back what it holds, and a
// hand-back still queued inside the server when it shuts down is lost, so
// the message would wait a whole AckWait after the restart.
func (h *heldMsg) nak() {
	h.settle("nak", func(m jetstream.Msg) error {
		if h.set.conn == nil || m.Reply() == "" {
			return m.NakWithDelay(handBackDelay)
		}
		_, err := h.set.conn.Request(m.Reply(), nakPayload, handBackWait)
		return err
	})
}
func (h *heldMsg) nakDelay(d time.Duration) {
	h.settle("nak", func(m jetstream.Msg) error { return m.NakWithDelay(d) })
}

// heldSet tracks one stage's held messages and keeps them alive with
// InProgress, so a slow endpoint or a queued task is never redelivered
// behind our back.
type heldSet struct {
	log   *slog.Logger
	conn  *nats.Conn // for naks that wait for the server; nil: they do not
	every time.Duration
	mu    sync.Mutex
	msgs  map[*heldMsg]struct{}
	freed chan struct{} // a non-blocking signal: room was made
}

func newHeldSet(log *slog.Logger, every time.Duration) *heldSet {
	return &heldSet{log: log, every: every, msgs: make(map[*heldMsg]struct{}), freed: make(chan struct{}, 1)}
}

func (s *heldSet) add(m jetstream.Msg) *heldMsg {
	h := &heldMsg{set: s, msg: m}
	s.mu.Lock()
	s.msgs[h] = struct{}{}
	s.mu.Unlock()
	return h
}

func (s *heldSet) remove(h *heldMsg) {
	s.mu.Lock()
	delete(s.msgs, h)
	s.mu.Unlock()
	select {
	case s.freed <- struct{}{}:
	default:
	}
}

func (s *heldSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

func (s *heldSet) snapshot() []*heldMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*heldMsg, 0, len(s.msgs))
	for h := range s.msgs {
		out = append(out, h)
	}
	return out
}

// keepAlive calls InProgress on every held message each period until end
// is closed.
func (s *heldSet) keepAlive(wg *sync.WaitGroup, end <-chan struct{}) {
	defer wg.Done()
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		select {
		case <-end:
			return
		case <-t.C:
		}
		for _, h := range s.snapshot() {
			h.mu.Lock()
			if !h.settled {
				if err := h.msg.InProgress(); err != nil {
					s.log.Debug("in-progress failed", "subject", h.msg.Subject(), "error", err)
				}
			}
			h.mu.Unlock()
		}
	}
}

func (s *heldSet) nakAll() {
	for _, h := range s.snapshot() {
		h.nak()
	}
}
