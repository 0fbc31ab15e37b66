package admin

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// The readers below decode one member of an object strictly (no coercion
// of "5" to 5 or of 5 to "5"), adding a violation at ["body", name, ...]
// when its JSON type is wrong. present is false when the member is absent.

// presence is what a reader found for a member.
type presence int

const (
	absent       presence = iota
	explicitNull          // null, where null is allowed
	wrongType             // a violation was added
	given
)

// str reads a string member. null is accepted only when nullable.
func (o *object) str(v *validationError, name string, nullable bool) (string, presence) {
	raw, ok := o.fields[name]
	if !ok {
		return "", absent
	}
	if isNull(raw) && nullable {
		return "", explicitNull
	}
	var s string
	if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		v.add(typeStringType, "Input should be a valid string", "body", name)
		return "", wrongType
	}
	return s, given
}

// integer reads an integer member; a number with a fractional part or a
// value beyond ±2^53 is refused.
func (o *object) integer(v *validationError, name string) (n int64, present, ok bool) {
	raw, found := o.fields[name]
	if !found {
		return 0, false, false
	}
	n, typ, msg := parseJSONInt(raw)
	if typ != "" {
		v.add(typ, msg, "body", name)
		return 0, true, false
	}
	return n, true, true
}

func parseJSONInt(raw json.RawMessage) (int64, string, string) {
	const maxExact = 1 << 53
	s := string(raw)
	if s == "" || !(s[0] == '-' || (s[0] >= '0' && s[0] <= '9')) {
		return 0, typeIntType, "Input should be a valid integer"
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < -maxExact || n > maxExact {
			return 0, typeIntParsingSize, "Unable to parse input string as an integer, exceeded maximum size"
		}
		return n, "", ""
	}
	f, err := strconv.ParseFloat(s, 64)
	switch {
	case err != nil || math.Abs(f) > maxExact:
		return 0, typeIntParsingSize, "Unable to parse input string as an integer, exceeded maximum size"
	case f != math.Trunc(f):
		return 0, typeIntFromFloat, "Input should be a valid integer, got a number with a fractional part"
	}
	return int64(f), "", ""
}

// strList reads a list of at most max strings; every item that is not a
// string is reported at ["body", name, index]. Items beyond max are only
// counted, so a huge list costs one scan.
func (o *object) strList(v *validationError, name string, max int) (list []string, present, ok bool) {
	raw, found := o.fields[name]
	if !found {
		return nil, false, false
	}
	if raw[0] != '[' {
		v.add(typeListType, "Input should be a valid list", "body", name)
		return nil, true, false
	}
	ok, n := true, 0
	list = []string{}
	members(raw, func(_, item []byte) bool {
		if n++; n > max {
			return true
		}
		var s string
		if item[0] != '"' || json.Unmarshal(item, &s) != nil {
			v.add(typeStringType, "Input should be a valid string", "body", name, n-1)
			ok = false
			return true
		}
		list = append(list, s)
		return true
	})
	if n > max {
		v.add(typeTooLong, fmt.Sprintf("List should have at most %d items after validation, not %d", max, n), "body", name)
		return nil, true, false
	}
	return list, true, ok
}

// strMap reads an object of at most max string values, scanned like
// strList; null is accepted as an empty map when nullable.
func (o *object) strMap(v *validationError, name string, nullable bool, max int) (m map[string]string, present, ok bool) {
	raw, found := o.fields[name]
	if !found {
		return nil, false, false
	}
	if isNull(raw) && nullable {
		return map[string]string{}, true, true
	}
	if raw[0] != '{' {
		v.add(typeDictType, "Input should be a valid dictionary", "body", name)
		return nil, true, false
	}
	ok, n := true, 0
	m = map[string]string{}
	members(raw, func(rawKey, item []byte) bool {
		if n++; n > max {
			return true
		}
		var key, s string
		_ = json.Unmarshal(rawKey, &key) // a valid JSON string
		switch _, dup := m[key]; {
		case item[0] != '"' || json.Unmarshal(item, &s) != nil:
			v.add(typeStringType, "Input should be a valid string", "body", name, key)
			ok = false
		case dup:
			v.add(typeValueError, "Value error, duplicate key", "body", name, key)
			ok = false
		default:
			m[key] = s
		}
		return true
	})
	if n > max {
		v.add(typeTooLong, fmt.Sprintf("Dictionary should have at most %d items after validation, not %d", max, n), "body", name)
		return nil, true, false
	}
	return m, true, ok
}

// jsonObject reads an object member kept as raw JSON; null counts as
// absent.
func (o *object) jsonObject(v *validationError, name string) (raw json.RawMessage, present, ok bool) {
	raw, found := o.fields[name]
	if !found || isNull(raw) {
		return nil, false, false
	}
	if raw[0] != '{' {
		v.add(typeDictType, "Input should be a valid dictionary", "body", name)
		return nil, true, false
	}
	return raw, true, true
}
