package kv

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// noticeKey orders notices by when they were written.
func noticeKey(n AutoDisabledNotice) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(n.EventID)), uint64(n.At.UnixNano()))
	return append(k, n.EventID...)
}

func putNotice(tx *bolt.Tx, n AutoDisabledNotice) error {
	v, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("encode notice: %w", err)
	}
	return tx.Bucket(bucketNotices).Put(noticeKey(n), v)
}

// Notices implements Store.
func (b *Bolt) Notices(ctx context.Context, limit int) ([]AutoDisabledNotice, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	var out []AutoDisabledNotice
	err := b.commit.read(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketNotices).Cursor()
		for k, v := c.First(); k != nil && len(out) < limit; k, v = c.Next() {
			var n AutoDisabledNotice
			if err := json.Unmarshal(v, &n); err != nil {
				// Left in place (never deleted unread), and not allowed
				// to hold back the others.
				b.log.Error("skipping undecodable auto-disabled notice", "key", fmt.Sprintf("%x", k), "error", err)
				continue
			}
			out = append(out, n)
		}
		return nil
	})
	if err != nil {
		return nil, b.wrap("list notices", err)
	}
	return out, nil
}

// ClearNotices implements Store.
func (b *Bolt) ClearNotices(ctx context.Context, notices []AutoDisabledNotice) error {
	keys := make([][]byte, len(notices))
	for i, n := range notices {
		keys[i] = noticeKey(n)
	}
	return b.deleteKeys(ctx, "clear notices", bucketNotices, keys)
}
