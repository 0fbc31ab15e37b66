package admin

import (
	"slices"
	"time"

	"github.com/scailabs/webhookd/kv"
)

// The API's JSON objects (contract §4). Unset values are null, never left
// out, so every object has the same keys; the OpenAPI schemas say so.

// apiTime encodes as UTC RFC 3339 with milliseconds.
type apiTime time.Time

func (t apiTime) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Format("2006-01-02T15:04:05.000Z07:00") + `"`), nil
}

func timePtr(t *time.Time) *apiTime {
	if t == nil {
		return nil
	}
	v := apiTime(*t)
	return &v
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func intPtr(n int) *int {
	if n == 0 {
		return nil
	}
	return &n
}

type webhookView struct {
	ID                      string            `json:"id"`
	URL                     string            `json:"url"`
	Description             string            `json:"description"`
	Events                  []string          `json:"events"`
	Status                  kv.WebhookStatus  `json:"status"`
	DisabledReason          *string           `json:"disabled_reason"`
	MaxRetries              int               `json:"max_retries"`
	TimeoutSeconds          int               `json:"timeout_seconds"`
	Headers                 map[string]string `json:"headers"`
	TenantID                *string           `json:"tenant_id"`
	PartnerID               *string           `json:"partner_id"`
	SecretHint              string            `json:"secret_hint"`
	PreviousSecretExpiresAt *apiTime          `json:"previous_secret_expires_at"`
	ConsecutiveFailures     int               `json:"consecutive_failures"`
	LastSuccessAt           *apiTime          `json:"last_success_at"`
	LastFailureAt           *apiTime          `json:"last_failure_at"`
	CreatedAt               apiTime           `json:"created_at"`
	UpdatedAt               apiTime           `json:"updated_at"`
}

// webhookCreatedView is the create answer: the webhook and its secret.
type webhookCreatedView struct {
	webhookView
	Secret string `json:"secret"`
}

// newWebhookView renders w; previous_secret_expires_at is set only while
// the previous secret still signs at now.
func newWebhookView(w *kv.Webhook, now time.Time) webhookView {
	v := webhookView{
		ID:                  w.ID,
		URL:                 w.URL,
		Description:         w.Description,
		Events:              slices.Clone(w.Events),
		Status:              w.Status,
		DisabledReason:      strPtr(w.DisabledReason),
		MaxRetries:          w.MaxRetries,
		TimeoutSeconds:      w.TimeoutSeconds,
		Headers:             map[string]string{},
		TenantID:            strPtr(w.TenantID),
		PartnerID:           strPtr(w.PartnerID),
		SecretHint:          secretHint(w.Secret),
		ConsecutiveFailures: w.ConsecutiveFailures,
		LastSuccessAt:       timePtr(w.LastSuccessAt),
		LastFailureAt:       timePtr(w.LastFailureAt),
		CreatedAt:           apiTime(w.CreatedAt),
		UpdatedAt:           apiTime(w.UpdatedAt),
	}
	if v.Events == nil {
		v.Events = []string{}
	}
	for k, val := range w.Headers {
		v.Headers[k] = val
	}
	if len(w.LiveSecrets(now)) > 1 {
		v.PreviousSecretExpiresAt = timePtr(w.PreviousSecretExpiresAt)
	}
	return v
}

type deliveryView struct {
	ID                 int64             `json:"id"`
	WebhookID          string            `json:"webhook_id"`
	EventID            string            `json:"event_id"`
	EventType          string            `json:"event_type"`
	TenantID           *string           `json:"tenant_id"`
	PartnerID          *string           `json:"partner_id"`
	Status             kv.DeliveryStatus `json:"status"`
	AttemptCount       int               `json:"attempt_count"`
	NextAttemptAt      *apiTime          `json:"next_attempt_at"`
	ResponseStatusCode *int              `json:"response_status_code"`
	Error              *string           `json:"error"`
	DurationMS         *int64            `json:"duration_ms"`
	CreatedAt          apiTime           `json:"created_at"`
	UpdatedAt          apiTime           `json:"updated_at"`
	CompletedAt        *apiTime          `json:"completed_at"`
}

type attemptView struct {
	Attempt      int        `json:"attempt"`
	StartedAt    apiTime    `json:"started_at"`
	DurationMS   int64      `json:"duration_ms"`
	StatusCode   *int       `json:"status_code"`
	Error        *string    `json:"error"`
	ResponseBody *string    `json:"response_body"`
	Trigger      kv.Trigger `json:"trigger"`
}

type deliveryDetailView struct {
	deliveryView
	Attempts []attemptView `json:"attempts"`
}

// newDeliveryView renders d without its internals (event sequence, kept
// payload, generation). duration_ms is null until an attempt was made.
func newDeliveryView(d *kv.Delivery) deliveryView {
	v := deliveryView{
		ID:                 d.ID,
		WebhookID:          d.WebhookID,
		EventID:            d.EventID,
		EventType:          d.EventType,
		TenantID:           strPtr(d.TenantID),
		PartnerID:          strPtr(d.PartnerID),
		Status:             d.Status,
		AttemptCount:       d.AttemptCount,
		NextAttemptAt:      timePtr(d.NextAttemptAt),
		ResponseStatusCode: intPtr(d.ResponseStatusCode),
		Error:              strPtr(d.Error),
		CreatedAt:          apiTime(d.CreatedAt),
		UpdatedAt:          apiTime(d.UpdatedAt),
		CompletedAt:        timePtr(d.CompletedAt),
	}
	if d.AttemptCount > 0 {
		ms := d.DurationMS
		v.DurationMS = &ms
	}
	return v
}

func newDeliveryDetailView(d *kv.Delivery) deliveryDetailView {
	v := deliveryDetailView{deliveryView: newDeliveryView(d), Attempts: make([]attemptView, 0, len(d.Attempts))}
	for _, at := range d.Attempts {
		v.Attempts = append(v.Attempts, attemptView{
			Attempt:      at.Attempt,
			StartedAt:    apiTime(at.StartedAt),
			DurationMS:   at.DurationMS,
			StatusCode:   intPtr(at.StatusCode),
			Error:        strPtr(at.Error),
			ResponseBody: strPtr(at.ResponseBody),
			Trigger:      at.Trigger,
		})
	}
	return v
}

// pageView is a page of a list (contract §4).
type pageView[T any] struct {
	Items   []T `json:"items"`
	Total   int `json:"total"`
	Page    int `json:"page"`
	PerPage int `json:"per_page"`
	Pages   int `json:"pages"`
}

func newPage[T any](items []T, total int, q pageQuery) pageView[T] {
	if items == nil {
		items = []T{}
	}
	return pageView[T]{Items: items, Total: total, Page: q.page, PerPage: q.perPage, Pages: (total + q.perPage - 1) / q.perPage}
}
