package main

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

// A publish run whose server goes away ends (with the unacknowledged
// publishes counted, or an error) instead of waiting for acks for ever.
func TestPublishEndsWhenTheServerDies(t *testing.T) {
	t.Parallel()
	srv, err := server.NewServer(&server.Options{
		JetStream: true, StoreDir: t.TempDir(), Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	defer srv.Shutdown()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	pub, err := newPublisher(srv.ClientURL(), 512, newEventIDs(idsRandom), 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := pub.js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "EVENTS", Subjects: []string{"events.>"}, Storage: jetstream.FileStorage,
	}); err != nil {
		t.Fatal(err)
	}

	type outcome struct {
		res pubResult
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := pub.publish(ctx, "dies", 1_000_000, 0)
		done <- outcome{res, err}
	}()
	time.Sleep(300 * time.Millisecond)
	srv.Shutdown()
	select {
	case o := <-done:
		if o.err == nil && o.res.Errors == 0 {
			t.Fatal("the server died mid-run, and publish reported neither an error nor failed publishes")
		}
		t.Logf("publish returned %s after it started (the server shut down at 300 ms): %d unacknowledged, error %v",
			time.Since(o.res.Start).Round(time.Millisecond), o.res.Errors, o.err)
	case <-time.After(45 * time.Second):
		t.Fatal("publish still waiting 45 s after its server shut down")
	}
}
