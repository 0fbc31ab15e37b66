package admin

import (
	"github.com/scailabs/webhookd/kv"
)

// sees reports whether w is inside p's scope (contract §5). Everything
// outside answers 404, exactly like an unknown id.
func (p *principal) sees(w *kv.Webhook) bool {
	switch p.kind {
	case kindSuperAdmin, kindPlatform:
		return true
	case kindPartnerAdmin:
		return w.PartnerID == p.partnerID
	case kindTenantAdmin:
		return w.TenantID == p.tenantID
	}
	return false
}

// webhookFilter narrows a list query to p's scope. ok is false when the
// query asks for objects p cannot see at all: the answer is an empty page.
func (p *principal) webhookFilter(tenantID, partnerID string) (f kv.WebhookFilter, ok bool) {
	switch p.kind {
	case kindSuperAdmin, kindPlatform:
		return kv.WebhookFilter{TenantID: tenantID, PartnerID: partnerID}, true
	case kindPartnerAdmin:
		if partnerID != "" && partnerID != p.partnerID {
			return kv.WebhookFilter{}, false
		}
		return kv.WebhookFilter{TenantID: tenantID, PartnerID: p.partnerID}, true
	case kindTenantAdmin:
		if tenantID != "" && tenantID != p.tenantID {
			return kv.WebhookFilter{}, false
		}
		return kv.WebhookFilter{TenantID: p.tenantID, PartnerID: partnerID}, true
	}
	return kv.WebhookFilter{}, false
}

// ownerField is a tenant_id or partner_id member of a create body: absent,
// or present with a value ("" when null or empty).
type ownerField struct {
	present bool
	value   string
}

// owner decides a new webhook's tenant and partner (contract §5): a tenant
// admin's come from the token, a partner admin's partner comes from the
// token and it may name one tenant, a global principal names both freely
// (neither: platform-wide). A body that contradicts the token is a 403.
func (p *principal) owner(tenant, partner ownerField) (tenantID, partnerID string, err error) {
	switch p.kind {
	case kindSuperAdmin, kindPlatform:
		return tenant.value, partner.value, nil
	case kindPartnerAdmin:
		if partner.present && partner.value != p.partnerID {
			return "", "", forbidden("Partner admins can only create webhooks for their own partner")
		}
		return tenant.value, p.partnerID, nil
	case kindTenantAdmin:
		if tenant.present && tenant.value != p.tenantID {
			return "", "", forbidden("Tenant admins can only create webhooks for their own tenant")
		}
		if partner.present && partner.value != p.partnerID {
			return "", "", forbidden("Tenant admins can only create webhooks for their own partner")
		}
		return p.tenantID, p.partnerID, nil
	}
	return "", "", forbidden("Token role is not allowed to manage webhooks")
}
