package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/scailabs/webhookd/admin"
)

func defaultKeyPath(dataDir string) string { return filepath.Join(dataDir, "jwt.key") }

// token prints an HS256 admin token signed with the local key: the key a
// bare `webhookd serve` generated in its data dir, or --jwt-hs256-key-file.
func token(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("token", stderr)
	var c admin.TokenClaims
	fs.StringVar(&c.Role, "role", "", "super_admin, partner_admin or tenant_admin (may be empty with --platform)")
	fs.StringVar(&c.TenantID, "tenant-id", "", "tenant_id claim")
	fs.StringVar(&c.PartnerID, "partner-id", "", "partner_id claim")
	fs.StringVar(&c.Scope, "scope", "", `scope claim, e.g. "admin:read admin:write"`)
	fs.BoolVar(&c.Platform, "platform", false, "a platform token (platform_token: true)")
	fs.StringVar(&c.Subject, "subject", "webhookd-cli", "sub claim")
	fs.StringVar(&c.Issuer, "jwt-issuer", "", "iss claim (match the server's --jwt-issuer)")
	fs.StringVar(&c.Audience, "jwt-audience", "", "aud claim (match the server's --jwt-audience)")
	ttl := fs.Duration("ttl", time.Hour, "lifetime")
	dataDir := fs.String("data-dir", "./data", "data dir whose jwt.key signs")
	keyFile := fs.String("jwt-hs256-key-file", "", "HS256 key file (instead of <data-dir>/jwt.key)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := validateTokenClaims(c, *ttl); err != nil {
		return err
	}
	path := *keyFile
	if path == "" {
		path = defaultKeyPath(*dataDir)
	}
	key, err := admin.LoadHS256KeyFile(path)
	if errors.Is(err, os.ErrNotExist) && *keyFile == "" {
		return fmt.Errorf("no key at %s: start `webhookd serve --data-dir %s` once to generate it, or pass --jwt-hs256-key-file", path, *dataDir)
	}
	if err != nil {
		return fmt.Errorf("key %s: %w", path, err)
	}
	tok, err := admin.MintToken(key, c, *ttl, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

func validateTokenClaims(c admin.TokenClaims, ttl time.Duration) error {
	switch c.Role {
	case "super_admin":
	case "partner_admin":
		if c.PartnerID == "" {
			return errors.New("--role partner_admin needs --partner-id")
		}
	case "tenant_admin":
		if c.TenantID == "" {
			return errors.New("--role tenant_admin needs --tenant-id")
		}
	case "":
		if !c.Platform {
			return errors.New("--role is required (super_admin, partner_admin or tenant_admin), or --platform with --scope")
		}
	default:
		return fmt.Errorf("--role: want super_admin, partner_admin or tenant_admin, got %q", c.Role)
	}
	if c.Platform && c.Scope == "" {
		return errors.New(`--platform needs --scope ("admin:read", "admin:write" or both)`)
	}
	if ttl <= 0 {
		return fmt.Errorf("--ttl: want a positive duration, got %s", ttl)
	}
	return nil
}
