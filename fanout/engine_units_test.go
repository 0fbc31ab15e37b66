package fanout

import (
	"errors"
	"fmt"
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

// A direct job keeps knowing its delivery's state until a job of its
// webhook that did not create its delivery (a task, a copy) claims one
// after the delivery was stored; queued with a store shared by other
// processes it never does.
func TestLimiterKnownStates(t *testing.T) {
	t.Parallel()
	l := newLimiter(1, 8)
	l.keepFresh = true
	direct := func(l *limiter, webhookID string, id int64) *job {
		j := claimJob(id, directBit|uint64(id))
		j.task.WebhookID, j.created, j.seen = webhookID, true, l.copiesOf(webhookID).Load()
		return j
	}
	queue := func(l *limiter, j *job) {
		l.mu.Lock()
		l.enqueue(l.slot(j.task.WebhookID), j)
		l.mu.Unlock()
	}
	run := func(j *job) bool {
		if ok, _ := l.claim(j); !ok {
			t.Fatalf("claim of delivery %d refused", j.task.DeliveryID)
		}
		l.release(j.task.DeliveryID)
		return j.created
	}

	first, second := direct(l, "wh_a", 1), direct(l, "wh_a", 2)
	queue(l, second)
	if !run(first) || !run(second) {
		t.Fatal("direct jobs that saw no copy run read their delivery's state")
	}

	overtaken := direct(l, "wh_a", 3)
	queue(l, overtaken)
	copied := claimJob(3, 500) // the task of a republished event, matched meanwhile
	copied.task.WebhookID = "wh_a"
	if run(copied) {
		t.Fatal("a task claimed as if it knew its delivery's state")
	}
	if run(overtaken) {
		t.Fatal("direct job still trusts what it knows after a copy of its webhook's delivery ran")
	}
	if !run(direct(l, "wh_a", 4)) {
		t.Fatal("a direct job stored after the copy ran reads its state")
	}
	other := 0 // a webhook of another hash is not concerned
	for l.copiesOf(fmt.Sprintf("wh_%d", other)) == l.copiesOf("wh_a") {
		other++
	}
	elsewhere := direct(l, fmt.Sprintf("wh_%d", other), 5)
	copied = claimJob(6, 501)
	copied.task.WebhookID = "wh_a"
	run(copied)
	if !run(elsewhere) {
		t.Fatal("a copy of another webhook's delivery made a direct job read its state")
	}

	shared := newLimiter(1, 8) // keepFresh unset: another process may run it
	j := direct(shared, "wh_a", 7)
	queue(shared, j)
	if j.created {
		t.Fatal("queued with a shared store, a direct job still trusts what it knows")
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
