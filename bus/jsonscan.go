package bus

import (
	"encoding/json"
	"unicode/utf8"
)

// rawEnvelope holds the raw JSON values of the envelope's known top-level
// keys, as sub-slices of the body (nil when absent).
type rawEnvelope struct {
	eventID, eventType, timestamp []byte
	source, tenantID, partnerID   []byte
	data, payload                 []byte
}

// slot returns where the value of key goes, nil for an unknown key.
func (r *rawEnvelope) slot(key []byte) *[]byte {
	switch string(key) { // no allocation: the compiler compares in place
	case "event_id":
		return &r.eventID
	case "event_type":
		return &r.eventType
	case "timestamp":
		return &r.timestamp
	case "source":
		return &r.source
	case "tenant_id":
		return &r.tenantID
	case "partner_id":
		return &r.partnerID
	case "data":
		return &r.data
	case "payload":
		return &r.payload
	}
	return nil
}

// scan walks the top-level object of body, which json.Valid accepted, so
// the walk needs no error handling beyond "not an object". Nested values
// are skipped, not decoded.
func (r *rawEnvelope) scan(body []byte) *EnvelopeError {
	i := skipWS(body, 0)
	if i >= len(body) || body[i] != '{' {
		return envErr(EnvelopeInvalidJSON, "", "body is not a JSON object")
	}
	i = skipWS(body, i+1)
	for i < len(body) && body[i] != '}' {
		end, escaped := scanString(body, i)
		key := body[i+1 : end-1]
		if escaped {
			// A key spelled with escapes is still that key to every other
			// parser; decode it so it cannot smuggle a second copy.
			var k string
			if err := json.Unmarshal(body[i:end], &k); err != nil {
				return envErr(EnvelopeInvalidJSON, "", "bad object key")
			}
			key = []byte(k)
		}
		i = skipWS(body, end)
		i = skipWS(body, i+1) // ':'
		vEnd := skipValue(body, i)
		if p := r.slot(key); p != nil {
			if *p != nil {
				return envErr(EnvelopeInvalidField, string(key), "%s appears more than once", key)
			}
			*p = body[i:vEnd:vEnd]
		}
		i = skipWS(body, vEnd)
		if i < len(body) && body[i] == ',' {
			i = skipWS(body, i+1)
		}
	}
	return nil
}

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// scanString returns the index after the string starting at b[i] == '"'
// and whether it holds escapes.
func scanString(b []byte, i int) (end int, escaped bool) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			return j + 1, escaped
		}
	}
	return len(b), escaped
}

// skipValue returns the index after the value starting at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		end, _ := scanString(b, i)
		return end
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, _ := scanString(b, j)
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	default: // number, true, false, null
		j := i
		for j < len(b) {
			switch b[j] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				return j
			}
			j++
		}
		return j
	}
}

// jsonString decodes a raw JSON string value; false when v is not a
// string or not valid UTF-8.
func jsonString(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' {
		return "", false
	}
	end, escaped := scanString(v, 0)
	if end != len(v) {
		return "", false
	}
	if !escaped {
		s := string(v[1 : len(v)-1])
		return s, utf8.ValidString(s)
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", false
	}
	return s, utf8.ValidString(s)
}

func isNull(v []byte) bool { return string(v) == "null" }
