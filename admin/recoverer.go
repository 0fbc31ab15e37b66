package admin

import (
	"log/slog"
	"net/http"
	"runtime/debug"
)

// recoverer turns a panic in a handler into a logged 500 with the usual
// error body. Handlers are written not to panic; this is the backstop.
// http.ErrAbortHandler is re-raised, as net/http expects.
func (a *API) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			rec := recover()
			if rec == nil {
				return
			}
			if rec == http.ErrAbortHandler {
				panic(rec)
			}
			a.log.LogAttrs(r.Context(), slog.LevelError, "admin handler panicked",
				slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Any("panic", rec), slog.String("stack", string(debug.Stack())))
			writeJSON(w, http.StatusInternalServerError, detail{"Internal server error"})
		}()
		next.ServeHTTP(w, r)
	})
}
