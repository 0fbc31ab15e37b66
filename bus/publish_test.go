package bus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"
)

func TestPublishEventDeduplicatesByEventID(t *testing.T) {
	t.Parallel()
	b := startBus(t, testConfig(t))
	ctx := testCtx(t)
	body := envelope("evt_dup", "user.created")
	for range 2 {
		if err := b.PublishEvent(ctx, "evt_dup", "user.created", body); err != nil {
			t.Fatalf("PublishEvent: %v", err)
		}
	}
	if err := b.PublishEvent(ctx, "evt_other", "user.created", envelope("evt_other", "user.created")); err != nil {
		t.Fatalf("PublishEvent: %v", err)
	}
	if n := streamMsgs(t, b, EventsStream); n != 2 {
		t.Fatalf("events stored = %d, want 2", n)
	}
	mc, err := b.MatchConsumer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := fetchOne(t, mc)
	if !bytes.Equal(m.Data(), body) {
		t.Errorf("body = %s, want the published bytes", m.Data())
	}
	if got := m.Headers().Get(jetstream.MsgIDHeader); got != "evt_dup" {
		t.Errorf("Nats-Msg-Id = %q", got)
	}
	if m.Subject() != "events.user.created" {
		t.Errorf("subject = %q", m.Subject())
	}
}

func TestPublishEventCarriesTraceContext(t *testing.T) {
	t.Parallel()
	b := startBus(t, testConfig(t))
	sc := testSpanContext(t)
	ctx := trace.ContextWithSpanContext(testCtx(t), sc)
	if err := b.PublishEvent(ctx, "evt_tr", "user.created", envelope("evt_tr", "user.created")); err != nil {
		t.Fatal(err)
	}
	mc, err := b.MatchConsumer(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	m := fetchOne(t, mc)
	got := trace.SpanContextFromContext(ExtractTrace(context.Background(), m.Headers()))
	// With the no-op tracer provider the producer span is the parent's
	// context, so the trace id must survive.
	if got.TraceID() != sc.TraceID() {
		t.Errorf("trace id = %s, want %s (headers %v)", got.TraceID(), sc.TraceID(), m.Headers())
	}
}

func TestPublishEventRefusesBadArguments(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.MaxEventBytes = 1024
	b := startBus(t, cfg)
	tests := []struct {
		name, id, typ string
		body          []byte
	}{
		{"empty id", "", "user.created", envelope("x", "user.created")},
		{"id with space", "a b", "user.created", envelope("x", "user.created")},
		{"bad type", "evt", "User.Created", envelope("x", "user.created")},
		{"wildcard type", "evt", "user.*", envelope("x", "user.created")},
		{"too large", "evt", "user.created", bytes.Repeat([]byte("x"), 1025)},
	}
	for _, tt := range tests {
		if err := b.PublishEvent(testCtx(t), tt.id, tt.typ, tt.body); !errors.Is(err, ErrInvalidEvent) {
			t.Errorf("%s: err = %v, want ErrInvalidEvent", tt.name, err)
		}
	}
	if n := streamMsgs(t, b, EventsStream); n != 0 {
		t.Errorf("events stored = %d, want 0", n)
	}
}

func TestEventsStreamRefusesOversizedMessages(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.MaxEventBytes = 1024
	b := startBus(t, cfg)
	// A publisher bypassing PublishEvent gets an error from the stream.
	big := bytes.Repeat([]byte("x"), 1024+eventHeaderAllowance+1)
	if _, err := b.JetStream().Publish(testCtx(t), "events.user.created", big); err == nil {
		t.Fatal("oversized publish accepted")
	}
}

func testTask(id int64, webhookID string, gen int) Task {
	return Task{
		DeliveryID: id, WebhookID: webhookID, EventID: fmt.Sprintf("evt_%d", id), EventType: "user.created",
		Generation: gen, Trigger: TriggerScheduled, Body: envelope(fmt.Sprintf("evt_%d", id), "user.created"),
	}
}

func TestPublishTasksRoundTrip(t *testing.T) {
	t.Parallel()
	b := startBus(t, testConfig(t))
	ctx := testCtx(t)
	sc := testSpanContext(t)
	h := nats.Header{}
	InjectTrace(trace.ContextWithSpanContext(context.Background(), sc), h)
	want := testTask(42, "wh_01J9ZQ4X3B6N8R2T5V7W9Y0A1C", 3)
	want.Trigger = TriggerManual
	want.Header = h
	if err := b.PublishTasks(ctx, []Task{want}); err != nil {
		t.Fatalf("PublishTasks: %v", err)
	}
	dc, err := b.DeliverConsumer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := fetchOne(t, dc)
	if m.Subject() != "webhookd.tasks.wh_01J9ZQ4X3B6N8R2T5V7W9Y0A1C" {
		t.Errorf("subject = %q", m.Subject())
	}
	if got := m.Headers().Get(jetstream.MsgIDHeader); got != "42.3" {
		t.Errorf("Nats-Msg-Id = %q, want 42.3", got)
	}
	got, err := ParseTask(m)
	if err != nil {
		t.Fatalf("ParseTask: %v", err)
	}
	if got.DeliveryID != want.DeliveryID || got.WebhookID != want.WebhookID || got.EventID != want.EventID ||
		got.EventType != want.EventType || got.Generation != want.Generation || got.Trigger != want.Trigger ||
		!bytes.Equal(got.Body, want.Body) {
		t.Errorf("ParseTask = %+v, want %+v", got, want)
	}
	if tc := trace.SpanContextFromContext(ExtractTrace(context.Background(), got.Header)); tc.TraceID() != sc.TraceID() || tc.SpanID() != sc.SpanID() {
		t.Errorf("task trace = %s/%s, want %s/%s", tc.TraceID(), tc.SpanID(), sc.TraceID(), sc.SpanID())
	}
	if err := m.Ack(); err != nil {
		t.Fatal(err)
	}
}

func TestPublishTasksBatchAndDuplicates(t *testing.T) {
	t.Parallel()
	b := startBus(t, testConfig(t))
	ctx := testCtx(t)
	n := taskWindow*2 + 7 // crosses the per-call window
	tasks := make([]Task, n)
	for i := range tasks {
		tasks[i] = testTask(int64(i+1), fmt.Sprintf("wh_%d", i%5), 0)
	}
	if err := b.PublishTasks(ctx, tasks); err != nil {
		t.Fatalf("PublishTasks: %v", err)
	}
	// Republishing (a redelivered event) is dropped by the message ids;
	// a new generation of one delivery is a new task.
	if err := b.PublishTasks(ctx, tasks[:10]); err != nil {
		t.Fatalf("PublishTasks again: %v", err)
	}
	if err := b.PublishTasks(ctx, []Task{testTask(1, "wh_1", 1)}); err != nil {
		t.Fatalf("PublishTasks generation 1: %v", err)
	}
	if got := streamMsgs(t, b, TasksStream); got != uint64(n+1) {
		t.Errorf("tasks stored = %d, want %d", got, n+1)
	}
	// A task of one attempt of a deferred delivery is new too, once per
	// attempt, and carries its number.
	a3 := testTask(2, "wh_2", 0)
	a3.Attempt = 3
	for range 2 {
		if err := b.PublishTasks(ctx, []Task{a3}); err != nil {
			t.Fatalf("PublishTasks attempt 3: %v", err)
		}
	}
	if got := streamMsgs(t, b, TasksStream); got != uint64(n+2) {
		t.Errorf("tasks stored after attempt 3 twice = %d, want %d", got, n+2)
	}
}

func TestParseTaskReadsTheAttempt(t *testing.T) {
	t.Parallel()
	b := startBus(t, testConfig(t))
	ctx := testCtx(t)
	tasks := []Task{testTask(1, "wh_1", 0), testTask(2, "wh_1", 0)}
	tasks[1].Attempt = 4
	notBefore := time.Date(2026, 11, 29, 9, 0, 0, 123456789, time.UTC)
	tasks[1].NotBefore = notBefore
	if err := b.PublishTasks(ctx, tasks); err != nil {
		t.Fatal(err)
	}
	dc, err := b.DeliverConsumer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{0, 4} {
		got, err := ParseTask(fetchOne(t, dc))
		if err != nil || got.Attempt != want {
			t.Errorf("ParseTask: attempt %d, %v; want %d", got.Attempt, err, want)
		}
		if wantNB := tasks[i].NotBefore; !got.NotBefore.Equal(wantNB) {
			t.Errorf("ParseTask: not before %v, want %v", got.NotBefore, wantNB)
		}
	}
}

func TestPublishTasksRefusesBadTasks(t *testing.T) {
	t.Parallel()
	b := startBus(t, testConfig(t))
	mut := map[string]func(*Task){
		"zero delivery id":  func(t *Task) { t.DeliveryID = 0 },
		"webhook id dot":    func(t *Task) { t.WebhookID = "wh.1" },
		"webhook id empty":  func(t *Task) { t.WebhookID = "" },
		"webhook id wild":   func(t *Task) { t.WebhookID = ">" },
		"event id empty":    func(t *Task) { t.EventID = "" },
		"event type bad":    func(t *Task) { t.EventType = "User" },
		"negative gen":      func(t *Task) { t.Generation = -1 },
		"negative attempt":  func(t *Task) { t.Attempt = -1 },
		"unknown trigger":   func(t *Task) { t.Trigger = "test" },
		"event id newline":  func(t *Task) { t.EventID = "a\nb" },
		"webhook id spaces": func(t *Task) { t.WebhookID = "wh 1" },
	}
	for name, m := range mut {
		good := testTask(1, "wh_1", 0)
		bad := testTask(2, "wh_2", 0)
		m(&bad)
		err := b.PublishTasks(testCtx(t), []Task{good, bad})
		if !errors.Is(err, ErrInvalidTask) {
			t.Errorf("%s: err = %v, want ErrInvalidTask", name, err)
		}
	}
	// Validation happens before anything is sent.
	if got := streamMsgs(t, b, TasksStream); got != 0 {
		t.Errorf("tasks stored = %d, want 0", got)
	}
}

func TestPublishTasksHonoursContext(t *testing.T) {
	t.Parallel()
	b := startBus(t, testConfig(t))
	ctx, cancel := context.WithCancel(testCtx(t))
	cancel()
	err := b.PublishTasks(ctx, []Task{testTask(1, "wh_1", 0)})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestParseTaskRefusesGarbledHeaders(t *testing.T) {
	t.Parallel()
	b := startBus(t, testConfig(t))
	ctx := testCtx(t)
	good := taskMsg(context.Background(), &Task{
		DeliveryID: 7, WebhookID: "wh_1", EventID: "evt_7", EventType: "user.created", Trigger: TriggerScheduled,
	}).Header
	tests := map[string]func(nats.Header) string{
		"missing delivery id": func(h nats.Header) string { h.Del(HeaderDeliveryID); return "" },
		"garbled delivery id": func(h nats.Header) string { h.Set(HeaderDeliveryID, "seven"); return "" },
		"missing webhook id":  func(h nats.Header) string { h.Del(HeaderWebhookID); return "" },
		"subject mismatch":    func(h nats.Header) string { return "webhookd.tasks.wh_2" },
		"missing event id":    func(h nats.Header) string { h.Del(HeaderEventID); return "" },
		"bad event type":      func(h nats.Header) string { h.Set(HeaderEventType, "USER"); return "" },
		"garbled generation":  func(h nats.Header) string { h.Set(HeaderGeneration, "1.5"); return "" },
		"missing trigger":     func(h nats.Header) string { h.Del(HeaderTrigger); return "" },
		"bad trigger":         func(h nats.Header) string { h.Set(HeaderTrigger, "cron"); return "" },
		"garbled attempt":     func(h nats.Header) string { h.Set(HeaderAttempt, "two"); return "" },
		"zero attempt":        func(h nats.Header) string { h.Set(HeaderAttempt, "0"); return "" },
		"garbled not before":  func(h nats.Header) string { h.Set(HeaderNotBefore, "soon"); return "" },
		"negative not before": func(h nats.Header) string { h.Set(HeaderNotBefore, "-5"); return "" },
	}
	// Publish straight to the stream, then read them back in order.
	var names []string
	for name, mut := range tests {
		h := nats.Header{}
		for k, v := range good {
			h[k] = append([]string(nil), v...)
		}
		h.Del(jetstream.MsgIDHeader)
		subj := mut(h)
		if subj == "" {
			subj = "webhookd.tasks.wh_1"
		}
		if _, err := b.JetStream().PublishMsg(ctx, &nats.Msg{Subject: subj, Header: h, Data: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	dc, err := b.DeliverConsumer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		m := fetchOne(t, dc)
		if _, err := ParseTask(m); !errors.Is(err, ErrInvalidTask) {
			t.Errorf("%s: ParseTask err = %v, want ErrInvalidTask", name, err)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: multi-line error %q", name, err)
		}
		_ = m.Ack()
	}
}

func TestPurgeTasks(t *testing.T) {
	t.Parallel()
	b := startBus(t, testConfig(t))
	ctx := testCtx(t)
	tasks := []Task{testTask(1, "wh_a", 0), testTask(2, "wh_a", 0), testTask(3, "wh_b", 0)}
	if err := b.PublishTasks(ctx, tasks); err != nil {
		t.Fatal(err)
	}
	if err := b.PurgeTasks(ctx, "wh_a"); err != nil {
		t.Fatalf("PurgeTasks: %v", err)
	}
	if got := streamMsgs(t, b, TasksStream); got != 1 {
		t.Fatalf("tasks left = %d, want 1", got)
	}
	dc, err := b.DeliverConsumer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m := fetchOne(t, dc); m.Subject() != "webhookd.tasks.wh_b" {
		t.Errorf("remaining task subject = %q", m.Subject())
	}
	if err := b.PurgeTasks(ctx, "wh.>"); !errors.Is(err, ErrInvalidTask) {
		t.Errorf("PurgeTasks with a wildcard id: err = %v", err)
	}
}
