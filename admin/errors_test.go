package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/scailabs/webhookd/kv"
)

func TestStoreFailuresAreNotLeaked(t *testing.T) {
	t.Parallel()
	f := setup(t)
	w := f.createWebhook("", "")
	f.store.fail(fmt.Errorf("get webhook: %w", errInjected))
	for _, path := range []string{base, base + "/" + w.ID, base + "/" + w.ID + "/stats"} {
		r := f.as(superAdmin, "GET", path, nil)
		expectStatus(t, r, http.StatusInternalServerError)
		if string(r.body) != `{"detail":"Internal server error"}`+"\n" {
			t.Errorf("%s: body %s", path, r.body)
		}
	}
	if logs := f.logs.String(); !strings.Contains(logs, "disk on fire") || !strings.Contains(logs, "admin request failed") {
		t.Errorf("the cause was not logged: %s", logs)
	}

	f.store.fail(kv.ErrClosed)
	r := f.as(superAdmin, "GET", base+"/"+w.ID, nil)
	expectStatus(t, r, http.StatusServiceUnavailable)

	f.store.fail(fmt.Errorf("wrapped: %w", kv.ErrNotFound))
	r = f.as(superAdmin, "GET", base+"/"+w.ID, nil)
	expectStatus(t, r, http.StatusNotFound)
}

func TestWriteErrorMapping(t *testing.T) {
	t.Parallel()
	f := setup(t)
	v := &validationError{}
	v.add(typeMissing, "Field required", "body", "url")
	cases := []struct {
		err    error
		status int
		body   string
	}{
		{v, 422, `{"detail":[{"loc":["body","url"],"msg":"Field required","type":"missing"}]}`},
		{unauthorized("Not authenticated"), 401, `{"detail":"Not authenticated"}`},
		{forbidden("no"), 403, `{"detail":"no"}`},
		{fmt.Errorf("x: %w", kv.ErrNotFound), 404, `{"detail":"Webhook not found"}`},
		{errDeliveryNotFound, 404, `{"detail":"Delivery not found"}`},
		{errDeliveryPending, 409, `{"detail":"Delivery is already pending"}`},
		{kv.ErrConflict, 409, `{"detail":"Conflict"}`},
		{errBodyTooLarge, 413, `{"detail":"Request body too large"}`},
		{kv.ErrClosed, 503, `{"detail":"Service unavailable"}`},
		{errors.New("boom"), 500, `{"detail":"Internal server error"}`},
	}
	for _, c := range cases {
		rec := httptest.NewRecorder()
		f.api.writeError(rec, httptest.NewRequest("GET", "/x", nil), c.err)
		if rec.Code != c.status || strings.TrimSpace(rec.Body.String()) != c.body {
			t.Errorf("%v: %d %s, want %d %s", c.err, rec.Code, rec.Body, c.status, c.body)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%v: Content-Type %q", c.err, ct)
		}
		if (rec.Code == 401) != (rec.Header().Get("WWW-Authenticate") == "Bearer") {
			t.Errorf("%v: WWW-Authenticate %q", c.err, rec.Header().Get("WWW-Authenticate"))
		}
	}
}

func TestRecoverer(t *testing.T) {
	t.Parallel()
	f := setup(t)
	h := f.api.recoverer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("handler bug") }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
	if rec.Code != 500 || strings.TrimSpace(rec.Body.String()) != `{"detail":"Internal server error"}` {
		t.Errorf("panic answered %d %s", rec.Code, rec.Body)
	}
	if !strings.Contains(f.logs.String(), "handler bug") {
		t.Error("the panic was not logged")
	}
	abort := f.api.recoverer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }))
	func() {
		defer func() {
			if rec := recover(); rec != http.ErrAbortHandler {
				t.Errorf("ErrAbortHandler not re-raised: %v", rec)
			}
		}()
		abort.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/x", nil))
	}()
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *Config) {
		c.Ready = func(context.Context) error { return nil }
	})
	expectStatus(t, f.do("GET", "/healthz", "", nil), http.StatusOK)
	expectStatus(t, f.do("GET", "/readyz", "", nil), http.StatusOK)
	g := setup(t, func(c *Config) {
		c.Ready = func(context.Context) error { return errors.New("nats: no servers available at 10.0.0.7") }
	})
	r := g.do("GET", "/readyz", "", nil)
	expectStatus(t, r, http.StatusServiceUnavailable)
	if strings.Contains(string(r.body), "10.0.0.7") {
		t.Errorf("readyz leaks its cause: %s", r.body)
	}
	// No metrics handler: no /metrics route.
	expectStatus(t, f.do("GET", "/metrics", "", nil), http.StatusNotFound)
	// Operational routes need no token; the API does.
	expectStatus(t, f.do("GET", "/openapi.json", "", nil), http.StatusOK)
	expectStatus(t, f.do("GET", base, "", nil), http.StatusUnauthorized)
}
