package kv

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

func fullOutcome() AttemptOutcome {
	next := time.Date(2026, 4, 22, 14, 31, 0, 5, time.UTC)
	return AttemptOutcome{
		WebhookID: "wh_01JS3K8Z9Q4M7N2P5R8T1V4X6Y", DeliveryID: 77, Generation: 3, Attempt: fullAttempt(),
		Success: true, Final: true, NextAttemptAt: &next, Defer: true, DisableReason: "410 Gone",
		AutoDisableAfter: 20, NoticeID: "evt_notice_1", Skipped: true,
	}
}

func journalOpSamples(t *testing.T) map[string]journalOp {
	t.Helper()
	full := fullOutcome()
	requireAllSet(t, full)
	in := fullDelivery()
	requireAllSet(t, *in, "Attempts")
	return map[string]journalOp{
		"create, every field":  &createOp{in: *in},
		"create, zero":         &createOp{in: Delivery{WebhookID: "wh_1", EventID: "evt_1", Status: DeliveryPending}},
		"attempt, every field": &attemptOp{o: full, now: time.Date(2026, 4, 22, 14, 32, 0, 1, time.UTC)},
		"attempt, zero":        &attemptOp{o: AttemptOutcome{WebhookID: "wh_1"}, now: time.Unix(0, 0).UTC()},
		"delete":               &deleteOp{bucket: bucketDue, keys: [][]byte{[]byte("k1"), {0, 0xff}}},
	}
}

// Every field of an operation comes back from its journal encoding:
// replaying it must write what applying it wrote.
func TestJournalOpsRoundTrip(t *testing.T) {
	for name, op := range journalOpSamples(t) {
		t.Run(name, func(t *testing.T) {
			b, err := op.encode(nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeOp(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, op) {
				t.Fatalf("decoded\n%+v\nwant\n%+v", got, op)
			}
		})
	}
}

// A record framed by the journal parses back to its group number and
// operations, and a cut or damaged one does not parse.
func TestJournalRecordFraming(t *testing.T) {
	j := &journal{}
	j.begin(42)
	var want [][]byte
	for _, op := range journalOpSamples(t) {
		if _, err := j.add(op.encode); err != nil {
			t.Fatal(err)
		}
		b, _ := op.encode(nil)
		want = append(want, b)
	}
	mark, err := j.add((&deleteOp{bucket: []byte("undone")}).encode)
	if err != nil {
		t.Fatal(err)
	}
	j.undo(mark)
	rec := bytes.Clone(j.frame())
	got, n, ok := parseJournalRecord(append(bytes.Clone(rec), 1, 2, 3))
	if !ok || n != len(rec) || got.seq != 42 || !reflect.DeepEqual(got.ops, want) {
		t.Fatalf("parsed %v, %d, %v; want group 42 with %d operations in %d bytes", got.seq, n, ok, len(want), len(rec))
	}
	for cut := 1; cut < len(rec); cut++ {
		if _, _, ok := parseJournalRecord(rec[:len(rec)-cut]); ok {
			t.Fatalf("record cut by %d bytes parses", cut)
		}
	}
	for i := range rec {
		damaged := bytes.Clone(rec)
		damaged[i] ^= 0x10
		if _, _, ok := parseJournalRecord(damaged); ok {
			t.Fatalf("record with byte %d flipped parses", i)
		}
	}
}

func FuzzDecodeJournalOp(f *testing.F) {
	for _, op := range journalOpSamples(&testing.T{}) {
		b, _ := op.encode(nil)
		f.Add(b)
	}
	f.Add([]byte{opDeleteKeys, 0, 200})
	f.Fuzz(func(t *testing.T, b []byte) {
		op, err := decodeOp(b)
		if err != nil {
			return
		}
		again, err := op.encode(nil)
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", op, err)
		}
		op2, err := decodeOp(again)
		if err != nil || !reflect.DeepEqual(op, op2) {
			t.Fatalf("re-encoded operation differs: %+v vs %+v (%v)", op, op2, err)
		}
	})
}

func FuzzJournalRecord(f *testing.F) {
	j := &journal{}
	j.begin(7)
	for _, op := range journalOpSamples(&testing.T{}) {
		_, _ = j.add(op.encode)
	}
	f.Add(bytes.Clone(j.frame()))
	f.Add([]byte{0, 0, 0, 8, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, n, ok := parseJournalRecord(b)
		if !ok {
			return
		}
		if n > len(b) {
			t.Fatalf("record of %d bytes in %d", n, len(b))
		}
		// Framing the parsed group again gives back the same bytes.
		j := &journal{}
		j.begin(rec.seq)
		for _, op := range rec.ops {
			_, _ = j.add(func(buf []byte) ([]byte, error) { return append(buf, op...), nil })
		}
		if !bytes.Equal(j.frame(), b[:n]) {
			t.Fatalf("reframed record differs")
		}
	})
}
