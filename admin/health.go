package admin

import (
	"log/slog"
	"net/http"
)

type healthView struct {
	Status string `json:"status"`
}

func (a *API) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, healthView{"ok"})
}

// readyz answers 503 while Config.Ready fails; the cause is logged, not
// sent, since the route is unauthenticated.
func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	if a.cfg.Ready != nil {
		if err := a.cfg.Ready(r.Context()); err != nil {
			a.log.LogAttrs(r.Context(), slog.LevelWarn, "not ready", slog.String("error", err.Error()))
			writeJSON(w, http.StatusServiceUnavailable, healthView{"unavailable"})
			return
		}
	}
	writeJSON(w, http.StatusOK, healthView{"ok"})
}

func (a *API) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(a.openapi)
}
