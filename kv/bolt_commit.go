package kv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// committer runs every write of the store, and the reads that must see
// the hot writes at once.
//
// The hot writes (journal_ops.go: CreateDelivery(ies), RecordAttempt,
// ClearDue, ClearNotices) are not a bbolt commit each. Calls that arrive
// together form a group: the leader applies the group to one long-lived
// write transaction (its operations share each webhook's stats record,
// bolt_group.go), appends it to the journal (one write; fsynced under
// fsync=always) and answers. The transaction is committed, synced and the
// journal emptied at a checkpoint: every checkpointAge or checkpointOps,
// and before any exclusive (webhook, admin) write. Reads run in the
// leader's turn against the open transaction, so they see every answered
// write without a checkpoint. A bbolt commit
// rewrites every page it touched, so committing a tenth of a second of
// deliveries at once writes a page for dozens of them instead of several
// pages for each.
//
// It owns no goroutine. The caller that finds the committer idle leads: it
// runs one group for everything queued, then hands the lead to the oldest
// waiting caller (or goes idle), so no caller runs more than one group
// besides its own. Bolt's background loop queues the timed checkpoints.
type committer struct {
	db  *bolt.DB
	j   *journal
	log *slog.Logger
	// syncGroups fsyncs the journal for every group (fsync=always); with
	// fsync=interval Bolt's background loop syncs it every interval.
	syncGroups bool
	// Checkpoint when the open transaction holds this many operations, or
	// its first one is this old.
	checkpointOps int
	checkpointAge time.Duration

	mu     sync.Mutex
	busy   bool
	queue  []*commitCall
	closed bool  // after close: every call gets ErrClosed
	broken error // after errJournalCut: every call gets it

	// Leader-only state.
	open       *bolt.Tx  // nil between checkpoints with nothing open
	openOps    int       // operations in open since the checkpoint
	firstOpAt  time.Time // when the first of them was applied
	seq        uint64    // the last group journaled
	replay     bool      // the journal holds groups bbolt has not: apply them on begin
	checkpoint uint64    // the last group in the file (meta "journal")
	group      groupTx   // the group being applied, reused for the next
}

type callKind uint8

const (
	callOp        callKind = iota // a journal operation
	callRead                      // a read that sees every answered write
	callFlush                     // a checkpoint now
	callTick                      // a checkpoint when one is due
	callExclusive                 // a write in its own transaction, after a checkpoint
	callClose                     // a last checkpoint, then nothing more
)

type commitCall struct {
	kind callKind
	op   journalOp
	fn   func(*bolt.Tx) error
	done chan error // capacity 1: errLead or a result, never both pending
}

var errLead = errors.New("lead the next group")

// panicError carries a panic out of the leader, which may be another
// caller's goroutine, to the caller whose function panicked.
type panicError struct{ v any }

func (p *panicError) Error() string { return fmt.Sprintf("panic: %v", p.v) }

// keyJournal in the meta bucket is the last journal group a checkpoint
// committed (be64).
var keyJournal = []byte("journal")

func (c *committer) apply(op journalOp) error {
	return c.call(&commitCall{kind: callOp, op: op})
}

// read runs fn on a state that includes every write answered before read
// was called. fn must not write, and must copy what it keeps.
func (c *committer) read(fn func(*bolt.Tx) error) error {
	return c.call(&commitCall{kind: callRead, fn: fn})
}

// flush commits everything answered so far to the file.
func (c *committer) flush() error { return c.call(&commitCall{kind: callFlush}) }

// tick checkpoints when one is due.
func (c *committer) tick() error { return c.call(&commitCall{kind: callTick}) }

// exclusive runs fn in a transaction of its own, committed (and synced)
// before it returns, after a checkpoint: the webhook and admin writes,
// which readers of the file must see at once.
func (c *committer) exclusive(fn func(*bolt.Tx) error) error {
	return c.call(&commitCall{kind: callExclusive, fn: fn})
}

// close checkpoints a last time; later calls return ErrClosed, so that no
// transaction is left open for bbolt's Close to wait on.
func (c *committer) close() error { return c.call(&commitCall{kind: callClose}) }

func (c *committer) call(call *commitCall) error {
	call.done = make(chan error, 1)
	if err := c.enqueue(call); err != nil {
		return err
	}
	err := c.wait(call)
	if p, ok := err.(*panicError); ok {
		panic(p.v)
	}
	return err
}

// applyAll applies ops in this order, queued together so that they go in
// one group (a match stage's deliveries), and returns each one's error.
func (c *committer) applyAll(ops []journalOp) []error {
	if len(ops) == 0 {
		return nil
	}
	calls := make([]*commitCall, len(ops))
	for i, op := range ops {
		calls[i] = &commitCall{kind: callOp, op: op, done: make(chan error, 1)}
	}
	errs := make([]error, len(calls))
	if err := c.enqueue(calls...); err != nil {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	// A panic of one is raised again only once all are answered: a call
	// still waiting may be the one handed the lead.
	var panicked *panicError
	for i, call := range calls {
		errs[i] = c.wait(call)
		if p, ok := errs[i].(*panicError); ok && panicked == nil {
			panicked = p
		}
	}
	if panicked != nil {
		panic(panicked.v)
	}
	return errs
}

// enqueue queues calls at once (so that they go in one group) and leads
// when the committer is idle; the refusal when it is closed or broken.
func (c *committer) enqueue(calls ...*commitCall) error {
	c.mu.Lock()
	if err := c.refusal(); err != nil {
		c.mu.Unlock()
		return err
	}
	c.queue = append(c.queue, calls...)
	lead := !c.busy
	c.busy = true
	c.mu.Unlock()
	if lead {
		c.lead()
	}
	return nil
}

// wait returns call's answer, leading a group whenever handed the lead.
func (c *committer) wait(call *commitCall) error {
	for {
		err := <-call.done
		if err != errLead {
			return err
		}
		c.lead()
	}
}

// refusal is the error every call gets once the committer is closed or
// broken; c.mu held.
func (c *committer) refusal() error {
	if c.broken != nil {
		return c.broken
	}
	if c.closed {
		return ErrClosed
	}
	return nil
}

// lead runs one group of everything queued and passes the lead on.
func (c *committer) lead() {
	c.mu.Lock()
	calls, refusal := c.queue, c.refusal()
	c.queue = nil
	c.mu.Unlock()

	if refusal != nil {
		for _, call := range calls {
			call.done <- refusal
		}
	} else {
		c.runGroup(calls)
	}

	c.mu.Lock()
	if len(c.queue) == 0 {
		c.busy = false
	} else {
		c.queue[0].done <- errLead
	}
	c.mu.Unlock()
}

// runGroup answers the reads first (all queued calls are concurrent, so
// reads may go before the group's writes, which they would otherwise see
// before the writes are journaled), then applies and journals the
// operations, then checkpoints when asked or due.
func (c *committer) runGroup(calls []*commitCall) {
	var ops, later []*commitCall
	for _, call := range calls {
		switch call.kind {
		case callRead:
			call.done <- c.runRead(call.fn)
		case callOp:
			ops = append(ops, call)
		default:
			later = append(later, call)
		}
	}
	if len(ops) > 0 {
		c.runOps(ops)
	}
	needed := c.due()
	for _, call := range later {
		if call.kind != callTick {
			needed = true
		}
	}
	if !needed {
		for _, call := range later {
			call.done <- nil
		}
		return
	}
	err := c.commitOpen()
	var closers []*commitCall
	for _, call := range later {
		switch {
		case call.kind == callClose:
			closers = append(closers, call)
		case call.kind == callExclusive && err == nil:
			call.done <- c.runExclusive(call.fn)
		case call.kind == callTick:
			// A failed timed checkpoint is logged; the next tick retries.
			if err != nil {
				c.log.Error("kv checkpoint failed; the journal keeps the writes", "error", err)
			}
			call.done <- nil
		default:
			call.done <- err
		}
	}
	if len(closers) > 0 {
		// Answered last: their callers close the file next.
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		for _, call := range closers {
			call.done <- err
		}
	}
}

func (c *committer) runRead(fn func(*bolt.Tx) error) error {
	if c.open == nil && !c.replay {
		// Nothing applied since the last checkpoint: the file is current.
		return c.db.View(func(tx *bolt.Tx) error { return safelyCall(fn, tx) })
	}
	tx, err := c.begin()
	if err != nil {
		return err
	}
	return safelyCall(fn, tx)
}

// runOps applies the group's operations, journals them and answers them.
func (c *committer) runOps(ops []*commitCall) {
	tx, err := c.begin()
	if err != nil {
		for _, call := range ops {
			call.done <- err
		}
		return
	}
	g := c.group.reuse(tx)
	c.j.begin(c.seq + 1)
	applied := ops[:0:0]
	for i, call := range ops {
		mark, opErr := c.j.add(call.op.encode)
		if opErr == nil {
			if opErr = safelyApply(call.op, g); opErr == nil {
				applied = append(applied, call)
				continue
			}
			c.j.undo(mark)
			// Its writes so far cannot be undone one by one.
			var err error
			if g, err = c.rebuild(applied); err != nil {
				call.done <- opErr
				for _, o := range append(applied, ops[i+1:]...) {
					o.done <- err
				}
				return
			}
		}
		call.done <- opErr
	}
	if len(applied) == 0 {
		return
	}
	err = g.flush()
	if err == nil {
		err = c.j.write(c.syncGroups)
	}
	if err != nil {
		if errors.Is(err, errJournalCut) {
			c.mu.Lock()
			c.broken = fmt.Errorf("kv: %w", err)
			c.mu.Unlock()
			c.log.Error("kv store refuses writes: the journal holds a group that failed", "error", err)
		}
		// Nothing of the group is durable: take it out of the transaction.
		if _, rerr := c.rebuild(nil); rerr != nil {
			err = errors.Join(err, rerr)
		}
		for _, call := range applied {
			call.done <- err
		}
		return
	}
	c.seq++
	if c.openOps == 0 {
		c.firstOpAt = time.Now()
	}
	c.openOps += len(applied)
	for _, call := range applied {
		call.done <- nil
	}
}

// begin returns the open transaction, opening it (and applying the
// journal's groups bbolt does not hold yet) when there is none.
func (c *committer) begin() (*bolt.Tx, error) {
	if c.open != nil {
		return c.open, nil
	}
	tx, err := c.db.Begin(true)
	if err != nil {
		return nil, err
	}
	if c.replay {
		n, err := c.replayJournal(tx)
		if err != nil {
			_ = tx.Rollback()
			return nil, err
		}
		c.replay = false
		if n > 0 && c.openOps == 0 {
			c.firstOpAt = time.Now()
		}
		c.openOps += n
	}
	c.open = tx
	return tx, nil
}

// replayJournal applies every journaled group after the last checkpoint
// and returns how many operations it applied.
func (c *committer) replayJournal(tx *bolt.Tx) (int, error) {
	recs, torn, err := c.j.read()
	if err != nil {
		return 0, err
	}
	if torn > 0 {
		c.log.Warn("kv journal ends in a partly written or damaged group, dropped", "path", c.j.path,
			"bytes_dropped", torn, "groups_kept", len(recs))
	}
	switch v := tx.Bucket(bucketMeta).Get(keyJournal); len(v) {
	case 0:
	case 8:
		c.checkpoint = binary.BigEndian.Uint64(v)
	default:
		return 0, fmt.Errorf("meta %q holds %d bytes, want 8", keyJournal, len(v))
	}
	// Walk the groups from the committed one: at open, and again when a
	// rebuild replays the groups answered since.
	c.seq = c.checkpoint
	n := 0
	for _, rec := range recs {
		if rec.seq <= c.checkpoint {
			continue // committed before the journal was emptied
		}
		if rec.seq != c.seq+1 {
			// Not the next group: a journal from another file, or records
			// of an emptied journal that a power loss brought back. What
			// follows cannot be applied to this state.
			c.log.Error("kv journal skips a group; the rest is not applied", "path", c.j.path,
				"want_group", c.seq+1, "found_group", rec.seq)
			if err := c.j.cut(rec.off); err != nil {
				return 0, err
			}
			break
		}
		g := c.group.reuse(tx)
		for _, b := range rec.ops {
			op, err := decodeOp(b)
			if err == nil {
				// A panic becomes this replay's error (wrapped below, so
				// that no caller panics again): unguarded, it left the
				// committer busy and every later call waiting.
				err = safelyApply(op, g)
			}
			if err != nil {
				return 0, fmt.Errorf("journal %s: group %d: %w", c.j.path, rec.seq, err)
			}
			n++
		}
		if err := g.flush(); err != nil {
			return 0, fmt.Errorf("journal %s: group %d: %w", c.j.path, rec.seq, err)
		}
		c.seq = rec.seq
	}
	return n, nil
}

// rebuild drops the open transaction (an operation failed half-way, and
// bbolt cannot undo one write of a transaction) and opens it again from
// the journal, then applies again the given operations of the group that
// were applied before the failure.
func (c *committer) rebuild(applied []*commitCall) (*groupTx, error) {
	c.drop()
	firstOpAt := c.firstOpAt
	tx, err := c.begin()
	if err != nil {
		return nil, err
	}
	c.firstOpAt = firstOpAt // the age of the oldest answered write
	g := c.group.reuse(tx)
	for _, call := range applied {
		if err := safelyApply(call.op, g); err != nil {
			// Half of it is in the transaction: drop it all again.
			c.drop()
			return nil, err
		}
	}
	return g, nil
}

// drop rolls the open transaction back; the next begin applies the journal.
func (c *committer) drop() {
	if c.open != nil {
		_ = c.open.Rollback()
		c.open = nil
	}
	c.replay = true
	c.openOps = 0
}

// due reports whether the open transaction should be checkpointed now.
func (c *committer) due() bool {
	if c.open == nil {
		return c.replay
	}
	if c.openOps == 0 {
		return true // opened for reads only: let it go
	}
	return c.openOps >= c.checkpointOps || time.Since(c.firstOpAt) >= c.checkpointAge
}

// commitOpen checkpoints: the open transaction is committed with the
// number of its last group (bbolt syncs its commits, in both fsync modes:
// they are a few a second), then the journal is emptied.
func (c *committer) commitOpen() error {
	if c.open == nil && c.replay {
		if _, err := c.begin(); err != nil {
			return err
		}
	}
	if c.open == nil {
		return nil
	}
	tx := c.open
	c.open = nil
	if c.openOps == 0 {
		return tx.Rollback()
	}
	err := tx.Bucket(bucketMeta).Put(keyJournal, be64(c.seq))
	if err != nil {
		_ = tx.Rollback()
	} else {
		err = tx.Commit()
	}
	if err != nil {
		// The groups are still in the journal: the next begin applies them.
		c.replay = true
		c.openOps = 0
		return fmt.Errorf("checkpoint: %w", err)
	}
	c.openOps = 0
	c.checkpoint = c.seq
	if err := c.j.reset(); err != nil {
		// Harmless but for the file's size: its groups are skipped by number.
		c.log.Warn("kv journal not emptied after a checkpoint", "error", err)
	}
	return nil
}

// runExclusive runs fn in its own transaction; nothing is open (commitOpen
// ran). bbolt syncs the commit, as it does a checkpoint's.
func (c *committer) runExclusive(fn func(*bolt.Tx) error) error {
	return c.db.Update(func(tx *bolt.Tx) error { return safelyCall(fn, tx) })
}

// safelyCall turns a panic in fn into a panicError, which the committer
// hands to fn's caller to panic again in its own goroutine.
func safelyCall(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &panicError{v: p}
		}
	}()
	return fn(tx)
}

func safelyApply(op journalOp, g *groupTx) error {
	return safelyCall(func(*bolt.Tx) error { return op.apply(g) }, g.Tx)
}
