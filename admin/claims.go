package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// tokenClaims are the claims webhookd reads (and MintToken writes).
type tokenClaims struct {
	jwt.RegisteredClaims
	Role          string    `json:"role,omitempty"`
	TenantID      string    `json:"tenant_id,omitempty"`
	PartnerID     string    `json:"partner_id,omitempty"`
	PlatformToken bool      `json:"platform_token,omitempty"`
	Scope         scopeList `json:"scope,omitempty"`
	Scopes        scopeList `json:"scopes,omitempty"`
}

// scopeList is an OAuth scope claim: a space-separated string (RFC 8693)
// or, as some issuers write it, a list of strings.
type scopeList []string

func (s *scopeList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) > 0 && b[0] == '"':
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		*s = strings.Fields(str)
	case len(b) > 0 && b[0] == '[':
		var list []string
		if err := json.Unmarshal(b, &list); err != nil {
			return err
		}
		var out []string
		for _, item := range list {
			out = append(out, strings.Fields(item)...)
		}
		*s = out
	case string(b) == "null":
		*s = nil
	default:
		return errors.New("scope must be a string or a list of strings")
	}
	return nil
}

func (s scopeList) MarshalJSON() ([]byte, error) {
	return json.Marshal(strings.Join(s, " "))
}
