package bus

import "strings"

// DefaultLegacyPrefix is the legacy signature header prefix.
const DefaultLegacyPrefix = "X-ScaiKey"

// Standard Webhooks header names set on every delivery.
const (
	DeliveryHeaderID        = "webhook-id"
	DeliveryHeaderTimestamp = "webhook-timestamp"
	DeliveryHeaderSignature = "webhook-signature"
)

// Legacy header name suffixes, appended to the legacy prefix
// ("X-ScaiKey" + LegacyHeaderWebhookID = "X-ScaiKey-Webhook-ID").
const (
	LegacyHeaderWebhookID = "-Webhook-ID"
	LegacyHeaderEventID   = "-Event-ID"
	LegacyHeaderEventType = "-Event-Type"
	LegacyHeaderTimestamp = "-Timestamp"
	LegacyHeaderSignature = "-Signature"
)

// reservedHeaders are refused as custom headers whatever the prefix:
// the delivery's own headers, plus framing and hop-by-hop headers whose
// override would corrupt the request.
var reservedHeaders = []string{
	"Content-Type", "User-Agent", "Host", "Content-Length",
	DeliveryHeaderID, DeliveryHeaderTimestamp, DeliveryHeaderSignature,
	"Transfer-Encoding", "Connection", "Keep-Alive", "Upgrade", "TE",
	"Trailer", "Proxy-Connection",
}

var legacySuffixes = []string{
	LegacyHeaderWebhookID, LegacyHeaderEventID, LegacyHeaderEventType,
	LegacyHeaderTimestamp, LegacyHeaderSignature,
}

// ReservedHeader reports whether a webhook may not set this header name
// (case-insensitive): Content-Type, User-Agent, Host, Content-Length, the
// Standard Webhooks headers, <legacyPrefix>-Webhook-ID, -Event-ID,
// -Event-Type, -Timestamp, -Signature, and the hop-by-hop and framing
// headers (Transfer-Encoding, Connection, Keep-Alive, Upgrade, TE, Trailer,
// Proxy-Connection). An empty legacyPrefix means DefaultLegacyPrefix.
func ReservedHeader(name, legacyPrefix string) bool {
	name = strings.TrimSpace(name)
	for _, r := range reservedHeaders {
		if strings.EqualFold(name, r) {
			return true
		}
	}
	if legacyPrefix == "" {
		legacyPrefix = DefaultLegacyPrefix
	}
	if len(name) <= len(legacyPrefix) || !strings.EqualFold(name[:len(legacyPrefix)], legacyPrefix) {
		return false
	}
	rest := name[len(legacyPrefix):]
	for _, s := range legacySuffixes {
		if strings.EqualFold(rest, s) {
			return true
		}
	}
	return false
}
