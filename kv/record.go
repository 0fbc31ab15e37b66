package kv

import (
	"slices"
	"time"
)

// WebhookStatus is a webhook's lifecycle state.
type WebhookStatus string

const (
	WebhookActive   WebhookStatus = "active"
	WebhookInactive WebhookStatus = "inactive"
	WebhookDisabled WebhookStatus = "disabled"
)

// DeliveryStatus is a delivery's state.
type DeliveryStatus string

const (
	DeliveryPending DeliveryStatus = "pending"
	DeliverySuccess DeliveryStatus = "success"
	DeliveryFailed  DeliveryStatus = "failed"
)

// Trigger says what caused an attempt.
type Trigger string

const (
	TriggerScheduled Trigger = "scheduled"
	TriggerManual    Trigger = "manual"
	TriggerTest      Trigger = "test"
)

// Webhook is one registered endpoint. Secrets are stored as given; the JSON
// form of this struct is the storage encoding, never the API response.
type Webhook struct {
	ID             string            `json:"id"`
	URL            string            `json:"url"`
	Description    string            `json:"description"`
	Events         []string          `json:"events"`
	Status         WebhookStatus     `json:"status"`
	DisabledReason string            `json:"disabled_reason,omitempty"`
	MaxRetries     int               `json:"max_retries"`
	TimeoutSeconds int               `json:"timeout_seconds"`
	Headers        map[string]string `json:"headers,omitempty"`
	TenantID       string            `json:"tenant_id,omitempty"`
	PartnerID      string            `json:"partner_id,omitempty"`

	// Secret signs every attempt. PreviousSecret, until
	// PreviousSecretExpiresAt, signs beside it after a rotation.
	Secret                  string     `json:"secret"`
	PreviousSecret          string     `json:"previous_secret,omitempty"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at,omitempty"`

	ConsecutiveFailures int        `json:"consecutive_failures"`
	LastSuccessAt       *time.Time `json:"last_success_at,omitempty"`
	LastFailureAt       *time.Time `json:"last_failure_at,omitempty"`
	CreatedAt           time.Time  `json:"created_at"`
	UpdatedAt           time.Time  `json:"updated_at"`

	// Revision is set by the store on every read (bbolt: a store-wide
	// change sequence; JetStream KV: the entry revision). It is informational for
	// callers; UpdateWebhook does the compare-and-swap itself. The health
	// above moves with attempts without a new revision (Store.RecordAttempt).
	Revision uint64 `json:"revision"`
}

// LiveSecrets returns the secrets that sign at now: the current one first,
// then the previous one while its grace period lasts.
func (w *Webhook) LiveSecrets(now time.Time) []string {
	out := []string{w.Secret}
	if w.PreviousSecret != "" && w.PreviousSecretExpiresAt != nil && now.Before(*w.PreviousSecretExpiresAt) {
		out = append(out, w.PreviousSecret)
	}
	return out
}

// Clone returns a deep copy, so a caller may keep or change it freely.
func (w *Webhook) Clone() *Webhook {
	c := *w
	c.Events = slices.Clone(w.Events) // nil stays nil, empty stays empty: the record encodes the same
	if w.Headers != nil {
		c.Headers = make(map[string]string, len(w.Headers))
		for k, v := range w.Headers {
			c.Headers[k] = v
		}
	}
	c.PreviousSecretExpiresAt = cloneTime(w.PreviousSecretExpiresAt)
	c.LastSuccessAt = cloneTime(w.LastSuccessAt)
	c.LastFailureAt = cloneTime(w.LastFailureAt)
	return &c
}

func cloneTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

// utcTime is cloneTime in UTC.
func utcTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := t.UTC()
	return &c
}

// Delivery is one (event, webhook) pair and its state. Its ID is an integer
// unique within the store (and across processes sharing a JetStream store).
type Delivery struct {
	ID        int64  `json:"id"`
	WebhookID string `json:"webhook_id"`
	EventID   string `json:"event_id"`
	EventType string `json:"event_type"`
	TenantID  string `json:"tenant_id,omitempty"`
	PartnerID string `json:"partner_id,omitempty"`
	// EventSeq is the event's sequence in the events stream, where a manual
	// retry reads the envelope back from. Zero for test deliveries, whose
	// envelope is kept in Payload instead.
	EventSeq uint64 `json:"event_seq,omitempty"`
	Payload  []byte `json:"payload,omitempty"`
	// EventTime is the envelope's timestamp. With EventID it names the
	// event CreateDelivery is idempotent on. Zero in deliveries stored
	// before it was kept.
	EventTime time.Time `json:"event_time,omitzero"`

	Status       DeliveryStatus `json:"status"`
	AttemptCount int            `json:"attempt_count"`
	// Generation grows with every manual retry. A task carries the
	// generation it was published for; a task of an older generation is
	// stale and is dropped by the deliverer.
	Generation int `json:"generation"`

	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	// Deferred means the next attempt waits in the store (see
	// AttemptOutcome.Defer), not in a task: only the task published for it
	// (Task.Attempt) may make that attempt.
	Deferred           bool       `json:"deferred,omitempty"`
	ResponseStatusCode int        `json:"response_status_code,omitempty"`
	Error              string     `json:"error,omitempty"`
	DurationMS         int64      `json:"duration_ms"`
	CreatedAt          time.Time  `json:"created_at"`
	UpdatedAt          time.Time  `json:"updated_at"`
	CompletedAt        *time.Time `json:"completed_at,omitempty"`

	// Attempts is filled by GetDelivery only, oldest first.
	Attempts []Attempt `json:"attempts,omitempty"`
}

// Attempt is one HTTP attempt of a delivery.
type Attempt struct {
	Attempt      int       `json:"attempt"`
	StartedAt    time.Time `json:"started_at"`
	DurationMS   int64     `json:"duration_ms"`
	StatusCode   int       `json:"status_code,omitempty"`
	Error        string    `json:"error,omitempty"`
	ResponseBody string    `json:"response_body,omitempty"`
	Trigger      Trigger   `json:"trigger"`
}

// AttemptOutcome is what the deliverer reports after one attempt. The store
// applies it atomically: the attempt is appended, the delivery moves to its
// new state, the webhook's failure streak and timestamps and the stats are
// updated.
type AttemptOutcome struct {
	WebhookID  string
	DeliveryID int64
	// Generation must equal the delivery's; otherwise the outcome is stale
	// and nothing is written (AttemptResult.Stale).
	Generation int
	// Attempt.Attempt is ignored: the store numbers attempts itself.
	Attempt Attempt
	Success bool
	// Final means no further attempt follows: a failure becomes status
	// failed. Ignored on success.
	Final bool
	// NextAttemptAt is when the next attempt is due, for a non-final failure.
	NextAttemptAt *time.Time
	// Defer, with NextAttemptAt, keeps the wait for the next attempt in the
	// store (DueDeliveries lists it once due) rather than in a message the
	// caller holds: a backlog waiting for hours then costs disk, not memory.
	Defer bool
	// DisableReason, when set, disables the webhook with this reason (410 Gone).
	DisableReason string
	// AutoDisableAfter disables the webhook when its consecutive failures
	// reach this number (0: never).
	AutoDisableAfter int
	// NoticeID is the event id of the webhook.auto_disabled notice kept
	// (Notices) when this outcome disables the webhook; without one no
	// notice is kept.
	NoticeID string
	// An attempt with Trigger test updates the delivery and the stats but
	// never the webhook (failure streak, timestamps, status).
	//
	// Skipped means no HTTP request was made (the webhook was disabled or
	// inactive): the attempt is recorded and the delivery moves on, but the
	// webhook's failure streak, timestamps, latency figures and
	// last_delivery are untouched.
	Skipped bool
}

// Due is a deferred delivery's next attempt (AttemptOutcome.Defer).
type Due struct {
	WebhookID  string
	DeliveryID int64
	At         time.Time
}

// CreateOutcome is what CreateDeliveries did with one delivery: as
// CreateDelivery's results.
type CreateOutcome struct {
	Created bool
	Err     error
}

// AttemptResult is what RecordAttempt did.
type AttemptResult struct {
	Delivery *Delivery
	Webhook  *Webhook
	// Stale is true when nothing was written because the delivery is gone,
	// no longer pending, or of another generation.
	Stale bool
	// AutoDisabled is true when this outcome disabled the webhook by
	// reaching AutoDisableAfter consecutive failures.
	AutoDisabled bool
	// Notice is the notice kept for it (with AttemptOutcome.NoticeID).
	Notice *AutoDisabledNotice
}

// AutoDisabledNotice is a webhook.auto_disabled event owed to the bus. The
// store writes it in the transaction that disabled the webhook and keeps
// it until ClearNotices: a crash before it is published delays it, never
// loses it.
type AutoDisabledNotice struct {
	EventID             string    `json:"event_id"`
	WebhookID           string    `json:"webhook_id"`
	URL                 string    `json:"url"`
	TenantID            string    `json:"tenant_id,omitempty"`
	PartnerID           string    `json:"partner_id,omitempty"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	DisabledReason      string    `json:"disabled_reason"`
	At                  time.Time `json:"at"`
}

// WebhookFilter selects webhooks. Empty fields match everything.
// PartnerID matches every webhook whose partner_id is P (partner-level and
// its tenants'); TenantID matches webhooks whose tenant_id is T.
type WebhookFilter struct {
	TenantID  string
	PartnerID string
	Offset    int
	Limit     int // 0: no limit
}

// DeliveryFilter selects one webhook's deliveries, newest first.
type DeliveryFilter struct {
	WebhookID string
	Status    DeliveryStatus // empty: all
	Offset    int
	Limit     int // 0: no limit
}

// WebhookChange is one committed change seen by a watcher. Webhook is nil
// when the webhook was deleted.
type WebhookChange struct {
	ID      string
	Webhook *Webhook
}

// Stats are a webhook's delivery figures, computed from counters the store
// keeps as it writes, never by scanning history. kv/stats.go defines each
// figure.
type Stats struct {
	Total               int64         `json:"total"`
	Success             int64         `json:"success"`
	Failed              int64         `json:"failed"`
	Pending             int64         `json:"pending"`
	SuccessRate         float64       `json:"success_rate"`
	AvgLatencyMS        float64       `json:"avg_latency_ms"`
	P95LatencyMS        float64       `json:"p95_latency_ms"`
	Last24h             WindowStats   `json:"last_24h"`
	ConsecutiveFailures int           `json:"consecutive_failures"`
	LastDelivery        *LastDelivery `json:"last_delivery"`
}

// WindowStats summarise the deliveries created in a recent window.
type WindowStats struct {
	Deliveries   int64   `json:"deliveries"`
	SuccessRate  float64 `json:"success_rate"`
	AvgLatencyMS float64 `json:"avg_latency_ms"`
}

// LastDelivery is the most recent attempt's summary.
type LastDelivery struct {
	ID                 int64          `json:"id"`
	Status             DeliveryStatus `json:"status"`
	ResponseStatusCode int            `json:"response_status_code,omitempty"`
	At                 time.Time      `json:"at"`
}
