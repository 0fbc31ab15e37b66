package admin

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestMintToken(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_776_000_000, 0)
	tok, err := MintToken(testKey, TokenClaims{Role: "tenant_admin", TenantID: "tnt_t", PartnerID: "prt_p",
		Scope: " admin:read  admin:write ", Subject: "me", Issuer: "webhookd", Audience: "webhookd-admin", Platform: true}, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	var m jwt.MapClaims
	parsed, err := jwt.ParseWithClaims(tok, &m, func(*jwt.Token) (any, error) { return testKey, nil },
		jwt.WithTimeFunc(func() time.Time { return now }), jwt.WithValidMethods([]string{"HS256"}))
	if err != nil || !parsed.Valid {
		t.Fatalf("parse: %v", err)
	}
	want := map[string]any{"role": "tenant_admin", "tenant_id": "tnt_t", "partner_id": "prt_p", "scope": "admin:read admin:write",
		"sub": "me", "iss": "webhookd", "platform_token": true, "iat": float64(now.Unix()), "exp": float64(now.Add(time.Hour).Unix())}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %#v, want %#v", k, m[k], v)
		}
	}
	if aud, _ := m.GetAudience(); len(aud) != 1 || aud[0] != "webhookd-admin" {
		t.Errorf("aud = %v", aud)
	}
	if jti, _ := m["jti"].(string); len(jti) != 32 {
		t.Errorf("jti = %v", m["jti"])
	}
	// Empty claims are left out.
	tok, err = MintToken(testKey, TokenClaims{Role: "super_admin"}, time.Minute, now)
	if err != nil {
		t.Fatal(err)
	}
	m = jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(tok, &m, func(*jwt.Token) (any, error) { return testKey, nil }, jwt.WithTimeFunc(func() time.Time { return now })); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"tenant_id", "partner_id", "scope", "sub", "iss", "aud", "platform_token", "scopes"} {
		if _, ok := m[k]; ok {
			t.Errorf("empty claim %s present: %v", k, m)
		}
	}
	if _, err := MintToken([]byte("short"), TokenClaims{}, time.Hour, now); err == nil {
		t.Error("short key accepted")
	}
	if _, err := MintToken(testKey, TokenClaims{}, 0, now); err == nil {
		t.Error("zero ttl accepted")
	}
}

func TestLoadOrCreateHS256Key(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data", "keys")
	path := filepath.Join(dir, "jwt.key")
	key, err := LoadOrCreateHS256Key(path)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(string(key))
	if err != nil || len(raw) != 48 {
		t.Errorf("key %q is not base64 of 48 bytes: %v", key, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v, %v; want 0600", fi.Mode(), err)
	}
	di, err := os.Stat(dir)
	if err != nil || di.Mode().Perm() != 0o700 {
		t.Errorf("key dir mode = %v, %v; want 0700", di.Mode(), err)
	}
	again, err := LoadOrCreateHS256Key(path)
	if err != nil || string(again) != string(key) {
		t.Errorf("second load = %q, %v; want the same key", again, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	// A token minted with it verifies with it.
	tok, err := MintToken(key, TokenClaims{Role: "super_admin"}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return again, nil }); err != nil {
		t.Errorf("verify with the loaded key: %v", err)
	}
}

func TestLoadOrCreateHS256KeyConcurrent(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "jwt.key")
	keys := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := LoadOrCreateHS256Key(path)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		}()
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if string(k) != string(keys[0]) {
			t.Fatalf("concurrent first uses disagree: %q vs %q", k, keys[0])
		}
	}
}

func TestLoadHS256KeyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	k := strings.Repeat("k", 32)
	got, err := LoadHS256KeyFile(write("ok", "\n  "+k+"\t\n"))
	if err != nil || string(got) != k {
		t.Errorf("trimmed key = %q, %v", got, err)
	}
	if _, err := LoadHS256KeyFile(write("short", "  "+strings.Repeat("k", 31)+"\n")); err == nil {
		t.Error("31-byte key accepted")
	}
	if _, err := LoadHS256KeyFile(write("empty", "")); err == nil {
		t.Error("empty key accepted")
	}
	if _, err := LoadHS256KeyFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file accepted")
	}
	// LoadOrCreate does not replace an existing short key.
	if _, err := LoadOrCreateHS256Key(filepath.Join(dir, "short")); err == nil {
		t.Error("LoadOrCreate accepted an existing short key")
	}
}
