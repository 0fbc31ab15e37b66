package kv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// decodeWebhook copies a stored webhook out of the transaction's memory.
func decodeWebhook(v []byte) (*Webhook, error) {
	w := &Webhook{}
	if err := json.Unmarshal(v, w); err != nil {
		return nil, fmt.Errorf("decode webhook: %w", err)
	}
	return w, nil
}

// getWebhook returns the stored webhook with its health.
func getWebhook(tx *bolt.Tx, id string) (*Webhook, error) {
	v := tx.Bucket(bucketWebhooks).Get([]byte(id))
	if v == nil {
		return nil, ErrNotFound
	}
	return loadWebhook(tx, v)
}

// loadWebhook decodes a stored webhook record and puts in its health from
// its stats record (statCounters.Health).
func loadWebhook(tx *bolt.Tx, v []byte) (*Webhook, error) {
	w, err := decodeWebhook(v)
	if err != nil {
		return nil, err
	}
	var s statCounters
	if err := loadHookStats(tx, w.ID, &s); err != nil {
		return nil, err
	}
	s.healthOf(w)
	return w, nil
}

// loadHookStats reads the stats record of webhook id into s; a webhook
// without its bucket (Check reports that) reads as all zero.
func loadHookStats(tx *bolt.Tx, id string, s *statCounters) error {
	root := tx.Bucket(bucketHooks).Bucket([]byte(id))
	if root == nil {
		*s = statCounters{}
		return nil
	}
	if err := s.decode(root.Get(keyStats)); err != nil {
		return fmt.Errorf("webhook %q: %w", id, err)
	}
	return nil
}

// putHealth keeps w's health in its stats record.
func putHealth(tx *bolt.Tx, w *Webhook) error {
	hb, ok := hook(tx, w.ID)
	if !ok {
		return fmt.Errorf("webhook %q has no hooks bucket", w.ID)
	}
	var s statCounters
	if err := hb.loadStats(&s); err != nil {
		return err
	}
	s.setHealth(w)
	return hb.putStats(&s)
}

// putWebhook stores w under a new ticket (its Revision) and moves its index
// keys from those of old (nil for a new webhook).
func putWebhook(tx *bolt.Tx, old, w *Webhook) (ticket uint64, err error) {
	if ticket, _, err = storeWebhook(tx, w); err != nil {
		return 0, err
	}
	var oldIx []indexEntry
	if old != nil {
		oldIx = webhookIndexes(old)
	}
	return ticket, moveIndexes(tx, oldIx, webhookIndexes(w))
}

// storeWebhook stores w's record under a new ticket (its Revision),
// leaving the indexes as they are, and returns the ticket and the record.
func storeWebhook(tx *bolt.Tx, w *Webhook) (ticket uint64, rec []byte, err error) {
	if ticket, err = nextTicket(tx); err != nil {
		return 0, nil, err
	}
	w.Revision = ticket
	rec, err = json.Marshal(w)
	if err != nil {
		return 0, nil, fmt.Errorf("encode webhook: %w", err)
	}
	if err := tx.Bucket(bucketWebhooks).Put([]byte(w.ID), rec); err != nil {
		return 0, nil, err
	}
	return ticket, rec, nil
}

// moveIndexes deletes the keys of from that are not in to and puts the
// keys of to that are not in from (from's were stored with the old record).
func moveIndexes(tx *bolt.Tx, from, to []indexEntry) error {
	for _, o := range from {
		if !containsIndex(to, o) {
			if err := tx.Bucket(o.bucket).Delete(o.key); err != nil {
				return err
			}
		}
	}
	for _, n := range to {
		if containsIndex(from, n) {
			// Already there: a Put would still rewrite its page.
			continue
		}
		if err := tx.Bucket(n.bucket).Put(n.key, nil); err != nil {
			return err
		}
	}
	return nil
}

func containsIndex(entries []indexEntry, e indexEntry) bool {
	for _, o := range entries {
		if bytes.Equal(o.bucket, e.bucket) && bytes.Equal(o.key, e.key) {
			return true
		}
	}
	return false
}

// CreateWebhook stores w; ErrConflict when its ID is taken. w.Revision is
// set to the stored revision.
func (b *Bolt) CreateWebhook(ctx context.Context, w *Webhook) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	if w.ID == "" {
		return errors.New("kv: create webhook: id is required")
	}
	rec := w.Clone()
	var ticket uint64
	err := b.commit.exclusive(func(tx *bolt.Tx) (err error) {
		if tx.Bucket(bucketWebhooks).Get([]byte(rec.ID)) != nil {
			return ErrConflict
		}
		if ticket, err = putWebhook(tx, nil, rec); err != nil {
			return err
		}
		if err := createHook(tx, rec.ID); err != nil {
			return err
		}
		return putHealth(tx, rec)
	})
	if err != nil {
		return b.wrap("create webhook", err)
	}
	b.pub.publish(ticket, rec.ID, rec)
	w.Revision = rec.Revision
	return nil
}

// GetWebhook returns one webhook or ErrNotFound.
func (b *Bolt) GetWebhook(ctx context.Context, id string) (*Webhook, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	var w *Webhook
	err := b.commit.read(func(tx *bolt.Tx) (err error) {
		w, err = getWebhook(tx, id)
		return err
	})
	if err != nil {
		return nil, b.wrap("get webhook", err)
	}
	return w, nil
}

// fnError carries an error from UpdateWebhook's fn through the transaction
// so that it is returned as is.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

// UpdateWebhook calls fn on a copy of the stored webhook and stores the
// result, all in one write transaction (so no compare-and-swap retry is
// ever needed). fn cannot change the ID.
func (b *Bolt) UpdateWebhook(ctx context.Context, id string, fn func(*Webhook) error) (*Webhook, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	var (
		w      *Webhook
		ticket uint64
	)
	err := b.commit.exclusive(func(tx *bolt.Tx) error {
		old, err := getWebhook(tx, id)
		if err != nil {
			return err
		}
		w = old.Clone()
		if err := fn(w); err != nil {
			return fnError{err}
		}
		w.ID = id
		if ticket, err = putWebhook(tx, old, w); err != nil {
			return err
		}
		return putHealth(tx, w)
	})
	if fe, ok := err.(fnError); ok {
		return nil, fe.err
	}
	if err != nil {
		return nil, b.wrap("update webhook", err)
	}
	b.pub.publish(ticket, id, w)
	return w.Clone(), nil
}

// DeleteWebhook removes a webhook, its index keys and its bucket of
// deliveries, attempts, idempotency keys and stats.
func (b *Bolt) DeleteWebhook(ctx context.Context, id string) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	var ticket uint64
	err := b.commit.exclusive(func(tx *bolt.Tx) error {
		old, err := getWebhook(tx, id)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketWebhooks).Delete([]byte(id)); err != nil {
			return err
		}
		if err := moveIndexes(tx, webhookIndexes(old), nil); err != nil {
			return err
		}
		if err := tx.Bucket(bucketHooks).DeleteBucket([]byte(id)); err != nil {
			return err
		}
		ticket, err = nextTicket(tx)
		return err
	})
	if err != nil {
		return b.wrap("delete webhook", err)
	}
	b.pub.publish(ticket, id, nil)
	return nil
}

// ListWebhooks walks the index that f selects backwards (newest first),
// decoding only the page's webhooks; the total counts index keys.
func (b *Bolt) ListWebhooks(ctx context.Context, f WebhookFilter) ([]*Webhook, int, error) {
	if err := b.enter(ctx); err != nil {
		return nil, 0, err
	}
	name, prefix := filterIndex(f)
	var (
		out   []*Webhook
		total int
	)
	err := b.commit.read(func(tx *bolt.Tx) error {
		webhooks := tx.Bucket(bucketWebhooks)
		c := tx.Bucket(name).Cursor()
		for k := lastWithPrefix(c, prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Prev() {
			total++
			if total <= f.Offset || (f.Limit > 0 && len(out) >= f.Limit) {
				continue
			}
			id := k[len(prefix)+timeKeyLen:]
			v := webhooks.Get(id)
			if v == nil {
				return fmt.Errorf("index %s names missing webhook %q", name, id)
			}
			w, err := loadWebhook(tx, v)
			if err != nil {
				return err
			}
			out = append(out, w)
		}
		return nil
	})
	if err != nil {
		return nil, 0, b.wrap("list webhooks", err)
	}
	return out, total, nil
}
