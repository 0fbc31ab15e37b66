package admin

import (
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
)

// basePath is where the webhook routes live.
const basePath = "/api/v1/admin/webhooks"

// routes builds the router: the twelve webhook routes of contract §4
// behind authentication, and the unauthenticated operational ones.
func (a *API) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.RequestID, a.tracing, a.accessLog, a.recoverer)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		a.writeError(w, r, &httpError{status: http.StatusNotFound, detail: "Not Found"})
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		a.writeError(w, r, &httpError{status: http.StatusMethodNotAllowed, detail: "Method Not Allowed"})
	})

	r.Get("/openapi.json", a.openAPI)
	r.Get("/healthz", a.healthz)
	r.Get("/readyz", a.readyz)
	if a.cfg.Metrics != nil {
		r.Get("/metrics", a.cfg.Metrics.ServeHTTP)
	}

	r.Group(func(r chi.Router) {
		r.Use(a.authenticate)
		for _, p := range []string{basePath, basePath + "/"} {
			r.Get(p, a.handle(a.listWebhooks))
			r.Post(p, a.handle(a.createWebhook))
		}
		r.Get(basePath+"/events", a.handle(a.listEventTypes))
		r.Route(basePath+"/{webhook_id}", func(r chi.Router) {
			r.Get("/", a.handle(a.getWebhook))
			r.Patch("/", a.handle(a.updateWebhook))
			r.Delete("/", a.handle(a.deleteWebhook))
			r.Get("/deliveries", a.handle(a.listDeliveries))
			r.Get("/deliveries/{delivery_id}", a.handle(a.getDelivery))
			r.Post("/deliveries/{delivery_id}/retry", a.handle(a.retryDelivery))
			r.Post("/rotate-secret", a.handle(a.rotateSecret))
			r.Get("/stats", a.handle(a.webhookStats))
			r.Post("/test", a.handle(a.testWebhook))
		})
	})
	return r
}
