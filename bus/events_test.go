package bus

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"
)

func TestGetEvent(t *testing.T) {
	t.Parallel()
	b := startBus(t, testConfig(t))
	ctx := testCtx(t)
	body := envelope("evt_g", "user.created")
	if err := b.PublishEvent(ctx, "evt_g", "user.created", body); err != nil {
		t.Fatal(err)
	}
	if err := b.PublishEvent(ctx, "evt_h", "user.updated", envelope("evt_h", "user.updated")); err != nil {
		t.Fatal(err)
	}
	got, err := b.GetEvent(ctx, 1)
	if err != nil {
		t.Fatalf("GetEvent(1): %v", err)
	}
	if !bytes.Equal(got, body) {
		t.Errorf("GetEvent(1) = %s", got)
	}
	for _, seq := range []uint64{0, 3, 1 << 40} {
		if _, err := b.GetEvent(ctx, seq); !errors.Is(err, ErrEventGone) {
			t.Errorf("GetEvent(%d) err = %v, want ErrEventGone", seq, err)
		}
	}
	// Deleted (as by expiry or an operator) is gone too.
	s, err := b.JetStream().Stream(ctx, EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMsg(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetEvent(ctx, 1); !errors.Is(err, ErrEventGone) {
		t.Errorf("GetEvent of a deleted event: err = %v, want ErrEventGone", err)
	}
	if err := s.Purge(ctx, jetstream.WithPurgeSubject("events.user.updated")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetEvent(ctx, 2); !errors.Is(err, ErrEventGone) {
		t.Errorf("GetEvent of a purged event: err = %v, want ErrEventGone", err)
	}
}

// GetEventTrace returns the trace headers the event was published with,
// and nil for an event published without any.
func TestGetEventTrace(t *testing.T) {
	t.Parallel()
	b := startBus(t, testConfig(t))
	ctx := testCtx(t)
	sc := testSpanContext(t)
	traced := trace.ContextWithSpanContext(ctx, sc)
	if err := b.PublishEvent(traced, "evt_traced", "user.created", envelope("evt_traced", "user.created")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.JetStream().Publish(ctx, "events.user.created", envelope("evt_plain", "user.created")); err != nil {
		t.Fatal(err)
	}
	body, h, err := b.GetEventTrace(ctx, 1)
	if err != nil || !bytes.Contains(body, []byte("evt_traced")) {
		t.Fatalf("GetEventTrace(1) = %s, %v", body, err)
	}
	if got := trace.SpanContextFromContext(ExtractTrace(context.Background(), h)); got.TraceID() != sc.TraceID() || len(h) > 2 {
		t.Errorf("trace headers %v, want only the publisher's trace context", h)
	}
	if _, h, err := b.GetEventTrace(ctx, 2); err != nil || h != nil {
		t.Errorf("GetEventTrace(2) headers %v, %v; want none", h, err)
	}
	if _, _, err := b.GetEventTrace(ctx, 3); !errors.Is(err, ErrEventGone) {
		t.Errorf("GetEventTrace(3) err = %v, want ErrEventGone", err)
	}
}
