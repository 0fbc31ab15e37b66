package kv

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The journal is synced in the background in NoSync mode only; Close
// checkpoints (a sync) a last time.
func TestBoltSyncLoop(t *testing.T) {
	t.Parallel()
	s, err := OpenBolt(BoltOptions{Path: filepath.Join(t.TempDir(), "kv.db"), NoSync: true, SyncInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if s.commit.syncGroups || s.db.NoSync {
		t.Fatal("NoSync: journal groups synced, or bbolt commits not synced")
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.syncs.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("background syncs = %d after 10s, want at least 3", s.syncs.Load())
		}
		time.Sleep(time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Close syncs a last time, however long the interval.
	s1, err := OpenBolt(BoltOptions{Path: filepath.Join(t.TempDir(), "kv.db"), NoSync: true, SyncInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := s1.CreateWebhook(context.Background(), &Webhook{ID: "wh_1"}); err != nil {
		t.Fatal(err)
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	if n := s1.syncs.Load(); n != 1 {
		t.Fatalf("syncs with a 1h interval after Close = %d, want 1 (Close's)", n)
	}

	s2, err := OpenBolt(BoltOptions{Path: filepath.Join(t.TempDir(), "kv.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if !s2.commit.syncGroups || s2.db.NoSync {
		t.Fatal("without NoSync: journal groups or bbolt commits not synced")
	}
}

// Check reports counters that disagree with the indexes, so that the
// consistency check on test cleanup can fail.
func TestBoltCheckFindsDrift(t *testing.T) {
	t.Parallel()
	s := openWithWebhooks(t, "wh_1")
	ctx := context.Background()
	if _, err := s.CreateDelivery(ctx, &Delivery{WebhookID: "wh_1", EventID: "evt_1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(); err != nil {
		t.Fatalf("Check on a sound file: %v", err)
	}
	tamper := map[string]func(tx *bolt.Tx) error{
		"stats": func(tx *bolt.Tx) error {
			hb, _ := hook(tx, "wh_1")
			st, err := hb.stats()
			if err != nil {
				return err
			}
			st.Pending++
			return hb.putStats(st)
		},
		"index": func(tx *bolt.Tx) error {
			return tx.Bucket(bucketByTenant).Put([]byte("stray"), nil)
		},
	}
	for name, fn := range tamper {
		if err := s.commit.exclusive(fn); err != nil {
			t.Fatal(err)
		}
		if err := s.Check(); err == nil {
			t.Errorf("Check after tampering with %s = nil, want an error", name)
		}
		// Undo by rewriting what was tampered with.
		if err := s.commit.exclusive(func(tx *bolt.Tx) error {
			if name == "index" {
				return tx.Bucket(bucketByTenant).Delete([]byte("stray"))
			}
			hb, _ := hook(tx, "wh_1")
			st, _ := hb.stats()
			st.Pending--
			return hb.putStats(st)
		}); err != nil {
			t.Fatal(err)
		}
		if err := s.Check(); err != nil {
			t.Fatalf("Check after undoing %s: %v", name, err)
		}
	}
}

func TestBoltOptionsRefuseNegativeDurations(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "kv.db")
	for _, o := range []BoltOptions{
		{},
		{Path: path, Timeout: -1},
		{Path: path, SyncInterval: -1},
		{Path: path, CheckpointEvery: -1},
		{Path: path, CheckpointOps: -1},
		{Path: path, ReleaseEvery: -time.Second},
	} {
		if s, err := OpenBolt(o); err == nil {
			s.Close()
			t.Errorf("OpenBolt(%+v) succeeded", o)
		}
	}
}
