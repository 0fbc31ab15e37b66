package admin

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/scailabs/webhookd/kv"
)

var (
	// errDeliveryNotFound is a delivery id unknown for its webhook.
	errDeliveryNotFound = errors.New("admin: delivery not found")
	// errDeliveryPending is a manual retry of a delivery still pending.
	errDeliveryPending = errors.New("admin: delivery is already pending")
	// errEventGone is a manual retry whose envelope is no longer retained.
	errEventGone = errors.New("admin: event no longer retained")
	// errBodyTooLarge is a request body over Config.MaxBodyBytes.
	errBodyTooLarge = errors.New("admin: request body too large")
)

// httpError is an error whose status and detail are decided where it is
// raised: authentication (401) and authorisation (403) failures, unknown
// routes (404, 405).
type httpError struct {
	status int
	detail string
}

func (e *httpError) Error() string { return "admin: " + e.detail }

func unauthorized(detail string) error {
	return &httpError{status: http.StatusUnauthorized, detail: detail}
}

func forbidden(detail string) error { return &httpError{status: http.StatusForbidden, detail: detail} }

// detail is the FastAPI error body.
type detail struct {
	Detail string `json:"detail"`
}

// writeError maps every error a handler returns to its HTTP answer. It is
// the one place where errors become status codes; anything unexpected is a
// 500 whose cause is logged, never sent.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var (
		ve *validationError
		he *httpError
	)
	switch {
	case errors.As(err, &ve):
		writeJSON(w, http.StatusUnprocessableEntity, ve)
	case errors.As(err, &he):
		if he.status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", "Bearer")
		}
		writeJSON(w, he.status, detail{he.detail})
	case errors.Is(err, errBodyTooLarge):
		writeJSON(w, http.StatusRequestEntityTooLarge, detail{"Request body too large"})
	case errors.Is(err, errDeliveryNotFound):
		writeJSON(w, http.StatusNotFound, detail{"Delivery not found"})
	case errors.Is(err, kv.ErrNotFound):
		writeJSON(w, http.StatusNotFound, detail{"Webhook not found"})
	case errors.Is(err, errDeliveryPending):
		writeJSON(w, http.StatusConflict, detail{"Delivery is already pending"})
	case errors.Is(err, errEventGone):
		writeJSON(w, http.StatusConflict, detail{"The event is no longer retained by the event stream; this delivery cannot be retried"})
	case errors.Is(err, kv.ErrConflict):
		writeJSON(w, http.StatusConflict, detail{"Conflict"})
	case errors.Is(err, kv.ErrClosed):
		a.log.LogAttrs(r.Context(), slog.LevelWarn, "admin request failed: store closed",
			slog.String("method", r.Method), slog.String("path", r.URL.Path))
		writeJSON(w, http.StatusServiceUnavailable, detail{"Service unavailable"})
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody reads this answer.
		writeJSON(w, http.StatusServiceUnavailable, detail{"Request cancelled"})
	default:
		a.log.LogAttrs(r.Context(), slog.LevelError, "admin request failed",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("error", err.Error()))
		writeJSON(w, http.StatusInternalServerError, detail{"Internal server error"})
	}
}

// handlerFunc is a handler that reports failure by returning an error.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle adapts fn, sending its error through writeError.
func (a *API) handle(fn handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			a.writeError(w, r, err)
		}
	}
}
