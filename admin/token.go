package admin

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MinHS256KeyBytes is the shortest HS256 key accepted.
const MinHS256KeyBytes = 32

// TokenClaims are what MintToken signs. Empty fields are left out of the
// token; Scope is space-separated ("admin:read admin:write").
type TokenClaims struct {
	Role      string
	TenantID  string
	PartnerID string
	Scope     string
	Subject   string
	Issuer    string
	Audience  string
	Platform  bool
}

// MintToken signs an HS256 token with key, valid from now for ttl.
func MintToken(key []byte, c TokenClaims, ttl time.Duration, now time.Time) (string, error) {
	if len(key) < MinHS256KeyBytes {
		return "", fmt.Errorf("admin: mint token: key has %d bytes, want at least %d", len(key), MinHS256KeyBytes)
	}
	if ttl <= 0 {
		return "", fmt.Errorf("admin: mint token: ttl %s is not positive", ttl)
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", fmt.Errorf("admin: mint token: %w", err)
	}
	claims := tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			ID:        hex.EncodeToString(jti[:]),
			Subject:   c.Subject,
			Issuer:    c.Issuer,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
		Role:          c.Role,
		TenantID:      c.TenantID,
		PartnerID:     c.PartnerID,
		PlatformToken: c.Platform,
		Scope:         strings.Fields(c.Scope),
	}
	if c.Audience != "" {
		claims.Audience = jwt.ClaimStrings{c.Audience}
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(key)
	if err != nil {
		return "", fmt.Errorf("admin: mint token: %w", err)
	}
	return s, nil
}

// LoadHS256KeyFile reads an HS256 key file: its text, surrounding
// whitespace trimmed, is the key, of at least MinHS256KeyBytes bytes.
func LoadHS256KeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("admin: read hs256 key: %w", err)
	}
	key := bytes.TrimSpace(b)
	if len(key) < MinHS256KeyBytes {
		return nil, fmt.Errorf("admin: hs256 key %s has %d bytes, want at least %d", path, len(key), MinHS256KeyBytes)
	}
	return key, nil
}

// LoadOrCreateHS256Key loads the key at path, creating it first when the
// file does not exist: the base64 of 48 random bytes, mode 0600, in a
// directory created with mode 0700. Concurrent first uses agree on one key.
func LoadOrCreateHS256Key(path string) ([]byte, error) {
	key, err := LoadHS256KeyFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("admin: create hs256 key dir: %w", err)
	}
	var raw [48]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, fmt.Errorf("admin: create hs256 key: %w", err)
	}
	if err := writeNewFile(path, []byte(base64.StdEncoding.EncodeToString(raw[:])+"\n")); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("admin: create hs256 key: %w", err)
	}
	// Whoever linked the file first won; everyone reads that one.
	return LoadHS256KeyFile(path)
}

// writeNewFile writes data to a temporary file beside path and links it
// into place, so path never exists half-written; fs.ErrExist when path
// already exists.
func writeNewFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	err = os.Link(tmp, path)
	var le *os.LinkError
	if err != nil && !errors.Is(err, fs.ErrExist) && errors.As(err, &le) {
		// No hard links on this file system: an exclusive create instead.
		return writeExclusive(path, data)
	}
	return err
}

func writeExclusive(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
