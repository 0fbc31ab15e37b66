package bus

import (
	"errors"
	"strings"
	"testing"
)

func TestParsePattern(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in             string
		exact, prefix  string
		isExact, isPre bool
	}{
		{"*", "", "", false, true},
		{"user.created", "user.created", "", true, false},
		{"user", "user", "", true, false},
		{"user.*", "", "user", false, true},
		{"scaiqueue.message.*", "", "scaiqueue.message", false, true},
	}
	for _, tt := range tests {
		p, err := ParsePattern(tt.in)
		if err != nil {
			t.Errorf("ParsePattern(%q): %v", tt.in, err)
			continue
		}
		if p.String() != tt.in {
			t.Errorf("String() = %q, want %q", p.String(), tt.in)
		}
		if e, ok := p.Exact(); e != tt.exact || ok != tt.isExact {
			t.Errorf("%q Exact() = %q, %v", tt.in, e, ok)
		}
		if pre, ok := p.Prefix(); pre != tt.prefix || ok != tt.isPre {
			t.Errorf("%q Prefix() = %q, %v", tt.in, pre, ok)
		}
	}
}

func TestParsePatternRefuses(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"", "user*", "*.created", "user.*.created", "user.**", "user.>", ">", "**", "*.*",
		"User.created", "user..created", "user.", ".user", "user.*.", " user.created", "user.created ",
		"user.* ", "user.-", "user.1x.*", strings.Repeat("a", MaxEventTypeLen+1),
		strings.Repeat("a", MaxEventTypeLen+1) + ".*",
	} {
		p, err := ParsePattern(in)
		if !errors.Is(err, ErrInvalidPattern) {
			t.Errorf("ParsePattern(%q) = %v, %v; want ErrInvalidPattern", in, p, err)
		}
	}
}

func TestPatternMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, eventType string
		want               bool
	}{
		{"user.created", "user.created", true},
		{"user.created", "user.created.x", false},
		{"user.created", "user.updated", false},
		{"user.created", "user", false},
		{"user.*", "user.created", true},
		{"user.*", "user.mfa.enabled", true},
		{"user.*", "user", false},
		{"user.*", "user.", false},
		{"user.*", "username.x", false},
		{"user.*", "users.created", false},
		{"user.*", "xuser.created", false},
		{"user.mfa.*", "user.mfa.enabled", true},
		{"user.mfa.*", "user.mfa", false},
		{"user.mfa.*", "user.created", false},
		{"*", "user.created", true},
		{"*", "a", true},
		{"*", "", false},
	}
	for _, tt := range tests {
		p, err := ParsePattern(tt.pattern)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Match(tt.eventType); got != tt.want {
			t.Errorf("%q.Match(%q) = %v, want %v", tt.pattern, tt.eventType, got, tt.want)
		}
	}
	var zero Pattern
	if zero.Match("user.created") || zero.Match("") {
		t.Error("zero Pattern matched")
	}
	if _, ok := zero.Exact(); ok {
		t.Error("zero Pattern is exact")
	}
	if _, ok := zero.Prefix(); ok {
		t.Error("zero Pattern is a prefix")
	}
}

// FuzzParsePattern checks the grammar against an independent token-wise
// reading and Match against the contract's definition.
func FuzzParsePattern(f *testing.F) {
	for _, s := range []string{"*", "user.created", "user.*", "user*", "*.x", "a.*.b", "", "user.mfa.*"} {
		f.Add(s, "user.mfa.enabled")
	}
	f.Fuzz(func(t *testing.T, s, eventType string) {
		p, err := ParsePattern(s)
		toks := strings.Split(s, ".")
		last := toks[len(toks)-1]
		wantOK := s == "*" || ValidEventType(s) ||
			(len(toks) > 1 && last == "*" && ValidEventType(strings.Join(toks[:len(toks)-1], ".")))
		if (err == nil) != wantOK {
			t.Fatalf("ParsePattern(%q) err = %v, want ok %v", s, err, wantOK)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidPattern) {
				t.Fatalf("error %v does not wrap ErrInvalidPattern", err)
			}
			return
		}
		if p.String() != s {
			t.Fatalf("String() = %q", p.String())
		}
		if !ValidEventType(eventType) {
			return
		}
		var want bool
		switch {
		case s == "*":
			want = true
		case last == "*":
			et := strings.Split(eventType, ".")
			base := toks[:len(toks)-1]
			want = len(et) > len(base) && strings.Join(et[:len(base)], ".") == strings.Join(base, ".")
		default:
			want = s == eventType
		}
		if got := p.Match(eventType); got != want {
			t.Fatalf("%q.Match(%q) = %v, want %v", s, eventType, got, want)
		}
	})
}
