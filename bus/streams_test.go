package bus

import (
	"errors"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// runServer starts a bare JetStream server, as an operator would run.
func runServer(t *testing.T, mut ...func(*server.Options)) *server.Server {
	t.Helper()
	opts := &server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
	}
	for _, m := range mut {
		m(opts)
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	if !srv.ReadyForConnections(testTimeout) {
		t.Fatal("server not ready")
	}
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return srv
}

// operatorJS is a plain JetStream client on srv.
func operatorJS(t *testing.T, srv *server.Server) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func TestOperatorOwnedEventsStreamIsLeftAlone(t *testing.T) {
	t.Parallel()
	srv := runServer(t)
	js := operatorJS(t, srv)
	ctx := testCtx(t)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: EventsStream, Subjects: []string{"events.>", "audit.>"}, Storage: jetstream.MemoryStorage,
	}); err != nil {
		t.Fatal(err)
	}
	// History the operator's stream holds before webhookd first starts.
	if _, err := js.Publish(ctx, "events.user.created", envelope("evt_old", "user.created")); err != nil {
		t.Fatal(err)
	}

	b := startBus(t, Config{URLs: srv.ClientURL(), Logger: quietLogger()})
	s, err := js.Stream(ctx, EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	c := s.CachedInfo().Config
	if len(c.Subjects) != 2 || c.Storage != jetstream.MemoryStorage || c.MaxMsgSize > 0 ||
		c.Metadata[ownerMetadataKey] != "" {
		t.Errorf("operator stream modified: %+v", c)
	}
	mc, err := b.MatchConsumer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := mc.CachedInfo().Config.DeliverPolicy; got != jetstream.DeliverNewPolicy {
		t.Errorf("match consumer on a stream with history: deliver policy %v, want new", got)
	}
	if err := b.PublishEvent(ctx, "evt_new", "user.created", envelope("evt_new", "user.created")); err != nil {
		t.Fatal(err)
	}
	if m := fetchOne(t, mc); !jsonHasID(m.Data(), "evt_new") {
		t.Errorf("first event delivered = %s, want evt_new", m.Data())
	}

	// A restart keeps the consumer's policy (the server refuses to change
	// it) and still leaves the stream alone.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b2 := startBus(t, Config{URLs: srv.ClientURL(), Logger: quietLogger(), EventsMaxAge: 100 * DefaultEventsMaxAge})
	mc2, err := b2.MatchConsumer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := mc2.CachedInfo().Config.DeliverPolicy; got != jetstream.DeliverNewPolicy {
		t.Errorf("after restart deliver policy %v, want new", got)
	}
	s, _ = js.Stream(ctx, EventsStream)
	if s.CachedInfo().Config.MaxAge != 0 {
		t.Errorf("operator stream MaxAge changed to %v", s.CachedInfo().Config.MaxAge)
	}
}

func TestOperatorStreamNotCoveringPrefixIsRefused(t *testing.T) {
	t.Parallel()
	srv := runServer(t)
	js := operatorJS(t, srv)
	if _, err := js.CreateStream(testCtx(t), jetstream.StreamConfig{
		Name: EventsStream, Subjects: []string{"events.user.>"},
	}); err != nil {
		t.Fatal(err)
	}
	b, err := Start(testCtx(t), Config{URLs: srv.ClientURL(), Logger: quietLogger()})
	if !errors.Is(err, ErrStreamConflict) {
		if b != nil {
			_ = b.Close()
		}
		t.Fatalf("Start err = %v, want ErrStreamConflict", err)
	}
}

func TestSubjectSubset(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		want bool
	}{
		{"events.>", "events.>", true},
		{"events.>", ">", true},
		{"events.>", "*.>", true},
		{"events.>", "events.*", false},
		{"events.>", "events.user.>", false},
		{"events.>", "other.>", false},
		{"events.>", "events", false},
		{"a.b.>", "a.*.>", true},
		{"a.b.>", "*.*", false},
		{"a.b", "a.*", true},
		{"a.*", "a.b", false},
		{"a.b", "a.b", true},
		{"a.b", "a.b.c", false},
		{"prod.events.>", "prod.>", true},
	}
	for _, tt := range tests {
		if got := subjectSubset(tt.a, tt.b); got != tt.want {
			t.Errorf("subjectSubset(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// jsonHasID reports whether an envelope body carries event id.
func jsonHasID(body []byte, id string) bool {
	env, err := ParseEnvelope(body, "", 0)
	return err == nil && env.EventID == id
}
