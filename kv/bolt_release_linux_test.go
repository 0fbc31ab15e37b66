package kv

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

var releaseTestBucket = []byte("release-test")

// openForRelease opens a store in a temporary directory that releases its
// mapped pages every every; it is closed when the test ends.
func openForRelease(t *testing.T, every time.Duration) *Bolt {
	t.Helper()
	s, err := OpenBolt(BoltOptions{Path: filepath.Join(t.TempDir(), "kv.db"), ReleaseEvery: every})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// fillForRelease writes about mb megabytes to a scratch bucket of s.
func fillForRelease(t *testing.T, s *Bolt, mb int) {
	t.Helper()
	val := bytes.Repeat([]byte("0123456789abcdef"), 256) // 4 KiB
	for chunk := range mb {
		err := s.commit.exclusive(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists(releaseTestBucket)
			if err != nil {
				return err
			}
			for i := range 256 {
				// bbolt keeps the slice until the commit: one per value.
				v := bytes.Clone(val)
				v[0] = byte(i)
				if err := bk.Put(fmt.Appendf(nil, "%06d-%03d", chunk, i), v); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// readForRelease reads every value of the scratch bucket (mapping each of
// its pages) and returns a digest of them.
func readForRelease(t *testing.T, s *Bolt) [32]byte {
	t.Helper()
	h := sha256.New()
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(releaseTestBucket).ForEach(func(k, v []byte) error {
			h.Write(k)
			h.Write(v)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

// mappedKB is how much of the store's file mapping is resident in the
// process: the Rss of its entry in /proc/self/smaps.
func mappedKB(t *testing.T, s *Bolt) int {
	t.Helper()
	var start uintptr
	if err := s.db.View(func(*bolt.Tx) error {
		start = s.db.Info().Data
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	found := false
	for sc.Scan() {
		line := sc.Text()
		if addrs, _, ok := strings.Cut(line, " "); ok && strings.Contains(addrs, "-") {
			from, _, _ := strings.Cut(addrs, "-")
			a, err := strconv.ParseUint(from, 16, 64)
			found = err == nil && uintptr(a) == start
			continue
		}
		if rest, ok := strings.CutPrefix(line, "Rss:"); ok && found {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			if err != nil {
				t.Fatalf("smaps line %q: %v", line, err)
			}
			return kb
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	t.Fatalf("no mapping at %#x in /proc/self/smaps", start)
	return 0
}

func TestBoltReleaseMappedDropsPagesKeepsData(t *testing.T) {
	t.Parallel()
	s := openForRelease(t, time.Hour)
	fillForRelease(t, s, 32)
	sum := readForRelease(t, s)
	touched := mappedKB(t, s)
	if touched < 24<<10 {
		t.Fatalf("%d kB of the file mapped after reading 32 MB of it, want at least 24 MB", touched)
	}
	if err := s.releaseMapped(); err != nil {
		t.Fatal(err)
	}
	if left := mappedKB(t, s); left > touched/8 {
		t.Fatalf("%d kB still mapped after the release (%d kB before)", left, touched)
	}
	if readForRelease(t, s) != sum {
		t.Fatal("the values read after the release differ from those before")
	}
	// Writes go on after a release (they do not go through the mapping).
	fillForRelease(t, s, 1)
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.releaseMapped(); err != ErrClosed {
		t.Fatalf("release after Close: %v, want ErrClosed", err)
	}
}

// The background loop releases on its own.
func TestBoltReleasesMappedPagesInTheBackground(t *testing.T) {
	t.Parallel()
	s := openForRelease(t, 20*time.Millisecond)
	fillForRelease(t, s, 32)
	readForRelease(t, s)
	deadline := time.Now().Add(10 * time.Second)
	for mappedKB(t, s) > 4<<10 {
		if time.Now().After(deadline) {
			t.Fatalf("%d kB of the file still mapped 10 s after reading it", mappedKB(t, s))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Releases in a tight loop, from the background loop and by hand, while a
// writer grows the file through several remaps and a reader checks every
// value: nothing read is ever wrong, and the file checks clean.
func TestBoltReleaseWhileTheFileGrowsAndIsRead(t *testing.T) {
	t.Parallel()
	s := openForRelease(t, time.Millisecond)
	fillForRelease(t, s, 1)
	done := make(chan struct{})
	errs := make(chan error, 2)
	// loop runs step until done is closed (then sends nil) or step fails.
	loop := func(step func() error) {
		go func() {
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				if err := step(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	loop(s.releaseMapped)
	want := bytes.Repeat([]byte("0123456789abcdef"), 256)
	loop(func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			return tx.Bucket(releaseTestBucket).ForEach(func(k, v []byte) error {
				var chunk, i int
				if _, err := fmt.Sscanf(string(k), "%06d-%03d", &chunk, &i); err != nil {
					return fmt.Errorf("key %q: %w", k, err)
				}
				if v[0] != byte(i) || !bytes.Equal(v[1:], want[1:]) {
					return fmt.Errorf("value of %q is not what was written: len %d, first %q", k, len(v), v[:min(8, len(v))])
				}
				return nil
			})
		})
	})
	var before int64
	if err := s.db.View(func(tx *bolt.Tx) error { before = tx.Size(); return nil }); err != nil {
		t.Fatal(err)
	}
	fillForRelease(t, s, 24)
	close(done)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var after int64
	if err := s.db.View(func(tx *bolt.Tx) error { after = tx.Size(); return nil }); err != nil {
		t.Fatal(err)
	}
	// bbolt maps 32 KiB first and doubles the mapping up to 1 GiB: growing
	// from about 1 MB to 25 MB remaps it several times.
	if after < 16*before {
		t.Fatalf("the file grew from %d to %d bytes only", before, after)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}
