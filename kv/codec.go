package kv

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// Deliveries and attempts, the records written for every delivery, are
// stored in a compact binary form: a quarter of their JSON's size (a
// pending delivery with one attempt took 1.3 KB of file as JSON) and no
// reflection to encode or decode. A record starts with its format byte;
// records of layout 1 are JSON and start with '{', and are still read.
//
// Fields follow each other in a fixed order: integers as varints, strings
// and bytes with a uvarint length, times as varint Unix seconds and
// uvarint nanoseconds (in UTC), optional times and bools as flag bits.
// A delivery's webhook id is not stored: it is the id of its bucket.
const (
	deliveryFormat byte = 1
	attemptFormat  byte = 1
	jsonFormat     byte = '{'
)

// Flag bits of a delivery record.
const (
	flagNextAttempt = 1 << iota
	flagDeferred
	flagCompleted
	flagEventTime
)

var errShortRecord = errors.New("record ends early or is malformed")

var (
	statusCodes  = []DeliveryStatus{"", DeliveryPending, DeliverySuccess, DeliveryFailed}
	triggerCodes = []Trigger{"", TriggerScheduled, TriggerManual, TriggerTest}
)

func codeOf[T comparable](codes []T, v T) (byte, bool) {
	for i, c := range codes {
		if c == v {
			return byte(i), true
		}
	}
	return 0, false
}

// encodeDelivery appends d's record (without its webhook id and attempts)
// to buf.
func encodeDelivery(buf []byte, d *Delivery) ([]byte, error) {
	status, ok := codeOf(statusCodes, d.Status)
	if !ok {
		return nil, fmt.Errorf("encode delivery: unknown status %q", d.Status)
	}
	var flags byte
	if d.NextAttemptAt != nil {
		flags |= flagNextAttempt
	}
	if d.Deferred {
		flags |= flagDeferred
	}
	if d.CompletedAt != nil {
		flags |= flagCompleted
	}
	if !d.EventTime.IsZero() {
		flags |= flagEventTime
	}
	if buf == nil {
		// The fixed fields usually take under 80 bytes.
		buf = make([]byte, 0, 80+len(d.EventID)+len(d.EventType)+len(d.TenantID)+len(d.PartnerID)+len(d.Payload)+len(d.Error))
	}
	w := recWriter{b: append(buf, deliveryFormat, flags, status)}
	w.int(d.ID)
	w.str(d.EventID)
	w.str(d.EventType)
	w.str(d.TenantID)
	w.str(d.PartnerID)
	w.uint(d.EventSeq)
	w.bytes(d.Payload)
	w.int(int64(d.AttemptCount))
	w.int(int64(d.Generation))
	w.int(int64(d.ResponseStatusCode))
	w.str(d.Error)
	w.int(d.DurationMS)
	w.time(d.CreatedAt)
	w.time(d.UpdatedAt)
	if d.NextAttemptAt != nil {
		w.time(*d.NextAttemptAt)
	}
	if d.CompletedAt != nil {
		w.time(*d.CompletedAt)
	}
	if flags&flagEventTime != 0 {
		w.time(d.EventTime)
	}
	return w.b, nil
}

// decodeDelivery reads a delivery record of either format; webhookID fills
// in the id the binary form leaves out.
func decodeDelivery(v []byte, webhookID string) (*Delivery, error) {
	d := &Delivery{}
	if len(v) > 0 && v[0] == jsonFormat {
		if err := json.Unmarshal(v, d); err != nil {
			return nil, fmt.Errorf("decode delivery: %w", err)
		}
		return d, nil
	}
	if len(v) < 3 || v[0] != deliveryFormat {
		return nil, fmt.Errorf("decode delivery: unknown record format")
	}
	flags, status := v[1], v[2]
	if int(status) >= len(statusCodes) || flags&^(flagNextAttempt|flagDeferred|flagCompleted|flagEventTime) != 0 {
		return nil, fmt.Errorf("decode delivery: %w", errShortRecord)
	}
	r := recReader{b: v[3:]}
	d.WebhookID = webhookID
	d.Status = statusCodes[status]
	d.Deferred = flags&flagDeferred != 0
	d.ID = r.int()
	d.EventID = r.str()
	d.EventType = r.str()
	d.TenantID = r.str()
	d.PartnerID = r.str()
	d.EventSeq = r.uint()
	d.Payload = r.bytes()
	d.AttemptCount = r.smallInt()
	d.Generation = r.smallInt()
	d.ResponseStatusCode = r.smallInt()
	d.Error = r.str()
	d.DurationMS = r.int()
	d.CreatedAt = r.time()
	d.UpdatedAt = r.time()
	if flags&flagNextAttempt != 0 {
		t := r.time()
		d.NextAttemptAt = &t
	}
	if flags&flagCompleted != 0 {
		t := r.time()
		d.CompletedAt = &t
	}
	if flags&flagEventTime != 0 {
		d.EventTime = r.time()
	}
	if err := r.end(); err != nil {
		return nil, fmt.Errorf("decode delivery: %w", err)
	}
	return d, nil
}

// encodeAttempt appends a's record to buf.
func encodeAttempt(buf []byte, a *Attempt) ([]byte, error) {
	trigger, ok := codeOf(triggerCodes, a.Trigger)
	if !ok {
		return nil, fmt.Errorf("encode attempt: unknown trigger %q", a.Trigger)
	}
	if buf == nil {
		buf = make([]byte, 0, 40+len(a.Error)+len(a.ResponseBody))
	}
	w := recWriter{b: append(buf, attemptFormat, trigger)}
	w.int(int64(a.Attempt))
	w.time(a.StartedAt)
	w.int(a.DurationMS)
	w.int(int64(a.StatusCode))
	w.str(a.Error)
	w.str(a.ResponseBody)
	return w.b, nil
}

// decodeAttempt reads an attempt record of either format.
func decodeAttempt(v []byte) (Attempt, error) {
	var a Attempt
	if len(v) > 0 && v[0] == jsonFormat {
		if err := json.Unmarshal(v, &a); err != nil {
			return Attempt{}, fmt.Errorf("decode attempt: %w", err)
		}
		return a, nil
	}
	if len(v) < 2 || v[0] != attemptFormat {
		return Attempt{}, fmt.Errorf("decode attempt: unknown record format")
	}
	if int(v[1]) >= len(triggerCodes) {
		return Attempt{}, fmt.Errorf("decode attempt: %w", errShortRecord)
	}
	r := recReader{b: v[2:]}
	a.Trigger = triggerCodes[v[1]]
	a.Attempt = r.smallInt()
	a.StartedAt = r.time()
	a.DurationMS = r.int()
	a.StatusCode = r.smallInt()
	a.Error = r.str()
	a.ResponseBody = r.str()
	if err := r.end(); err != nil {
		return Attempt{}, fmt.Errorf("decode attempt: %w", err)
	}
	return a, nil
}

type recWriter struct{ b []byte }

func (w *recWriter) uint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }
func (w *recWriter) int(v int64)   { w.b = binary.AppendVarint(w.b, v) }

func (w *recWriter) str(s string) {
	w.uint(uint64(len(s)))
	w.b = append(w.b, s...)
}

func (w *recWriter) bytes(p []byte) {
	w.uint(uint64(len(p)))
	w.b = append(w.b, p...)
}

func (w *recWriter) time(t time.Time) {
	w.int(t.Unix())
	w.uint(uint64(t.Nanosecond()))
}

// recReader reads a record's fields in order; after the first malformed
// one it returns zero values and end reports the error.
type recReader struct {
	b   []byte
	err error
}

func (r *recReader) uint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errShortRecord
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recReader) int() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errShortRecord
		return 0
	}
	r.b = r.b[n:]
	return v
}

// smallInt reads an int field (counts, status codes).
func (r *recReader) smallInt() int {
	v := r.int()
	if v < math.MinInt || v > math.MaxInt {
		r.err = errShortRecord
		return 0
	}
	return int(v)
}

func (r *recReader) raw() []byte {
	n := r.uint()
	if r.err != nil || n > uint64(len(r.b)) {
		r.err = errShortRecord
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

func (r *recReader) str() string { return string(r.raw()) }

// bytes copies: the record's memory belongs to bbolt's transaction.
func (r *recReader) bytes() []byte {
	p := r.raw()
	if len(p) == 0 {
		return nil
	}
	return append([]byte(nil), p...)
}

func (r *recReader) time() time.Time {
	sec := r.int()
	ns := r.uint()
	if ns >= uint64(time.Second) {
		r.err = errShortRecord
		return time.Time{}
	}
	return time.Unix(sec, int64(ns)).UTC()
}

// end reports a malformed field or bytes left over.
func (r *recReader) end() error {
	if r.err == nil && len(r.b) > 0 {
		r.err = errors.New("record has trailing bytes")
	}
	return r.err
}
