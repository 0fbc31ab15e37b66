package admin

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
)

// accessLog logs one line per request: method, route pattern (never the
// query or headers), status, duration and request id.
func (a *API) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		status := ww.Status()
		if status == 0 {
			status = http.StatusOK
		}
		route, _ := routePattern(r)
		level := slog.LevelInfo
		switch {
		case status >= 500:
			level = slog.LevelError
		case !strings.HasPrefix(route, basePath):
			level = slog.LevelDebug // probes and scrapes every few seconds
		}
		a.log.LogAttrs(r.Context(), level, "admin request",
			slog.String("method", r.Method),
			slog.String("route", route),
			slog.Int("status", status),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			slog.String("request_id", middleware.GetReqID(r.Context())))
	})
}

// routePattern is the matched route ("/api/v1/admin/webhooks/{webhook_id}"),
// or the path and false when nothing matched.
func routePattern(r *http.Request) (string, bool) {
	rctx := chi.RouteContext(r.Context())
	if rctx == nil || rctx.RoutePattern() == "" {
		return r.URL.Path, false
	}
	p := strings.TrimSuffix(rctx.RoutePattern(), "/*")
	if len(p) > 1 && p != basePath+"/" {
		p = strings.TrimSuffix(p, "/")
	}
	return p, true
}
