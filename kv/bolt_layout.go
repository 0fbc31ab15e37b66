package kv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The file's layout (schema version 3; a file upgraded from version 1 may
// still hold JSON records of deliveries and attempts, read as well, and
// one upgraded from 1 or 2 its webhooks' events buckets):
//
//	meta                          version; its sequence numbers webhook changes
//	webhooks                      id -> Webhook JSON
//	webhooks_by_created           ts|id -> nil
//	webhooks_by_tenant            len|tenant|ts|id -> nil
//	webhooks_by_partner           len|partner|ts|id -> nil
//	webhooks_by_tenant_partner    len|tenant|len|partner|ts|id -> nil
//	hooks                         its sequence numbers deliveries (1, 2, ...)
//	  <webhook id>                one bucket per webhook, dropped with it
//	    stats                     key: statCounters, varint encoded, with
//	                              the webhook's health (stats.go)
//	    deliveries                be64(id) -> Delivery record (codec.go; no
//	                              webhook id, no attempts)
//	    status                    statusByte|be64(id) -> nil
//	    events_by_time            ts|event id -> be64(id), ts the event's
//	                              time: new events land at the end, in
//	                              order, whatever their ids look like
//	    events                    event id -> be64(id): deliveries without
//	                              an event time (created by layout 1 or 2)
//	    attempts                  be64(id)|be32(n) -> Attempt record (codec.go)
//	due                           be64(unix nanos)|be64(id) -> webhook id:
//	                              deliveries whose next attempt waits here
//	                              (AttemptOutcome.Defer), soonest first
//	notices                       be64(unix nanos)|event id -> notice JSON:
//	                              webhook.auto_disabled events owed to the bus
//
// len is a uvarint length, ts is created_at as a sortable 12-byte time
// (sign-flipped be64 unix seconds, be32 nanoseconds). Lists walk an index
// backwards for newest first; totals of delivery lists come from the stats
// counters kept in the same transactions.
var (
	bucketMeta            = []byte("meta")
	bucketWebhooks        = []byte("webhooks")
	bucketByCreated       = []byte("webhooks_by_created")
	bucketByTenant        = []byte("webhooks_by_tenant")
	bucketByPartner       = []byte("webhooks_by_partner")
	bucketByTenantPartner = []byte("webhooks_by_tenant_partner")
	bucketHooks           = []byte("hooks")
	bucketDue             = []byte("due")
	bucketNotices         = []byte("notices")

	subDeliveries = []byte("deliveries")
	subStatus     = []byte("status")
	subEvents     = []byte("events")
	subEventTimes = []byte("events_by_time")
	subAttempts   = []byte("attempts")
	keyStats      = []byte("stats")
	keyVersion    = []byte("version")
)

const layoutVersion = "3"

// rootBuckets are created when missing, also in an existing file (due
// and notices came later within layout 1: they start empty). Layout 2
// differs from 1 in the records of deliveries and attempts, 3 from 2 in
// the webhooks' events_by_time buckets; an older file is upgraded when
// opened by adding those and writing version 3.
var rootBuckets = [][]byte{bucketMeta, bucketWebhooks, bucketByCreated, bucketByTenant, bucketByPartner, bucketByTenantPartner, bucketHooks, bucketDue, bucketNotices}

// initLayout creates the buckets on a new file, checks the version of an
// existing one and returns the webhook change sequence.
func initLayout(db *bolt.DB) (seq uint64, err error) {
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range rootBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		switch v := meta.Get(keyVersion); {
		case v == nil, string(v) == "1", string(v) == "2":
			// A new file, or an older one, whose JSON deliveries and
			// attempts and events buckets are still read while new ones
			// are written in the binary form and by time: the new number
			// keeps older binaries off it.
			if err := addEventTimes(tx); err != nil {
				return err
			}
			if err := meta.Put(keyVersion, []byte(layoutVersion)); err != nil {
				return err
			}
		case string(v) != layoutVersion:
			return fmt.Errorf("unsupported layout version %q", v)
		}
		seq = meta.Sequence()
		return nil
	})
	return seq, err
}

// addEventTimes gives each webhook of a file older than layout 3 its
// events_by_time bucket.
func addEventTimes(tx *bolt.Tx) error {
	hooks := tx.Bucket(bucketHooks)
	return hooks.ForEachBucket(func(id []byte) error {
		_, err := hooks.Bucket(id).CreateBucketIfNotExists(subEventTimes)
		return err
	})
}

// hookBuckets are one webhook's sub-buckets inside a transaction. events
// is nil unless the webhook was created before layout 3 or has a
// delivery without an event time.
type hookBuckets struct {
	webhookID                                              string
	root, deliveries, status, eventTimes, events, attempts *bolt.Bucket
}

// hook returns a webhook's buckets, or ok false when the webhook is gone.
func hook(tx *bolt.Tx, webhookID string) (hb hookBuckets, ok bool) {
	root := tx.Bucket(bucketHooks).Bucket([]byte(webhookID))
	if root == nil {
		return hb, false
	}
	hb = hookBuckets{
		webhookID:  webhookID,
		root:       root,
		deliveries: root.Bucket(subDeliveries),
		status:     root.Bucket(subStatus),
		eventTimes: root.Bucket(subEventTimes),
		events:     root.Bucket(subEvents),
		attempts:   root.Bucket(subAttempts),
	}
	// Deliveries, attempts and the status index (within each status) are
	// keyed by growing ids, and the events by time (publishers' clocks:
	// mostly in order), so new keys land at or near the end: split
	// full pages nearly full rather than at bbolt's default half, or
	// every page stays half empty. Keys that arrive far out of order (a
	// backlog attempted in a scrambled order) then split full pages
	// unevenly; measured, the in-order history is what dominates a file.
	hb.deliveries.FillPercent = appendFillPercent
	hb.attempts.FillPercent = appendFillPercent
	hb.status.FillPercent = appendFillPercent
	hb.eventTimes.FillPercent = appendFillPercent
	return hb, true
}

// appendFillPercent is how full a split leaves the pages of a bucket
// written mostly at its end.
const appendFillPercent = 0.9

func createHook(tx *bolt.Tx, webhookID string) error {
	root, err := tx.Bucket(bucketHooks).CreateBucket([]byte(webhookID))
	if err != nil {
		return err
	}
	for _, name := range [][]byte{subDeliveries, subStatus, subEventTimes, subAttempts} {
		if _, err := root.CreateBucket(name); err != nil {
			return err
		}
	}
	return root.Put(keyStats, (&statCounters{}).encode())
}

func (hb hookBuckets) stats() (*statCounters, error) {
	return decodeStats(hb.root.Get(keyStats))
}

// loadStats is stats into s, which the hot writes keep on their stack.
func (hb hookBuckets) loadStats(s *statCounters) error {
	return s.decode(hb.root.Get(keyStats))
}

func (hb hookBuckets) putStats(s *statCounters) error {
	return hb.root.Put(keyStats, s.encode())
}

// eventDelivery returns the be64 id of the delivery of d's event, or nil.
// An event is found by its time and id (key, eventTimeKey's); one without
// a time, and any event of a file older than layout 3, by its id.
func (hb hookBuckets) eventDelivery(d *Delivery, key []byte) []byte {
	if key != nil {
		if v := hb.eventTimes.Get(key); v != nil {
			return v
		}
	}
	if hb.events == nil {
		return nil
	}
	return hb.events.Get([]byte(d.EventID))
}

// putEvent indexes d's event. Keyed by time, a random event id (as
// publishers make them) no longer lands on a random page of the index:
// with ids keyed alone every create wrote a page of its own.
func (hb hookBuckets) putEvent(d *Delivery, key []byte) error {
	if key != nil {
		return hb.eventTimes.Put(key, be64(uint64(d.ID)))
	}
	events, err := hb.root.CreateBucketIfNotExists(subEvents)
	if err != nil {
		return err
	}
	return events.Put([]byte(d.EventID), be64(uint64(d.ID)))
}

// eventTimeKey is d's key in events_by_time, nil when d has no event time.
func eventTimeKey(d *Delivery) []byte {
	if d.EventTime.IsZero() {
		return nil
	}
	return append(appendTime(make([]byte, 0, timeKeyLen+len(d.EventID)), d.EventTime), d.EventID...)
}

func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func attemptKey(id int64, n int) []byte {
	return binary.BigEndian.AppendUint32(be64(uint64(id)), uint32(n))
}

func statusByte(s DeliveryStatus) byte {
	switch s {
	case DeliveryPending:
		return 'p'
	case DeliverySuccess:
		return 's'
	case DeliveryFailed:
		return 'f'
	}
	return 0
}

func statusKey(s DeliveryStatus, id int64) []byte {
	return binary.BigEndian.AppendUint64([]byte{statusByte(s)}, uint64(id))
}

// appendLen appends s prefixed with its uvarint length, so that prefixes
// built from several strings never collide.
func appendLen(dst []byte, s string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

// appendTime appends a 12-byte encoding of t that sorts like t.
func appendTime(dst []byte, t time.Time) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(t.Unix())^(1<<63))
	return binary.BigEndian.AppendUint32(dst, uint32(t.Nanosecond()))
}

const timeKeyLen = 12

// indexEntry is one key of one webhook index.
type indexEntry struct {
	bucket []byte
	key    []byte
}

// webhookIndexes returns every index key of w.
func webhookIndexes(w *Webhook) []indexEntry {
	tail := append(appendTime(nil, w.CreatedAt), w.ID...)
	out := []indexEntry{{bucketByCreated, tail}}
	if w.TenantID != "" {
		out = append(out, indexEntry{bucketByTenant, append(appendLen(nil, w.TenantID), tail...)})
	}
	if w.PartnerID != "" {
		out = append(out, indexEntry{bucketByPartner, append(appendLen(nil, w.PartnerID), tail...)})
	}
	if w.TenantID != "" && w.PartnerID != "" {
		k := appendLen(appendLen(nil, w.TenantID), w.PartnerID)
		out = append(out, indexEntry{bucketByTenantPartner, append(k, tail...)})
	}
	return out
}

// filterIndex returns the index bucket and key prefix that select f.
func filterIndex(f WebhookFilter) (bucket, prefix []byte) {
	switch {
	case f.TenantID != "" && f.PartnerID != "":
		return bucketByTenantPartner, appendLen(appendLen(nil, f.TenantID), f.PartnerID)
	case f.TenantID != "":
		return bucketByTenant, appendLen(nil, f.TenantID)
	case f.PartnerID != "":
		return bucketByPartner, appendLen(nil, f.PartnerID)
	}
	return bucketByCreated, nil
}

// lastWithPrefix positions c on the last key with prefix, or returns nil.
func lastWithPrefix(c *bolt.Cursor, prefix []byte) []byte {
	var k []byte
	if next := prefixEnd(prefix); next == nil {
		k, _ = c.Last()
	} else if k, _ = c.Seek(next); k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	if k == nil || !bytes.HasPrefix(k, prefix) {
		return nil
	}
	return k
}

// prefixEnd is the smallest key greater than every key with prefix, or nil
// when there is none (empty prefix, or all 0xff).
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// checkCounters verifies what bbolt cannot: every webhook has its buckets
// and index keys, and every webhook's stats agree with its status index.
func checkCounters(tx *bolt.Tx) error {
	var errs []error
	webhooks := tx.Bucket(bucketWebhooks)
	indexKeys := map[string]int{}
	err := webhooks.ForEach(func(k, v []byte) error {
		w, err := decodeWebhook(v)
		if err != nil {
			return err
		}
		for _, ix := range webhookIndexes(w) {
			indexKeys[string(ix.bucket)]++
			if tx.Bucket(ix.bucket).Get(ix.key) == nil {
				errs = append(errs, fmt.Errorf("webhook %s: missing %s key", k, ix.bucket))
			}
		}
		hb, ok := hook(tx, string(k))
		if !ok {
			errs = append(errs, fmt.Errorf("webhook %s: missing hooks bucket", k))
			return nil
		}
		if err := checkHook(string(k), hb); err != nil {
			errs = append(errs, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, name := range [][]byte{bucketByCreated, bucketByTenant, bucketByPartner, bucketByTenantPartner} {
		if n := tx.Bucket(name).Stats().KeyN; n != indexKeys[string(name)] {
			errs = append(errs, fmt.Errorf("%s holds %d keys, want %d", name, n, indexKeys[string(name)]))
		}
	}
	hooks := 0
	_ = tx.Bucket(bucketHooks).ForEachBucket(func([]byte) error {
		hooks++
		return nil
	})
	if want := webhooks.Stats().KeyN; hooks != want {
		errs = append(errs, fmt.Errorf("hooks holds %d buckets, want %d", hooks, want))
	}
	return errors.Join(errs...)
}

func checkHook(id string, hb hookBuckets) error {
	s, err := hb.stats()
	if err != nil {
		return fmt.Errorf("webhook %s: %w", id, err)
	}
	counts := map[byte]int64{}
	_ = hb.status.ForEach(func(k, _ []byte) error {
		counts[k[0]]++
		return nil
	})
	var errs []error
	for st, want := range map[DeliveryStatus]int64{DeliveryPending: s.Pending, DeliverySuccess: s.Success, DeliveryFailed: s.Failed} {
		if got := counts[statusByte(st)]; got != want {
			errs = append(errs, fmt.Errorf("webhook %s: %d %s deliveries indexed, stats say %d", id, got, st, want))
		}
	}
	total := s.Pending + s.Success + s.Failed
	if n := int64(hb.deliveries.Stats().KeyN); n != total {
		errs = append(errs, fmt.Errorf("webhook %s: %d deliveries, stats say %d", id, n, total))
	}
	events := int64(hb.eventTimes.Stats().KeyN)
	if hb.events != nil {
		events += int64(hb.events.Stats().KeyN)
	}
	if events != total {
		errs = append(errs, fmt.Errorf("webhook %s: %d event keys, stats say %d", id, events, total))
	}
	return errors.Join(errs...)
}
