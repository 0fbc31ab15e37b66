package admin

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/scailabs/webhookd/kv"
)

// TestOpenAPIEveryRouteLive drives every documented operation to its
// success answer (each answer is validated against the document by
// fixture.do) and checks the router and the document list the same routes.
func TestOpenAPIEveryRouteLive(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *Config) {
		c.Metrics = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte("# metrics\n"))
		})
	})
	tok := f.token(superAdmin)
	base := "/api/v1/admin/webhooks"

	for _, p := range []string{base, base + "/"} {
		r := f.do("POST", p, tok, map[string]any{"url": "https://a.example/h", "events": []string{"user.*"}})
		expectStatus(t, r, http.StatusCreated)
		expectStatus(t, f.do("GET", p, tok, nil), http.StatusOK)
	}
	expectStatus(t, f.do("GET", base+"/events", tok, nil), http.StatusOK)

	w := f.createWebhook("tnt_t", "prt_p")
	id := w.ID
	expectStatus(t, f.do("GET", base+"/"+id, tok, nil), http.StatusOK)
	expectStatus(t, f.do("PATCH", base+"/"+id, tok, map[string]any{"description": "x"}), http.StatusOK)
	d := f.createDelivery(w, "evt_1", 7, kv.DeliveryFailed)
	f.tasks.setEvent(7, []byte(`{"event_id":"evt_1"}`))
	expectStatus(t, f.do("GET", base+"/"+id+"/deliveries", tok, nil), http.StatusOK)
	expectStatus(t, f.do("GET", base+"/"+id+"/deliveries/"+itoa(d.ID), tok, nil), http.StatusOK)
	expectStatus(t, f.do("POST", base+"/"+id+"/deliveries/"+itoa(d.ID)+"/retry", tok, nil), http.StatusOK)
	expectStatus(t, f.do("POST", base+"/"+id+"/rotate-secret", tok, nil), http.StatusOK)
	expectStatus(t, f.do("GET", base+"/"+id+"/stats", tok, nil), http.StatusOK)
	expectStatus(t, f.do("POST", base+"/"+id+"/test", tok, nil), http.StatusOK)
	expectStatus(t, f.do("DELETE", base+"/"+id, tok, nil), http.StatusNoContent)
	expectStatus(t, f.do("GET", "/openapi.json", "", nil), http.StatusOK)
	expectStatus(t, f.do("GET", "/healthz", "", nil), http.StatusOK)
	expectStatus(t, f.do("GET", "/readyz", "", nil), http.StatusOK)
	expectStatus(t, f.do("GET", "/metrics", "", nil), http.StatusOK)

	ops := operations(t)
	for op, code := range ops {
		if !f.seen.has(op + " " + code) {
			t.Errorf("operation %s was not driven to %s", op, code)
		}
	}

	// The router and the document describe the same routes.
	var routed []string
	err := chi.Walk(f.api.handler.(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		route = strings.TrimSuffix(strings.ReplaceAll(route, "/*/", "/"), "/*")
		if strings.HasSuffix(route, "}/") {
			route = strings.TrimSuffix(route, "/")
		}
		routed = append(routed, method+" "+route)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for op := range ops {
		if !slices.Contains(routed, op) {
			t.Errorf("documented %s is not routed (routes: %v)", op, routed)
		}
	}
	for _, rt := range routed {
		if _, ok := ops[rt]; !ok {
			t.Errorf("route %s is not documented", rt)
		}
	}
}

func TestOpenAPIDocumentShape(t *testing.T) {
	t.Parallel()
	f := setup(t)
	r := f.do("GET", "/openapi.json", "", nil)
	expectStatus(t, r, http.StatusOK)
	var doc struct {
		OpenAPI    string `json:"openapi"`
		Components struct {
			Schemas         map[string]json.RawMessage `json:"schemas"`
			SecuritySchemes map[string]struct {
				Type, Scheme, BearerFormat string
			} `json:"securitySchemes"`
		} `json:"components"`
		Paths map[string]map[string]struct {
			Security *[]any `json:"security"`
		} `json:"paths"`
	}
	r.json(t, &doc)
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	for _, name := range []string{"Webhook", "WebhookCreated", "WebhookCreate", "WebhookUpdate", "WebhookPage", "DeliveryPage",
		"Delivery", "DeliveryDetail", "Attempt", "Stats", "EventTypes", "RotateSecretRequest", "RotateSecretResponse",
		"TestRequest", "TestResponse", "HTTPError", "ValidationError"} {
		if _, ok := doc.Components.Schemas[name]; !ok {
			t.Errorf("components.schemas lacks %s", name)
		}
	}
	if s := doc.Components.SecuritySchemes["bearerAuth"]; s.Type != "http" || s.Scheme != "bearer" || s.BearerFormat != "JWT" {
		t.Errorf("bearerAuth = %+v", s)
	}
	for _, p := range []string{"/openapi.json", "/healthz", "/readyz"} {
		if sec := doc.Paths[p]["get"].Security; sec == nil || len(*sec) != 0 {
			t.Errorf("%s should be documented without security", p)
		}
	}
	if _, ok := doc.Paths["/metrics"]; ok {
		t.Error("/metrics documented while no metrics handler is configured")
	}
}

// TestOpenAPICheckerRefuses shows the live check can fail: answers that
// break the document are reported.
func TestOpenAPICheckerRefuses(t *testing.T) {
	t.Parallel()
	hdr := http.Header{"Content-Type": []string{"application/json"}}
	wh := "/api/v1/admin/webhooks/wh_01JSDQ7ZQ8M6Y3V5X2W9T4R1PA"
	cases := []struct {
		name, method, path string
		r                  response
	}{
		{"missing keys", "GET", wh, response{200, hdr, []byte(`{"id":"wh_01JSDQ7ZQ8M6Y3V5X2W9T4R1PA"}`)}},
		{"undocumented status", "GET", wh, response{418, hdr, []byte(`{"detail":"x"}`)}},
		{"secret leaked into a webhook", "GET", wh + "/stats", response{200, hdr, []byte(`{"detail":"x"}`)}},
		{"body on 204", "DELETE", wh, response{204, hdr, []byte(`{}`)}},
		{"422 of the wrong shape", "POST", "/api/v1/admin/webhooks", response{422, hdr, []byte(`{"detail":"bad"}`)}},
		{"not json", "GET", "/healthz", response{200, http.Header{"Content-Type": []string{"text/plain"}}, []byte(`ok`)}},
	}
	for _, c := range cases {
		if _, problem := openAPIProblem(false, c.method, c.path, &c.r); problem == "" {
			t.Errorf("%s: the checker accepted it", c.name)
		}
	}
	good := response{200, hdr, []byte(`{"status":"ok"}`)}
	if _, problem := openAPIProblem(false, "GET", "/healthz", &good); problem != "" {
		t.Errorf("a valid answer was refused: %s", problem)
	}
}
