package admin

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/scailabs/webhookd/kv"
)

// webhookIDParam is the {webhook_id} path segment; a string that cannot be
// a webhook id is answered like an unknown one.
func webhookIDParam(r *http.Request) (string, error) {
	id := chi.URLParam(r, "webhook_id")
	if !validWebhookID(id) {
		return "", kv.ErrNotFound
	}
	return id, nil
}

// requestPrincipal is the authenticated caller of r.
func requestPrincipal(r *http.Request) (*principal, error) {
	p := principalFrom(r.Context())
	if p == nil {
		return nil, unauthorized("Not authenticated")
	}
	return p, nil
}

// loadWebhook returns the {webhook_id} webhook when the caller may see it;
// otherwise kv.ErrNotFound, exactly as for an unknown id.
func (a *API) loadWebhook(r *http.Request) (*kv.Webhook, *principal, error) {
	p, err := requestPrincipal(r)
	if err != nil {
		return nil, nil, err
	}
	id, err := webhookIDParam(r)
	if err != nil {
		return nil, nil, err
	}
	trace.SpanFromContext(r.Context()).SetAttributes(attribute.String("webhookd.webhook_id", id))
	w, err := a.store.GetWebhook(r.Context(), id)
	if err != nil {
		return nil, nil, err
	}
	if !p.sees(w) {
		return nil, nil, kv.ErrNotFound
	}
	return w, p, nil
}

func (a *API) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	p, err := requestPrincipal(r)
	if err != nil {
		return err
	}
	v := &validationError{}
	q := r.URL.Query()
	page := parsePage(v, q)
	if err := v.err(); err != nil {
		return err
	}
	f, ok := p.webhookFilter(q.Get("tenant_id"), q.Get("partner_id"))
	if !ok {
		writeJSON(w, http.StatusOK, newPage([]webhookView{}, 0, page))
		return nil
	}
	f.Offset, f.Limit = page.offset(), page.perPage
	list, total, err := a.store.ListWebhooks(r.Context(), f)
	if err != nil {
		return err
	}
	now := a.now()
	items := make([]webhookView, 0, len(list))
	for _, wh := range list {
		if !p.sees(wh) {
			// The filter should make this impossible; never leak if it is not.
			a.log.LogAttrs(r.Context(), slog.LevelError, "webhook list returned a webhook outside the caller's scope",
				slog.String("webhook_id", wh.ID))
			continue
		}
		items = append(items, newWebhookView(wh, now))
	}
	writeJSON(w, http.StatusOK, newPage(items, total, page))
	return nil
}

func (a *API) createWebhook(w http.ResponseWriter, r *http.Request) error {
	p, err := requestPrincipal(r)
	if err != nil {
		return err
	}
	b, err := readBody(w, r, a.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	in, err := a.parseCreate(b)
	if err != nil {
		return err
	}
	tenantID, partnerID, err := p.owner(in.tenant, in.partner)
	if err != nil {
		return err
	}
	secret := in.secret
	if secret == "" {
		if secret, err = newSecret(); err != nil {
			return err
		}
	}
	now := a.now()
	id, err := a.ids.webhookID(now)
	if err != nil {
		return err
	}
	wh := &kv.Webhook{
		ID:             id,
		URL:            in.url,
		Description:    in.description,
		Events:         in.events,
		Status:         in.status,
		MaxRetries:     in.maxRetries,
		TimeoutSeconds: in.timeoutSeconds,
		Headers:        in.headers,
		TenantID:       tenantID,
		PartnerID:      partnerID,
		Secret:         secret,
		CreatedAt:      now,
		UpdatedAt:      now,
	}
	if len(wh.Headers) == 0 {
		wh.Headers = nil
	}
	if err := a.store.CreateWebhook(r.Context(), wh); err != nil {
		return err
	}
	a.log.LogAttrs(r.Context(), slog.LevelInfo, "webhook created", slog.String("webhook_id", wh.ID),
		slog.String("tenant_id", wh.TenantID), slog.String("partner_id", wh.PartnerID), slog.String("principal", p.kind.String()))
	writeJSON(w, http.StatusCreated, webhookCreatedView{webhookView: newWebhookView(wh, now), Secret: secret})
	return nil
}

func (a *API) getWebhook(w http.ResponseWriter, r *http.Request) error {
	wh, _, err := a.loadWebhook(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newWebhookView(wh, a.now()))
	return nil
}

func (a *API) updateWebhook(w http.ResponseWriter, r *http.Request) error {
	b, err := readBody(w, r, a.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	in, err := a.parsePatch(b)
	if err != nil {
		return err
	}
	cur, p, err := a.loadWebhook(r)
	if err != nil {
		return err
	}
	now := a.now()
	if in.empty() {
		writeJSON(w, http.StatusOK, newWebhookView(cur, now))
		return nil
	}
	wh, err := a.store.UpdateWebhook(r.Context(), cur.ID, func(w *kv.Webhook) error {
		if !p.sees(w) {
			return kv.ErrNotFound
		}
		in.apply(w, now)
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newWebhookView(wh, now))
	return nil
}

func (in *patchInput) empty() bool {
	return in.url == nil && in.description == nil && in.events == nil && in.status == nil &&
		in.maxRetries == nil && in.timeoutSeconds == nil && in.headers == nil
}

// apply changes w as the patch says. Re-activating a disabled webhook
// clears its failure streak and reason; leaving the disabled state in any
// way clears the reason.
func (in *patchInput) apply(w *kv.Webhook, now time.Time) {
	if in.url != nil {
		w.URL = *in.url
	}
	if in.description != nil {
		w.Description = *in.description
	}
	if in.events != nil {
		w.Events = in.events
	}
	if in.maxRetries != nil {
		w.MaxRetries = *in.maxRetries
	}
	if in.timeoutSeconds != nil {
		w.TimeoutSeconds = *in.timeoutSeconds
	}
	if in.headers != nil {
		w.Headers = in.headers
		if len(w.Headers) == 0 {
			w.Headers = nil
		}
	}
	if in.status != nil && *in.status != w.Status {
		if w.Status == kv.WebhookDisabled {
			w.DisabledReason = ""
		}
		// Any way back to active starts a fresh failure streak (also
		// disabled → inactive → active), or the next failure would
		// auto-disable it again at once.
		if *in.status == kv.WebhookActive {
			w.ConsecutiveFailures = 0
		}
		w.Status = *in.status
	}
	w.UpdatedAt = now
}

func (a *API) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	wh, p, err := a.loadWebhook(r)
	if err != nil {
		return err
	}
	if err := a.store.DeleteWebhook(r.Context(), wh.ID); err != nil {
		return err
	}
	// The webhook is gone; a task left behind finds no webhook and is
	// dropped by the deliverer, so a failed purge is only logged.
	if err := a.tasks.PurgeTasks(r.Context(), wh.ID); err != nil {
		a.log.LogAttrs(r.Context(), slog.LevelWarn, "purging a deleted webhook's tasks failed",
			slog.String("webhook_id", wh.ID), slog.String("error", err.Error()))
	}
	a.log.LogAttrs(r.Context(), slog.LevelInfo, "webhook deleted", slog.String("webhook_id", wh.ID), slog.String("principal", p.kind.String()))
	w.WriteHeader(http.StatusNoContent)
	return nil
}
