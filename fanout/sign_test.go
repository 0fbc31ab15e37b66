package fanout

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

type signatureCase struct {
	Secret            string `json:"secret"`
	WebhookID         string `json:"webhook_id"`
	Timestamp         int64  `json:"timestamp"`
	Body              string `json:"body"`
	WebhookSignature  string `json:"webhook_signature"`
	XScaiKeySignature string `json:"x_scaikey_signature"`
}

// loadVectors reads the golden vectors from testdata (a copy of
// shared/vectors/signatures.json, so the tests never leave the repo).
func loadVectors(t testing.TB) []signatureCase {
	t.Helper()
	raw, err := os.ReadFile("testdata/signatures.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Cases []signatureCase `json:"cases"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Cases) == 0 {
		t.Fatal("no signature vectors")
	}
	return f.Cases
}

// TestVectorsCopyCurrent fails when testdata drifts from the shared
// vectors (checked only where shared/ sits beside the repo).
func TestVectorsCopyCurrent(t *testing.T) {
	t.Parallel()
	shared, err := os.ReadFile("../../shared/vectors/signatures.json")
	if err != nil {
		t.Skip("shared/ not beside the repo:", err)
	}
	local, err := os.ReadFile("testdata/signatures.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(shared, local) {
		t.Fatal("testdata/signatures.json differs from shared/vectors/signatures.json: copy it again")
	}
}

func TestSignGoldenVectors(t *testing.T) {
	t.Parallel()
	for i, c := range loadVectors(t) {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			t.Parallel()
			body := []byte(c.Body)
			if got := SignStandard([]string{c.Secret}, c.WebhookID, c.Timestamp, body); got != c.WebhookSignature {
				t.Errorf("SignStandard = %q, want %q", got, c.WebhookSignature)
			}
			if got := SignLegacy([]string{c.Secret}, c.Timestamp, body); got != c.XScaiKeySignature {
				t.Errorf("SignLegacy = %q, want %q", got, c.XScaiKeySignature)
			}
		})
	}
}

func TestSignSeveralSecrets(t *testing.T) {
	t.Parallel()
	cs := loadVectors(t)
	a, b := cs[0], cs[1]
	// Sign b's message with both secrets: each part must be what that
	// secret alone gives, in the given order.
	body := []byte(b.Body)
	std := SignStandard([]string{b.Secret, a.Secret}, b.WebhookID, b.Timestamp, body)
	wantStd := b.WebhookSignature + " " + SignStandard([]string{a.Secret}, b.WebhookID, b.Timestamp, body)
	if std != wantStd {
		t.Errorf("SignStandard = %q, want %q", std, wantStd)
	}
	leg := SignLegacy([]string{b.Secret, a.Secret}, b.Timestamp, body)
	other := SignLegacy([]string{a.Secret}, b.Timestamp, body)
	wantLeg := b.XScaiKeySignature + "," + strings.TrimPrefix(other, "t="+strconv.FormatInt(b.Timestamp, 10)+",")
	if leg != wantLeg {
		t.Errorf("SignLegacy = %q, want %q", leg, wantLeg)
	}
	for _, secret := range []string{a.Secret, b.Secret} {
		if !verifyStandard(secret, b.WebhookID, strconv.FormatInt(b.Timestamp, 10), body, std) {
			t.Errorf("standard verifier rejects the signature for secret %d", len(secret))
		}
		if !verifyLegacy(secret, body, leg) {
			t.Errorf("legacy verifier rejects the signature")
		}
	}
}

// Signers reuse keyed HMAC states: goroutines signing with different
// secrets at once each get signatures of their own secret only.
func TestSignConcurrentSecretsStayApart(t *testing.T) {
	t.Parallel()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			secret := "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{byte(g + 1)}, 32))
			body := []byte(strconv.Itoa(g))
			for i := range 200 {
				ts := int64(1_700_000_000 + i)
				tss := strconv.FormatInt(ts, 10)
				if !verifyStandard(secret, "evt_1", tss, body, SignStandard([]string{secret}, "evt_1", ts, body)) {
					t.Errorf("goroutine %d: standard signature does not verify with its secret", g)
					return
				}
				if !verifyLegacy(secret, body, SignLegacy([]string{secret}, ts, body)) {
					t.Errorf("goroutine %d: legacy signature does not verify with its secret", g)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestSignNoSecrets(t *testing.T) {
	t.Parallel()
	for _, secrets := range [][]string{nil, {""}} {
		if got := SignStandard(secrets, "evt_1", 1, []byte("{}")); got != "" {
			t.Errorf("SignStandard(%q) = %q, want empty", secrets, got)
		}
		if got := SignLegacy(secrets, 1, []byte("{}")); got != "" {
			t.Errorf("SignLegacy(%q) = %q, want empty", secrets, got)
		}
	}
	// An empty secret beside a real one is skipped, not signed with.
	c := loadVectors(t)[0]
	if got := SignStandard([]string{"", c.Secret}, c.WebhookID, c.Timestamp, []byte(c.Body)); got != c.WebhookSignature {
		t.Errorf("SignStandard with an empty secret = %q, want %q", got, c.WebhookSignature)
	}
}

func TestStandardKey(t *testing.T) {
	t.Parallel()
	raw := []byte("0123456789abcdef0123456789abcdef")
	padded := base64.StdEncoding.EncodeToString(raw[:31]) // 31 bytes: padded form ends in "="
	tests := []struct {
		name, secret string
		want         []byte
	}{
		{"prefixed", "whsec_" + base64.StdEncoding.EncodeToString(raw), raw},
		{"no prefix", base64.StdEncoding.EncodeToString(raw), raw},
		{"padded", "whsec_" + padded, raw[:31]},
		{"unpadded", "whsec_" + strings.TrimRight(padded, "="), raw[:31]},
		{"not base64 falls back to raw bytes", "whsec_not*base64!", []byte("not*base64!")},
	}
	for _, tt := range tests {
		if got := standardKey(tt.secret); !bytes.Equal(got, tt.want) {
			t.Errorf("%s: standardKey(%q) = %q, want %q", tt.name, tt.secret, got, tt.want)
		}
	}
}

// verifyStandard is a small independent verifier following the Standard
// Webhooks spec: strip "whsec_", base64-decode the key, HMAC-SHA256 over
// "{id}.{timestamp}.{body}", accept when any space-separated "v1," entry
// matches.
func verifyStandard(secret, msgID, ts string, body []byte, header string) bool {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(msgID + "." + ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, part := range strings.Split(header, " ") {
		version, sig, ok := strings.Cut(part, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && hmac.Equal(got, want) {
			return true
		}
	}
	return false
}

// verifyLegacy checks a "t=<ts>,v1=<hex>..." header as a ScaiKey receiver
// does: key is the whole secret string, message "{t}.{body}".
func verifyLegacy(secret string, body []byte, header string) bool {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	if ts == "" {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range sigs {
		got, err := hex.DecodeString(s)
		if err == nil && hmac.Equal(got, want) {
			return true
		}
	}
	return false
}

func FuzzSignVerifies(f *testing.F) {
	f.Add([]byte("0123456789abcdef0123456789abcdef"), "evt_1", int64(1700000000), []byte(`{"a":1}`))
	f.Add([]byte{0}, "", int64(-1), []byte{})
	f.Fuzz(func(t *testing.T, key []byte, msgID string, ts int64, body []byte) {
		secret := "whsec_" + base64.StdEncoding.EncodeToString(key)
		tss := strconv.FormatInt(ts, 10)
		if !verifyStandard(secret, msgID, tss, body, SignStandard([]string{secret}, msgID, ts, body)) {
			t.Fatal("standard signature does not verify")
		}
		leg := SignLegacy([]string{secret}, ts, body)
		if !strings.HasPrefix(leg, "t="+tss+",v1=") || !verifyLegacy(secret, body, leg) {
			t.Fatalf("legacy signature %q does not verify", leg)
		}
		// A changed body must not verify.
		other := append(append([]byte(nil), body...), 'x')
		if verifyStandard(secret, msgID, tss, other, SignStandard([]string{secret}, msgID, ts, body)) {
			t.Fatal("signature verifies for another body")
		}
	})
}

func BenchmarkSignStandard(b *testing.B) {
	c := loadVectors(b)[1]
	body := []byte(c.Body)
	b.ReportAllocs()
	for b.Loop() {
		SignStandard([]string{c.Secret}, c.WebhookID, c.Timestamp, body)
	}
}

func BenchmarkSignLegacy(b *testing.B) {
	c := loadVectors(b)[1]
	body := []byte(c.Body)
	b.ReportAllocs()
	for b.Loop() {
		SignLegacy([]string{c.Secret}, c.Timestamp, body)
	}
}
