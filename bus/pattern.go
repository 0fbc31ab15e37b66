package bus

import (
	"fmt"
	"strings"
)

// Pattern is one webhook event pattern: "user.created" (exact), "user.*"
// (prefix: one or more further tokens), "*" (every type). The zero Pattern
// matches nothing.
type Pattern struct {
	s      string
	prefix string // "user." for "user.*"; "" otherwise
	kind   patternKind
}

type patternKind uint8

const (
	patternNone patternKind = iota
	patternExact
	patternPrefix
	patternAll
)

// ParsePattern validates s: "*", a valid event type (see ValidEventType),
// or a valid event type followed by ".*". Anything else ("user*", "*.x",
// "a.*.b", "user.**") is refused with an error wrapping ErrInvalidPattern.
func ParsePattern(s string) (Pattern, error) {
	switch {
	case s == "*":
		return Pattern{s: s, kind: patternAll}, nil
	case ValidEventType(s):
		return Pattern{s: s, kind: patternExact}, nil
	}
	if base, ok := strings.CutSuffix(s, ".*"); ok && ValidEventType(base) {
		return Pattern{s: s, prefix: base + ".", kind: patternPrefix}, nil
	}
	if s == "" {
		return Pattern{}, fmt.Errorf("%w: empty", ErrInvalidPattern)
	}
	return Pattern{}, fmt.Errorf("%w: %q: want an event type (user.created), a prefix ending in .* (user.*), or *",
		ErrInvalidPattern, truncate(s, 140))
}

// Match reports whether eventType matches. It does not validate eventType.
func (p Pattern) Match(eventType string) bool {
	switch p.kind {
	case patternExact:
		return eventType == p.s
	case patternPrefix:
		return len(eventType) > len(p.prefix) && strings.HasPrefix(eventType, p.prefix)
	case patternAll:
		return eventType != ""
	}
	return false
}

// Exact returns the type when the pattern is exact.
func (p Pattern) Exact() (string, bool) {
	if p.kind == patternExact {
		return p.s, true
	}
	return "", false
}

// Prefix returns "user" for "user.*" and ("", true) for "*".
func (p Pattern) Prefix() (string, bool) {
	switch p.kind {
	case patternPrefix:
		return p.prefix[:len(p.prefix)-1], true
	case patternAll:
		return "", true
	}
	return "", false
}

// String returns the pattern as parsed ("" for the zero Pattern).
func (p Pattern) String() string { return p.s }

// truncate shortens s to at most n bytes for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
