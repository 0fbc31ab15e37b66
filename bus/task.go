package bus

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Headers of a task message (its body is the envelope, exactly as
// published).
const (
	HeaderDeliveryID = "Webhookd-Delivery-Id"
	HeaderWebhookID  = "Webhookd-Webhook-Id"
	HeaderEventID    = "Webhookd-Event-Id"
	HeaderEventType  = "Webhookd-Event-Type"
	HeaderGeneration = "Webhookd-Generation"
	HeaderTrigger    = "Webhookd-Trigger"
	HeaderAttempt    = "Webhookd-Attempt"
	HeaderNotBefore  = "Webhookd-Not-Before"
)

// Task triggers.
const (
	TriggerScheduled = "scheduled"
	TriggerManual    = "manual"
)

// Task is one delivery attempt request on the tasks stream.
type Task struct {
	DeliveryID int64
	WebhookID  string
	EventID    string
	EventType  string
	Generation int
	Trigger    string // "scheduled" or "manual"
	// Attempt, when not 0, is the attempt number this task was published
	// for: the store's schedule of a deferred delivery publishes one task
	// per attempt, and any other copy of it is stale.
	Attempt int
	// NotBefore, when set, is when the task may be attempted at the
	// earliest (Unix nanoseconds on the wire): the wait of a delivery that
	// was being made without a task message (a retry, its webhook's turn).
	NotBefore time.Time
	Body      []byte // the envelope, exactly as published
	// Header carries trace context (traceparent, tracestate) forward.
	Header nats.Header
}

// TaskSubject is the subject of webhookID's tasks.
func TaskSubject(webhookID string) string { return TasksSubjectPrefix + webhookID }

// TaskMsgID is a task's Nats-Msg-Id: "<delivery_id>.<generation>", and
// ".<attempt>" for a task of one attempt (Task.Attempt).
func TaskMsgID(deliveryID int64, generation, attempt int) string {
	id := strconv.FormatInt(deliveryID, 10) + "." + strconv.Itoa(generation)
	if attempt > 0 {
		id += "." + strconv.Itoa(attempt)
	}
	return id
}

// validate checks the fields PublishTasks writes to headers and subject.
func (t *Task) validate() error {
	switch {
	case t.DeliveryID <= 0:
		return fmt.Errorf("%w: delivery id %d is not positive", ErrInvalidTask, t.DeliveryID)
	case !validToken(t.WebhookID):
		return fmt.Errorf("%w: webhook id is not a subject token", ErrInvalidTask)
	case t.EventID == "" || len(t.EventID) > MaxEventIDLen || !visibleASCII(t.EventID):
		return fmt.Errorf("%w: bad event id", ErrInvalidTask)
	case !ValidEventType(t.EventType):
		return fmt.Errorf("%w: bad event type", ErrInvalidTask)
	case t.Generation < 0:
		return fmt.Errorf("%w: negative generation", ErrInvalidTask)
	case t.Attempt < 0:
		return fmt.Errorf("%w: negative attempt", ErrInvalidTask)
	case t.Trigger != TriggerScheduled && t.Trigger != TriggerManual:
		return fmt.Errorf("%w: trigger %q is not %q or %q", ErrInvalidTask, truncate(t.Trigger, 32), TriggerScheduled, TriggerManual)
	}
	return nil
}

// taskMsg builds the message PublishTasks sends. Trace headers come from
// t.Header, or from ctx when t.Header carries none.
func taskMsg(ctx context.Context, t *Task) *nats.Msg {
	h := make(nats.Header, 10)
	h[HeaderDeliveryID] = []string{strconv.FormatInt(t.DeliveryID, 10)}
	h[HeaderWebhookID] = []string{t.WebhookID}
	h[HeaderEventID] = []string{t.EventID}
	h[HeaderEventType] = []string{t.EventType}
	h[HeaderGeneration] = []string{strconv.Itoa(t.Generation)}
	h[HeaderTrigger] = []string{t.Trigger}
	if t.Attempt > 0 {
		h[HeaderAttempt] = []string{strconv.Itoa(t.Attempt)}
	}
	if !t.NotBefore.IsZero() {
		h[HeaderNotBefore] = []string{strconv.FormatInt(t.NotBefore.UnixNano(), 10)}
	}
	h[jetstream.MsgIDHeader] = []string{TaskMsgID(t.DeliveryID, t.Generation, t.Attempt)}
	if !copyTrace(h, t.Header) {
		InjectTrace(ctx, h)
	}
	return &nats.Msg{Subject: TaskSubject(t.WebhookID), Header: h, Data: t.Body}
}

// ParseTask decodes a task message. Body aliases msg.Data(); Header holds
// only the trace headers. Errors wrap ErrInvalidTask.
func ParseTask(msg jetstream.Msg) (Task, error) {
	h := msg.Headers()
	var t Task
	get := func(name string) (string, error) {
		v := h.Get(name)
		if v == "" {
			return "", fmt.Errorf("%w: missing header %s", ErrInvalidTask, name)
		}
		return v, nil
	}
	v, err := get(HeaderDeliveryID)
	if err != nil {
		return Task{}, err
	}
	if t.DeliveryID, err = strconv.ParseInt(v, 10, 64); err != nil || t.DeliveryID <= 0 {
		return Task{}, fmt.Errorf("%w: bad header %s", ErrInvalidTask, HeaderDeliveryID)
	}
	if t.WebhookID, err = get(HeaderWebhookID); err != nil {
		return Task{}, err
	}
	if msg.Subject() != TaskSubject(t.WebhookID) {
		return Task{}, fmt.Errorf("%w: header %s does not match the subject", ErrInvalidTask, HeaderWebhookID)
	}
	if t.EventID, err = get(HeaderEventID); err != nil {
		return Task{}, err
	}
	if t.EventType, err = get(HeaderEventType); err != nil {
		return Task{}, err
	}
	v, err = get(HeaderGeneration)
	if err != nil {
		return Task{}, err
	}
	if t.Generation, err = strconv.Atoi(v); err != nil || t.Generation < 0 {
		return Task{}, fmt.Errorf("%w: bad header %s", ErrInvalidTask, HeaderGeneration)
	}
	if t.Trigger, err = get(HeaderTrigger); err != nil {
		return Task{}, err
	}
	if v := h.Get(HeaderAttempt); v != "" {
		if t.Attempt, err = strconv.Atoi(v); err != nil || t.Attempt <= 0 {
			return Task{}, fmt.Errorf("%w: bad header %s", ErrInvalidTask, HeaderAttempt)
		}
	}
	if v := h.Get(HeaderNotBefore); v != "" {
		ns, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ns <= 0 {
			return Task{}, fmt.Errorf("%w: bad header %s", ErrInvalidTask, HeaderNotBefore)
		}
		t.NotBefore = time.Unix(0, ns).UTC()
	}
	if err := t.validate(); err != nil {
		return Task{}, err
	}
	t.Body = msg.Data()
	t.Header = make(nats.Header, 2)
	copyTrace(t.Header, h)
	return t, nil
}

// PurgeTasks drops the pending tasks of one webhook.
func (b *Bus) PurgeTasks(ctx context.Context, webhookID string) error {
	if !validToken(webhookID) {
		return fmt.Errorf("purge tasks: %w: webhook id is not a subject token", ErrInvalidTask)
	}
	s, err := b.js.Stream(ctx, TasksStream)
	if err != nil {
		return fmt.Errorf("purge tasks of %s: %w", webhookID, err)
	}
	if err := s.Purge(ctx, jetstream.WithPurgeSubject(TaskSubject(webhookID))); err != nil {
		return fmt.Errorf("purge tasks of %s: %w", webhookID, err)
	}
	return nil
}

// validToken reports whether s can be one literal subject token.
func validToken(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c <= ' ' || c >= 0x7f, c == '.', c == '*', c == '>':
			return false
		}
	}
	return true
}
