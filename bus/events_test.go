package bus

import (
	"bytes"
	"errors"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

func TestGetEvent(t *testing.T) {
	t.Parallel()
	b := startBus(t, testConfig(t))
	ctx := testCtx(t)
	body := envelope("evt_g", "user.created")
	if err := b.PublishEvent(ctx, "evt_g", "user.created", body); err != nil {
		t.Fatal(err)
	}
	if err := b.PublishEvent(ctx, "evt_h", "user.updated", envelope("evt_h", "user.updated")); err != nil {
		t.Fatal(err)
	}
	got, err := b.GetEvent(ctx, 1)
	if err != nil {
		t.Fatalf("GetEvent(1): %v", err)
	}
	if !bytes.Equal(got, body) {
		t.Errorf("GetEvent(1) = %s", got)
	}
	for _, seq := range []uint64{0, 3, 1 << 40} {
		if _, err := b.GetEvent(ctx, seq); !errors.Is(err, ErrEventGone) {
			t.Errorf("GetEvent(%d) err = %v, want ErrEventGone", seq, err)
		}
	}
	// Deleted (as by expiry or an operator) is gone too.
	s, err := b.JetStream().Stream(ctx, EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMsg(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetEvent(ctx, 1); !errors.Is(err, ErrEventGone) {
		t.Errorf("GetEvent of a deleted event: err = %v, want ErrEventGone", err)
	}
	if err := s.Purge(ctx, jetstream.WithPurgeSubject("events.user.updated")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetEvent(ctx, 2); !errors.Is(err, ErrEventGone) {
		t.Errorf("GetEvent of a purged event: err = %v, want ErrEventGone", err)
	}
}
