package admin

import (
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Error types, named as FastAPI (pydantic v2) names them.
const (
	typeMissing         = "missing"
	typeJSONInvalid     = "json_invalid"
	typeModelAttributes = "model_attributes_type"
	typeExtraForbidden  = "extra_forbidden"
	typeStringType      = "string_type"
	typeStringTooShort  = "string_too_short"
	typeStringTooLong   = "string_too_long"
	typeIntType         = "int_type"
	typeIntParsing      = "int_parsing"
	typeIntFromFloat    = "int_from_float"
	typeIntParsingSize  = "int_parsing_size"
	typeGreaterEqual    = "greater_than_equal"
	typeLessEqual       = "less_than_equal"
	typeListType        = "list_type"
	typeTooShort        = "too_short"
	typeTooLong         = "too_long"
	typeDictType        = "dict_type"
	typeEnum            = "enum"
	typeURLParsing      = "url_parsing"
	typeURLScheme       = "url_scheme"
	typeURLTooLong      = "url_too_long"
	typeValueError      = "value_error"
)

// Limits of the webhook fields.
const (
	maxURLLength      = 2048
	maxDescription    = 1024
	maxEvents         = 100
	maxHeaders        = 50
	maxHeaderValueLen = 4096
	maxOwnerIDLength  = 128
	minMaxRetries     = 0
	maxMaxRetries     = 20
	defaultMaxRetries = 5
	minTimeout        = 1
	maxTimeout        = 30
	defaultTimeout    = 10
	maxGracePeriod    = 604800
	defaultGrace      = 86400
	maxPerPage        = 100
	defaultPerPage    = 20
)

// fieldError is one violation in a 422 answer.
type fieldError struct {
	Loc  []any  `json:"loc"`
	Msg  string `json:"msg"`
	Type string `json:"type"`
}

// validationError collects every violation of one request; it encodes as
// FastAPI's 422 body.
type validationError struct {
	Detail []fieldError `json:"detail"`
}

func (v *validationError) Error() string {
	if len(v.Detail) == 0 {
		return "admin: validation failed"
	}
	d := v.Detail[0]
	return fmt.Sprintf("admin: validation failed: %v: %s (and %d more)", d.Loc, d.Msg, len(v.Detail)-1)
}

// maxViolations bounds a 422 answer: a 1 MiB body of bad list items must
// not turn into a 50 MiB answer.
const maxViolations = 100

func (v *validationError) add(typ, msg string, loc ...any) {
	switch {
	case len(v.Detail) < maxViolations:
		v.Detail = append(v.Detail, fieldError{Loc: loc, Msg: msg, Type: typ})
	case len(v.Detail) == maxViolations:
		root := []any{"body"}
		if len(loc) > 0 {
			root = loc[:1]
		}
		v.Detail = append(v.Detail, fieldError{Loc: root, Msg: fmt.Sprintf("Too many errors; only the first %d are listed", maxViolations), Type: "too_many_errors"})
	}
}

func (v *validationError) has() bool { return len(v.Detail) > 0 }

// err returns v when it holds a violation, else nil.
func (v *validationError) err() error {
	if v.has() {
		return v
	}
	return nil
}

// clip shortens user input quoted in a message.
func clip(s string) string {
	const max = 140
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[:max], "") + "…"
}

// checkRange checks lo <= n <= hi.
func checkRange(v *validationError, n, lo, hi int64, loc ...any) {
	switch {
	case n < lo:
		v.add(typeGreaterEqual, fmt.Sprintf("Input should be greater than or equal to %d", lo), loc...)
	case n > hi:
		v.add(typeLessEqual, fmt.Sprintf("Input should be less than or equal to %d", hi), loc...)
	}
}

// checkURL validates a webhook URL: http(s) (http only when allowHTTP),
// a host, no userinfo, at most maxURLLength characters.
func checkURL(v *validationError, s string, allowHTTP bool, loc ...any) {
	if len(s) > maxURLLength {
		v.add(typeURLTooLong, fmt.Sprintf("URL should have at most %d characters", maxURLLength), loc...)
		return
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			v.add(typeURLParsing, "Input should be a valid URL, invalid character", loc...)
			return
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		v.add(typeURLParsing, "Input should be a valid URL", loc...)
		return
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme == "https", scheme == "http" && allowHTTP:
	case allowHTTP:
		v.add(typeURLScheme, "URL scheme should be 'http' or 'https'", loc...)
		return
	default:
		v.add(typeURLScheme, "URL scheme should be 'https'", loc...)
		return
	}
	if u.User != nil {
		v.add(typeValueError, "Value error, URL must not contain credentials", loc...)
		return
	}
	if u.Opaque != "" || u.Hostname() == "" {
		v.add(typeURLParsing, "Input should be a valid URL, empty host", loc...)
	}
}

// checkText validates a free-text string: valid UTF-8, at most max runes,
// no NUL.
func checkText(v *validationError, s string, max int, loc ...any) {
	switch {
	case !utf8.ValidString(s) || strings.ContainsRune(s, 0):
		v.add(typeStringType, "Input should be a valid string", loc...)
	case utf8.RuneCountInString(s) > max:
		v.add(typeStringTooLong, fmt.Sprintf("String should have at most %d characters", max), loc...)
	}
}

// checkOwnerID validates a tenant or partner id: printable ASCII without
// spaces, at most maxOwnerIDLength characters.
func checkOwnerID(v *validationError, s string, loc ...any) {
	if len(s) > maxOwnerIDLength {
		v.add(typeStringTooLong, fmt.Sprintf("String should have at most %d characters", maxOwnerIDLength), loc...)
		return
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			v.add(typeValueError, "Value error, id must be printable ASCII without spaces", loc...)
			return
		}
	}
}
