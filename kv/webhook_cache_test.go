package kv

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A webhook taken from the cache is the webhook its bytes decode to: a
// disabling attempt that hits the cache writes the record a miss (or a
// replay, which never uses the cache) would write.
func TestWebhookCacheHitWritesWhatAMissWould(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := OpenBolt(BoltOptions{Path: filepath.Join(t.TempDir(), "kv.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w := &Webhook{ID: "wh_1", URL: "https://example.com", Events: []string{}, Status: WebhookActive}
	if err := s.CreateWebhook(ctx, w); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for i := range 2 {
		d := &Delivery{WebhookID: "wh_1", EventID: fmt.Sprintf("evt_%d", i), EventType: "user.created"}
		if _, err := s.CreateDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.ID)
	}
	now := time.Now().UTC()
	// The first attempt decodes the webhook and caches it; the second,
	// a 410 Gone that disables it, takes it from the cache and stores it.
	if _, err := s.RecordAttempt(ctx, AttemptOutcome{WebhookID: "wh_1", DeliveryID: ids[0],
		Attempt: Attempt{StartedAt: now, StatusCode: 500}, Final: true}); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.hooks.m["wh_1"]; !ok {
		t.Fatal("the attempt did not cache its webhook")
	}
	if _, err := s.RecordAttempt(ctx, AttemptOutcome{WebhookID: "wh_1", DeliveryID: ids[1],
		Attempt: Attempt{StartedAt: now, StatusCode: 410}, Final: true, DisableReason: "gone"}); err != nil {
		t.Fatal(err)
	}
	var stored []byte
	if err := s.commit.read(func(tx *bolt.Tx) error {
		stored = bytes.Clone(tx.Bucket(bucketWebhooks).Get([]byte("wh_1")))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"events":[]`, `"status":"disabled"`} {
		if !bytes.Contains(stored, []byte(want)) {
			t.Errorf("record written from the cache lacks %s: %s", want, stored)
		}
	}
}

// The cache holds at most webhookCacheMax webhooks, the newest always.
func TestWebhookCacheIsBounded(t *testing.T) {
	t.Parallel()
	var c webhookCache
	for i := range webhookCacheMax + 10 {
		c.put(fmt.Sprintf("wh_%d", i), []byte("{}"), &Webhook{})
	}
	if n := len(c.m); n != webhookCacheMax {
		t.Fatalf("%d entries, want %d", n, webhookCacheMax)
	}
	if _, ok := c.m[fmt.Sprintf("wh_%d", webhookCacheMax+9)]; !ok {
		t.Fatal("the newest entry was evicted")
	}
}
