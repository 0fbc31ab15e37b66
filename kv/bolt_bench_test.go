package kv_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scailabs/webhookd/kv"
)

func benchStore(b *testing.B, noSync bool) *kv.Bolt {
	b.Helper()
	s, err := kv.OpenBolt(kv.BoltOptions{Path: filepath.Join(b.TempDir(), "kv.db"), NoSync: noSync})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	for i := range 8 {
		w := &kv.Webhook{ID: fmt.Sprintf("wh_%d", i), URL: "https://receiver.example", Status: kv.WebhookActive, CreatedAt: time.Now()}
		if err := s.CreateWebhook(context.Background(), w); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

func forSyncModes(b *testing.B, fn func(b *testing.B, s *kv.Bolt)) {
	for _, mode := range []struct {
		name   string
		noSync bool
	}{{"fsync=always", false}, {"fsync=interval", true}} {
		b.Run(mode.name, func(b *testing.B) { fn(b, benchStore(b, mode.noSync)) })
	}
}

func BenchmarkCreateDelivery(b *testing.B) {
	forSyncModes(b, func(b *testing.B, s *kv.Bolt) {
		var n atomic.Int64
		b.ReportAllocs()
		b.SetParallelism(8)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := n.Add(1)
				d := &kv.Delivery{
					WebhookID: fmt.Sprintf("wh_%d", i%8),
					EventID:   fmt.Sprintf("evt_%d", i),
					EventType: "user.created",
					EventSeq:  uint64(i),
				}
				if _, err := s.CreateDelivery(context.Background(), d); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func BenchmarkRecordAttempt(b *testing.B) {
	forSyncModes(b, func(b *testing.B, s *kv.Bolt) {
		var n atomic.Int64
		next := time.Now().Add(time.Minute)
		b.ReportAllocs()
		b.SetParallelism(8)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			// Each goroutine fails its own delivery again and again: a
			// non-final failure keeps it pending.
			i := n.Add(1)
			d := &kv.Delivery{WebhookID: fmt.Sprintf("wh_%d", i%8), EventID: fmt.Sprintf("evt_%d", i)}
			if _, err := s.CreateDelivery(context.Background(), d); err != nil {
				b.Error(err)
				return
			}
			for pb.Next() {
				res, err := s.RecordAttempt(context.Background(), kv.AttemptOutcome{
					WebhookID: d.WebhookID, DeliveryID: d.ID,
					Attempt:       kv.Attempt{StartedAt: time.Now(), DurationMS: 35, StatusCode: 503, Error: "status 503", ResponseBody: "unavailable"},
					NextAttemptAt: &next,
				})
				if err != nil || res.Stale {
					b.Errorf("RecordAttempt = %+v, %v", res, err)
					return
				}
			}
		})
	})
}

// One caller at a time: the latency a lone writer sees.
func BenchmarkCreateDeliverySerial(b *testing.B) {
	forSyncModes(b, func(b *testing.B, s *kv.Bolt) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			d := &kv.Delivery{WebhookID: "wh_0", EventID: fmt.Sprintf("evt_%d", i)}
			if _, err := s.CreateDelivery(context.Background(), d); err != nil {
				b.Fatal(err)
			}
		}
	})
}
