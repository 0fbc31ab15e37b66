package bus

import (
	"context"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/propagation"
)

// Trace-context header names (W3C Trace Context).
const (
	HeaderTraceparent = "traceparent"
	HeaderTracestate  = "tracestate"
)

// traceContext is fixed to W3C Trace Context rather than the global
// propagator: the header format is part of the bus contract.
var traceContext propagation.TraceContext

// HeaderCarrier adapts nats.Header to propagation.TextMapCarrier. NATS
// header names are case-sensitive; W3C names are lowercase.
type HeaderCarrier nats.Header

var _ propagation.TextMapCarrier = HeaderCarrier(nil)

// Get returns the first value of key.
func (c HeaderCarrier) Get(key string) string {
	if v := c[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Set replaces key's values with value.
func (c HeaderCarrier) Set(key, value string) { c[key] = []string{value} }

// Keys lists the header names.
func (c HeaderCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// InjectTrace writes ctx's trace context into h; a nil h (which cannot be
// written) is left alone.
func InjectTrace(ctx context.Context, h nats.Header) {
	if h == nil {
		return
	}
	traceContext.Inject(ctx, HeaderCarrier(h))
}

// ExtractTrace returns ctx carrying the trace context found in h (as a
// remote span context); ctx unchanged when h has none.
func ExtractTrace(ctx context.Context, h nats.Header) context.Context {
	if h == nil {
		return ctx
	}
	return traceContext.Extract(ctx, HeaderCarrier(h))
}

// copyTrace copies the trace headers of src into dst, reporting whether a
// traceparent was there.
func copyTrace(dst, src nats.Header) bool {
	tp := src[HeaderTraceparent]
	if len(tp) == 0 {
		return false
	}
	dst[HeaderTraceparent] = []string{tp[0]}
	if ts := src[HeaderTracestate]; len(ts) > 0 {
		dst[HeaderTracestate] = []string{ts[0]}
	}
	return true
}
