package kv

import (
	"bytes"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// webhookCache keeps the decoded webhooks of recorded attempts, each with
// the record bytes it was decoded from. Every attempt reads its webhook
// (its status, its health's revision): decoding that JSON was 6 % of the
// daemon's CPU at full load. An entry is used only while the stored bytes
// are still exactly its own, so a change made any other way (an admin
// update, a replayed journal) is simply a miss; a hit decodes to the same
// webhook as the bytes would (Clone keeps empty lists empty).
type webhookCache struct {
	mu sync.Mutex
	m  map[string]cachedWebhook
}

type cachedWebhook struct {
	raw []byte   // the record as stored; never written to
	w   *Webhook // decoded from raw; handed out as clones only
}

// webhookCacheMax bounds the cache: past it, an entry makes room for the
// next. Attempts of more webhooks than this at once miss more often.
const webhookCacheMax = 4096

// get returns a private copy of the webhook stored under id in tx. A nil
// cache decodes every time.
func (c *webhookCache) get(tx *bolt.Tx, id string) (*Webhook, error) {
	v := tx.Bucket(bucketWebhooks).Get([]byte(id))
	if v == nil {
		return nil, ErrNotFound
	}
	if c == nil {
		return decodeWebhook(v)
	}
	c.mu.Lock()
	e, ok := c.m[id]
	c.mu.Unlock()
	if ok && bytes.Equal(e.raw, v) {
		return e.w.Clone(), nil
	}
	w, err := decodeWebhook(v)
	if err != nil {
		return nil, err
	}
	// v may be bbolt's mapped memory, valid only in tx: keep a copy.
	c.put(id, bytes.Clone(v), w.Clone())
	return w, nil
}

// put remembers w as the decoding of raw, which the caller hands over.
func (c *webhookCache) put(id string, raw []byte, w *Webhook) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]cachedWebhook)
	}
	if _, ok := c.m[id]; !ok && len(c.m) >= webhookCacheMax {
		for other := range c.m { // any one: map order is random
			delete(c.m, other)
			break
		}
	}
	c.m[id] = cachedWebhook{raw: raw, w: w}
}
