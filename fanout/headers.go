package fanout

import (
	"net/http"
	"strconv"
	"sync"

	"github.com/scailabs/webhookd/bus"
)

// AttemptHeader is what BuildHeader needs for one attempt.
type AttemptHeader struct {
	EventID, EventType string
	DeliveryID         int64
	Timestamp          int64 // unix seconds of this attempt
	Secrets            []string
	Body               []byte
	UserAgent          string // Defaults to "webhookd/dev".
	LegacyPrefix       string // Defaults to "X-ScaiKey".
	Custom             map[string]string
}

// BuildHeader builds the full outgoing header set of contract section 3
// for one attempt. Keys are canonical ("Webhook-Id"); HTTP header names
// are case-insensitive and HTTP/2 sends them lowercased anyway. Custom
// headers never replace a header set here: reserved names
// (bus.ReservedHeader) and names or values that are not valid HTTP are
// skipped.
func BuildHeader(h AttemptHeader) http.Header {
	ua := h.UserAgent
	if ua == "" {
		ua = "webhookd/dev"
	}
	prefix := h.LegacyPrefix
	if prefix == "" {
		prefix = bus.DefaultLegacyPrefix
	}
	legacy := legacyNamesOf(prefix)
	ts := strconv.FormatInt(h.Timestamp, 10)
	// One backing array for the values, keys already canonical: Set
	// canonicalised each name and allocated each value's slice, half of
	// this function's allocations.
	vals := make([]string, 0, 11)
	out := make(http.Header, 11+len(h.Custom))
	set := func(key, value string) {
		vals = append(vals, value)
		out[key] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	set("Content-Type", "application/json")
	set("User-Agent", ua)
	set("Webhook-Id", h.EventID)
	set("Webhook-Timestamp", ts)
	if sig := SignStandard(h.Secrets, h.EventID, h.Timestamp, h.Body); sig != "" {
		set("Webhook-Signature", sig)
	}
	set(legacy.webhookID, strconv.FormatInt(h.DeliveryID, 10))
	set(legacy.eventID, h.EventID)
	set(legacy.eventType, h.EventType)
	set(legacy.timestamp, ts)
	if sig := SignLegacy(h.Secrets, h.Timestamp, h.Body); sig != "" {
		set(legacy.signature, sig)
	}
	for name, value := range h.Custom {
		if bus.ReservedHeader(name, prefix) || !validHeaderName(name) || !validHeaderValue(value) {
			continue
		}
		key := http.CanonicalHeaderKey(name)
		if _, taken := out[key]; taken {
			continue
		}
		out[key] = []string{value}
	}
	return out
}

// legacyNames are the canonical names of the legacy headers of a prefix.
type legacyNames struct {
	webhookID, eventID, eventType, timestamp, signature string
}

// legacyNamesByPrefix caches legacyNames per prefix (one per process).
var legacyNamesByPrefix sync.Map

func legacyNamesOf(prefix string) *legacyNames {
	if n, ok := legacyNamesByPrefix.Load(prefix); ok {
		return n.(*legacyNames)
	}
	name := func(suffix string) string { return http.CanonicalHeaderKey(prefix + suffix) }
	n, _ := legacyNamesByPrefix.LoadOrStore(prefix, &legacyNames{
		webhookID: name("-Webhook-ID"),
		eventID:   name("-Event-ID"),
		eventType: name("-Event-Type"),
		timestamp: name("-Timestamp"),
		signature: name("-Signature"),
	})
	return n.(*legacyNames)
}

// validHeaderName reports whether name is an RFC 9110 token.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '!' || c == '#' || c == '$' || c == '%' || c == '&' || c == '\'' || c == '*' ||
			c == '+' || c == '-' || c == '.' || c == '^' || c == '_' || c == '`' || c == '|' || c == '~':
		default:
			return false
		}
	}
	return true
}

// validHeaderValue refuses control characters other than tab (CR and LF
// would split the header).
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
