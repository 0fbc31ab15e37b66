package bus

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// testTimeout bounds every NATS round trip in tests; generous for a loaded
// machine.
const testTimeout = 30 * time.Second

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testConfig is an embedded, in-process bus in a fresh directory.
func testConfig(t *testing.T) Config {
	t.Helper()
	return Config{DataDir: t.TempDir(), Listen: "off", Logger: quietLogger()}
}

// startBus starts cfg and closes it at cleanup.
func startBus(t *testing.T, cfg Config) *Bus {
	t.Helper()
	b, err := Start(testCtx(t), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

// envelope builds a valid envelope body.
func envelope(id, typ string) []byte {
	return fmt.Appendf(nil, `{"event_id":%q,"event_type":%q,"timestamp":"2026-04-22T14:30:00.000Z","tenant_id":"tnt_acme","data":{"n":1}}`, id, typ)
}

// fetchOne pulls exactly one message from c, failing the test otherwise.
func fetchOne(t *testing.T, c jetstream.Consumer) jetstream.Msg {
	t.Helper()
	batch, err := c.Fetch(1, jetstream.FetchMaxWait(testTimeout))
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	for m := range batch.Messages() {
		return m
	}
	t.Fatalf("Fetch: no message (err %v)", batch.Error())
	return nil
}

// streamMsgs returns the message count of a stream.
func streamMsgs(t *testing.T, b *Bus, name string) uint64 {
	t.Helper()
	s, err := b.JetStream().Stream(testCtx(t), name)
	if err != nil {
		t.Fatalf("Stream %s: %v", name, err)
	}
	info, err := s.Info(testCtx(t))
	if err != nil {
		t.Fatalf("Stream %s info: %v", name, err)
	}
	return info.State.Msgs
}
