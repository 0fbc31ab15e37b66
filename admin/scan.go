package admin

// A minimal scanner over JSON already checked by json.Valid: it splits an
// array or object into its top-level members without allocating, so that
// a large body costs one pass however many members it has.

// members calls fn with each top-level member of the array or object raw
// (valid JSON, starting with '[' or '{'): its value and, for an object, its
// key as a quoted JSON string. It stops early when fn returns false.
func members(raw []byte, fn func(key, value []byte) bool) {
	isObject := raw[0] == '{'
	i := skipSpace(raw, 1)
	for i < len(raw) && raw[i] != ']' && raw[i] != '}' {
		var key []byte
		if isObject {
			end := skipValue(raw, i)
			key = raw[i:end]
			i = skipSpace(raw, skipSpace(raw, end)+1) // past ':'
		}
		end := skipValue(raw, i)
		if !fn(key, raw[i:end]) {
			return
		}
		i = skipSpace(raw, end)
		if i < len(raw) && raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
	}
}

// skipValue returns the index just past the value starting at raw[i].
func skipValue(raw []byte, i int) int {
	depth := 0
	for ; i < len(raw); i++ {
		switch raw[i] {
		case '"':
			for i++; i < len(raw) && raw[i] != '"'; i++ {
				if raw[i] == '\\' {
					i++
				}
			}
			if depth == 0 {
				return i + 1
			}
		case '[', '{':
			depth++
		case ']', '}':
			depth--
			if depth == 0 {
				return i + 1
			}
		default:
			if depth == 0 { // a number, true, false or null
				for i < len(raw) && !isDelimiter(raw[i]) {
					i++
				}
				return i
			}
		}
	}
	return i
}

func skipSpace(raw []byte, i int) int {
	for i < len(raw) && (raw[i] == ' ' || raw[i] == '\t' || raw[i] == '\n' || raw[i] == '\r') {
		i++
	}
	return i
}

func isDelimiter(c byte) bool {
	switch c {
	case ',', ']', '}', ':', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}
