package bus

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// benchTaskMsg stands in for a fetched task message: ParseTask reads only
// its subject, headers and data.
type benchTaskMsg struct {
	jetstream.Msg
	m *nats.Msg
}

func (b benchTaskMsg) Subject() string      { return b.m.Subject }
func (b benchTaskMsg) Headers() nats.Header { return b.m.Header }
func (b benchTaskMsg) Data() []byte         { return b.m.Data }

func benchTask() Task {
	return Task{
		DeliveryID: 123456, WebhookID: "wh_01JS3K8Z9Q4M7N2P5R8T1V4X6Y",
		EventID: "evt_a3f9k2bWqL8Hn5pZ", EventType: "user.created", Generation: 0,
		Trigger: TriggerScheduled,
		Body:    []byte(`{"event_id":"evt_a3f9k2bWqL8Hn5pZ","event_type":"user.created","timestamp":"2026-04-22T14:30:00.000Z","source":"scaikey","tenant_id":"tnt_acme","data":{"id":"usr_1"}}`),
		Header:  nats.Header{"traceparent": []string{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}},
	}
}

// BenchmarkTaskMsg is the encoding of one task, once per (event, webhook).
func BenchmarkTaskMsg(b *testing.B) {
	t := benchTask()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := t.validate(); err != nil {
			b.Fatal(err)
		}
		taskMsg(ctx, &t)
	}
}

// BenchmarkParseTask is the decoding of one task, once per attempt.
func BenchmarkParseTask(b *testing.B) {
	t := benchTask()
	msg := benchTaskMsg{m: taskMsg(context.Background(), &t)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseTask(msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParsePattern(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		for _, s := range []string{"user.created", "user.*", "*"} {
			if _, err := ParsePattern(s); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkPatternMatch(b *testing.B) {
	ps := make([]Pattern, 0, 3)
	for _, s := range []string{"user.created", "user.*", "*"} {
		p, err := ParsePattern(s)
		if err != nil {
			b.Fatal(err)
		}
		ps = append(ps, p)
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, p := range ps {
			if !p.Match("user.created") || p.Match("username.created") && p.String() != "*" {
				b.Fatal("wrong match")
			}
		}
	}
}

func BenchmarkValidEventType(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if !ValidEventType("request.completed") {
			b.Fatal("valid type refused")
		}
	}
}
