package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/scailabs/webhookd/kv"
)

// The scoping table of contract §5: every object route × every principal ×
// every kind of object.

type scopeObject struct {
	name            string
	tenant, partner string
}

var objects = []scopeObject{
	{"platform-wide", "", ""},
	{"partner P", "", "prt_p"},
	{"tenant T of P", "tnt_t", "prt_p"},
	{"tenant U of Q", "tnt_u", "prt_q"},
}

type who struct {
	name   string
	claims TokenClaims
	sees   []string // object names visible
	write  bool
}

var principals = []who{
	{"super admin", superAdmin, []string{"platform-wide", "partner P", "tenant T of P", "tenant U of Q"}, true},
	{"platform read-only", platformRO, []string{"platform-wide", "partner P", "tenant T of P", "tenant U of Q"}, false},
	{"platform read-write", platformRW, []string{"platform-wide", "partner P", "tenant T of P", "tenant U of Q"}, true},
	{"partner admin P", partnerP, []string{"partner P", "tenant T of P"}, true},
	{"partner admin Q", partnerQ, []string{"tenant U of Q"}, true},
	{"tenant admin T of P", tenantTofP, []string{"tenant T of P"}, true},
	{"tenant admin U of Q", tenantUofQ, []string{"tenant U of Q"}, true},
}

type objectRoute struct {
	name   string
	method string
	path   func(w *kv.Webhook, d *kv.Delivery) string
	body   any
	ok     int
}

var objectRoutes = []objectRoute{
	{"get", "GET", func(w *kv.Webhook, _ *kv.Delivery) string { return base + "/" + w.ID }, nil, 200},
	{"patch", "PATCH", func(w *kv.Webhook, _ *kv.Delivery) string { return base + "/" + w.ID }, map[string]any{"description": "new"}, 200},
	{"delete", "DELETE", func(w *kv.Webhook, _ *kv.Delivery) string { return base + "/" + w.ID }, nil, 204},
	{"deliveries", "GET", func(w *kv.Webhook, _ *kv.Delivery) string { return base + "/" + w.ID + "/deliveries" }, nil, 200},
	{"delivery", "GET", func(w *kv.Webhook, d *kv.Delivery) string {
		return fmt.Sprintf("%s/%s/deliveries/%d", base, w.ID, d.ID)
	}, nil, 200},
	{"retry", "POST", func(w *kv.Webhook, d *kv.Delivery) string {
		return fmt.Sprintf("%s/%s/deliveries/%d/retry", base, w.ID, d.ID)
	}, nil, 200},
	{"rotate", "POST", func(w *kv.Webhook, _ *kv.Delivery) string { return base + "/" + w.ID + "/rotate-secret" }, nil, 200},
	{"stats", "GET", func(w *kv.Webhook, _ *kv.Delivery) string { return base + "/" + w.ID + "/stats" }, nil, 200},
	{"test", "POST", func(w *kv.Webhook, _ *kv.Delivery) string { return base + "/" + w.ID + "/test" }, nil, 200},
}

func TestScopingTable(t *testing.T) {
	t.Parallel()
	for _, rt := range objectRoutes {
		t.Run(rt.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			seq := uint64(0)
			for _, p := range principals {
				for _, o := range objects {
					// Fresh objects per cell: writes must not leak into other cells.
					w := f.createWebhook(o.tenant, o.partner)
					seq++
					d := f.createDelivery(w, fmt.Sprintf("evt_%d", seq), seq, kv.DeliveryFailed)
					f.tasks.setEvent(seq, []byte(`{"event_id":"x"}`))
					before := f.storedWebhook(w.ID)

					want := http.StatusNotFound
					switch {
					case rt.method != "GET" && !p.write:
						want = http.StatusForbidden
					case slices.Contains(p.sees, o.name):
						want = rt.ok
					}
					r := f.as(p.claims, rt.method, rt.path(w, d), rt.body)
					if r.status != want {
						t.Errorf("%s %s on %s: status %d, want %d; body %s", p.name, rt.name, o.name, r.status, want, r.body)
						continue
					}
					switch want {
					case http.StatusNotFound:
						if got := r.detail(t); got != "Webhook not found" {
							t.Errorf("%s %s on %s: detail %q, want the unknown-id answer", p.name, rt.name, o.name, got)
						}
					case http.StatusForbidden:
						if got := r.detail(t); got != platformScopeDetail {
							t.Errorf("%s %s on %s: detail %q", p.name, rt.name, o.name, got)
						}
					}
					if want != rt.ok && rt.method != "GET" {
						// A refused write changed nothing.
						after, err := f.bolt.GetWebhook(t.Context(), w.ID)
						if err != nil || after.Secret != before.Secret || after.Description != before.Description || !after.UpdatedAt.Equal(before.UpdatedAt) {
							t.Errorf("%s %s on %s was refused but the webhook changed: %+v, %v", p.name, rt.name, o.name, after, err)
						}
					}
				}
			}
			// A refused write never published or purged anything for a foreign webhook.
			pub, purged := f.tasks.snapshot()
			if rt.name != "retry" && len(pub) != 0 || rt.name != "delete" && len(purged) != 0 {
				t.Errorf("unexpected side effects: published %d, purged %v", len(pub), purged)
			}
		})
	}
}

// An unknown id answers exactly like a foreign one.
func TestForeignLooksUnknown(t *testing.T) {
	t.Parallel()
	f := setup(t)
	foreign := f.createWebhook("tnt_u", "prt_q")
	a := f.as(tenantTofP, "GET", base+"/"+foreign.ID, nil)
	b := f.as(tenantTofP, "GET", base+"/wh_01JSDQ7ZQ8M6Y3V5X2W9T4R1PA", nil)
	if a.status != b.status || string(a.body) != string(b.body) {
		t.Errorf("foreign %d %s vs unknown %d %s", a.status, a.body, b.status, b.body)
	}
}

func TestListScoping(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ids := map[string]string{}
	for _, o := range objects {
		ids[o.name] = f.createWebhook(o.tenant, o.partner).ID
	}
	queries := []string{"", "?tenant_id=tnt_t", "?tenant_id=tnt_u", "?partner_id=prt_p", "?partner_id=prt_q",
		"?tenant_id=tnt_u&partner_id=prt_q", "?tenant_id=tnt_t&partner_id=prt_q", "?per_page=1", "?per_page=1&page=2"}
	for _, p := range principals {
		visible := map[string]bool{}
		for _, name := range p.sees {
			visible[ids[name]] = true
		}
		all := listIDs(t, f, p.claims, "")
		if len(all) != len(p.sees) {
			t.Errorf("%s lists %d webhooks, want %d (%v)", p.name, len(all), len(p.sees), p.sees)
		}
		for _, q := range queries {
			r := f.as(p.claims, "GET", base+q, nil)
			expectStatus(t, r, http.StatusOK)
			var page struct {
				Items []struct {
					ID string `json:"id"`
				} `json:"items"`
				Total int `json:"total"`
			}
			r.json(t, &page)
			for _, it := range page.Items {
				if !visible[it.ID] {
					t.Errorf("%s list%s shows foreign webhook %s", p.name, q, it.ID)
				}
			}
			if page.Total > len(p.sees) {
				t.Errorf("%s list%s total %d reveals more than the %d visible", p.name, q, page.Total, len(p.sees))
			}
		}
	}
	if got := listIDs(t, f, partnerP, "?tenant_id=tnt_t"); !slices.Equal(got, []string{ids["tenant T of P"]}) {
		t.Errorf("partner P list tenant T = %v", got)
	}
	if got := listIDs(t, f, tenantUofQ, "?partner_id=prt_q"); !slices.Equal(got, []string{ids["tenant U of Q"]}) {
		t.Errorf("tenant U list partner Q = %v", got)
	}
	// Every principal may read the catalogue; a scopeless platform token may not.
	for _, p := range principals {
		expectStatus(t, f.as(p.claims, "GET", base+"/events", nil), http.StatusOK)
	}
	r := f.as(platformNone, "GET", base+"/events", nil)
	expectStatus(t, r, http.StatusForbidden)
	if d := r.detail(t); d != platformScopeDetail {
		t.Errorf("detail = %q", d)
	}
}

func TestCreateOwnership(t *testing.T) {
	t.Parallel()
	f := setup(t)
	cases := []struct {
		who     string
		claims  TokenClaims
		owner   string // extra JSON members
		status  int
		tenant  string
		partner string
	}{
		{"super", superAdmin, ``, 201, "", ""},
		{"super", superAdmin, `,"tenant_id":"tnt_x","partner_id":"prt_y"`, 201, "tnt_x", "prt_y"},
		{"super", superAdmin, `,"partner_id":"prt_y"`, 201, "", "prt_y"},
		{"super", superAdmin, `,"tenant_id":null,"partner_id":""`, 201, "", ""},
		{"platform rw", platformRW, `,"tenant_id":"tnt_x"`, 201, "tnt_x", ""},
		{"platform rw", platformRW, ``, 201, "", ""},
		{"platform ro", platformRO, ``, 403, "", ""},
		{"platform none", platformNone, ``, 403, "", ""},
		{"platform write-only", TokenClaims{Platform: true, Scope: "admin:write"}, ``, 201, "", ""},
		{"partner P", partnerP, ``, 201, "", "prt_p"},
		{"partner P", partnerP, `,"tenant_id":"tnt_t"`, 201, "tnt_t", "prt_p"},
		{"partner P", partnerP, `,"partner_id":"prt_p","tenant_id":"tnt_t"`, 201, "tnt_t", "prt_p"},
		{"partner P", partnerP, `,"partner_id":"prt_q"`, 403, "", ""},
		{"partner P", partnerP, `,"partner_id":null`, 403, "", ""},
		{"partner P", partnerP, `,"partner_id":""`, 403, "", ""},
		{"tenant T", tenantTofP, ``, 201, "tnt_t", "prt_p"},
		{"tenant T", tenantTofP, `,"tenant_id":"tnt_t","partner_id":"prt_p"`, 201, "tnt_t", "prt_p"},
		{"tenant T", tenantTofP, `,"tenant_id":"tnt_u"`, 403, "", ""},
		{"tenant T", tenantTofP, `,"tenant_id":null`, 403, "", ""},
		{"tenant T", tenantTofP, `,"tenant_id":""`, 403, "", ""},
		{"tenant T", tenantTofP, `,"partner_id":"prt_q"`, 403, "", ""},
		{"tenant T", tenantTofP, `,"partner_id":null`, 403, "", ""},
		{"tenant without partner", TokenClaims{Role: "tenant_admin", TenantID: "tnt_z"}, ``, 201, "tnt_z", ""},
		{"tenant without partner", TokenClaims{Role: "tenant_admin", TenantID: "tnt_z"}, `,"partner_id":"prt_p"`, 403, "", ""},
		{"partner admin without partner", TokenClaims{Role: "partner_admin"}, ``, 403, "", ""},
		{"tenant admin without tenant", TokenClaims{Role: "tenant_admin", PartnerID: "prt_p"}, ``, 403, "", ""},
		{"no role", TokenClaims{Subject: "nobody"}, ``, 403, "", ""},
		{"unknown role", TokenClaims{Role: "admin"}, ``, 403, "", ""},
	}
	for _, c := range cases {
		body := `{"url":"https://r.example/","events":["user.created"]` + c.owner + `}`
		r := f.as(c.claims, "POST", base, body)
		if r.status != c.status {
			t.Errorf("%s %s: status %d, want %d; %s", c.who, c.owner, r.status, c.status, r.body)
			continue
		}
		if c.status != 201 {
			if d := r.detail(t); d == "" {
				t.Errorf("%s %s: empty detail", c.who, c.owner)
			}
			continue
		}
		m := r.object(t)
		w := f.storedWebhook(m["id"].(string))
		if w.TenantID != c.tenant || w.PartnerID != c.partner {
			t.Errorf("%s %s: stored owner (%q, %q), want (%q, %q)", c.who, c.owner, w.TenantID, w.PartnerID, c.tenant, c.partner)
		}
	}
	// Nothing refused was stored: count what was created.
	want := 0
	for _, c := range cases {
		if c.status == 201 {
			want++
		}
	}
	if got := listIDs(t, f, superAdmin, "?per_page=100"); len(got) != want {
		t.Errorf("stored %d webhooks, want %d", len(got), want)
	}
}

func TestPlatformScopeClaims(t *testing.T) {
	t.Parallel()
	f := setup(t)
	w := f.createWebhook("", "")
	// "scopes" as a list works like "scope".
	tok := func(extra string) string {
		t.Helper()
		now := f.clock.Now().Unix()
		return sign(t, jwtHS256, testKey, rawClaims(fmt.Sprintf(`{"platform_token":true,"exp":%d,"iat":%d%s}`, now+60, now, extra)), "")
	}
	cases := []struct {
		extra       string
		read, write int
	}{
		{`,"scopes":["admin:write"]`, 200, 200},
		{`,"scopes":["admin:read"]`, 200, 403},
		{`,"scope":["admin:read","other"]`, 200, 403},
		{`,"scope":"other admin:write"`, 200, 200},
		{`,"scope":"admin:readx"`, 403, 403},
		{``, 403, 403},
	}
	for _, c := range cases {
		if r := f.do("GET", base+"/"+w.ID, tok(c.extra), nil); r.status != c.read {
			t.Errorf("%s: read %d, want %d", c.extra, r.status, c.read)
		}
		if r := f.do("PATCH", base+"/"+w.ID, tok(c.extra), `{"description":"x"}`); r.status != c.write {
			t.Errorf("%s: write %d, want %d", c.extra, r.status, c.write)
		} else if c.write == 403 && !strings.Contains(string(r.body), platformScopeDetail) {
			t.Errorf("%s: body %s", c.extra, r.body)
		}
	}
}

var jwtHS256 = jwt.SigningMethodHS256

func rawClaims(s string) jwt.MapClaims {
	var m jwt.MapClaims
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		panic(err)
	}
	return m
}
