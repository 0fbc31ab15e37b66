package admin

import (
	"net/http"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func TestServerSpans(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	f := setup(t, func(c *Config) { c.TracerProvider = tp })
	w := f.createWebhook("", "")

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	r := f.do("GET", base+"/"+w.ID, f.token(superAdmin), nil, "traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	expectStatus(t, r, http.StatusOK)
	expectStatus(t, f.do("GET", "/nothing", "", nil), http.StatusNotFound)

	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2", len(spans))
	}
	s := spans[0]
	if s.Name() != "GET /api/v1/admin/webhooks/{webhook_id}" {
		t.Errorf("span name %q", s.Name())
	}
	if s.SpanKind() != trace.SpanKindServer || s.SpanContext().TraceID().String() != traceID || s.Parent().SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("span kind %v trace %s parent %s: the caller's trace is not continued", s.SpanKind(), s.SpanContext().TraceID(), s.Parent().SpanID())
	}
	attrs := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		attrs[kv.Key] = kv.Value
	}
	if attrs["http.response.status_code"].AsInt64() != 200 || attrs["webhookd.webhook_id"].AsString() != w.ID ||
		attrs["webhookd.principal"].AsString() != "super_admin" {
		t.Errorf("attributes = %v", attrs)
	}
	if spans[1].Name() != "GET" {
		t.Errorf("unmatched request span named %q, want the method only", spans[1].Name())
	}
	if spans[1].SpanContext().TraceID().String() == traceID {
		t.Error("a request without traceparent joined the other trace")
	}
}
