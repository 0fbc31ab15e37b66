package fanout

import (
	"context"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/scailabs/webhookd/bus"
	"github.com/scailabs/webhookd/kv"
)

func TestEngineTelemetry(t *testing.T) {
	t.Parallel()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	h := newHarness(t, harnessOpts{
		cfg: func(c *Config) { c.TracerProvider, c.MeterProvider = tp, mp },
		bus: func(c *bus.Config) { c.TracerProvider = tp },
	})
	ep := newEndpoint(t, statusSeq(500, 200))
	w := h.addWebhook(ep.url()+"/in?token=s3cret", []string{"user.created"}, nil)

	id := "evt_telemetry"
	traceID := h.publishTraced(tp, id, "user.created")
	d := h.waitStatus(w.ID, id, kv.DeliverySuccess)

	eventually(t, "spans ended", func() bool {
		var deliver int
		for _, s := range spans.Ended() {
			if s.SpanKind() == trace.SpanKindConsumer && s.Name() == "deliver user.created" {
				deliver++
			}
		}
		return deliver == 2
	})
	var match, deliver, client int
	for _, s := range spans.Ended() {
		attrs := map[string]string{}
		for _, a := range s.Attributes() {
			attrs[string(a.Key)] = a.Value.Emit()
		}
		switch {
		case s.SpanKind() == trace.SpanKindConsumer && s.Name() == "match events.user.created":
			match++
			if s.SpanContext().TraceID() != traceID || attrs["event_id"] != id {
				t.Errorf("match span not in the publisher's trace or lacks event_id: %v", attrs)
			}
		case s.SpanKind() == trace.SpanKindConsumer && s.Name() == "deliver user.created":
			deliver++
			if s.SpanContext().TraceID() != traceID || attrs["webhook_id"] != w.ID || attrs["delivery_id"] == "" {
				t.Errorf("deliver span not in the publisher's trace or lacks ids: %v", attrs)
			}
		case s.SpanKind() == trace.SpanKindClient && s.Name() == "POST":
			client++
			if s.SpanContext().TraceID() != traceID {
				t.Error("client span not in the publisher's trace")
			}
			if attrs["url.full"] != ep.url()+"/in" || attrs["http.request.method"] != "POST" {
				t.Errorf("client span attributes %v (url.full must drop the query)", attrs)
			}
			if c := attrs["http.response.status_code"]; c != "500" && c != "200" {
				t.Errorf("client span status code %q", c)
			}
		}
	}
	if match != 1 || deliver != 2 || client != 2 {
		t.Errorf("spans: %d match, %d deliver, %d client; want 1, 2, 2", match, deliver, client)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch data := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range data.DataPoints {
					key := m.Name
					for _, kv := range p.Attributes.ToSlice() {
						if kv.Key != "outcome" {
							t.Errorf("%s has label %s: only outcome is allowed", m.Name, kv.Key)
						}
						key += "{" + kv.Value.Emit() + "}"
					}
					got[key] += p.Value
				}
			case metricdata.Histogram[float64]:
				for _, p := range data.DataPoints {
					got[m.Name] += int64(p.Count)
				}
			}
		}
	}
	want := map[string]int64{
		"webhookd_events_matched_total":                1,
		"webhookd_deliveries_attempted_total{retry}":   1,
		"webhookd_deliveries_attempted_total{success}": 1,
		"webhookd_delivery_duration_seconds":           2,
		"webhookd_deliveries_in_flight":                0,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("metric %s = %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
	if d.AttemptCount != 2 {
		t.Errorf("attempts = %d", d.AttemptCount)
	}
}

// A retry that waited on the store's due list is published again by the
// due loop, long after the event: its attempt must still be in the
// publisher's trace, as every attempt of a task from the matcher is.
func TestEngineDeferredRetryStaysInThePublishersTrace(t *testing.T) {
	t.Parallel()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	h := newHarness(t, harnessOpts{
		cfg: func(c *Config) {
			c.TracerProvider = tp
			c.Schedule = Schedule{time.Second}
			c.DeferRetriesAfter = time.Second
		},
		bus: func(c *bus.Config) { c.TracerProvider = tp },
	})
	ep := newEndpoint(t, statusSeq(503, 200))
	w := h.addWebhook(ep.url(), []string{"user.created"}, nil)

	id := "evt_deferred_trace"
	traceID := h.publishTraced(tp, id, "user.created")
	d := h.waitStatus(w.ID, id, kv.DeliverySuccess)
	if d.AttemptCount != 2 {
		t.Fatalf("attempts = %d, want 2", d.AttemptCount)
	}
	eventually(t, "both POST spans ended", func() bool { return len(postSpans(spans)) == 2 })
	for i, s := range postSpans(spans) {
		if s.SpanContext().TraceID() != traceID {
			t.Errorf("POST %d in trace %s, want the publisher's %s", i+1, s.SpanContext().TraceID(), traceID)
		}
	}
}

func postSpans(spans *tracetest.SpanRecorder) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range spans.Ended() {
		if s.SpanKind() == trace.SpanKindClient && s.Name() == "POST" {
			out = append(out, s)
		}
	}
	return out
}

// publishTraced publishes an event inside a producer span of tp and
// returns that span's trace id.
func (h *harness) publishTraced(tp trace.TracerProvider, id, eventType string) trace.TraceID {
	h.t.Helper()
	ctx, parent := tp.Tracer("test").Start(context.Background(), "producer")
	defer parent.End()
	if err := h.bus.PublishEvent(ctx, id, eventType, envelopeBytes(h.t, id, eventType, "", "", "")); err != nil {
		h.t.Fatal(err)
	}
	return parent.SpanContext().TraceID()
}
