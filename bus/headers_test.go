package bus

import "testing"

func TestReservedHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, prefix string
		want         bool
	}{
		{"Content-Type", "", true},
		{"content-type", "", true},
		{"USER-AGENT", "", true},
		{"Host", "", true},
		{"Content-Length", "", true},
		{"webhook-id", "", true},
		{"Webhook-Timestamp", "", true},
		{"WEBHOOK-SIGNATURE", "", true},
		{"X-ScaiKey-Webhook-ID", "", true},
		{"x-scaikey-event-id", "", true},
		{"X-ScaiKey-Event-Type", "", true},
		{"X-ScaiKey-Timestamp", "", true},
		{"X-ScaiKey-Signature", "", true},
		{"X-ScaiKey-Signature", DefaultLegacyPrefix, true},
		{"Transfer-Encoding", "", true},
		{"Connection", "", true},
		{" Host ", "", true},
		{"X-Acme-Signature", "X-Acme", true},
		{"x-acme-webhook-id", "X-Acme", true},
		{"X-ScaiKey-Signature", "X-Acme", false},
		{"X-ScaiKey-Custom", "", false},
		{"X-ScaiKey", "", false},
		{"X-ScaiKey-", "", false},
		{"Authorization", "", false},
		{"X-Api-Key", "", false},
		{"webhook-ids", "", false},
		{"X-ScaiKey-Webhook-ID-2", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		if got := ReservedHeader(tt.name, tt.prefix); got != tt.want {
			t.Errorf("ReservedHeader(%q, %q) = %v, want %v", tt.name, tt.prefix, got, tt.want)
		}
	}
}
