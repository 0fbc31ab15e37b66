package bus

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/trace"
)

func testSpanContext(t *testing.T) trace.SpanContext {
	t.Helper()
	tid, err := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	if err != nil {
		t.Fatal(err)
	}
	sid, err := trace.SpanIDFromHex("00f067aa0ba902b7")
	if err != nil {
		t.Fatal(err)
	}
	ts, err := trace.ParseTraceState("vendor=abc")
	if err != nil {
		t.Fatal(err)
	}
	return trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, TraceState: ts, Remote: true,
	})
}

func TestTraceRoundTrip(t *testing.T) {
	t.Parallel()
	sc := testSpanContext(t)
	h := nats.Header{}
	InjectTrace(trace.ContextWithSpanContext(context.Background(), sc), h)
	if got := h.Get(HeaderTraceparent); got != "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" {
		t.Errorf("traceparent = %q", got)
	}
	if got := h.Get(HeaderTracestate); got != "vendor=abc" {
		t.Errorf("tracestate = %q", got)
	}
	got := trace.SpanContextFromContext(ExtractTrace(context.Background(), h))
	if !got.Equal(sc) {
		t.Errorf("extracted %+v, want %+v", got, sc)
	}
}

func TestTraceWithoutContext(t *testing.T) {
	t.Parallel()
	h := nats.Header{}
	InjectTrace(context.Background(), h)
	if len(h) != 0 {
		t.Errorf("inject without a span wrote %v", h)
	}
	InjectTrace(trace.ContextWithSpanContext(context.Background(), testSpanContext(t)), nil) // must not panic
	ctx := ExtractTrace(context.Background(), nil)
	if trace.SpanContextFromContext(ctx).IsValid() {
		t.Error("extract from nil header produced a span context")
	}
	bad := nats.Header{HeaderTraceparent: []string{"00-zz-yy-01"}}
	if trace.SpanContextFromContext(ExtractTrace(context.Background(), bad)).IsValid() {
		t.Error("garbled traceparent produced a valid span context")
	}
}
