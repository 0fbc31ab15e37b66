package main

import (
	"bytes"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scailabs/webhookd/admin"
)

func tokenClaims(role, tenant, partner, scope string, platform bool) admin.TokenClaims {
	return admin.TokenClaims{Role: role, TenantID: tenant, PartnerID: partner, Scope: scope, Platform: platform}
}

func TestTokenSaysHowToGetAKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	err := token([]string{"--role", "super_admin", "--data-dir", dir}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "start `webhookd serve") {
		t.Fatalf("token without a key: %v", err)
	}
}

func TestTokenSignsWithTheDataDirKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := admin.LoadOrCreateHS256Key(filepath.Join(dir, "jwt.key")); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := token([]string{"--role", "tenant_admin", "--tenant-id", "tnt_a", "--data-dir", dir}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if parts := strings.Split(strings.TrimSpace(out.String()), "."); len(parts) != 3 {
		t.Fatalf("token %q is not a JWT", out.String())
	}
}
