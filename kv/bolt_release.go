package kv

import (
	"os"

	bolt "go.etcd.io/bbolt"
)

// bbolt reads the file through a shared, read-only memory mapping. Every
// page a read touches stays mapped into the process until bbolt remaps
// the file (when it grows past the mapping), so with a large file the
// resident set grows to most of it: a backlog of 1,000,000 pending
// deliveries left some 350 MB of the file mapped, each page read once
// (an append-only bucket's last page is read back on every append while
// it is the last one). Those pages are the kernel's page cache, clean and
// reclaimable; the mapping is what counts them against the process.
//
// releaseMapped drops that mapping (madvise MADV_DONTNEED; the pages stay
// in the page cache and a later read maps one back with a minor fault),
// so the resident set is what the store reads now: the hot end of each
// bucket, the branch pages, the due index's head.
//
// Every second by default: under a write load each checkpoint writes its
// pages to new places in the file (copy on write), which the next read
// maps, 20 to 70 MB a second while a backlog of a million builds up. A
// release costs about 30 µs per resident MB (12 ms for 390 MB) and well
// under a millisecond when little is resident; a page read again after
// it costs a minor fault.

// releaseChunk bounds one madvise call, so that no single call holds the
// kernel's memory-map lock (taken to read: it holds up the process's
// mmap and munmap calls, not its page faults) for long.
const releaseChunk = 64 << 20

// releaseMapped drops the mapping of every page of the file. The read
// transaction holds bbolt's mmap lock, so the mapping cannot be replaced
// (remapped to a new address) while it is being advised. The range is the
// transaction's pages, which bbolt maps before it commits them, and never
// more than the file: bbolt maps at least the file, and a damaged file
// whose meta page claims more pages than it holds must not have memory
// past the mapping advised.
func (b *Bolt) releaseMapped() error {
	if b.closed.Load() {
		return ErrClosed
	}
	return b.db.View(func(tx *bolt.Tx) error {
		fi, err := os.Stat(b.opts.Path)
		if err != nil {
			return err
		}
		base, size := b.db.Info().Data, uintptr(max(min(tx.Size(), fi.Size()), 0))
		for off := uintptr(0); off < size; off += releaseChunk {
			if err := dontNeed(base+off, min(releaseChunk, size-off)); err != nil {
				return err
			}
		}
		return nil
	})
}
