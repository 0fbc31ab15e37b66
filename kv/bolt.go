package kv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// BoltOptions configure OpenBolt.
type BoltOptions struct {
	// Path is the bbolt file; its directory is created when missing.
	// Required.
	Path string
	// Timeout is how long OpenBolt waits for the file lock held by another
	// process (or another OpenBolt on the same file) before ErrLocked.
	// Defaults to 1s.
	Timeout time.Duration
	// NoSync skips the fsync of every journaled group (fsync=interval): a
	// goroutine owned by the store syncs the journal every SyncInterval
	// and Close checkpoints. A power loss may lose the last interval's
	// writes. Checkpoints and webhook writes are synced either way.
	NoSync bool
	// SyncInterval is the period of that sync when NoSync is set.
	// Defaults to 1s.
	SyncInterval time.Duration
	// CheckpointEvery is how long the hot writes stay in the journal and
	// the open transaction before they are committed to the file (also
	// committed at CheckpointOps, or when another write needs the file).
	// Defaults to 100ms.
	CheckpointEvery time.Duration
	// CheckpointOps: see CheckpointEvery. Defaults to 4096.
	CheckpointOps int
	// ReleaseEvery is how often the store drops its mapping of the file's
	// pages (bolt_release.go), so that the process's resident memory is
	// the pages it reads now, not every page it read since it started.
	// Defaults to 1s.
	ReleaseEvery time.Duration
	// Logger receives open, close and background sync failures.
	// Defaults to slog.Default().
	Logger *slog.Logger
}

func (o *BoltOptions) validate() error {
	if o.Path == "" {
		return errors.New("kv: bolt options: path is required")
	}
	if o.Timeout < 0 {
		return errors.New("kv: bolt options: timeout must not be negative")
	}
	if o.SyncInterval < 0 {
		return errors.New("kv: bolt options: sync_interval must not be negative")
	}
	if o.CheckpointEvery < 0 || o.CheckpointOps < 0 {
		return errors.New("kv: bolt options: checkpoint_every and checkpoint_ops must not be negative")
	}
	if o.ReleaseEvery < 0 {
		return errors.New("kv: bolt options: release_every must not be negative")
	}
	return nil
}

func (o *BoltOptions) withDefaults() BoltOptions {
	c := *o
	if c.Timeout == 0 {
		c.Timeout = time.Second
	}
	if c.SyncInterval == 0 {
		c.SyncInterval = time.Second
	}
	if c.CheckpointEvery == 0 {
		c.CheckpointEvery = 100 * time.Millisecond
	}
	if c.CheckpointOps == 0 {
		c.CheckpointOps = 4096
	}
	if c.ReleaseEvery == 0 {
		c.ReleaseEvery = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Bolt is the Store kept in one bbolt file and its journal (the file's
// path with "-journal"); bolt_layout.go describes the buckets,
// bolt_commit.go how writes reach them.
//
// Goroutines: one background loop, started by OpenBolt and stopped and
// waited for by Close, which queues the timed checkpoints, releases the
// mapped pages and, with NoSync, syncs the journal. The writes themselves
// are run by their callers (bolt_commit.go) and watchers run in the
// writers' goroutines (bolt_watch.go).
type Bolt struct {
	db     *bolt.DB
	opts   BoltOptions
	log    *slog.Logger
	closed atomic.Bool
	pub    *publisher
	commit *committer
	hooks  webhookCache // decoded webhooks of recorded attempts

	closeOnce sync.Once
	stop      chan struct{}
	wg        sync.WaitGroup
	syncs     atomic.Int64 // journal syncs done in NoSync mode, for tests
}

var _ Store = (*Bolt)(nil)

// OpenBolt opens (creating when missing) the store at opts.Path. It returns
// an error wrapping ErrLocked when the file stays locked for opts.Timeout.
func OpenBolt(opts BoltOptions) (*Bolt, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	if err := os.MkdirAll(filepath.Dir(opts.Path), 0o700); err != nil {
		return nil, fmt.Errorf("kv: create store directory: %w", err)
	}
	db, err := bolt.Open(opts.Path, 0o600, &bolt.Options{
		Timeout:      opts.Timeout,
		FreelistType: bolt.FreelistMapType,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("kv: open %s: %w", opts.Path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("kv: open %s: %w", opts.Path, err)
	}
	var j *journal
	fail := func(err error) (*Bolt, error) {
		if j != nil {
			_ = j.close()
		}
		_ = db.Close()
		return nil, fmt.Errorf("kv: open %s: %w", opts.Path, err)
	}
	seq, err := initLayout(db)
	if err != nil {
		return fail(err)
	}
	if j, err = openJournal(opts.Path + "-journal"); err != nil {
		return fail(err)
	}
	c := &committer{
		db:            db,
		j:             j,
		log:           opts.Logger,
		syncGroups:    !opts.NoSync,
		checkpointOps: opts.CheckpointOps,
		checkpointAge: opts.CheckpointEvery,
		replay:        true,
	}
	// The groups journaled after the last checkpoint are applied and
	// committed before anything reads the file.
	if err := c.flush(); err != nil {
		return fail(err)
	}
	if err := db.View(func(tx *bolt.Tx) error {
		seq = tx.Bucket(bucketMeta).Sequence()
		return nil
	}); err != nil {
		return fail(err)
	}
	b := &Bolt{
		db:     db,
		opts:   opts,
		log:    opts.Logger,
		pub:    newPublisher(seq),
		commit: c,
		stop:   make(chan struct{}),
	}
	b.wg.Add(1)
	go b.background()
	b.log.Debug("kv store opened", "path", opts.Path, "no_sync", opts.NoSync)
	return b, nil
}

// background queues a checkpoint check every half CheckpointEvery,
// releases the mapped pages every ReleaseEvery and, with NoSync, fsyncs
// the journal every SyncInterval, until Close.
func (b *Bolt) background() {
	defer b.wg.Done()
	tick := time.NewTicker(max(b.opts.CheckpointEvery/2, time.Millisecond))
	defer tick.Stop()
	release := time.NewTicker(b.opts.ReleaseEvery)
	defer release.Stop()
	var syncC <-chan time.Time
	if b.opts.NoSync {
		t := time.NewTicker(b.opts.SyncInterval)
		defer t.Stop()
		syncC = t.C
	}
	for {
		select {
		case <-b.stop:
			return
		case <-tick.C:
			_ = b.commit.tick()
		case <-release.C:
			if err := b.releaseMapped(); err != nil {
				b.log.Warn("kv releasing mapped pages failed", "path", b.opts.Path, "error", err)
			}
		case <-syncC:
			if err := b.commit.j.sync(); err != nil {
				b.log.Warn("kv background journal sync failed", "path", b.opts.Path, "error", err)
				continue
			}
			b.syncs.Add(1)
		}
	}
}

// Close stops the background loop, checkpoints (which syncs) and closes
// the file and the journal. Later calls, Close included, return ErrClosed.
func (b *Bolt) Close() error {
	err := ErrClosed
	b.closeOnce.Do(func() {
		b.closed.Store(true)
		close(b.stop)
		b.wg.Wait()
		flushErr := b.commit.close()
		if flushErr == nil && b.opts.NoSync {
			b.syncs.Add(1) // the checkpoint synced what the journal held
		}
		err = errors.Join(flushErr, b.commit.j.close(), b.db.Close())
		if err != nil {
			err = fmt.Errorf("kv: close %s: %w", b.opts.Path, err)
		}
		b.log.Debug("kv store closed", "path", b.opts.Path)
	})
	return err
}

// Shared is false: one process at a time holds the file (bbolt's lock).
func (b *Bolt) Shared() bool { return false }

// Check runs bbolt's consistency check over the whole file and returns
// every inconsistency found, joined.
func (b *Bolt) Check() error {
	if b.closed.Load() {
		return ErrClosed
	}
	// A writable transaction keeps writers out while the check runs, which
	// bbolt requires for a check outside a read-only database; it is
	// rolled back.
	var errs []error
	errRollback := errors.New("rollback")
	err := b.commit.exclusive(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		if err := checkCounters(tx); err != nil {
			errs = append(errs, err)
		}
		return errRollback
	})
	if err != nil && err != errRollback {
		return b.wrap("check", err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("kv: check %s: %w", b.opts.Path, errors.Join(errs...))
	}
	return nil
}

// enter refuses calls after Close or on a finished context.
func (b *Bolt) enter(ctx context.Context) error {
	if b.closed.Load() {
		return ErrClosed
	}
	return ctx.Err()
}

// wrap maps bbolt's errors to ours; kv errors pass through unchanged.
func (b *Bolt) wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, berrors.ErrDatabaseNotOpen), errors.Is(err, berrors.ErrTxClosed) && b.closed.Load():
		return ErrClosed
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrConflict), errors.Is(err, ErrClosed):
		return err
	}
	return fmt.Errorf("kv: %s: %w", op, err)
}
