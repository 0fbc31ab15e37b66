package kv

import (
	"context"
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"
)

// dueKey orders the due index by time, then delivery.
func dueKey(at time.Time, deliveryID int64) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 16), uint64(at.UnixNano()))
	return binary.BigEndian.AppendUint64(k, uint64(deliveryID))
}

// unschedule takes d off the due index: its deferred attempt is being made,
// or the delivery is changed otherwise.
func unschedule(tx *bolt.Tx, d *Delivery) error {
	if !d.Deferred {
		return nil
	}
	d.Deferred = false
	if d.NextAttemptAt == nil {
		return nil
	}
	return tx.Bucket(bucketDue).Delete(dueKey(*d.NextAttemptAt, d.ID))
}

// schedule puts a pending d with a next attempt on the due index.
func schedule(tx *bolt.Tx, d *Delivery) error {
	if d.Status != DeliveryPending || d.NextAttemptAt == nil {
		return nil
	}
	d.Deferred = true
	return tx.Bucket(bucketDue).Put(dueKey(*d.NextAttemptAt, d.ID), []byte(d.WebhookID))
}

// DueDeliveries implements Store.
func (b *Bolt) DueDeliveries(ctx context.Context, until time.Time, limit int) ([]Due, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	end := uint64(until.UnixNano())
	var out []Due
	err := b.commit.read(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketDue).Cursor()
		for k, v := c.First(); k != nil && len(out) < limit; k, v = c.Next() {
			if len(k) != 16 {
				continue // not ours: never written by this layout
			}
			at := binary.BigEndian.Uint64(k[:8])
			if at > end {
				break
			}
			out = append(out, Due{
				WebhookID:  string(v),
				DeliveryID: int64(binary.BigEndian.Uint64(k[8:])),
				At:         time.Unix(0, int64(at)).UTC(),
			})
		}
		return nil
	})
	if err != nil {
		return nil, b.wrap("list due deliveries", err)
	}
	return out, nil
}

// ClearDue implements Store.
func (b *Bolt) ClearDue(ctx context.Context, due []Due) error {
	keys := make([][]byte, len(due))
	for i, d := range due {
		keys[i] = dueKey(d.At, d.DeliveryID)
	}
	return b.deleteKeys(ctx, "clear due deliveries", bucketDue, keys)
}

// deleteKeys removes keys from a root bucket as one journal operation (keys
// already gone are no error).
func (b *Bolt) deleteKeys(ctx context.Context, op string, bucket []byte, keys [][]byte) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	err := b.commit.apply(&deleteOp{bucket: bucket, keys: keys})
	return b.wrap(op, err)
}
