package admin

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRotateSecret(t *testing.T) {
	t.Parallel()
	f := setup(t)
	w := f.createWebhook("tnt_t", "prt_p")
	old := w.Secret
	path := base + "/" + w.ID + "/rotate-secret"

	r := f.as(tenantTofP, "POST", path, nil)
	expectStatus(t, r, http.StatusOK)
	m := r.object(t)
	secret, _ := m["secret"].(string)
	if len(m) != 3 || m["id"] != w.ID || !secretPattern.MatchString(secret) || secret == old ||
		m["previous_secret_expires_at"] != "2026-04-23T14:30:00.000Z" {
		t.Errorf("rotate = %v, want id, a new secret, and expiry one day later", m)
	}
	got := f.storedWebhook(w.ID)
	if got.Secret != secret || got.PreviousSecret != old || got.PreviousSecretExpiresAt == nil ||
		!got.PreviousSecretExpiresAt.Equal(t0.Add(24*time.Hour)) {
		t.Errorf("stored = secret %q previous %q until %v", got.Secret, got.PreviousSecret, got.PreviousSecretExpiresAt)
	}
	if live := got.LiveSecrets(f.clock.Now()); !slices.Equal(live, []string{secret, old}) {
		t.Errorf("live secrets = %v", live)
	}
	view := f.as(tenantTofP, "GET", base+"/"+w.ID, nil).object(t)
	if view["previous_secret_expires_at"] != "2026-04-23T14:30:00.000Z" || view["secret_hint"] != secretHint(secret) {
		t.Errorf("webhook view = %v", view)
	}
	// After the grace period the old secret no longer signs.
	f.clock.Add(24*time.Hour + time.Second)
	if live := f.storedWebhook(w.ID).LiveSecrets(f.clock.Now()); !slices.Equal(live, []string{secret}) {
		t.Errorf("live secrets after expiry = %v", live)
	}
	if v := f.as(tenantTofP, "GET", base+"/"+w.ID, nil).object(t); v["previous_secret_expires_at"] != nil {
		t.Errorf("expired previous secret still shown: %v", v["previous_secret_expires_at"])
	}
}

func TestRotateSecretGrace(t *testing.T) {
	t.Parallel()
	f := setup(t)
	w := f.createWebhook("", "")
	path := base + "/" + w.ID + "/rotate-secret"

	r := f.as(superAdmin, "POST", path, `{"grace_period_seconds":60}`)
	expectStatus(t, r, http.StatusOK)
	first := r.object(t)["secret"].(string)
	if got := f.storedWebhook(w.ID); got.PreviousSecret != w.Secret || !got.PreviousSecretExpiresAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("grace 60: stored previous %q until %v", got.PreviousSecret, got.PreviousSecretExpiresAt)
	}

	// Grace 0 drops the previous secret at once (also the one kept above).
	r = f.as(superAdmin, "POST", path, `{"grace_period_seconds":0}`)
	expectStatus(t, r, http.StatusOK)
	m := r.object(t)
	if m["previous_secret_expires_at"] != nil || m["secret"] == first {
		t.Errorf("grace 0 answer = %v", m)
	}
	got := f.storedWebhook(w.ID)
	if got.PreviousSecret != "" || got.PreviousSecretExpiresAt != nil || got.Secret != m["secret"] {
		t.Errorf("grace 0 stored previous %q until %v", got.PreviousSecret, got.PreviousSecretExpiresAt)
	}
	if live := got.LiveSecrets(f.clock.Now()); len(live) != 1 {
		t.Errorf("live secrets = %v", live)
	}

	for body, want := range map[string][]string{
		`{"grace_period_seconds":604801}`: {"body.grace_period_seconds:less_than_equal"},
		`{"grace_period_seconds":-1}`:     {"body.grace_period_seconds:greater_than_equal"},
		`{"grace_period_seconds":"60"}`:   {"body.grace_period_seconds:int_type"},
		`{"grace":60}`:                    {"body.grace:extra_forbidden"},
		`[]`:                              {"body:model_attributes_type"},
	} {
		if got := validationTypes(t, f.as(superAdmin, "POST", path, body)); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", body, got, want)
		}
	}
	expectStatus(t, f.as(superAdmin, "POST", path, `{"grace_period_seconds":604800}`), http.StatusOK)
	expectStatus(t, f.as(superAdmin, "POST", path, `null`), http.StatusOK)
	expectStatus(t, f.as(superAdmin, "POST", base+"/wh_01JSDQ7ZQ8M6Y3V5X2W9T4R1PA/rotate-secret", nil), http.StatusNotFound)
}

func TestSecretHelpers(t *testing.T) {
	t.Parallel()
	for i := 0; i < 20; i++ {
		s, err := newSecret()
		if err != nil || !validSecret(s) || !secretPattern.MatchString(s) {
			t.Fatalf("newSecret = %q, %v", s, err)
		}
	}
	valid := []string{
		"whsec_" + strings.Repeat("QUJD", 8),                 // 24 bytes
		"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwAAAAAAAAAAA=", // 32 bytes
		"whsec_" + strings.Repeat("QUJD", 21) + "QQ==",       // 64 bytes
	}
	invalid := []string{
		"", "whsec_", "whsec_" + strings.Repeat("QUJD", 7) + "QUI=", // 23 bytes
		"whsec_" + strings.Repeat("QUJD", 21) + "QUI=", // 65 bytes
		"WHSEC_" + strings.Repeat("QUJD", 8), "whsec_" + strings.Repeat("QUJD", 8) + "\n",
		"whsec_" + strings.Repeat("QUJD", 7) + "QUJ", // no padding
		"whsec_" + strings.Repeat("-_-_", 8),         // URL alphabet
		strings.Repeat("QUJD", 8),
	}
	for _, s := range valid {
		if !validSecret(s) {
			t.Errorf("validSecret(%q) = false", s)
		}
	}
	for _, s := range invalid {
		if validSecret(s) {
			t.Errorf("validSecret(%q) = true", s)
		}
	}
	for in, want := range map[string]string{
		"whsec_abcdefghij":                       "whsec_ab…ij",
		"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw": "whsec_Mf…Sw",
		"whsec_short":                            "whsec_…",
		"":                                       "whsec_…",
	} {
		if got := secretHint(in); got != want {
			t.Errorf("secretHint(%q) = %q, want %q", in, got, want)
		}
	}
}
