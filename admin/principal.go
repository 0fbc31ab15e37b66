package admin

import (
	"context"
	"net/http"
	"slices"
)

// Roles and scopes as tokens name them.
const (
	roleSuperAdmin   = "super_admin"
	rolePartnerAdmin = "partner_admin"
	roleTenantAdmin  = "tenant_admin"
	scopeRead        = "admin:read"
	scopeWrite       = "admin:write"
)

const platformScopeDetail = "Platform token requires admin:read or admin:write scope"

// principalKind is who the caller is, decided once from the claims.
type principalKind int

const (
	kindSuperAdmin principalKind = iota + 1
	kindPlatform
	kindPartnerAdmin
	kindTenantAdmin
)

func (k principalKind) String() string {
	switch k {
	case kindSuperAdmin:
		return roleSuperAdmin
	case kindPlatform:
		return "platform"
	case kindPartnerAdmin:
		return rolePartnerAdmin
	case kindTenantAdmin:
		return roleTenantAdmin
	}
	return "unknown"
}

// principal is the authenticated caller.
type principal struct {
	kind      principalKind
	subject   string
	tenantID  string // tenant admins
	partnerID string // partner admins; tenant admins when the token has one
	canRead   bool   // platform tokens
	canWrite  bool   // platform tokens; write implies read
}

// newPrincipal maps claims to a principal; a token that is valid but names
// no usable role is a 403.
func newPrincipal(c *tokenClaims) (*principal, error) {
	p := &principal{subject: c.Subject}
	switch {
	case c.Role == roleSuperAdmin:
		p.kind = kindSuperAdmin
	case c.PlatformToken:
		p.kind = kindPlatform
		scopes := append(slices.Clone([]string(c.Scope)), c.Scopes...)
		p.canWrite = slices.Contains(scopes, scopeWrite)
		p.canRead = p.canWrite || slices.Contains(scopes, scopeRead)
	case c.Role == rolePartnerAdmin:
		if c.PartnerID == "" {
			return nil, forbidden("partner_admin token requires a partner_id claim")
		}
		p.kind, p.partnerID = kindPartnerAdmin, c.PartnerID
	case c.Role == roleTenantAdmin:
		if c.TenantID == "" {
			return nil, forbidden("tenant_admin token requires a tenant_id claim")
		}
		p.kind, p.tenantID, p.partnerID = kindTenantAdmin, c.TenantID, c.PartnerID
	default:
		return nil, forbidden("Token role is not allowed to manage webhooks")
	}
	return p, nil
}

// allowMethod checks a platform token's scope against the method: reads
// need admin:read or admin:write, everything else admin:write.
func (p *principal) allowMethod(method string) error {
	if p.kind != kindPlatform {
		return nil
	}
	read := method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
	if p.canWrite || read && p.canRead {
		return nil
	}
	return forbidden(platformScopeDetail)
}

// global reports whether p sees and changes everything.
func (p *principal) global() bool { return p.kind == kindSuperAdmin || p.kind == kindPlatform }

type principalKey struct{}

func withPrincipal(ctx context.Context, p *principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// principalFrom returns the request's principal; authenticate guarantees
// one on every authenticated route.
func principalFrom(ctx context.Context) *principal {
	p, _ := ctx.Value(principalKey{}).(*principal)
	return p
}
