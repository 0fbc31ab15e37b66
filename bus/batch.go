package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"
)

// Atomic batch publishing (nats-server 2.12+, ADR-50): the messages of a
// batch carry these headers, the last one also the commit header, and the
// server stores all of them or none.
const (
	headerBatchID     = "Nats-Batch-Id"
	headerBatchSeq    = "Nats-Batch-Sequence"
	headerBatchCommit = "Nats-Batch-Commit"
)

// A batch holds at most maxAtomicBatch messages (the server's default
// limit) and about maxAtomicBatchBytes of bodies: the server copies a whole
// batch into memory to commit it, and the messages before the commit go
// without flow control, so a huge one would only be dropped and refused.
const (
	maxAtomicBatch      = 1000
	maxAtomicBatchBytes = 4 << 20
)

// nextAtomicBatch returns how many of tasks the next batch takes: at least
// one, then up to the limits above.
func nextAtomicBatch(tasks []Task) int {
	n, size := 0, 0
	for n < len(tasks) && n < maxAtomicBatch {
		size += len(tasks[n].Body)
		if n > 0 && size > maxAtomicBatchBytes {
			break
		}
		n++
	}
	return n
}

// errBatchRefused is an atomic batch the server answered it did not
// store (a message id already in the duplicate window, a limit): none of
// it was stored. A commit that got no answer is a plain error: some of it
// may be stored, and the caller publishes it all again (message ids).
var errBatchRefused = errors.New("atomic batch refused")

// useAtomicTasks reports whether tasks are published in atomic batches:
// only on the embedded server with sync always, where a batch's messages
// share one fsync instead of one each. Elsewhere a batch costs more than
// it saves (the server stages it in a scratch store first).
func (c Config) useAtomicTasks() bool { return c.embedded() && c.SyncAlways }

// publishTaskBatch stores tasks (at most maxAtomicBatch) as one atomic
// batch: every message but the last is sent without waiting, the last
// commits the batch and waits for the server's answer.
func (b *Bus) publishTaskBatch(ctx context.Context, tasks []Task) error {
	if len(tasks) == 0 {
		return nil
	}
	id := nuid.Next()
	msg := func(i int) *nats.Msg {
		m := taskMsg(ctx, &tasks[i])
		m.Header[headerBatchID] = []string{id}
		m.Header[headerBatchSeq] = []string{strconv.Itoa(i + 1)}
		return m
	}
	last := len(tasks) - 1
	for i := range last {
		if err := b.nc.PublishMsg(msg(i)); err != nil {
			return fmt.Errorf("publish task batch: %w", err)
		}
	}
	commit := msg(last)
	commit.Header[headerBatchCommit] = []string{"1"}
	rctx, cancel := context.WithTimeout(ctx, asyncAckTimeout)
	defer cancel()
	resp, err := b.nc.RequestMsgWithContext(rctx, commit)
	if err != nil {
		return fmt.Errorf("commit task batch: %w", err)
	}
	return checkBatchAck(resp, len(tasks))
}

// checkBatchAck reads the server's answer to a batch commit.
func checkBatchAck(resp *nats.Msg, want int) error {
	var ack struct {
		Error *struct {
			ErrCode     int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
		Count int `json:"count"`
	}
	if err := json.Unmarshal(resp.Data, &ack); err != nil {
		return fmt.Errorf("commit task batch: bad answer: %w", err)
	}
	if ack.Error != nil {
		return fmt.Errorf("%w: %s (%d)", errBatchRefused, ack.Error.Description, ack.Error.ErrCode)
	}
	if ack.Count != want {
		return fmt.Errorf("%w: server stored %d of %d", errBatchRefused, ack.Count, want)
	}
	return nil
}
