package bus

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"
)

// EnvelopeError kinds: short, fixed categories (fit for a metric attribute).
const (
	EnvelopeTooLarge        = "too_large"
	EnvelopeInvalidJSON     = "invalid_json"
	EnvelopeMissingField    = "missing_field"
	EnvelopeInvalidField    = "invalid_field"
	EnvelopeSubjectMismatch = "subject_mismatch"
)

// Envelope limits beyond MaxEventBytes.
const (
	// MaxEventTypeLen bounds an event type.
	MaxEventTypeLen = 128
	// MaxEventIDLen bounds event_id (it becomes a header value).
	MaxEventIDLen = 255
	// maxAttrLen bounds source, tenant_id and partner_id.
	maxAttrLen = 255
	// maxTimestampLen bounds the timestamp string.
	maxTimestampLen = 64
)

// Envelope is a validated event; Raw is the body exactly as published.
type Envelope struct {
	EventID   string
	EventType string
	Timestamp time.Time
	Source    string
	TenantID  string
	PartnerID string
	// Raw aliases the body given to ParseEnvelope (no copy): the caller must
	// not modify that slice while the Envelope is in use.
	Raw []byte
	// Data is the "data" value (or, without one, the "payload" value) as a
	// sub-slice of Raw; nil when absent or null.
	Data []byte
}

// EnvelopeError says why a body is not a valid envelope. It unwraps to
// ErrInvalidEnvelope. Its text quotes no body content except a validated
// event_type.
type EnvelopeError struct {
	// Kind is one of the Envelope* kinds.
	Kind string
	// Field is the offending top-level key, "" when the error is not about
	// one field.
	Field string
	// Reason is the human detail.
	Reason string
}

// Error returns "invalid envelope: <kind>: <reason>". DeadLetter derives
// its metric category from this shape.
func (e *EnvelopeError) Error() string {
	if e.Kind == "" {
		return "invalid envelope: " + e.Reason
	}
	return "invalid envelope: " + e.Kind + ": " + e.Reason
}

// Unwrap returns ErrInvalidEnvelope.
func (e *EnvelopeError) Unwrap() error { return ErrInvalidEnvelope }

func envErr(kind, field, format string, args ...any) *EnvelopeError {
	return &EnvelopeError{Kind: kind, Field: field, Reason: fmt.Sprintf(format, args...)}
}

// ParseEnvelope validates body as an event envelope published on a subject
// carrying subjectType (contract section 1): at most maxBytes (≤ 0 means
// DefaultMaxEventBytes), UTF-8, one JSON object with a non-empty printable
// ASCII "event_id", a valid "event_type" equal to subjectType, an RFC 3339
// "timestamp", and optional string "source", "tenant_id", "partner_id".
// "data" or "payload" may hold any JSON value. Top-level keys are matched
// exactly (case-sensitive), a repeated known key is refused (parsers
// disagree on which copy wins), unknown keys are ignored and null counts as
// absent. An empty subjectType skips the subject comparison. Errors are
// *EnvelopeError.
func ParseEnvelope(body []byte, subjectType string, maxBytes int) (*Envelope, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxEventBytes
	}
	if len(body) > maxBytes {
		return nil, envErr(EnvelopeTooLarge, "", "%d bytes exceeds the limit of %d", len(body), maxBytes)
	}
	if !utf8.Valid(body) {
		return nil, envErr(EnvelopeInvalidJSON, "", "body is not UTF-8")
	}
	if !json.Valid(body) {
		return nil, envErr(EnvelopeInvalidJSON, "", "body is not valid JSON")
	}
	var raw rawEnvelope
	if err := raw.scan(body); err != nil {
		return nil, err
	}

	env := &Envelope{Raw: body}
	var err error
	if env.EventID, err = requiredString(raw.eventID, "event_id"); err != nil {
		return nil, err
	}
	if env.EventType, err = requiredString(raw.eventType, "event_type"); err != nil {
		return nil, err
	}
	ts, err := requiredString(raw.timestamp, "timestamp")
	if err != nil {
		return nil, err
	}
	if len(env.EventID) > MaxEventIDLen || !visibleASCII(env.EventID) {
		return nil, envErr(EnvelopeInvalidField, "event_id",
			"event_id must be 1..%d printable ASCII characters without spaces", MaxEventIDLen)
	}
	if !ValidEventType(env.EventType) {
		return nil, envErr(EnvelopeInvalidField, "event_type",
			"event_type must be dot-separated lowercase tokens ([a-z][a-z0-9_]*), at most %d bytes", MaxEventTypeLen)
	}
	if len(ts) > maxTimestampLen {
		return nil, envErr(EnvelopeInvalidField, "timestamp", "timestamp is not an RFC 3339 time")
	}
	if env.Timestamp, err = time.Parse(time.RFC3339Nano, ts); err != nil {
		return nil, envErr(EnvelopeInvalidField, "timestamp", "timestamp is not an RFC 3339 time")
	}
	if env.Source, err = optionalString(raw.source, "source"); err != nil {
		return nil, err
	}
	if env.TenantID, err = optionalString(raw.tenantID, "tenant_id"); err != nil {
		return nil, err
	}
	if env.PartnerID, err = optionalString(raw.partnerID, "partner_id"); err != nil {
		return nil, err
	}
	switch {
	case raw.data != nil && !isNull(raw.data):
		env.Data = raw.data
	case raw.payload != nil && !isNull(raw.payload):
		env.Data = raw.payload
	}
	if subjectType != "" && env.EventType != subjectType {
		return nil, envErr(EnvelopeSubjectMismatch, "event_type",
			"event_type %q does not match the subject's type %q", env.EventType, subjectType)
	}
	return env, nil
}

// requiredString decodes a required JSON string field.
func requiredString(v []byte, field string) (string, error) {
	if v == nil || isNull(v) {
		return "", envErr(EnvelopeMissingField, field, "%s is required", field)
	}
	s, ok := jsonString(v)
	if !ok {
		return "", envErr(EnvelopeInvalidField, field, "%s must be a string", field)
	}
	if s == "" {
		return "", envErr(EnvelopeMissingField, field, "%s is empty", field)
	}
	return s, nil
}

// optionalString decodes an optional JSON string field of bounded length.
func optionalString(v []byte, field string) (string, error) {
	if v == nil || isNull(v) {
		return "", nil
	}
	s, ok := jsonString(v)
	if !ok {
		return "", envErr(EnvelopeInvalidField, field, "%s must be a string", field)
	}
	if len(s) > maxAttrLen {
		return "", envErr(EnvelopeInvalidField, field, "%s is longer than %d bytes", field, maxAttrLen)
	}
	return s, nil
}

// ValidEventType reports whether s is dot-separated lowercase tokens: each
// starts with a letter and holds only [a-z0-9_], at most MaxEventTypeLen
// bytes in all ("user.created", "user.mfa_enabled").
func ValidEventType(s string) bool {
	if len(s) == 0 || len(s) > MaxEventTypeLen {
		return false
	}
	start := true // at the first byte of a token
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if start {
				return false
			}
			start = true
		case 'a' <= c && c <= 'z':
			start = false
		case '0' <= c && c <= '9' || c == '_':
			if start {
				return false
			}
		default:
			return false
		}
	}
	return !start
}

// visibleASCII reports whether s is printable ASCII without spaces, safe
// as a NATS or HTTP header value.
func visibleASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// NewEventID returns a fresh event id: "evt_" and 26 random base32
// characters (128 bits from crypto/rand).
func NewEventID() string { return "evt_" + rand.Text() }
