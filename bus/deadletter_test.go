package bus

import (
	"bytes"
	"context"
	"strconv"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// deadLetterCounts reads webhookd_dead_letters_total by reason.
func deadLetterCounts(t *testing.T, r *sdkmetric.ManualReader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "webhookd_dead_letters_total" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				reason, _ := dp.Attributes.Value(attribute.Key("reason"))
				if dp.Attributes.Len() != 1 {
					t.Errorf("counter attributes = %v, want only reason", dp.Attributes)
				}
				out[reason.AsString()] += dp.Value
			}
		}
	}
	return out
}

func TestDeadLetter(t *testing.T) {
	t.Parallel()
	reader := sdkmetric.NewManualReader()
	cfg := testConfig(t)
	cfg.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	b := startBus(t, cfg)
	ctx := testCtx(t)

	body := []byte(`{"event_id":"evt_bad","event_type":"user.created"`)
	if _, err := b.JetStream().Publish(ctx, "events.user.created", body, jetstream.WithMsgID("evt_bad")); err != nil {
		t.Fatal(err)
	}
	mc, err := b.MatchConsumer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := fetchOne(t, mc)
	_, perr := ParseEnvelope(m.Data(), "user.created", 0)
	if perr == nil {
		t.Fatal("truncated envelope parsed")
	}
	// Twice, as after a redelivery: stored and counted once.
	for range 2 {
		if err := b.DeadLetter(ctx, m, perr.Error()); err != nil {
			t.Fatalf("DeadLetter: %v", err)
		}
	}
	if n := streamMsgs(t, b, DeadLetterStream); n != 1 {
		t.Fatalf("dead letters = %d, want 1", n)
	}
	s, err := b.JetStream().Stream(ctx, DeadLetterStream)
	if err != nil {
		t.Fatal(err)
	}
	dl, err := s.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	md, _ := m.Metadata()
	wantHeaders := map[string]string{
		HeaderDeadLetterReason:   perr.Error(),
		HeaderDeadLetterCategory: EnvelopeInvalidJSON,
		HeaderDeadLetterSubject:  "events.user.created",
		HeaderDeadLetterStream:   EventsStream,
		HeaderDeadLetterSequence: strconv.FormatUint(md.Sequence.Stream, 10),
		HeaderDeadLetterMsgID:    "evt_bad",
	}
	for k, v := range wantHeaders {
		if got := dl.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if dl.Subject != DeadLetterEventsSubject || !bytes.Equal(dl.Data, body) {
		t.Errorf("dead letter subject %q body %q", dl.Subject, dl.Data)
	}
	if got := deadLetterCounts(t, reader); len(got) != 1 || got[EnvelopeInvalidJSON] != 1 {
		t.Errorf("counter = %v, want invalid_json: 1", got)
	}
}

func TestDeadLetterTask(t *testing.T) {
	t.Parallel()
	reader := sdkmetric.NewManualReader()
	cfg := testConfig(t)
	cfg.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	b := startBus(t, cfg)
	ctx := testCtx(t)
	if _, err := b.JetStream().Publish(ctx, "webhookd.tasks.wh_1", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	dc, err := b.DeliverConsumer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := fetchOne(t, dc)
	if err := b.DeadLetter(ctx, m, "invalid_task: missing header\r\nX-Injected: 1"); err != nil {
		t.Fatal(err)
	}
	s, _ := b.JetStream().Stream(ctx, DeadLetterStream)
	dl, err := s.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if dl.Subject != DeadLetterTasksSubject {
		t.Errorf("subject = %q, want %q", dl.Subject, DeadLetterTasksSubject)
	}
	if got := dl.Header.Get(HeaderDeadLetterReason); got != "invalid_task: missing header  X-Injected: 1" {
		t.Errorf("reason header = %q", got)
	}
	if dl.Header.Get("X-Injected") != "" {
		t.Error("reason injected a header")
	}
	if got := deadLetterCounts(t, reader); got["invalid_task"] != 1 {
		t.Errorf("counter = %v, want invalid_task: 1", got)
	}
}

func TestReasonCategory(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"invalid envelope: too_large: 300000 bytes":   "too_large",
		"invalid envelope: missing_field: x":          "missing_field",
		"invalid_task: invalid task: missing":         "invalid_task",
		"unknown_event_type":                          "unknown_event_type",
		"no_event_type:":                              "no_event_type",
		"":                                            "other",
		"Something went wrong":                        "other",
		"evt 123: bad":                                "other",
		"wh_01J9ZQ4X3B6N8R2T5V7W9Y0A1C_aaaaaaaaaa: x": "other", // too long to be a category
		"invalid envelope: body is not JSON":          "other",
		"too_large : x":                               "other",
	}
	for in, want := range tests {
		if got := ReasonCategory(in); got != want {
			t.Errorf("ReasonCategory(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDeadLetterOmitsBodyAtPayloadLimit(t *testing.T) {
	t.Parallel()
	srv := runServer(t, func(o *server.Options) { o.MaxPayload = 64 << 10 })
	b := startBus(t, Config{URLs: srv.ClientURL(), Logger: quietLogger(), MaxEventBytes: 64 << 10})
	ctx := testCtx(t)
	body := bytes.Repeat([]byte("x"), 64<<10-64)
	if _, err := b.JetStream().Publish(ctx, "events.user.created", body); err != nil {
		t.Fatal(err)
	}
	mc, err := b.MatchConsumer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := fetchOne(t, mc)
	if err := b.DeadLetter(ctx, m, "too_large: x"); err != nil {
		t.Fatalf("DeadLetter: %v", err)
	}
	s, _ := b.JetStream().Stream(ctx, DeadLetterStream)
	dl, err := s.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if dl.Header.Get(HeaderDeadLetterBodyOmitted) != "true" || len(dl.Data) != 0 ||
		dl.Header.Get(HeaderDeadLetterSequence) != "1" {
		t.Errorf("dead letter headers %v, %d body bytes", dl.Header, len(dl.Data))
	}
}
