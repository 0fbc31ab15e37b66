package fanout

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/scailabs/webhookd/bus"
	"github.com/scailabs/webhookd/kv"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	valid := func() Config { return Config{Bus: &bus.Bus{}, Store: kv.Store(nil)} }
	cases := []struct {
		name  string
		mod   func(*Config)
		field string // "" when valid
	}{
		{"no bus", func(c *Config) { c.Bus = nil }, "Bus"},
		{"no store", func(c *Config) {}, "Store"},
		{"negative workers", func(c *Config) { c.Workers = -1 }, "Workers"},
		{"negative cap", func(c *Config) { c.PerWebhookConcurrency = -1 }, "PerWebhookConcurrency"},
		{"negative queue", func(c *Config) { c.PerWebhookQueue = -1 }, "PerWebhookQueue"},
		{"negative match workers", func(c *Config) { c.MatchWorkers = -2 }, "MatchWorkers"},
		{"negative timeout", func(c *Config) { c.DefaultTimeout = -time.Second }, "DefaultTimeout"},
		{"negative max bytes", func(c *Config) { c.MaxEventBytes = -1 }, "MaxEventBytes"},
		{"zero delay", func(c *Config) { c.Schedule = Schedule{time.Second, 0} }, "Schedule"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := valid()
			if c.field != "Store" {
				cfg.Store = fakeStore{}
			}
			c.mod(&cfg)
			err := cfg.validate()
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), c.field) {
				t.Errorf("validate() = %v, want ErrInvalidConfig naming %s", err, c.field)
			}
		})
	}
	cfg := valid()
	cfg.Store = fakeStore{}
	if err := cfg.validate(); err != nil {
		t.Errorf("minimal config: %v", err)
	}
	if _, err := New(Config{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("New(Config{}) = %v, want ErrInvalidConfig", err)
	}
}

// fakeStore only satisfies the interface for validate.
type fakeStore struct{ kv.Store }

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	c := Config{}.withDefaults()
	if c.Workers != 128 || c.PerWebhookConcurrency != 8 || c.PerWebhookQueue != 256 || c.MatchWorkers != 4 ||
		c.AutoDisableAfter != 50 || c.DefaultTimeout != 10*time.Second || c.MaxEventBytes != 256<<10 ||
		c.LegacyPrefix != "X-ScaiKey" || len(c.Schedule) != len(DefaultSchedule) || c.Sender.UserAgent != "webhookd/dev" ||
		c.Logger == nil || c.TracerProvider == nil || c.MeterProvider == nil || c.Now == nil || c.Rand == nil {
		t.Errorf("defaults = %+v", c)
	}
	if got := (Config{AutoDisableAfter: -1}).withDefaults().AutoDisableAfter; got != 0 {
		t.Errorf("AutoDisableAfter -1 became %d, want 0 (never)", got)
	}
}

func TestLimiter(t *testing.T) {
	t.Parallel()
	l := newLimiter(2, 1)
	j := func() *job { return &job{} }
	steps := []struct {
		hook string
		want admission
	}{
		{"a", admitRun}, {"a", admitRun}, {"a", admitQueued}, {"a", admitFull},
		{"b", admitRun}, // another webhook is unaffected
	}
	var queued *job
	for i, s := range steps {
		jb := j()
		if got := l.admit(s.hook, jb); got != s.want {
			t.Fatalf("step %d: admit(%s) = %v, want %v", i, s.hook, got, s.want)
		}
		if s.want == admitQueued {
			queued = jb
		}
	}
	if l.queued("a") != 1 {
		t.Fatalf("queued(a) = %d", l.queued("a"))
	}
	// A runner of a finishing its job takes the queued one.
	if got := l.next("a"); got != queued {
		t.Fatalf("next(a) = %p, want the queued job %p", got, queued)
	}
	if got := l.admit("a", j()); got != admitQueued {
		t.Fatalf("admit after dequeue = %v, want queued", got)
	}
	if n := len(l.drain()); n != 1 || l.queued("a") != 0 {
		t.Fatalf("drain returned %d, left %d", n, l.queued("a"))
	}
	// Both runners of a end: the slot goes away, a full cap is free again.
	if l.next("a") != nil || l.next("a") != nil || l.next("b") != nil {
		t.Fatal("next with an empty queue returned a job")
	}
	if len(l.hooks) != 0 {
		t.Fatalf("slots left: %v", l.hooks)
	}
	if l.admit("a", j()) != admitRun {
		t.Fatal("admit after all runners ended is not run")
	}

	if ok, _ := l.claim(claimJob(7, 100)); !ok {
		t.Fatal("first claim refused")
	}
	if ok, same := l.claim(claimJob(7, 100)); ok || !same {
		t.Errorf("claim of the same message = %v,%v; want refused, same", ok, same)
	}
	if ok, same := l.claim(claimJob(7, 101)); ok || same {
		t.Errorf("claim of another copy = %v,%v; want refused, not same", ok, same)
	}
	l.release(7)
	if ok, _ := l.claim(claimJob(7, 101)); !ok {
		t.Error("claim after release refused")
	}
}

// seqHandle is a message handle that only tells its stream sequence.
type seqHandle struct {
	msgHandle
	seq uint64
}

func (h *seqHandle) streamSeq() uint64 { return h.seq }

// claimJob is a job of delivery id carried by stream sequence seq.
func claimJob(id int64, seq uint64) *job {
	return &job{h: &seqHandle{seq: seq}, task: bus.Task{DeliveryID: id}}
}

// A queued direct job keeps knowing its delivery's state until another
// copy of the delivery claims it first, and forgets it when settled
// without a claim; with a store shared by other processes it never does.
func TestLimiterFreshJobs(t *testing.T) {
	t.Parallel()
	l := newLimiter(1, 8)
	l.keepFresh = true
	fresh := func(l *limiter, id int64) *job {
		j := claimJob(id, directBit|uint64(id))
		j.created = true
		l.mu.Lock()
		l.enqueue(l.slot("a"), j)
		l.mu.Unlock()
		return j
	}

	own := fresh(l, 1)
	if ok, _ := l.claim(own); !ok || !own.created {
		t.Fatalf("fresh job claiming its delivery first: ok %v, created %v; want both", ok, own.created)
	}
	l.release(1)

	overtaken := fresh(l, 2)
	// The task of a republished event, matched while the job waited.
	if ok, _ := l.claim(claimJob(2, 500)); !ok {
		t.Fatal("the copy's claim refused")
	}
	l.release(2)
	if ok, _ := l.claim(overtaken); !ok || overtaken.created {
		t.Fatalf("fresh job after a copy ran: ok %v, created %v; want it to read the state", ok, overtaken.created)
	}
	l.release(2)

	dropped := fresh(l, 3)
	l.unfresh(3, claimJob(3, 9).h) // another handle's settling
	if len(l.fresh) != 1 {
		t.Fatalf("fresh jobs: %v, want the dropped one still", l.fresh)
	}
	l.unfresh(3, dropped.h)
	if len(l.fresh) != 0 {
		t.Fatalf("fresh jobs left after settling: %v", l.fresh)
	}

	shared := newLimiter(1, 8) // keepFresh unset: another process may run it
	if j := fresh(shared, 4); j.created || len(shared.fresh) != 0 {
		t.Fatalf("queued with a shared store: created %v, fresh %v; want it to read the state", j.created, shared.fresh)
	}
}

func TestEnvelopeOfOwnEvents(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 4, 22, 14, 30, 0, 123456789, time.FixedZone("x", 3600))
	b, err := buildEnvelope("evt_1", "webhook.test", at, "", "prt_a", []byte(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"event_id":"evt_1","event_type":"webhook.test","timestamp":"2026-04-22T13:30:00.123Z","source":"webhookd","partner_id":"prt_a","data":{"a":1}}`
	if string(b) != want {
		t.Errorf("envelope\n got %s\nwant %s", b, want)
	}
	if id := bus.NewEventID(); !strings.HasPrefix(id, "evt_") || len(id) != 30 || id == bus.NewEventID() {
		t.Errorf("bus.NewEventID() = %q", id)
	}
}
