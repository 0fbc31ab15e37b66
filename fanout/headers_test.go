package fanout

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestBuildHeader(t *testing.T) {
	t.Parallel()
	c := loadVectors(t)[1]
	body := []byte(c.Body)
	h := BuildHeader(AttemptHeader{
		EventID:    c.WebhookID,
		EventType:  "tenant.updated",
		DeliveryID: 4711,
		Timestamp:  c.Timestamp,
		Secrets:    []string{c.Secret},
		Body:       body,
		UserAgent:  "webhookd/1.2.3",
		Custom: map[string]string{
			"X-Team":              "blue",
			"authorization":       "Bearer receiver-token",
			"Content-Type":        "text/plain",   // reserved
			"webhook-id":          "spoof",        // reserved
			"X-ScaiKey-Signature": "spoof",        // reserved (legacy prefix)
			"x-scaikey-event-id":  "spoof",        // reserved, any case
			"Host":                "evil.example", // reserved
			"Content-Length":      "1",            // reserved
			"Bad Name":            "x",            // not a token
			"X-Split":             "a\r\nX-Injected: 1",
		},
	})
	want := map[string]string{
		"Content-Type":         "application/json",
		"User-Agent":           "webhookd/1.2.3",
		"Webhook-Id":           c.WebhookID,
		"Webhook-Timestamp":    "1747584000",
		"Webhook-Signature":    c.WebhookSignature,
		"X-Scaikey-Webhook-Id": "4711",
		"X-Scaikey-Event-Id":   c.WebhookID,
		"X-Scaikey-Event-Type": "tenant.updated",
		"X-Scaikey-Timestamp":  "1747584000",
		"X-Scaikey-Signature":  c.XScaiKeySignature,
		"X-Team":               "blue",
		"Authorization":        "Bearer receiver-token",
	}
	if len(h) != len(want) {
		t.Errorf("got %d headers, want %d: %v", len(h), len(want), keys(h))
	}
	for k, v := range want {
		if got := h.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want [%q]", k, got, v)
		}
	}
	// Case-insensitive lookups as the contract spells the names.
	if h.Get("webhook-id") != c.WebhookID || h.Get("X-ScaiKey-Webhook-ID") != "4711" {
		t.Error("lookups by the contract's spelling fail")
	}
	if !verifyStandard(c.Secret, h.Get("webhook-id"), h.Get("webhook-timestamp"), body, h.Get("webhook-signature")) {
		t.Error("webhook-signature does not verify")
	}
	if !verifyLegacy(c.Secret, body, h.Get("X-ScaiKey-Signature")) {
		t.Error("X-ScaiKey-Signature does not verify")
	}
}

func TestBuildHeaderDefaultsAndPrefix(t *testing.T) {
	t.Parallel()
	secrets := []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_dGhpcyBpcyBhIHRlc3Qgc2VjcmV0IG9mIDMyIGJ5dGVzIQ=="}
	h := BuildHeader(AttemptHeader{EventID: "evt_1", EventType: "user.created", DeliveryID: 1, Timestamp: 5, Secrets: secrets, Body: []byte("{}")})
	if h.Get("User-Agent") != "webhookd/dev" {
		t.Errorf("User-Agent = %q", h.Get("User-Agent"))
	}
	if h.Get("X-ScaiKey-Event-Type") != "user.created" {
		t.Errorf("default legacy prefix not used: %v", keys(h))
	}
	if n := len(strings.Fields(h.Get("webhook-signature"))); n != 2 {
		t.Errorf("webhook-signature has %d entries, want 2", n)
	}
	if n := strings.Count(h.Get("X-ScaiKey-Signature"), "v1="); n != 2 {
		t.Errorf("legacy signature has %d v1 entries, want 2", n)
	}

	h = BuildHeader(AttemptHeader{EventID: "evt_1", EventType: "a.b", DeliveryID: 9, Timestamp: 5, Secrets: secrets[:1],
		LegacyPrefix: "X-Acme", Custom: map[string]string{"X-Acme-Timestamp": "spoof", "X-ScaiKey-Timestamp": "kept"}})
	for k, v := range map[string]string{"X-Acme-Webhook-Id": "9", "X-Acme-Event-Type": "a.b", "X-Acme-Timestamp": "5", "X-Scaikey-Timestamp": "kept"} {
		if got := h.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want [%q]", k, got, v)
		}
	}
	if h.Get("X-Acme-Signature") == "" {
		t.Error("no legacy signature under the custom prefix")
	}
}

func keys(h http.Header) []string {
	var out []string
	for k := range h {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func BenchmarkBuildHeader(b *testing.B) {
	c := loadVectors(b)[1]
	ah := AttemptHeader{EventID: c.WebhookID, EventType: "tenant.updated", DeliveryID: 1, Timestamp: c.Timestamp,
		Secrets: []string{c.Secret}, Body: []byte(c.Body), Custom: map[string]string{"X-Team": "blue"}}
	b.ReportAllocs()
	for b.Loop() {
		BuildHeader(ah)
	}
}
