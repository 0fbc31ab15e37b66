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
	// NoSync skips the fsync of every commit (fsync=interval): a goroutine
	// owned by the store syncs the file every SyncInterval and Close syncs
	// it a last time. A power loss may lose the last interval's commits.
	NoSync bool
	// SyncInterval is the period of that sync when NoSync is set.
	// Defaults to 1s.
	SyncInterval time.Duration
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
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Bolt is the Store kept in one bbolt file; bolt_layout.go describes its
// buckets.
//
// Goroutines: with NoSync, one sync goroutine, started by OpenBolt and
// stopped and waited for by Close. Nothing else runs in the background:
// the group commit of CreateDelivery and RecordAttempt is run by their
// callers (bolt_commit.go) and watchers run in the writers' goroutines
// (bolt_watch.go).
type Bolt struct {
	db     *bolt.DB
	opts   BoltOptions
	log    *slog.Logger
	closed atomic.Bool
	pub    *publisher
	commit *committer

	closeOnce sync.Once
	stop      chan struct{}
	wg        sync.WaitGroup
	syncs     atomic.Int64 // syncs done in NoSync mode, for tests
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
		NoSync:       opts.NoSync,
		FreelistType: bolt.FreelistMapType,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("kv: open %s: %w", opts.Path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("kv: open %s: %w", opts.Path, err)
	}
	seq, err := initLayout(db)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("kv: open %s: %w", opts.Path, err)
	}
	b := &Bolt{
		db:     db,
		opts:   opts,
		log:    opts.Logger,
		pub:    newPublisher(seq),
		commit: &committer{db: db},
		stop:   make(chan struct{}),
	}
	if opts.NoSync {
		b.wg.Add(1)
		go b.syncLoop()
	}
	b.log.Debug("kv store opened", "path", opts.Path, "no_sync", opts.NoSync)
	return b, nil
}

// syncLoop fsyncs the file every SyncInterval until Close.
func (b *Bolt) syncLoop() {
	defer b.wg.Done()
	t := time.NewTicker(b.opts.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			if err := b.db.Sync(); err != nil {
				b.log.Warn("kv background sync failed", "path", b.opts.Path, "error", err)
				continue
			}
			b.syncs.Add(1)
		}
	}
}

// Close stops the sync goroutine, syncs the file when NoSync is set and
// closes it. Later calls, Close included, return ErrClosed.
func (b *Bolt) Close() error {
	err := ErrClosed
	b.closeOnce.Do(func() {
		b.closed.Store(true)
		close(b.stop)
		b.wg.Wait()
		var syncErr error
		if b.opts.NoSync {
			if syncErr = b.db.Sync(); syncErr == nil {
				b.syncs.Add(1)
			}
		}
		err = errors.Join(syncErr, b.db.Close())
		if err != nil {
			err = fmt.Errorf("kv: close %s: %w", b.opts.Path, err)
		}
		b.log.Debug("kv store closed", "path", b.opts.Path)
	})
	return err
}

// Check runs bbolt's consistency check over the whole file and returns
// every inconsistency found, joined.
func (b *Bolt) Check() error {
	if b.closed.Load() {
		return ErrClosed
	}
	// A writable transaction keeps writers out while the check runs, which
	// bbolt requires for a check outside a read-only database.
	tx, err := b.db.Begin(true)
	if err != nil {
		return b.wrap("check", err)
	}
	defer func() { _ = tx.Rollback() }()
	var errs []error
	for err := range tx.Check() {
		errs = append(errs, err)
	}
	if err := checkCounters(tx); err != nil {
		errs = append(errs, err)
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
