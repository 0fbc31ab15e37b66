package admin

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scailabs/webhookd/kv"
)

const base = "/api/v1/admin/webhooks"

var (
	idPattern     = regexp.MustCompile(`^wh_[0-7][0-9A-HJKMNP-TV-Z]{25}$`)
	secretPattern = regexp.MustCompile(`^whsec_[A-Za-z0-9+/]{43}=$`)
)

func TestCreateWebhookShape(t *testing.T) {
	t.Parallel()
	f := setup(t)
	r := f.as(superAdmin, "POST", base, map[string]any{
		"url": "https://receiver.example/hook", "events": []string{"user.created", "request.*", "user.created"},
		"description": "billing sync", "headers": map[string]string{"X-Team": "core"}, "tenant_id": "tnt_t", "partner_id": "prt_p",
	})
	expectStatus(t, r, http.StatusCreated)
	m := r.object(t)
	id, _ := m["id"].(string)
	secret, _ := m["secret"].(string)
	if !idPattern.MatchString(id) {
		t.Errorf("id = %q, want wh_ + 26 Crockford base32 characters", id)
	}
	if !secretPattern.MatchString(secret) || !validSecret(secret) {
		t.Errorf("secret = %q, want whsec_ + base64 of 32 bytes", secret)
	}
	want := map[string]any{
		"url": "https://receiver.example/hook", "description": "billing sync", "status": "active",
		"disabled_reason": nil, "max_retries": 5.0, "timeout_seconds": 10.0, "tenant_id": "tnt_t", "partner_id": "prt_p",
		"consecutive_failures": 0.0, "last_success_at": nil, "last_failure_at": nil, "previous_secret_expires_at": nil,
		"created_at": "2026-04-22T14:30:00.000Z", "updated_at": "2026-04-22T14:30:00.000Z",
		"secret_hint": secret[:8] + "…" + secret[len(secret)-2:],
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %#v, want %#v", k, m[k], v)
		}
	}
	if ev := fmt.Sprint(m["events"]); ev != "[user.created request.*]" {
		t.Errorf("events = %s, want the patterns without the duplicate", ev)
	}
	if h := fmt.Sprint(m["headers"]); h != "map[X-Team:core]" {
		t.Errorf("headers = %s", h)
	}

	// Stored as answered, secret included.
	w := f.storedWebhook(id)
	if w.Secret != secret || w.TenantID != "tnt_t" || w.PartnerID != "prt_p" || w.URL != "https://receiver.example/hook" {
		t.Errorf("stored webhook = %+v", w)
	}

	// The secret is never shown again.
	for _, path := range []string{base + "/" + id, base, base + "/"} {
		g := f.as(superAdmin, "GET", path, nil)
		expectStatus(t, g, http.StatusOK)
		if strings.Contains(string(g.body), secret) || strings.Contains(string(g.body), `"secret"`) {
			t.Errorf("GET %s shows the secret: %s", path, g.body)
		}
	}
}

func TestCreateWebhookGivenSecretAndDefaults(t *testing.T) {
	t.Parallel()
	f := setup(t)
	given := "whsec_" + strings.Repeat("QUJD", 8) // base64 of 24 bytes
	r := f.as(superAdmin, "POST", base+"/", map[string]any{
		"url": "https://r.example/", "events": []string{"*"}, "secret": given, "status": "inactive",
		"max_retries": 0, "timeout_seconds": 30, "description": nil, "headers": nil,
	})
	expectStatus(t, r, http.StatusCreated)
	m := r.object(t)
	if m["secret"] != given || m["status"] != "inactive" || m["max_retries"] != 0.0 || m["timeout_seconds"] != 30.0 ||
		m["description"] != "" || m["tenant_id"] != nil || m["partner_id"] != nil {
		t.Errorf("created = %v", m)
	}
	if w := f.storedWebhook(m["id"].(string)); w.Secret != given || w.Headers != nil {
		t.Errorf("stored = %+v", w)
	}
}

func TestWebhookIDsAreTimeOrdered(t *testing.T) {
	t.Parallel()
	f := setup(t)
	var ids []string
	for i := 0; i < 5; i++ {
		r := f.as(superAdmin, "POST", base, map[string]any{"url": "https://r.example/", "events": []string{"*"}})
		expectStatus(t, r, http.StatusCreated)
		ids = append(ids, r.object(t)["id"].(string))
	}
	if !slices.IsSorted(ids) {
		t.Errorf("ids made in one millisecond are not ordered: %v", ids)
	}
}

func TestListWebhooksPagination(t *testing.T) {
	t.Parallel()
	f := setup(t)
	var made []string
	for i := 0; i < 5; i++ {
		made = append(made, f.createWebhook("", "").ID)
		f.clock.Add(time.Second)
	}
	type page struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
		Total, Page, PerPage, Pages int
	}
	var p page
	r := f.as(superAdmin, "GET", base+"?per_page=2&page=2", nil)
	expectStatus(t, r, http.StatusOK)
	r.json(t, &p)
	m := r.object(t)
	if m["per_page"] != 2.0 || m["pages"] != 3.0 || m["total"] != 5.0 || m["page"] != 2.0 {
		t.Errorf("page = %v", m)
	}
	// Newest first: the second page holds the 3rd and 2nd made.
	if len(p.Items) != 2 || p.Items[0].ID != made[2] || p.Items[1].ID != made[1] {
		t.Errorf("page 2 = %+v, want %s, %s", p.Items, made[2], made[1])
	}
	r = f.as(superAdmin, "GET", base+"?page=9", nil)
	expectStatus(t, r, http.StatusOK)
	if m := r.object(t); fmt.Sprint(m["items"]) != "[]" || m["total"] != 5.0 || m["per_page"] != 20.0 || m["pages"] != 1.0 {
		t.Errorf("beyond the last page = %v", m)
	}
}

func TestListWebhooksFilters(t *testing.T) {
	t.Parallel()
	f := setup(t)
	plat := f.createWebhook("", "")
	pp := f.createWebhook("", "prt_p")
	tp := f.createWebhook("tnt_t", "prt_p")
	uq := f.createWebhook("tnt_u", "prt_q")
	cases := []struct {
		query string
		want  []string
	}{
		{"", []string{uq.ID, tp.ID, pp.ID, plat.ID}},
		{"?partner_id=prt_p", []string{tp.ID, pp.ID}},
		{"?tenant_id=tnt_t", []string{tp.ID}},
		{"?tenant_id=tnt_u&partner_id=prt_q", []string{uq.ID}},
		{"?tenant_id=tnt_u&partner_id=prt_p", nil},
		{"?tenant_id=nobody", nil},
	}
	for _, c := range cases {
		got := listIDs(t, f, superAdmin, c.query)
		if !slices.Equal(got, c.want) {
			t.Errorf("list%s = %v, want %v", c.query, got, c.want)
		}
	}
}

func listIDs(t *testing.T, f *fixture, c TokenClaims, query string) []string {
	t.Helper()
	r := f.as(c, "GET", base+query, nil)
	expectStatus(t, r, http.StatusOK)
	var p struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
		Total int `json:"total"`
	}
	r.json(t, &p)
	var ids []string
	for _, it := range p.Items {
		ids = append(ids, it.ID)
	}
	if p.Total != len(ids) {
		t.Errorf("list%s as %s: total %d but %d items", query, c.Subject, p.Total, len(ids))
	}
	return ids
}

func TestPatchWebhook(t *testing.T) {
	t.Parallel()
	f := setup(t)
	w := f.createWebhook("tnt_t", "prt_p")
	f.clock.Add(time.Minute)
	r := f.as(tenantTofP, "PATCH", base+"/"+w.ID, map[string]any{
		"url": "https://new.example/x", "events": []string{"tenant.*"}, "max_retries": 20, "timeout_seconds": 1,
		"headers": map[string]string{"X-A": "1"}, "description": nil,
	})
	expectStatus(t, r, http.StatusOK)
	m := r.object(t)
	if m["url"] != "https://new.example/x" || fmt.Sprint(m["events"]) != "[tenant.*]" || m["max_retries"] != 20.0 ||
		m["timeout_seconds"] != 1.0 || m["description"] != "" || m["updated_at"] != "2026-04-22T14:31:00.000Z" ||
		m["created_at"] != "2026-04-22T14:30:00.000Z" || m["tenant_id"] != "tnt_t" {
		t.Errorf("patched = %v", m)
	}
	if _, ok := m["secret"]; ok {
		t.Error("PATCH answer shows the secret")
	}
	got := f.storedWebhook(w.ID)
	if got.URL != "https://new.example/x" || got.Headers["X-A"] != "1" || got.Secret != w.Secret || got.Status != kv.WebhookActive {
		t.Errorf("stored = %+v", got)
	}
	// headers null clears them; absent fields stay.
	r = f.as(tenantTofP, "PATCH", base+"/"+w.ID, map[string]any{"headers": nil})
	expectStatus(t, r, http.StatusOK)
	if got := f.storedWebhook(w.ID); got.Headers != nil || got.URL != "https://new.example/x" || got.MaxRetries != 20 {
		t.Errorf("after headers null = %+v", got)
	}
	// An empty patch changes nothing.
	before := f.storedWebhook(w.ID)
	f.clock.Add(time.Minute)
	expectStatus(t, f.as(tenantTofP, "PATCH", base+"/"+w.ID, map[string]any{}), http.StatusOK)
	if after := f.storedWebhook(w.ID); !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Errorf("empty patch moved updated_at to %v", after.UpdatedAt)
	}
}

func TestPatchReEnablesDisabledWebhook(t *testing.T) {
	t.Parallel()
	f := setup(t)
	w := f.createWebhook("", "")
	disable := func() {
		t.Helper()
		_, err := f.bolt.UpdateWebhook(t.Context(), w.ID, func(w *kv.Webhook) error {
			w.Status, w.DisabledReason, w.ConsecutiveFailures = kv.WebhookDisabled, "endpoint answered 410 Gone", 50
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	disable()
	r := f.as(superAdmin, "GET", base+"/"+w.ID, nil)
	if m := r.object(t); m["status"] != "disabled" || m["disabled_reason"] != "endpoint answered 410 Gone" || m["consecutive_failures"] != 50.0 {
		t.Errorf("disabled webhook = %v", m)
	}
	r = f.as(superAdmin, "PATCH", base+"/"+w.ID, map[string]any{"status": "active"})
	expectStatus(t, r, http.StatusOK)
	if m := r.object(t); m["status"] != "active" || m["disabled_reason"] != nil || m["consecutive_failures"] != 0.0 {
		t.Errorf("re-enabled = %v", m)
	}
	if got := f.storedWebhook(w.ID); got.Status != kv.WebhookActive || got.DisabledReason != "" || got.ConsecutiveFailures != 0 {
		t.Errorf("stored = %+v", got)
	}
	// Disabled to inactive: the reason goes, the streak stays.
	disable()
	r = f.as(superAdmin, "PATCH", base+"/"+w.ID, map[string]any{"status": "inactive"})
	expectStatus(t, r, http.StatusOK)
	if got := f.storedWebhook(w.ID); got.Status != kv.WebhookInactive || got.DisabledReason != "" || got.ConsecutiveFailures != 50 {
		t.Errorf("stored = %+v", got)
	}
	// ...and inactive to active clears it: the webhook starts afresh.
	r = f.as(superAdmin, "PATCH", base+"/"+w.ID, map[string]any{"status": "active"})
	expectStatus(t, r, http.StatusOK)
	if got := f.storedWebhook(w.ID); got.Status != kv.WebhookActive || got.ConsecutiveFailures != 0 {
		t.Errorf("inactive → active: stored = %+v, want active with no failures", got)
	}
}

func TestDeleteWebhook(t *testing.T) {
	t.Parallel()
	f := setup(t)
	w := f.createWebhook("", "prt_p")
	f.createDelivery(w, "evt_1", 1, kv.DeliveryPending)
	r := f.as(partnerP, "DELETE", base+"/"+w.ID, nil)
	expectStatus(t, r, http.StatusNoContent)
	if len(r.body) != 0 {
		t.Errorf("204 with body %q", r.body)
	}
	if _, purged := f.tasks.snapshot(); !slices.Equal(purged, []string{w.ID}) {
		t.Errorf("purged = %v, want [%s]", purged, w.ID)
	}
	if _, err := f.bolt.GetWebhook(t.Context(), w.ID); err == nil {
		t.Error("webhook still stored")
	}
	r = f.as(partnerP, "GET", base+"/"+w.ID, nil)
	expectStatus(t, r, http.StatusNotFound)
	if d := r.detail(t); d != "Webhook not found" {
		t.Errorf("detail = %q", d)
	}
	expectStatus(t, f.as(partnerP, "DELETE", base+"/"+w.ID, nil), http.StatusNotFound)
}

func TestUnknownAndMalformedIDs(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for _, id := range []string{"wh_01JSDQ7ZQ8M6Y3V5X2W9T4R1PA", "nope", "wh_", "wh_01JSDQ7ZQ8M6Y3V5X2W9T4R1PAX", "wh_81JSDQ7ZQ8M6Y3V5X2W9T4R1PA"} {
		for _, path := range []string{"", "/deliveries", "/stats"} {
			r := f.as(superAdmin, "GET", base+"/"+id+path, nil)
			expectStatus(t, r, http.StatusNotFound)
			if d := r.detail(t); d != "Webhook not found" {
				t.Errorf("%s%s: detail %q", id, path, d)
			}
		}
	}
	r := f.as(superAdmin, "GET", "/api/v1/admin/nothing", nil)
	expectStatus(t, r, http.StatusNotFound)
	if d := r.detail(t); d != "Not Found" {
		t.Errorf("unknown route detail = %q", d)
	}
	expectStatus(t, f.as(superAdmin, "PUT", base, nil), http.StatusMethodNotAllowed)
}
