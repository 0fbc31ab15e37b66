package kv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
)

// journal is the write-ahead log of the hot writes (journal_ops.go). Each
// group the committer applies to its open transaction is appended as one
// record before the group's callers are answered, so a group survives a
// crash even though bbolt commits it only at the next checkpoint. A
// checkpoint commits the transaction with the number of the last group it
// holds (meta "journal"), syncs it, and empties the file; on open the
// groups numbered after the stored one are applied again.
//
// A record is the payload's length (be32), its CRC-32C (be32) and the
// payload: the group's number (be64) and its operations, each its length
// (be32) and its encoding (journal_ops.go). A record cut short or failing
// its checksum ends the journal: the process or the machine stopped while
// it was written (under fsync=always none of its callers had an answer;
// under interval a machine crash may lose the last interval, as promised).
type journal struct {
	f    *os.File
	path string
	size int64  // bytes of whole records
	buf  []byte // the record being built
}

const journalHeader = 8

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// maxJournalRecord bounds a record's length when reading: a length past it
// is a torn or foreign header, not a record to allocate for.
const maxJournalRecord = 1 << 30

func openJournal(path string) (*journal, error) {
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if errors.Is(statErr, os.ErrNotExist) {
		// A new file's name must survive a power loss like its records.
		if err := syncDir(filepath.Dir(path)); err != nil {
			_ = f.Close()
			return nil, err
		}
	}
	return &journal{f: f, path: path}, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	return errors.Join(err, d.Close())
}

// journalRecord is one group read back: its number and its operations.
type journalRecord struct {
	seq uint64
	ops [][]byte
	off int64 // where it starts in the file
}

// read returns the whole records from the start of the file, and cuts the
// file after the last one (a torn tail would otherwise sit before the next
// appended record). torn is how many bytes were cut.
func (j *journal) read() (recs []journalRecord, torn int, err error) {
	data, err := io.ReadAll(io.NewSectionReader(j.f, 0, 1<<62))
	if err != nil {
		return nil, 0, err
	}
	off := 0
	for off < len(data) {
		rec, n, ok := parseJournalRecord(data[off:])
		if !ok {
			break
		}
		rec.off = int64(off)
		recs = append(recs, rec)
		off += n
	}
	if err := j.cut(int64(off)); err != nil {
		return nil, 0, err
	}
	return recs, len(data) - off, nil
}

// cut truncates the file to size (when longer) and appends from there.
func (j *journal) cut(size int64) error {
	fi, err := j.f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() > size {
		if err := j.f.Truncate(size); err != nil {
			return err
		}
	}
	j.size = size
	return nil
}

// parseJournalRecord reads the record at the start of b and returns its
// length; ok false when it is cut short, fails its checksum or is malformed.
func parseJournalRecord(b []byte) (rec journalRecord, n int, ok bool) {
	if len(b) < journalHeader {
		return rec, 0, false
	}
	size := binary.BigEndian.Uint32(b)
	if size > maxJournalRecord || uint64(len(b)-journalHeader) < uint64(size) {
		return rec, 0, false
	}
	payload := b[journalHeader : journalHeader+int(size)]
	if crc32.Checksum(payload, crcTable) != binary.BigEndian.Uint32(b[4:]) || len(payload) < 8 {
		return rec, 0, false
	}
	rec.seq = binary.BigEndian.Uint64(payload)
	for ops := payload[8:]; len(ops) > 0; {
		if len(ops) < 4 || uint64(len(ops)-4) < uint64(binary.BigEndian.Uint32(ops)) {
			return rec, 0, false
		}
		n := 4 + int(binary.BigEndian.Uint32(ops))
		rec.ops = append(rec.ops, ops[4:n:n])
		ops = ops[n:]
	}
	return rec, journalHeader + int(size), true
}

// begin starts the record of group seq.
func (j *journal) begin(seq uint64) {
	j.buf = binary.BigEndian.AppendUint64(append(j.buf[:0], make([]byte, journalHeader)...), seq)
}

// add appends one operation encoded by enc (which appends to its argument)
// and returns the mark that undo takes to drop it again.
func (j *journal) add(enc func([]byte) ([]byte, error)) (mark int, err error) {
	mark = len(j.buf)
	b, err := enc(append(j.buf, 0, 0, 0, 0))
	if err != nil {
		j.buf = j.buf[:mark]
		return mark, err
	}
	binary.BigEndian.PutUint32(b[mark:], uint32(len(b)-mark-4))
	j.buf = b
	return mark, nil
}

// undo drops the operation added at mark (it failed to apply).
func (j *journal) undo(mark int) { j.buf = j.buf[:mark] }

// errJournalCut is a write that failed and could not be cut off the file
// again: replaying the file could apply a group whose callers were told it
// failed, so the store refuses to write on.
var errJournalCut = errors.New("a failed journal write could not be cut off the file; restart to recover")

// write appends the record begun by begin, with the operations added
// since, and syncs the file when sync is set. On failure the file is cut
// back to its last whole record (errJournalCut when that fails too).
func (j *journal) write(sync bool) error {
	if len(j.buf)-journalHeader > maxJournalRecord {
		return fmt.Errorf("journal %s: a group of %d bytes is over the limit", j.path, len(j.buf))
	}
	if _, err := j.f.WriteAt(j.frame(), j.size); err != nil {
		return j.cutBack(err)
	}
	if sync {
		if err := j.f.Sync(); err != nil {
			return j.cutBack(err)
		}
	}
	j.size += int64(len(j.buf))
	return nil
}

// frame fills in the record's header and returns the whole record.
func (j *journal) frame() []byte {
	payload := j.buf[journalHeader:]
	binary.BigEndian.PutUint32(j.buf, uint32(len(payload)))
	binary.BigEndian.PutUint32(j.buf[4:], crc32.Checksum(payload, crcTable))
	return j.buf
}

func (j *journal) cutBack(err error) error {
	if terr := j.f.Truncate(j.size); terr != nil {
		err = errors.Join(err, terr, errJournalCut)
	}
	return fmt.Errorf("journal %s: %w", j.path, err)
}

// reset empties the file after a checkpoint.
func (j *journal) reset() error {
	if j.size == 0 {
		return nil
	}
	if err := j.f.Truncate(0); err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	j.size = 0
	return nil
}

func (j *journal) sync() error { return j.f.Sync() }

func (j *journal) close() error { return j.f.Close() }
