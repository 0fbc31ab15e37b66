package kv

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func openRawBolt(t *testing.T) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "raw.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("b"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return db
}

// Concurrent calls all commit; a failing or panicking call gets its own
// error or panic, and does not undo the others.
func TestCommitterIsolatesFailures(t *testing.T) {
	t.Parallel()
	db := openRawBolt(t)
	c := &committer{db: db}
	errOdd := errors.New("odd")
	const n = 60
	errs := make([]error, n)
	panics := make([]any, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			defer func() { panics[i] = recover() }()
			errs[i] = c.do(func(tx *bolt.Tx) error {
				if err := tx.Bucket([]byte("b")).Put(fmt.Appendf(nil, "k%03d", i), []byte("v")); err != nil {
					return err
				}
				switch {
				case i%10 == 3:
					return errOdd
				case i%10 == 7:
					panic("boom")
				}
				return nil
			})
		})
	}
	wg.Wait()
	err := db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("b"))
		for i := range n {
			stored := b.Get(fmt.Appendf(nil, "k%03d", i)) != nil
			switch i % 10 {
			case 3:
				if !errors.Is(errs[i], errOdd) || stored {
					t.Errorf("call %d: err %v stored %v, want errOdd and nothing stored", i, errs[i], stored)
				}
			case 7:
				if panics[i] == nil || stored {
					t.Errorf("call %d: panic %v stored %v, want its panic and nothing stored", i, panics[i], stored)
				}
			default:
				if errs[i] != nil || panics[i] != nil || !stored {
					t.Errorf("call %d: err %v panic %v stored %v, want committed", i, errs[i], panics[i], stored)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.busy || len(c.queue) != 0 {
		t.Fatalf("committer left busy=%v with %d queued", c.busy, len(c.queue))
	}
}
