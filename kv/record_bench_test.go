package kv

import (
	"encoding/json"
	"testing"
	"time"
)

// The record encodings on the hot path: every CreateDelivery writes a
// delivery and the stats; every RecordAttempt reads and writes the
// delivery, the webhook and the stats and writes one attempt.

func benchRecords() (*Webhook, *Delivery, Attempt) {
	at := time.Date(2026, 4, 22, 14, 30, 0, 123456789, time.UTC)
	next := at.Add(30 * time.Second)
	w := &Webhook{
		ID: "wh_01JS3K8Z9Q4M7N2P5R8T1V4X6Y", URL: "https://receiver.example.com/hooks/scaikey",
		Description: "user lifecycle", Events: []string{"user.created", "user.*"},
		Status: WebhookActive, MaxRetries: 5, TimeoutSeconds: 10,
		Headers:  map[string]string{"X-Team": "identity"},
		TenantID: "tnt_acme", PartnerID: "prt_internal",
		Secret:        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		LastSuccessAt: &at, CreatedAt: at, UpdatedAt: at, Revision: 42,
	}
	d := &Delivery{
		ID: 123456, WebhookID: w.ID, EventID: "evt_a3f9k2bWqL8Hn5pZ", EventType: "user.created",
		TenantID: "tnt_acme", PartnerID: "prt_internal", EventSeq: 987654,
		Status: DeliveryPending, AttemptCount: 1, NextAttemptAt: &next,
		ResponseStatusCode: 503, Error: "http 503", DurationMS: 35, CreatedAt: at, UpdatedAt: at,
	}
	a := Attempt{Attempt: 1, StartedAt: at, DurationMS: 35, StatusCode: 503, Error: "http 503",
		ResponseBody: `{"error":"unavailable"}`, Trigger: TriggerScheduled}
	return w, d, a
}

func BenchmarkEncodeDelivery(b *testing.B) {
	_, d, _ := benchRecords()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encodeDelivery(nil, d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeDelivery(b *testing.B) {
	_, d, _ := benchRecords()
	v, _ := encodeDelivery(nil, d)
	b.SetBytes(int64(len(v)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeDelivery(v, d.WebhookID); err != nil {
			b.Fatal(err)
		}
	}
}

// A delivery of layout 1 (JSON), as files written before layout 2 hold.
func BenchmarkDecodeDeliveryJSON(b *testing.B) {
	_, d, _ := benchRecords()
	v, _ := json.Marshal(d)
	b.SetBytes(int64(len(v)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeDelivery(v, d.WebhookID); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeAttempt(b *testing.B) {
	_, _, a := benchRecords()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encodeAttempt(nil, &a); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeAttempt(b *testing.B) {
	_, _, a := benchRecords()
	v, _ := encodeAttempt(nil, &a)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeAttempt(v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeWebhook(b *testing.B) {
	w, _, _ := benchRecords()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(w); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeWebhook(b *testing.B) {
	w, _, _ := benchRecords()
	v, _ := json.Marshal(w)
	b.SetBytes(int64(len(v)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeWebhook(v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCloneWebhook(b *testing.B) {
	w, _, _ := benchRecords()
	b.ReportAllocs()
	for b.Loop() {
		w.Clone()
	}
}

// statsForBench has every counter set, the figures of a busy webhook.
func statsForBench() *statCounters {
	s := &statCounters{}
	at := time.Date(2026, 4, 22, 14, 30, 0, 0, time.UTC)
	for i := range 5000 {
		t := at.Add(time.Duration(i) * 17 * time.Second)
		s.onCreate(t)
		s.onAttempt(t, int64(i%900))
		s.onStatus(DeliveryPending, DeliverySuccess, t)
		s.onLast(int64(i+1), DeliverySuccess, 200, t)
	}
	return s
}

func BenchmarkEncodeStats(b *testing.B) {
	s := statsForBench()
	b.ReportAllocs()
	for b.Loop() {
		s.encode()
	}
}

func BenchmarkDecodeStats(b *testing.B) {
	v := statsForBench().encode()
	b.SetBytes(int64(len(v)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeStats(v); err != nil {
			b.Fatal(err)
		}
	}
}
