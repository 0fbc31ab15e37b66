package kv

import (
	"context"
	"time"
)

// Store is the persistence seam. Every method is safe for concurrent use.
// Returned records are copies the caller owns.
type Store interface {
	// Shared reports whether other processes deliver from the same store
	// (scale-out): a process then cannot know a delivery's state from its
	// own writes alone.
	Shared() bool
	// CreateWebhook stores a new webhook; ErrConflict if its ID is taken.
	CreateWebhook(ctx context.Context, w *Webhook) error
	// GetWebhook returns one webhook or ErrNotFound.
	GetWebhook(ctx context.Context, id string) (*Webhook, error)
	// UpdateWebhook reads the webhook, calls fn on a copy and stores the
	// result atomically (retrying fn on a lost compare-and-swap). An error
	// from fn aborts the update and is returned as is. UpdatedAt is the
	// caller's to set.
	UpdateWebhook(ctx context.Context, id string, fn func(*Webhook) error) (*Webhook, error)
	// DeleteWebhook removes a webhook with its deliveries, attempts and stats.
	DeleteWebhook(ctx context.Context, id string) error
	// ListWebhooks returns one page, newest first, and the total matching.
	ListWebhooks(ctx context.Context, f WebhookFilter) ([]*Webhook, int, error)
	// WatchWebhooks calls fn once per stored webhook, then returns; after
	// that fn is called for every committed change until ctx ends. Calls
	// are serialised. A change made through this store is seen by fn before
	// the write call returns (every backend); backends shared across
	// processes deliver other processes' changes as soon as they see them.
	// A change carries the webhook's health as of that change; attempts
	// move it later without a change (RecordAttempt), so a watcher's copy
	// of the health goes stale: read the webhook for it. fn must not write
	// to the store.
	WatchWebhooks(ctx context.Context, fn func(WebhookChange)) error

	// CreateDelivery stores a new pending delivery, assigning its ID. It is
	// idempotent on the event, (WebhookID, EventID, EventTime): a
	// redelivery or a replay of the events stream carries the same
	// envelope. When the delivery exists, d is overwritten with the
	// stored record and created is false. (The same id at another time
	// may make a second delivery: backends may key events by time, and
	// receivers dedupe on the id.) ErrNotFound
	// when the webhook does not exist. A new delivery with Deferred and
	// NextAttemptAt set is on the due list from the start (DueDeliveries):
	// the deadline of an attempt its creator makes at once, should the
	// creator die before recording it.
	CreateDelivery(ctx context.Context, d *Delivery) (created bool, err error)
	// CreateDeliveries is CreateDelivery for each of ds (in this order),
	// with one outcome per delivery: the match stage stores an event
	// group's deliveries together, which a backend may write at once.
	CreateDeliveries(ctx context.Context, ds []*Delivery) []CreateOutcome
	// GetDelivery returns one delivery of a webhook with its attempts, or
	// ErrNotFound (also when it belongs to another webhook).
	GetDelivery(ctx context.Context, webhookID string, id int64) (*Delivery, error)
	// DeliveryState is GetDelivery without the attempts: what deciding on
	// a task needs, without reading a retried delivery's whole history.
	DeliveryState(ctx context.Context, webhookID string, id int64) (*Delivery, error)
	// ListDeliveries returns one page of a webhook's deliveries, newest
	// first (without attempts), and the total matching.
	ListDeliveries(ctx context.Context, f DeliveryFilter) ([]*Delivery, int, error)
	// RecordAttempt applies one attempt's outcome atomically. The
	// webhook's health (consecutive_failures, last_success_at,
	// last_failure_at) moves with every attempt but is not a change of the
	// webhook: its Revision stays and watchers hear of it only when the
	// outcome disables the webhook.
	RecordAttempt(ctx context.Context, o AttemptOutcome) (*AttemptResult, error)
	// DueDeliveries returns up to limit deferred next attempts due at or
	// before until, soonest first. An entry stays until ClearDue removes it
	// (whoever acts on it clears it afterwards: a crash in between repeats
	// it, never loses it). Entries may name deliveries that are gone or
	// moved on since; the caller checks and clears them.
	DueDeliveries(ctx context.Context, until time.Time, limit int) ([]Due, error)
	// ClearDue removes these entries from the due list (those already gone
	// are ignored).
	ClearDue(ctx context.Context, due []Due) error
	// Notices returns up to limit kept webhook.auto_disabled notices
	// (AttemptOutcome.NoticeID), oldest first. A notice stays until
	// ClearNotices removes it, after it was published.
	Notices(ctx context.Context, limit int) ([]AutoDisabledNotice, error)
	// ClearNotices removes these notices (those already gone are ignored).
	ClearNotices(ctx context.Context, notices []AutoDisabledNotice) error
	// RequeueDelivery moves a success or failed delivery back to pending for
	// a manual retry, bumping its Generation; ErrConflict if it is pending.
	RequeueDelivery(ctx context.Context, webhookID string, id int64, now time.Time) (*Delivery, error)
	// WebhookStats returns a webhook's figures as of now, or ErrNotFound.
	WebhookStats(ctx context.Context, webhookID string, now time.Time) (*Stats, error)

	// Close releases the store; later calls return ErrClosed.
	Close() error
}
