package bus

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestStartDeclaresStreamsAndConsumers(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.DeliverAckWait = 45 * time.Second
	b := startBus(t, cfg)
	ctx := testCtx(t)
	js := b.JetStream()

	if _, err := os.Stat(filepath.Join(cfg.DataDir, "jetstream")); err != nil {
		t.Errorf("store dir: %v", err)
	}
	want := map[string]struct {
		subject   string
		retention jetstream.RetentionPolicy
		maxAge    time.Duration
	}{
		EventsStream:     {"events.>", jetstream.LimitsPolicy, DefaultEventsMaxAge},
		TasksStream:      {"webhookd.tasks.>", jetstream.WorkQueuePolicy, 0},
		DeadLetterStream: {"webhookd.dlq.>", jetstream.LimitsPolicy, DefaultDeadLetterMaxAge},
	}
	for name, w := range want {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		c := s.CachedInfo().Config
		if len(c.Subjects) != 1 || c.Subjects[0] != w.subject {
			t.Errorf("%s subjects = %v, want [%s]", name, c.Subjects, w.subject)
		}
		if c.Retention != w.retention || c.Storage != jetstream.FileStorage || c.MaxAge != w.maxAge {
			t.Errorf("%s retention/storage/max age = %v/%v/%v", name, c.Retention, c.Storage, c.MaxAge)
		}
		if c.Replicas != 1 || c.Duplicates != DefaultDuplicateWindow {
			t.Errorf("%s replicas/duplicates = %d/%v", name, c.Replicas, c.Duplicates)
		}
	}
	s, _ := js.Stream(ctx, EventsStream)
	if got := s.CachedInfo().Config.MaxMsgSize; got != DefaultMaxEventBytes+eventHeaderAllowance {
		t.Errorf("events MaxMsgSize = %d", got)
	}

	mc, err := b.MatchConsumer(ctx)
	if err != nil {
		t.Fatalf("MatchConsumer: %v", err)
	}
	m := mc.CachedInfo().Config
	if m.Durable != MatchConsumer || m.AckPolicy != jetstream.AckExplicitPolicy || m.AckWait != matchAckWait ||
		m.MaxDeliver != -1 || m.FilterSubject != "events.>" || m.MaxAckPending != matchMaxAckPending ||
		m.DeliverPolicy != jetstream.DeliverAllPolicy {
		t.Errorf("match consumer config = %+v", m)
	}
	dc, err := b.DeliverConsumer(ctx)
	if err != nil {
		t.Fatalf("DeliverConsumer: %v", err)
	}
	d := dc.CachedInfo().Config
	if d.Durable != DeliverConsumer || d.AckPolicy != jetstream.AckExplicitPolicy || d.AckWait != 45*time.Second ||
		d.MaxDeliver != -1 || d.MaxAckPending != -1 {
		t.Errorf("deliver consumer config = %+v", d)
	}
	if !b.Ready() {
		t.Error("Ready() = false after Start")
	}
	if b.ClientURL() != "" {
		t.Errorf("ClientURL with Listen off = %q, want empty", b.ClientURL())
	}
}

func TestRestartKeepsMessagesAndAppliesConfig(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	b, err := Start(testCtx(t), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := b.PublishEvent(testCtx(t), "evt_1", "user.created", envelope("evt_1", "user.created")); err != nil {
		t.Fatalf("PublishEvent: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if b.Ready() {
		t.Error("Ready() = true after Close")
	}

	cfg.EventsMaxAge = 48 * time.Hour
	cfg.DeliverAckWait = 90 * time.Second
	b2 := startBus(t, cfg)
	if n := streamMsgs(t, b2, EventsStream); n != 1 {
		t.Errorf("events after restart = %d, want 1", n)
	}
	s, err := b2.JetStream().Stream(testCtx(t), EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.CachedInfo().Config.MaxAge; got != 48*time.Hour {
		t.Errorf("events MaxAge after restart = %v, want 48h", got)
	}
	dc, err := b2.DeliverConsumer(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := dc.CachedInfo().Config.AckWait; got != 90*time.Second {
		t.Errorf("deliver AckWait after restart = %v, want 90s", got)
	}
	// The match consumer survived the restart with its position: the event
	// is still there for it.
	mc, err := b2.MatchConsumer(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	m := fetchOne(t, mc)
	if got, _ := b2.EventType(m.Subject()); got != "user.created" {
		t.Errorf("subject type = %q", got)
	}
}

func TestListenAndExternalMode(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Listen = "127.0.0.1:0"
	b := startBus(t, cfg)
	url := b.ClientURL()
	if !strings.HasPrefix(url, "nats://127.0.0.1:") || strings.HasSuffix(url, ":0") || strings.HasSuffix(url, ":4222") {
		t.Fatalf("ClientURL = %q, want an OS-picked loopback port", url)
	}

	ext := startBus(t, Config{URLs: url, Logger: quietLogger(), Name: "webhookd-test"})
	if !ext.Ready() || ext.ClientURL() != "" {
		t.Fatalf("external: Ready %v, ClientURL %q", ext.Ready(), ext.ClientURL())
	}
	if err := ext.PublishEvent(testCtx(t), "evt_x", "user.created", envelope("evt_x", "user.created")); err != nil {
		t.Fatalf("PublishEvent via external bus: %v", err)
	}
	if n := streamMsgs(t, b, EventsStream); n != 1 {
		t.Errorf("events seen by embedded bus = %d, want 1", n)
	}
	// A plain client (a platform service) can publish too.
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer nc.Close()
	if err := ext.Close(); err != nil {
		t.Errorf("external Close: %v", err)
	}
	if !b.Ready() {
		t.Error("closing the external bus stopped the embedded one")
	}
}

func TestStartRefusesBadConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := map[string]Config{
		"no data dir":        {Listen: "off"},
		"bad listen":         {DataDir: dir, Listen: "localhost"},
		"bad port":           {DataDir: dir, Listen: "127.0.0.1:99999"},
		"replicas":           {DataDir: dir, Replicas: 7},
		"prefix wildcard":    {DataDir: dir, EventPrefix: "events.*"},
		"prefix empty token": {DataDir: dir, EventPrefix: "a..b"},
		"prefix reserved":    {DataDir: dir, EventPrefix: "webhookd"},
		"prefix system":      {DataDir: dir, EventPrefix: "$JS"},
		"max event bytes":    {DataDir: dir, MaxEventBytes: MaxEventBytesLimit + 1},
		"ack wait":           {DataDir: dir, DeliverAckWait: time.Millisecond},
		"max age < window":   {DataDir: dir, EventsMaxAge: time.Minute, DuplicateWindow: time.Hour},
	}
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg.Logger = quietLogger()
			b, err := Start(testCtx(t), cfg)
			if !errors.Is(err, ErrInvalidConfig) {
				if b != nil {
					_ = b.Close()
				}
				t.Fatalf("Start err = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestCustomPrefixAndEventType(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.EventPrefix = "prod.events"
	b := startBus(t, cfg)
	tests := []struct {
		subject, want string
		ok            bool
	}{
		{"prod.events.user.created", "user.created", true},
		{"prod.events.x", "x", true},
		{"prod.events.", "", false},
		{"prod.events", "", false},
		{"events.user.created", "", false},
		{"prod.eventsx.user", "", false},
	}
	for _, tt := range tests {
		got, ok := b.EventType(tt.subject)
		if got != tt.want || ok != tt.ok {
			t.Errorf("EventType(%q) = %q, %v; want %q, %v", tt.subject, got, ok, tt.want, tt.ok)
		}
	}
	if err := b.PublishEvent(testCtx(t), "evt_p", "user.created", envelope("evt_p", "user.created")); err != nil {
		t.Fatalf("PublishEvent: %v", err)
	}
	mc, err := b.MatchConsumer(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if m := fetchOne(t, mc); m.Subject() != "prod.events.user.created" {
		t.Errorf("subject = %q", m.Subject())
	}
}

func TestConsumersAreRedeclaredWhenDeleted(t *testing.T) {
	t.Parallel()
	b := startBus(t, testConfig(t))
	ctx := testCtx(t)
	for stream, name := range map[string]string{EventsStream: MatchConsumer, TasksStream: DeliverConsumer} {
		if err := b.JetStream().DeleteConsumer(ctx, stream, name); err != nil {
			t.Fatalf("DeleteConsumer %s: %v", name, err)
		}
	}
	if _, err := b.MatchConsumer(ctx); err != nil {
		t.Errorf("MatchConsumer after delete: %v", err)
	}
	if _, err := b.DeliverConsumer(ctx); err != nil {
		t.Errorf("DeliverConsumer after delete: %v", err)
	}
	if _, err := b.JetStream().Consumer(ctx, TasksStream, DeliverConsumer); err != nil {
		t.Errorf("deliver consumer not recreated: %v", err)
	}
}

func TestStartFailsOnUnusableDataDir(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.DataDir = file
	b, err := Start(testCtx(t), cfg)
	if !errors.Is(err, ErrNotReady) {
		if b != nil {
			_ = b.Close()
		}
		t.Fatalf("Start on a data dir that is a file: err = %v, want ErrNotReady", err)
	}
}

func TestStartFailsOnTakenPort(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg := testConfig(t)
	cfg.Listen = l.Addr().String()
	b, err := Start(testCtx(t), cfg)
	if !errors.Is(err, ErrNotReady) {
		if b != nil {
			_ = b.Close()
		}
		t.Fatalf("Start on a taken port: err = %v, want ErrNotReady", err)
	}
}
