package kv

import (
	"errors"
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// committer is a group commit for the hot writes: calls that arrive while
// a transaction commits (and fsyncs) are run together in the next one, so
// they share its fsync. Unlike bbolt's DB.Batch it adds no delay: a lone
// caller commits at once, and batches grow only when commits are the
// bottleneck.
//
// It owns no goroutine. The caller that finds the committer idle leads:
// it runs one transaction for everything queued, then hands the lead to
// the oldest waiting caller (or goes idle), so no caller runs more than
// one batch besides its own.
//
// As with DB.Batch, fn may run more than once: in a batch that a failing
// fn rolled back, and again. It must reset what it reports on each run.
type committer struct {
	db *bolt.DB

	mu    sync.Mutex
	busy  bool
	queue []*commitCall
}

type commitCall struct {
	fn   func(*bolt.Tx) error
	done chan error // capacity 1: errLead or a result, never both pending
}

var (
	errLead = errors.New("lead the next batch")
	errSolo = errors.New("run alone")
)

func (c *committer) do(fn func(*bolt.Tx) error) error {
	call := &commitCall{fn: fn, done: make(chan error, 1)}
	c.mu.Lock()
	c.queue = append(c.queue, call)
	lead := !c.busy
	c.busy = true
	c.mu.Unlock()
	if lead {
		c.lead()
	}
	for {
		switch err := <-call.done; err {
		case errLead:
			c.lead()
		case errSolo:
			return c.db.Update(fn)
		default:
			return err
		}
	}
}

// lead runs one batch of everything queued and passes the lead on.
func (c *committer) lead() {
	c.mu.Lock()
	calls := c.queue
	c.queue = nil
	c.mu.Unlock()

	for len(calls) > 0 {
		failed := -1
		err := c.db.Update(func(tx *bolt.Tx) error {
			for i, call := range calls {
				if err := safelyCall(call.fn, tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed >= 0 {
			// The whole batch rolled back: the failing call reruns alone
			// in its own goroutine, the others in a new transaction.
			calls[failed].done <- errSolo
			calls = append(calls[:failed], calls[failed+1:]...)
			continue
		}
		for _, call := range calls {
			call.done <- err
		}
		break
	}

	c.mu.Lock()
	if len(c.queue) == 0 {
		c.busy = false
	} else {
		c.queue[0].done <- errLead
	}
	c.mu.Unlock()
}

// safelyCall turns a panic in fn into an error, so that the batch rolls
// back and fn reruns alone, panicking in its own caller's goroutine.
func safelyCall(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return fn(tx)
}
