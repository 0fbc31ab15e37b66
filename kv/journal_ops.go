package kv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// journalOp is a hot write: the committer applies it to its open
// transaction, as one of a group (groupTx), and journals its encoding.
// Applying the decoded operation again to the state it first met must
// write exactly the same, so apply depends only on the operation and the
// transaction (times are part of the operation, ids come from bucket
// sequences), and results that are not errors (stale, not found) are
// reported on the op, not returned.
type journalOp interface {
	apply(g *groupTx) error
	// encode appends the operation's kind byte and fields.
	encode(buf []byte) ([]byte, error)
}

// Operation kinds, the first byte of an encoded operation.
const (
	opCreateDelivery byte = 'c'
	opRecordAttempt  byte = 'a'
	opDeleteKeys     byte = 'd'
)

// opDecoders reads an operation by its kind byte (the rest of its bytes).
var opDecoders = map[byte]func([]byte) (journalOp, error){
	opCreateDelivery: decodeCreateOp,
	opRecordAttempt:  decodeAttemptOp,
	opDeleteKeys:     decodeDeleteOp,
}

func decodeOp(b []byte) (journalOp, error) {
	if len(b) == 0 {
		return nil, errors.New("empty journal operation")
	}
	dec, ok := opDecoders[b[0]]
	if !ok {
		return nil, fmt.Errorf("unknown journal operation %q", b[0])
	}
	return dec(b[1:])
}

// createOp is CreateDelivery's write.
type createOp struct {
	in Delivery // pending, no id: the hooks bucket's sequence numbers it

	stored            *Delivery
	created, notFound bool
}

func (op *createOp) apply(g *groupTx) error {
	op.stored, op.created, op.notFound = nil, false, false
	tx := g.Tx
	hb, ok := hook(tx, op.in.WebhookID)
	if !ok {
		op.notFound = true
		return nil
	}
	key := eventTimeKey(&op.in)
	if v := hb.eventDelivery(&op.in, key); v != nil {
		var err error
		op.stored, err = hb.delivery(int64(binary.BigEndian.Uint64(v)))
		return err
	}
	seq, err := tx.Bucket(bucketHooks).NextSequence()
	if err != nil {
		return err
	}
	rec := op.in
	rec.ID = int64(seq)
	rec.Deferred = false
	if op.in.Deferred {
		if err := schedule(tx, &rec); err != nil {
			return err
		}
	}
	if err := hb.putDelivery(&rec, ""); err != nil {
		return err
	}
	if err := hb.putEvent(&rec, key); err != nil {
		return err
	}
	s, err := g.statsOf(hb)
	if err != nil {
		return err
	}
	s.onCreate(rec.CreatedAt)
	op.stored, op.created = &rec, true
	return nil
}

func (op *createOp) encode(buf []byte) ([]byte, error) {
	w := recWriter{b: append(buf, opCreateDelivery)}
	w.str(op.in.WebhookID)
	// The delivery's record is the rest of the operation: appended in
	// place, not built apart and copied.
	return encodeDelivery(w.b, &op.in)
}

func decodeCreateOp(b []byte) (journalOp, error) {
	r := recReader{b: b}
	webhookID := r.str()
	if r.err != nil {
		return nil, fmt.Errorf("decode create: %w", r.err)
	}
	d, err := decodeDelivery(r.b, webhookID)
	if err != nil {
		return nil, err
	}
	return &createOp{in: *d}, nil
}

// attemptOp is RecordAttempt's write.
type attemptOp struct {
	o     AttemptOutcome
	now   time.Time
	hooks *webhookCache // nil when replayed: decode the webhook

	res    *AttemptResult
	ticket uint64
}

func (op *attemptOp) apply(g *groupTx) (err error) {
	op.res, op.ticket, err = applyAttempt(g, op.o, op.now, op.hooks)
	return err
}

// Flag bits of an encoded attempt outcome.
const (
	outcomeSuccess = 1 << iota
	outcomeFinal
	outcomeDefer
	outcomeSkipped
	outcomeNextAttempt
)

func (op *attemptOp) encode(buf []byte) ([]byte, error) {
	o := &op.o
	flags := bit(o.Success, outcomeSuccess) | bit(o.Final, outcomeFinal) | bit(o.Defer, outcomeDefer) |
		bit(o.Skipped, outcomeSkipped) | bit(o.NextAttemptAt != nil, outcomeNextAttempt)
	w := recWriter{b: append(buf, opRecordAttempt, flags)}
	w.str(o.WebhookID)
	w.int(o.DeliveryID)
	w.int(int64(o.Generation))
	a, err := encodeAttempt(nil, &o.Attempt)
	if err != nil {
		return nil, err
	}
	w.bytes(a)
	if o.NextAttemptAt != nil {
		w.time(*o.NextAttemptAt)
	}
	w.str(o.DisableReason)
	w.int(int64(o.AutoDisableAfter))
	w.str(o.NoticeID)
	w.time(op.now)
	return w.b, nil
}

func bit(set bool, b byte) byte {
	if set {
		return b
	}
	return 0
}

func decodeAttemptOp(b []byte) (journalOp, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("decode attempt outcome: %w", errShortRecord)
	}
	flags := b[0]
	r := recReader{b: b[1:]}
	op := &attemptOp{}
	o := &op.o
	o.Success = flags&outcomeSuccess != 0
	o.Final = flags&outcomeFinal != 0
	o.Defer = flags&outcomeDefer != 0
	o.Skipped = flags&outcomeSkipped != 0
	o.WebhookID = r.str()
	o.DeliveryID = r.int()
	o.Generation = r.smallInt()
	rec := r.raw()
	if flags&outcomeNextAttempt != 0 {
		t := r.time()
		o.NextAttemptAt = &t
	}
	o.DisableReason = r.str()
	o.AutoDisableAfter = r.smallInt()
	o.NoticeID = r.str()
	op.now = r.time()
	if err := r.end(); err != nil {
		return nil, fmt.Errorf("decode attempt outcome: %w", err)
	}
	a, err := decodeAttempt(rec)
	if err != nil {
		return nil, err
	}
	o.Attempt = a
	return op, nil
}

// deleteOp removes keys from a root bucket (ClearDue, ClearNotices); keys
// already gone are no error.
type deleteOp struct {
	bucket []byte
	keys   [][]byte
}

func (op *deleteOp) apply(g *groupTx) error {
	bk := g.Bucket(op.bucket)
	if bk == nil {
		return fmt.Errorf("no bucket %q", op.bucket)
	}
	for _, k := range op.keys {
		if err := bk.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

func (op *deleteOp) encode(buf []byte) ([]byte, error) {
	w := recWriter{b: append(buf, opDeleteKeys)}
	w.bytes(op.bucket)
	w.uint(uint64(len(op.keys)))
	for _, k := range op.keys {
		w.bytes(k)
	}
	return w.b, nil
}

func decodeDeleteOp(b []byte) (journalOp, error) {
	r := recReader{b: b}
	op := &deleteOp{bucket: r.bytes()}
	n := r.uint()
	if n > uint64(len(b)) {
		return nil, fmt.Errorf("decode delete keys: %w", errShortRecord)
	}
	for i := uint64(0); i < n && r.err == nil; i++ {
		op.keys = append(op.keys, r.bytes())
	}
	if err := r.end(); err != nil {
		return nil, fmt.Errorf("decode delete keys: %w", err)
	}
	return op, nil
}
