package fanout

import (
	"net/http"
	"strconv"

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
	ts := strconv.FormatInt(h.Timestamp, 10)
	out := make(http.Header, 10+len(h.Custom))
	out.Set("Content-Type", "application/json")
	out.Set("User-Agent", ua)
	out.Set("webhook-id", h.EventID)
	out.Set("webhook-timestamp", ts)
	if sig := SignStandard(h.Secrets, h.EventID, h.Timestamp, h.Body); sig != "" {
		out.Set("webhook-signature", sig)
	}
	out.Set(prefix+"-Webhook-ID", strconv.FormatInt(h.DeliveryID, 10))
	out.Set(prefix+"-Event-ID", h.EventID)
	out.Set(prefix+"-Event-Type", h.EventType)
	out.Set(prefix+"-Timestamp", ts)
	if sig := SignLegacy(h.Secrets, h.Timestamp, h.Body); sig != "" {
		out.Set(prefix+"-Signature", sig)
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
