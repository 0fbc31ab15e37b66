package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// telemetry holds the OTel providers the packages are given.
type telemetry struct {
	tracer         trace.TracerProvider
	meter          metric.MeterProvider
	metricsHandler http.Handler
	shutdown       func(context.Context)
}

// startTelemetry sets up metrics (the OTel Prometheus exporter on its own
// registry, served at /metrics) and tracing. Spans are exported over OTLP/HTTP
// when the standard OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT)
// variable is set, and not recorded otherwise.
func startTelemetry(ctx context.Context, log *slog.Logger) (*telemetry, error) {
	res := resource.NewWithAttributes(semconv.SchemaURL,
		semconv.ServiceName("webhookd"), semconv.ServiceVersion(version))

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp), sdkmetric.WithResource(res))

	t := &telemetry{
		meter:          mp,
		metricsHandler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		tracer:         noop.NewTracerProvider(),
	}
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))

	var tp *sdktrace.TracerProvider
	if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" {
		te, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("otlp trace exporter: %w", err)
		}
		tp = sdktrace.NewTracerProvider(sdktrace.WithBatcher(te), sdktrace.WithResource(res))
		t.tracer = tp
		log.Info("exporting traces over OTLP/HTTP")
	}
	otel.SetTracerProvider(t.tracer)
	otel.SetMeterProvider(mp)

	t.shutdown = func(ctx context.Context) {
		if tp != nil {
			_ = tp.Shutdown(ctx)
		}
		_ = mp.Shutdown(ctx)
	}
	return t, nil
}
