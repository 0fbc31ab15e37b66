package fanout

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/scailabs/webhookd/bus"
	"github.com/scailabs/webhookd/kv"
)

// tasksPublished is how many task messages the tasks stream ever stored.
func (h *harness) tasksPublished() uint64 {
	h.t.Helper()
	_, info := h.streamInfo(bus.TasksStream)
	return info.State.LastSeq
}

// A delivery whose webhook has room is made straight from the match
// stage: no task message, and its event stays unacked until the outcome
// is recorded (a crash before that replays the event).
func TestDirectDeliveryHoldsItsEventAndPublishesNoTask(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	release := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(release) }) }
	ep := newEndpoint(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		<-release
		w.WriteHeader(http.StatusOK)
	})
	t.Cleanup(open) // runs before the endpoint's Close, which waits for the handler
	wh := h.addWebhook(ep.url(), []string{"user.created"}, nil)
	id, _ := h.publish("user.created", "", "", "")
	eventually(t, "the attempt in flight", func() bool { return ep.count() == 1 })
	if info := h.consumerInfo(bus.EventsStream, bus.MatchConsumer); info.NumAckPending != 1 {
		t.Fatalf("event acked while its delivery is in flight: %d ack pending", info.NumAckPending)
	}
	open()
	d := h.waitStatus(wh.ID, id, kv.DeliverySuccess)
	eventually(t, "the event acked", h.eventsSettled)
	if n := h.tasksPublished(); n != 0 {
		t.Fatalf("%d task messages published for a delivery made directly", n)
	}
	if d.AttemptCount != 1 {
		t.Fatalf("%d attempts, want 1", d.AttemptCount)
	}
}

// A direct delivery that must wait (a retry) goes on as a task message
// that is not attempted before its time, and its event is acked then.
func TestDirectDeliveryRetriesThroughATask(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	ep := newEndpoint(t, statusSeq(500, 200))
	wh := h.addWebhook(ep.url(), []string{"user.created"}, nil)
	id, _ := h.publish("user.created", "", "", "")
	d := h.waitStatus(wh.ID, id, kv.DeliverySuccess)
	if d.AttemptCount != 2 {
		t.Fatalf("%d attempts, want 2", d.AttemptCount)
	}
	if n := h.tasksPublished(); n != 1 {
		t.Fatalf("%d task messages published, want 1 (the retry's)", n)
	}
	eventually(t, "the event acked", h.eventsSettled)
}

// Past maxDirect jobs out without a task message, a new delivery goes as
// a task: held events are bounded for all webhooks together.
func TestDirectDeliveriesAreBounded(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	ep := newEndpoint(t, nil)
	wh := h.addWebhook(ep.url(), []string{"user.created"}, nil)
	h.f.direct.Store(maxDirect)
	id, _ := h.publish("user.created", "", "", "")
	h.waitStatus(wh.ID, id, kv.DeliverySuccess)
	if n := h.tasksPublished(); n != 1 {
		t.Fatalf("%d task messages published with the direct budget spent, want 1", n)
	}
	if n := h.f.direct.Load(); n != maxDirect {
		t.Fatalf("direct jobs out: %d, want the %d set aside (the task's job is not one)", n, maxDirect)
	}
}

// A replayed event does not run a delivery it finds again without a task:
// a task for it may be in the stream already (or a manual retry's).
func TestDirectOnlyForNewDeliveries(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{noStart: true})
	ep := newEndpoint(t, nil)
	wh := h.addWebhook(ep.url(), []string{"user.created"}, nil)
	id, body := h.publish("user.created", "", "", "")
	env, err := bus.ParseEnvelope(body, "user.created", 0)
	if err != nil {
		t.Fatal(err)
	}
	// The delivery exists before the event is matched, as after a crash
	// between storing it and acking the event.
	d := &kv.Delivery{WebhookID: wh.ID, EventID: id, EventTime: env.Timestamp, EventType: "user.created", Status: kv.DeliveryPending}
	if _, err := h.store.CreateDelivery(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.waitStatus(wh.ID, id, kv.DeliverySuccess)
	if n := h.tasksPublished(); n != 1 {
		t.Fatalf("%d task messages published for a delivery found again, want 1", n)
	}
}

// stateCounter counts the delivery states the engine reads back.
type stateCounter struct {
	kv.Store
	reads  sync.Map // delivery id -> struct{}
	shared bool
}

func (s *stateCounter) Shared() bool { return s.shared }

func (s *stateCounter) DeliveryState(ctx context.Context, webhookID string, id int64) (*kv.Delivery, error) {
	s.reads.Store(id, struct{}{})
	return s.Store.DeliveryState(ctx, webhookID, id)
}

// A direct job knows the state of the delivery the match stage just
// created and does not read it back; its retry, a task, does.
func TestDirectDeliveryIsNotReadBack(t *testing.T) {
	t.Parallel()
	counter := &stateCounter{}
	h := newHarness(t, harnessOpts{cfg: func(c *Config) {
		counter.Store = c.Store
		c.Store = counter
	}})
	ep := newEndpoint(t, statusSeq(200))
	wh := h.addWebhook(ep.url(), []string{"user.created"}, nil)
	id, _ := h.publish("user.created", "", "", "")
	d := h.waitStatus(wh.ID, id, kv.DeliverySuccess)
	if _, read := counter.reads.Load(d.ID); read {
		t.Fatal("the state of a delivery made directly was read back")
	}

	retried := newEndpoint(t, statusSeq(500, 200))
	wh2 := h.addWebhook(retried.url(), []string{"user.updated"}, nil)
	id2, _ := h.publish("user.updated", "", "", "")
	d2 := h.waitStatus(wh2.ID, id2, kv.DeliverySuccess)
	if _, read := counter.reads.Load(d2.ID); !read || d2.AttemptCount != 2 {
		t.Fatalf("retry through a task: state read %v, %d attempts; want read, 2", read, d2.AttemptCount)
	}
}

// A direct job that waits in its webhook's queue still knows the state of
// the delivery it was created with, unless other processes share the
// store.
func TestQueuedDirectJobIsNotReadBack(t *testing.T) {
	t.Parallel()
	for _, shared := range []bool{false, true} {
		t.Run(fmt.Sprintf("shared=%v", shared), func(t *testing.T) {
			t.Parallel()
			counter := &stateCounter{shared: shared}
			h := newHarness(t, harnessOpts{cfg: func(c *Config) {
				counter.Store = c.Store
				c.Store = counter
			}})
			ep := newEndpoint(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
				time.Sleep(5 * time.Millisecond)
				w.WriteHeader(http.StatusOK)
			})
			wh := h.addWebhook(ep.url(), []string{"user.created"}, nil)
			// Its pace known and quick (as after a first job): a fast
			// webhook queues direct jobs beyond its 8 running ones.
			h.f.limiter.mu.Lock()
			h.f.limiter.slot(wh.ID).took = 5 * time.Millisecond
			h.f.limiter.mu.Unlock()
			ids := make([]string, 100)
			for i := range ids {
				ids[i], _ = h.publish("user.created", "", "", "")
			}
			reads := 0
			for _, id := range ids {
				d := h.waitStatus(wh.ID, id, kv.DeliverySuccess)
				if _, read := counter.reads.Load(d.ID); read {
					reads++
				}
			}
			if n := h.tasksPublished(); n != 0 {
				t.Fatalf("%d task messages published, want every delivery direct", n)
			}
			t.Logf("%d direct deliveries, %d states read back", len(ids), reads)
			switch {
			case shared && reads == 0:
				t.Fatal("no state read back with a shared store: none of the burst queued")
			case !shared && reads != 0:
				t.Fatalf("%d direct deliveries read back", reads)
			}
		})
	}
}
