package fanout

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

const instrumentationName = "github.com/scailabs/webhookd/fanout"

// Outcomes of one attempt, the only label of the attempt metrics. IDs are
// never metric labels (unbounded cardinality); they go on spans.
const (
	outcomeSuccess = "success"
	outcomeRetry   = "retry"
	outcomeFailed  = "failed"
	outcomeGone    = "gone"
	outcomeSkipped = "skipped"
)

// telemetry holds the tracer and the instruments of the engine.
type telemetry struct {
	tracer trace.Tracer
	// spanAttrs: spans may record (the provider is not the no-op one,
	// webhookd's default with tracing off), so they get their attributes,
	// at their start where samplers see them. Without it the attributes
	// are not built at all: they cost every attempt for nothing.
	spanAttrs bool
	matched   metric.Int64Counter
	attempted metric.Int64Counter
	duration  metric.Float64Histogram
	inFlight  metric.Int64UpDownCounter
}

func newTelemetry(tp trace.TracerProvider, mp metric.MeterProvider) (*telemetry, error) {
	m := mp.Meter(instrumentationName)
	_, off := tp.(noop.TracerProvider)
	t := &telemetry{tracer: tp.Tracer(instrumentationName), spanAttrs: !off}
	var err error
	if t.matched, err = m.Int64Counter("webhookd_events_matched_total",
		metric.WithDescription("Events that matched at least one webhook and whose delivery tasks were stored.")); err != nil {
		return nil, fmt.Errorf("fanout: metric: %w", err)
	}
	if t.attempted, err = m.Int64Counter("webhookd_deliveries_attempted_total",
		metric.WithDescription("Delivery attempts by outcome (success, retry, failed, gone, skipped).")); err != nil {
		return nil, fmt.Errorf("fanout: metric: %w", err)
	}
	if t.duration, err = m.Float64Histogram("webhookd_delivery_duration_seconds",
		metric.WithUnit("s"),
		metric.WithDescription("Duration of one HTTP delivery attempt."),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)); err != nil {
		return nil, fmt.Errorf("fanout: metric: %w", err)
	}
	if t.inFlight, err = m.Int64UpDownCounter("webhookd_deliveries_in_flight",
		metric.WithDescription("Delivery tasks being processed right now.")); err != nil {
		return nil, fmt.Errorf("fanout: metric: %w", err)
	}
	return t, nil
}

// attempt counts one recorded attempt; duration is zero for a skipped one
// (no HTTP request was made, so there is nothing to time).
func (t *telemetry) attempt(ctx context.Context, outcome string, d time.Duration) {
	set, ok := outcomeSets[outcome]
	if !ok {
		set = metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", outcome)))
	}
	t.attempted.Add(ctx, 1, set)
	if outcome != outcomeSkipped {
		t.duration.Record(ctx, d.Seconds(), set)
	}
}

// outcomeSets are the attribute sets of the attempt metrics, built once
// rather than on every attempt.
var outcomeSets = func() map[string]metric.MeasurementOption {
	m := map[string]metric.MeasurementOption{}
	for _, o := range []string{outcomeSuccess, outcomeRetry, outcomeFailed, outcomeGone, outcomeSkipped} {
		m[o] = metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", o)))
	}
	return m
}()

// startClient starts the client span of one POST. url.full carries only
// scheme, host and path: a query string may hold a receiver's token.
func (t *telemetry) startClient(ctx context.Context, rawURL string) (context.Context, trace.Span) {
	if !t.spanAttrs {
		return t.tracer.Start(ctx, "POST", trace.WithSpanKind(trace.SpanKindClient))
	}
	attrs := []attribute.KeyValue{attribute.String("http.request.method", "POST")}
	if u, err := url.Parse(rawURL); err == nil {
		attrs = append(attrs,
			attribute.String("url.full", u.Scheme+"://"+u.Host+u.EscapedPath()),
			attribute.String("server.address", u.Hostname()))
	}
	return t.tracer.Start(ctx, "POST", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

// endClient finishes the client span with the attempt's outcome.
func endClient(span trace.Span, r Response) {
	if r.StatusCode > 0 {
		span.SetAttributes(attribute.Int("http.response.status_code", r.StatusCode))
	}
	if Classify(r) != VerdictSuccess {
		span.SetStatus(codes.Error, ErrorText(r))
	}
	span.End()
}
