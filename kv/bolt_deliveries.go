package kv

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"
)

func (hb hookBuckets) delivery(id int64) (*Delivery, error) {
	v := hb.deliveries.Get(be64(uint64(id)))
	if v == nil {
		return nil, ErrNotFound
	}
	return decodeDelivery(v, hb.webhookID)
}

// putDelivery stores d (never its attempts) and moves its status key from
// the one of status from ("" for a new delivery).
func (hb hookBuckets) putDelivery(d *Delivery, from DeliveryStatus) error {
	v, err := encodeDelivery(nil, d)
	if err != nil {
		return err
	}
	if err := hb.deliveries.Put(be64(uint64(d.ID)), v); err != nil {
		return err
	}
	if from == d.Status {
		return nil
	}
	if from != "" {
		if err := hb.status.Delete(statusKey(from, d.ID)); err != nil {
			return err
		}
	}
	return hb.status.Put(statusKey(d.Status, d.ID), nil)
}

// CreateDelivery stores a new pending delivery numbered from the hooks
// bucket's sequence, or, when its event (WebhookID, EventID, EventTime;
// hookBuckets.eventDelivery) has one, overwrites d with the stored one
// and returns created false. ErrNotFound when the
// webhook does not exist. A journal operation (committer).
// With Deferred and NextAttemptAt it goes on the due list at once.
func (b *Bolt) CreateDelivery(ctx context.Context, d *Delivery) (bool, error) {
	out := b.CreateDeliveries(ctx, []*Delivery{d})[0]
	return out.Created, out.Err
}

// CreateDeliveries is CreateDelivery for each of ds, as one group of the
// committer: one journal write and one wake-up for all of them.
func (b *Bolt) CreateDeliveries(ctx context.Context, ds []*Delivery) []CreateOutcome {
	out := make([]CreateOutcome, len(ds))
	if err := b.enter(ctx); err != nil {
		for i := range out {
			out[i].Err = err
		}
		return out
	}
	now := time.Now().UTC()
	ops := make([]journalOp, 0, len(ds))
	opOf := make([]*createOp, len(ds))
	for i, d := range ds {
		if d.WebhookID == "" || d.EventID == "" {
			out[i].Err = errors.New("kv: create delivery: webhook_id and event_id are required")
			continue
		}
		op := &createOp{in: newPending(d, now)}
		opOf[i] = op
		ops = append(ops, op)
	}
	errs := b.commit.applyAll(ops)
	k := 0
	for i, op := range opOf {
		if op == nil {
			continue
		}
		err := errs[k]
		k++
		switch {
		case err != nil:
			out[i].Err = b.wrap("create delivery", err)
		case op.notFound:
			out[i].Err = ErrNotFound
		default:
			d := ds[i]
			*d = *op.stored
			d.Payload = bytes.Clone(op.stored.Payload)
			d.NextAttemptAt = cloneTime(op.stored.NextAttemptAt)
			out[i].Created = op.created
		}
	}
	return out
}

// newPending is the record CreateDelivery stores for d: pending, never
// attempted, its times in UTC (as the journal keeps them: a replay must
// write the same) and defaulting to now.
func newPending(d *Delivery, now time.Time) Delivery {
	in := *d
	in.Attempts = nil
	in.Status = DeliveryPending
	in.AttemptCount = 0
	in.CompletedAt = nil
	if in.CreatedAt.IsZero() {
		in.CreatedAt = now
	}
	if in.UpdatedAt.IsZero() {
		in.UpdatedAt = in.CreatedAt
	}
	in.CreatedAt, in.UpdatedAt, in.EventTime = in.CreatedAt.UTC(), in.UpdatedAt.UTC(), in.EventTime.UTC()
	in.NextAttemptAt = utcTime(in.NextAttemptAt)
	return in
}

// GetDelivery returns one delivery of a webhook with its attempts, oldest
// first.
func (b *Bolt) GetDelivery(ctx context.Context, webhookID string, id int64) (*Delivery, error) {
	return b.getDelivery(ctx, webhookID, id, true)
}

// DeliveryState returns one delivery of a webhook without its attempts.
func (b *Bolt) DeliveryState(ctx context.Context, webhookID string, id int64) (*Delivery, error) {
	return b.getDelivery(ctx, webhookID, id, false)
}

func (b *Bolt) getDelivery(ctx context.Context, webhookID string, id int64, withAttempts bool) (*Delivery, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	var d *Delivery
	err := b.commit.read(func(tx *bolt.Tx) (err error) {
		hb, ok := hook(tx, webhookID)
		if !ok {
			return ErrNotFound
		}
		if d, err = hb.delivery(id); err != nil || !withAttempts {
			return err
		}
		prefix := be64(uint64(id))
		c := hb.attempts.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			a, err := decodeAttempt(v)
			if err != nil {
				return err
			}
			d.Attempts = append(d.Attempts, a)
		}
		return nil
	})
	if err != nil {
		return nil, b.wrap("get delivery", err)
	}
	return d, nil
}

// ListDeliveries walks the webhook's deliveries, or its status index when
// f.Status is set, backwards (ids grow with creation: newest first). The
// total comes from the stats counters. ErrNotFound when the webhook does
// not exist.
func (b *Bolt) ListDeliveries(ctx context.Context, f DeliveryFilter) ([]*Delivery, int, error) {
	if err := b.enter(ctx); err != nil {
		return nil, 0, err
	}
	var (
		out   []*Delivery
		total int
	)
	err := b.commit.read(func(tx *bolt.Tx) error {
		hb, ok := hook(tx, f.WebhookID)
		if !ok {
			return ErrNotFound
		}
		s, err := hb.stats()
		if err != nil {
			return err
		}
		var (
			c      *bolt.Cursor
			prefix []byte
		)
		switch f.Status {
		case "":
			total = int(s.Success + s.Failed + s.Pending)
			c = hb.deliveries.Cursor()
		case DeliveryPending, DeliverySuccess, DeliveryFailed:
			total = int(map[DeliveryStatus]int64{DeliveryPending: s.Pending, DeliverySuccess: s.Success, DeliveryFailed: s.Failed}[f.Status])
			c, prefix = hb.status.Cursor(), []byte{statusByte(f.Status)}
		default:
			return nil
		}
		skipped := 0
		for k := lastWithPrefix(c, prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Prev() {
			if skipped < f.Offset {
				skipped++
				continue
			}
			if f.Limit > 0 && len(out) >= f.Limit {
				break
			}
			d, err := hb.delivery(int64(binary.BigEndian.Uint64(k[len(prefix):])))
			if err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		return nil, 0, b.wrap("list deliveries", err)
	}
	return out, total, nil
}

// RequeueDelivery moves a finished delivery back to pending for a manual
// retry: Generation+1, due now, attempts kept. ErrConflict when pending.
func (b *Bolt) RequeueDelivery(ctx context.Context, webhookID string, id int64, now time.Time) (*Delivery, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	var d *Delivery
	err := b.commit.exclusive(func(tx *bolt.Tx) (err error) {
		hb, ok := hook(tx, webhookID)
		if !ok {
			return ErrNotFound
		}
		if d, err = hb.delivery(id); err != nil {
			return err
		}
		from := d.Status
		if from == DeliveryPending {
			return ErrConflict
		}
		d.Status = DeliveryPending
		d.Generation++
		d.CompletedAt = nil
		due := now
		d.NextAttemptAt = &due
		d.UpdatedAt = now
		if err := hb.putDelivery(d, from); err != nil {
			return err
		}
		s, err := hb.stats()
		if err != nil {
			return err
		}
		s.onStatus(from, DeliveryPending, d.CreatedAt)
		return hb.putStats(s)
	})
	if err != nil {
		return nil, b.wrap("requeue delivery", err)
	}
	return d, nil
}
