package kv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// putOp is a journal operation for the committer's own tests: it puts its
// key in bucket "b", then fails or panics when told to, after writing.
type putOp struct {
	key  string
	fail string // "", "error" or "panic"
}

const opTestPut byte = 't'

var errPutOp = errors.New("put op told to fail")

func init() {
	opDecoders[opTestPut] = func(b []byte) (journalOp, error) {
		r := recReader{b: b}
		op := &putOp{key: r.str(), fail: r.str()}
		return op, r.end()
	}
}

func (op *putOp) apply(g *groupTx) error {
	if err := g.Bucket([]byte("b")).Put([]byte(op.key), []byte("v")); err != nil {
		return err
	}
	switch op.fail {
	case "error":
		return errPutOp
	case "panic":
		panic("boom")
	}
	return nil
}

func (op *putOp) encode(buf []byte) ([]byte, error) {
	w := recWriter{b: append(buf, opTestPut)}
	w.str(op.key)
	w.str(op.fail)
	return w.b, nil
}

// openCommitter returns a committer on a raw bbolt file with bucket "b"
// and its journal, which checkpoints only when asked (or at ops).
func openCommitter(t *testing.T, dir string, ops int) *committer {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, "raw.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, name := range []string{"b", string(bucketMeta)} {
			if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	j, err := openJournal(filepath.Join(dir, "raw.db-journal"))
	if err != nil {
		t.Fatal(err)
	}
	c := &committer{
		db: db, j: j, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		syncGroups: true, checkpointOps: ops, checkpointAge: time.Hour, replay: true,
	}
	t.Cleanup(func() {
		_ = c.flush() // bbolt's Close waits for the open transaction
		_ = j.close()
		_ = db.Close()
	})
	if err := c.flush(); err != nil {
		t.Fatal(err)
	}
	return c
}

func storedKeys(t *testing.T, c *committer) map[string]bool {
	t.Helper()
	keys := map[string]bool{}
	if err := c.read(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("b")).ForEach(func(k, _ []byte) error {
			keys[string(k)] = true
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	return keys
}

// Concurrent operations all apply; a failing or panicking one gets its
// own error or panic, and neither its writes nor the undoing of them
// touch the others (in its group or journaled before it).
func TestCommitterIsolatesFailures(t *testing.T) {
	t.Parallel()
	c := openCommitter(t, t.TempDir(), 1<<20)
	const n = 60
	errs := make([]error, n)
	panics := make([]any, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			defer func() { panics[i] = recover() }()
			op := &putOp{key: fmt.Sprintf("k%03d", i)}
			switch i % 10 {
			case 3:
				op.fail = "error"
			case 7:
				op.fail = "panic"
			}
			errs[i] = c.apply(op)
		})
	}
	wg.Wait()
	check := func(when string) {
		keys := storedKeys(t, c)
		for i := range n {
			stored := keys[fmt.Sprintf("k%03d", i)]
			switch i % 10 {
			case 3:
				if !errors.Is(errs[i], errPutOp) || stored {
					t.Errorf("%s: op %d: err %v stored %v, want errPutOp and nothing stored", when, i, errs[i], stored)
				}
			case 7:
				if panics[i] == nil || stored {
					t.Errorf("%s: op %d: panic %v stored %v, want its panic and nothing stored", when, i, panics[i], stored)
				}
			default:
				if errs[i] != nil || panics[i] != nil || !stored {
					t.Errorf("%s: op %d: err %v panic %v stored %v, want applied", when, i, errs[i], panics[i], stored)
				}
			}
		}
	}
	check("before the checkpoint")
	if err := c.flush(); err != nil {
		t.Fatal(err)
	}
	check("after the checkpoint")
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.busy || len(c.queue) != 0 {
		t.Fatalf("committer left busy=%v with %d queued", c.busy, len(c.queue))
	}
}

// crashImage copies the file and its journal in dir to a new directory as
// they are now: what a process killed at this moment leaves on disk (its
// writes are in the page cache).
func crashImage(t *testing.T, dir string) string {
	t.Helper()
	crash := t.TempDir()
	for _, name := range []string{"raw.db", "raw.db-journal"} {
		copyFile(t, filepath.Join(dir, name), filepath.Join(crash, name))
	}
	return crash
}

// copyFile copies src to dst as it is now.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Answered operations not yet checkpointed are in the journal only; a
// copy of the files taken then (a crash) opens with all of them, and a
// checkpoint empties the journal and records its last group.
func TestCommitterJournalSurvivesACrash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := openCommitter(t, dir, 1<<20)
	for i := range 5 {
		if err := c.apply(&putOp{key: fmt.Sprintf("a%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.flush(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "raw.db-journal")); err != nil || fi.Size() != 0 {
		t.Fatalf("journal after a checkpoint: %v, %v; want empty", fi.Size(), err)
	}
	for i := range 5 {
		if err := c.apply(&putOp{key: fmt.Sprintf("b%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	crash := crashImage(t, dir)

	c2 := openCommitter(t, crash, 1<<20)
	keys := storedKeys(t, c2)
	for _, k := range []string{"a0", "a4", "b0", "b4"} {
		if !keys[k] {
			t.Errorf("after the crash: %s missing", k)
		}
	}
	if len(keys) != 10 {
		t.Errorf("after the crash: %d keys, want 10", len(keys))
	}
	// Opening applied the journal and checkpointed: the file alone has it.
	if err := c2.db.View(func(tx *bolt.Tx) error {
		if n := tx.Bucket([]byte("b")).Stats().KeyN; n != 10 {
			t.Errorf("file after reopening: %d keys, want 10", n)
		}
		// Ten groups: each apply above waited for its answer.
		if v := tx.Bucket(bucketMeta).Get(keyJournal); binary.BigEndian.Uint64(v) != 10 {
			t.Errorf("journal group of the checkpoint: %d, want 10", binary.BigEndian.Uint64(v))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Groups go on numbering after the replayed ones.
	if err := c2.apply(&putOp{key: "c"}); err != nil {
		t.Fatal(err)
	}
	if c2.seq != 11 {
		t.Errorf("next group numbered %d, want 11", c2.seq)
	}
}

// A group cut short (the process died while writing it) ends the journal:
// the whole groups before it are applied, the file is cut after them, and
// the next group is appended where the torn one started.
func TestCommitterDropsATornGroup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := openCommitter(t, dir, 1<<20)
	for _, k := range []string{"x", "y"} {
		if err := c.apply(&putOp{key: k}); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "raw.db-journal")
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, cut := range []int{1, 7, 9, 14} {
		t.Run(fmt.Sprintf("cut %d", cut), func(t *testing.T) {
			crash := t.TempDir()
			copyFile(t, filepath.Join(dir, "raw.db"), filepath.Join(crash, "raw.db"))
			if err := os.WriteFile(filepath.Join(crash, "raw.db-journal"), whole[:len(whole)-cut], 0o600); err != nil {
				t.Fatal(err)
			}
			c2 := openCommitter(t, crash, 1<<20)
			if keys := storedKeys(t, c2); !keys["x"] || keys["y"] || len(keys) != 1 {
				t.Fatalf("keys after a torn second group: %v, want only x", keys)
			}
		})
	}
	// A flipped bit fails the group's checksum the same way.
	crash := t.TempDir()
	copyFile(t, filepath.Join(dir, "raw.db"), filepath.Join(crash, "raw.db"))
	flipped := append([]byte(nil), whole...)
	flipped[len(flipped)-2] ^= 1
	if err := os.WriteFile(filepath.Join(crash, "raw.db-journal"), flipped, 0o600); err != nil {
		t.Fatal(err)
	}
	c3 := openCommitter(t, crash, 1<<20)
	if keys := storedKeys(t, c3); !keys["x"] || keys["y"] {
		t.Fatalf("keys after a corrupt second group: %v, want only x", keys)
	}
}

// Reads see every answered operation before its checkpoint, and an
// exclusive write commits them first.
func TestCommitterReadsAndExclusiveWritesSeeTheJournal(t *testing.T) {
	t.Parallel()
	c := openCommitter(t, t.TempDir(), 1<<20)
	if err := c.apply(&putOp{key: "hot"}); err != nil {
		t.Fatal(err)
	}
	if !storedKeys(t, c)["hot"] {
		t.Fatal("read does not see an answered operation")
	}
	if err := c.exclusive(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte("b")).Get([]byte("hot")) == nil {
			return errors.New("exclusive write does not see the operation")
		}
		return tx.Bucket([]byte("b")).Put([]byte("cold"), []byte("v"))
	}); err != nil {
		t.Fatal(err)
	}
	if c.open != nil {
		t.Fatal("a transaction is open after the exclusive write")
	}
	if err := c.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte("b")).Get([]byte("hot")) == nil || tx.Bucket([]byte("b")).Get([]byte("cold")) == nil {
			return errors.New("file lacks the operation or the exclusive write")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// The open transaction is committed once it holds checkpointOps operations.
func TestCommitterCheckpointsAtOps(t *testing.T) {
	t.Parallel()
	c := openCommitter(t, t.TempDir(), 3)
	for i := range 3 {
		if err := c.apply(&putOp{key: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if c.open != nil || c.checkpoint != c.seq {
		t.Fatalf("after 3 operations: open %v, checkpoint %d of %d; want committed", c.open != nil, c.checkpoint, c.seq)
	}
}

// Writers racing close end with ErrClosed, and nothing is left open for
// bbolt's Close to wait on; what was answered is in the file.
func TestCommitterCloseUnderWriters(t *testing.T) {
	t.Parallel()
	c := openCommitter(t, t.TempDir(), 1<<20)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		answered []string
	)
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				k := fmt.Sprintf("w%d-%d", w, i)
				err := c.apply(&putOp{key: k})
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				answered = append(answered, k)
				mu.Unlock()
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	if err := c.close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if c.open != nil {
		t.Fatal("a transaction is open after close")
	}
	if err := c.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("b"))
		for _, k := range answered {
			if b.Get([]byte(k)) == nil {
				return fmt.Errorf("answered %s is not in the file", k)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(answered) == 0 {
		t.Fatal("no write was answered before close")
	}
}

// flakyOp applies once and fails on every later apply: a rebuild that
// re-applies it fails half-way.
type flakyOp struct {
	putOp
	applied *int
}

func (op *flakyOp) apply(g *groupTx) error {
	*op.applied++
	if *op.applied > 1 {
		if err := g.Bucket([]byte("b")).Put([]byte(op.key+"-again"), []byte("v")); err != nil {
			return err
		}
		return errors.New("flaky op failed on its second apply")
	}
	return op.putOp.apply(g)
}

// When the rebuild after a failing operation fails too, nothing of the
// group stays in the transaction: no caller is answered nil, the failing
// one gets its own error, and the next write starts from the journal.
func TestCommitterFailedRebuildDropsTheGroup(t *testing.T) {
	t.Parallel()
	c := openCommitter(t, t.TempDir(), 1<<20)
	if err := c.apply(&putOp{key: "before"}); err != nil {
		t.Fatal(err)
	}
	applied := 0
	calls := []*commitCall{
		{kind: callOp, op: &flakyOp{putOp: putOp{key: "flaky"}, applied: &applied}, done: make(chan error, 1)},
		{kind: callOp, op: &putOp{key: "failing", fail: "error"}, done: make(chan error, 1)},
		{kind: callOp, op: &putOp{key: "after"}, done: make(chan error, 1)},
	}
	c.mu.Lock()
	c.busy = true
	c.mu.Unlock()
	c.runGroup(calls)
	c.mu.Lock()
	c.busy = false
	c.mu.Unlock()
	for i, call := range calls {
		err := <-call.done
		if err == nil {
			t.Errorf("call %d answered nil after its group was dropped", i)
		}
		if i == 1 && !errors.Is(err, errPutOp) {
			t.Errorf("failing call got %v, want its own error", err)
		}
	}
	if err := c.flush(); err != nil {
		t.Fatal(err)
	}
	keys := storedKeys(t, c)
	if !keys["before"] || len(keys) != 1 {
		t.Fatalf("keys after a failed rebuild: %v, want only the earlier group's", keys)
	}
	if err := c.apply(&putOp{key: "next"}); err != nil || !storedKeys(t, c)["next"] {
		t.Fatalf("write after a failed rebuild: %v", err)
	}
}

// Replay stops at a gap in the group numbers (a journal beside an older
// copy of the file): the groups that follow the committed one are
// applied, the rest is cut off.
func TestCommitterReplayStopsAtAGap(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := openCommitter(t, dir, 1<<20)
	for _, k := range []string{"g1", "g2"} {
		if err := c.apply(&putOp{key: k}); err != nil {
			t.Fatal(err)
		}
	}
	// Group 4 without group 3.
	c.j.begin(c.seq + 2)
	if _, err := c.j.add((&putOp{key: "g4"}).encode); err != nil {
		t.Fatal(err)
	}
	if err := c.j.write(true); err != nil {
		t.Fatal(err)
	}
	crash := crashImage(t, dir)
	c2 := openCommitter(t, crash, 1<<20)
	if keys := storedKeys(t, c2); !keys["g1"] || !keys["g2"] || keys["g4"] {
		t.Fatalf("keys after replaying groups 1, 2, 4: %v, want g1 and g2", keys)
	}
	if c2.seq != 2 {
		t.Fatalf("next group after the gap numbered from %d, want 2", c2.seq)
	}
}

// An operation that panics while the journal is replayed fails the calls
// waiting on that replay with an error, and the committer still answers
// the next call: a panic there used to leave it busy for good.
func TestCommitterReplayPanicIsAnError(t *testing.T) {
	t.Parallel()
	c := openCommitter(t, t.TempDir(), 1<<20)
	if err := c.apply(&putOp{key: "before"}); err != nil {
		t.Fatal(err)
	}
	c.j.begin(c.seq + 1)
	if _, err := c.j.add((&putOp{key: "boom", fail: "panic"}).encode); err != nil {
		t.Fatal(err)
	}
	if err := c.j.write(true); err != nil {
		t.Fatal(err)
	}
	c.drop() // the next write starts from the journal, as after a failed group
	call := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("panicked: %v", p)
			}
		}()
		return c.apply(&putOp{key: "after"})
	}
	for i := range 2 {
		done := make(chan error, 1)
		go func() { done <- call() }()
		select {
		case err := <-done:
			if err == nil || strings.HasPrefix(err.Error(), "panicked") {
				t.Fatalf("write %d over a journal whose replay panics: %v, want an error", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("write %d over a journal whose replay panics: no answer after 10s", i)
		}
	}
}
