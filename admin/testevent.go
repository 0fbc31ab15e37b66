package admin

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
)

const testEventType = "webhook.test"

type testInput struct {
	eventType string
	data      json.RawMessage
}

type testResultView struct {
	DeliveryID int64   `json:"delivery_id"`
	Success    bool    `json:"success"`
	StatusCode *int    `json:"status_code"`
	DurationMS int64   `json:"duration_ms"`
	Error      *string `json:"error"`
}

// parseTest reads the optional test body {"event_type", "data"}.
func (a *API) parseTest(b []byte) (*testInput, error) {
	in := &testInput{eventType: testEventType}
	if emptyBody(b) || isNull(b) {
		return in, nil
	}
	v := &validationError{}
	obj, ok := decodeObject(b, v)
	if !ok {
		return nil, v
	}
	obj.rejectUnknown(v, map[string]bool{"event_type": true, "data": true}, nil)
	if s, p := obj.str(v, "event_type", true); p == given {
		if !a.catalog.Has(s) {
			v.add(typeValueError, fmt.Sprintf("Value error, unknown event type %q (GET /api/v1/admin/webhooks/events lists the known ones)", clip(s)), "body", "event_type")
		}
		in.eventType = s
	}
	if raw, present, ok := obj.jsonObject(v, "data"); present && ok {
		in.data = raw
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	return in, nil
}

// testWebhook makes one synchronous attempt, recorded as a delivery with
// no retries. The endpoint failing is a 200 saying success false.
func (a *API) testWebhook(w http.ResponseWriter, r *http.Request) error {
	b, err := readBody(w, r, a.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	in, err := a.parseTest(b)
	if err != nil {
		return err
	}
	wh, _, err := a.loadWebhook(r)
	if err != nil {
		return err
	}
	d, err := a.tester.Test(r.Context(), wh, in.eventType, in.data)
	if err != nil {
		return fmt.Errorf("admin: test webhook %s: %w", wh.ID, err)
	}
	a.log.LogAttrs(r.Context(), slog.LevelInfo, "webhook tested", slog.String("webhook_id", wh.ID),
		slog.Int64("delivery_id", d.ID), slog.String("status", string(d.Status)))
	writeJSON(w, http.StatusOK, testResultView{
		DeliveryID: d.ID,
		Success:    d.Status == "success",
		StatusCode: intPtr(d.ResponseStatusCode),
		DurationMS: d.DurationMS,
		Error:      strPtr(d.Error),
	})
	return nil
}
