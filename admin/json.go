package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// writeJSON sends v with status. Encoding errors cannot reach the client
// any more, so they are dropped.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"detail":"Internal server error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// readBody reads at most limit bytes of the request body; a longer body is
// errBodyTooLarge.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errBodyTooLarge
		}
		return nil, fmt.Errorf("read request body: %w", err)
	}
	return b, nil
}

// object is a decoded JSON object body: its members in order, undecoded.
type object struct {
	names  []string
	fields map[string]json.RawMessage
}

// emptyBody reports whether b holds no JSON value at all.
func emptyBody(b []byte) bool { return len(bytes.TrimSpace(b)) == 0 }

// maxMembers bounds the members of a body kept for validation; every known
// body has far fewer.
const maxMembers = 64

// decodeObject decodes b as exactly one JSON object. Invalid JSON, trailing
// data, a value that is not an object, duplicate member names and too many
// members are reported in v (which then holds every problem found) and ok
// is false. Member values alias b.
func decodeObject(b []byte, v *validationError) (obj *object, ok bool) {
	if emptyBody(b) {
		v.add(typeMissing, "Field required", "body")
		return nil, false
	}
	if !json.Valid(b) {
		// Only now pay for the error's offset (no value is built: the
		// syntax is checked before anything is decoded).
		offset := 0
		var se *json.SyntaxError
		if err := json.Unmarshal(b, &struct{}{}); errors.As(err, &se) {
			offset = int(se.Offset)
		}
		v.add(typeJSONInvalid, "JSON decode error", "body", offset)
		return nil, false
	}
	b = bytes.TrimSpace(b)
	if b[0] != '{' {
		v.add(typeModelAttributes, "Input should be a valid dictionary or object to extract fields from", "body")
		return nil, false
	}
	obj = &object{fields: map[string]json.RawMessage{}}
	n := 0
	members(b, func(key, value []byte) bool {
		if n++; n > maxMembers {
			return true // only counted
		}
		var name string
		_ = json.Unmarshal(key, &name) // a valid JSON string
		if _, dup := obj.fields[name]; dup {
			v.add(typeValueError, "Value error, duplicate field", "body", name)
			return true
		}
		obj.names = append(obj.names, name)
		obj.fields[name] = value
		return true
	})
	if n > maxMembers {
		v.add(typeTooLong, fmt.Sprintf("Object should have at most %d fields, not %d", maxMembers, n), "body")
	}
	return obj, !v.has()
}

// isNull reports whether raw is the JSON literal null.
func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

// rejectUnknown adds extra_forbidden for every member not in known. msgs
// overrides the message for members refused on purpose (ownership fields on
// update, for example).
func (o *object) rejectUnknown(v *validationError, known map[string]bool, msgs map[string]string) {
	for _, name := range o.names {
		if known[name] {
			continue
		}
		msg := msgs[name]
		if msg == "" {
			msg = "Extra inputs are not permitted"
		}
		v.add(typeExtraForbidden, msg, "body", name)
	}
}
