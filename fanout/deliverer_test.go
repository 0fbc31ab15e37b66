package fanout

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scailabs/webhookd/bus"
	"github.com/scailabs/webhookd/kv"
)

func TestDeliverRetriesThenSucceeds(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	ep := newEndpoint(t, statusSeq(500, 503, 200))
	w := h.addWebhook(ep.url(), []string{"user.created"}, nil)
	id, _ := h.publish("user.created", "", "", "")

	d := h.waitStatus(w.ID, id, kv.DeliverySuccess)
	if d.AttemptCount != 3 || ep.count() != 3 {
		t.Fatalf("attempts = %d, requests = %d; want 3", d.AttemptCount, ep.count())
	}
	for i, want := range []int{500, 503, 200} {
		if a := d.Attempts[i]; a.StatusCode != want || a.Attempt != i+1 {
			t.Errorf("attempt %d = #%d status %d, want %d", i+1, a.Attempt, a.StatusCode, want)
		}
	}
	if d.Attempts[0].Error != "http 500" {
		t.Errorf("first attempt error = %q, want http 500", d.Attempts[0].Error)
	}
	if ids := ep.eventIDs(); ids[id] != 3 {
		t.Errorf("webhook-id not stable across retries: %v", ids)
	}
	if w := h.webhook(w.ID); w.ConsecutiveFailures != 0 || w.LastSuccessAt == nil {
		t.Errorf("webhook after success: %d failures, last success %v", w.ConsecutiveFailures, w.LastSuccessAt)
	}
}

func TestDeliverFailsAfterMaxRetries(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	ep := newEndpoint(t, statusSeq(500))
	w := h.addWebhook(ep.url(), []string{"user.created"}, func(w *kv.Webhook) { w.MaxRetries = 2 })
	id, _ := h.publish("user.created", "", "", "")

	d := h.waitStatus(w.ID, id, kv.DeliveryFailed)
	// The request of the last attempt is made before it is recorded, so
	// this count is final.
	if d.AttemptCount != 3 || ep.count() != 3 {
		t.Fatalf("attempts = %d, requests = %d; want max_retries+1 = 3", d.AttemptCount, ep.count())
	}
	if d.CompletedAt == nil || d.NextAttemptAt != nil {
		t.Errorf("failed delivery: completed %v, next %v", d.CompletedAt, d.NextAttemptAt)
	}
	eventually(t, "task acked", func() bool { return h.streamMsgs(bus.TasksStream) == 0 })
	if w := h.webhook(w.ID); w.Status != kv.WebhookActive || w.ConsecutiveFailures != 3 {
		t.Errorf("webhook = %s with %d failures, want active with 3", w.Status, w.ConsecutiveFailures)
	}
}

func TestDeliverGoneDisablesWebhook(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	gone := newEndpoint(t, statusSeq(410))
	sentinel := newEndpoint(t, nil)
	w := h.addWebhook(gone.url(), []string{"user.*"}, nil)
	s := h.addWebhook(sentinel.url(), []string{"user.*"}, nil)
	id, _ := h.publish("user.created", "", "", "")

	d := h.waitStatus(w.ID, id, kv.DeliveryFailed)
	if d.AttemptCount != 1 || d.ResponseStatusCode != 410 {
		t.Fatalf("delivery = %d attempts, status %d; want one 410", d.AttemptCount, d.ResponseStatusCode)
	}
	got := h.webhook(w.ID)
	if got.Status != kv.WebhookDisabled || got.DisabledReason != "endpoint returned 410 Gone" {
		t.Fatalf("webhook = %s %q, want disabled by 410", got.Status, got.DisabledReason)
	}
	// The index hears of it right after the store commits.
	eventually(t, "index sees the webhook disabled", func() bool {
		iw, ok := h.f.Index().Get(w.ID)
		return ok && iw.Status == kv.WebhookDisabled
	})
	// A later event reaches the sentinel but not the disabled webhook.
	id2, _ := h.publish("user.updated", "", "", "")
	h.waitStatus(s.ID, id2, kv.DeliverySuccess)
	eventually(t, "events acked", h.eventsSettled)
	if gone.count() != 1 || h.delivery(w.ID, id2) != nil {
		t.Errorf("disabled webhook got %d requests (want 1) / a delivery of a later event", gone.count())
	}
}

func TestDeliverHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	const scheduled = 300 * time.Millisecond
	h := newHarness(t, harnessOpts{cfg: func(c *Config) {
		c.Schedule = Schedule{scheduled}
		c.Rand = func() float64 { return 0.5 }
	}})
	ep := newEndpoint(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	wh := h.addWebhook(ep.url(), []string{"user.created"}, nil)
	id, _ := h.publish("user.created", "", "", "")
	d := h.waitStatus(wh.ID, id, kv.DeliverySuccess)
	if d.AttemptCount != 2 || d.Attempts[0].StatusCode != 429 {
		t.Fatalf("attempts = %+v", d.Attempts)
	}
	// Retry-After 1s is clamped to twice the scheduled delay; without it
	// the retry would come after at most 1.2 x scheduled.
	reqs := ep.requests()
	if gap := reqs[1].At.Sub(reqs[0].At); gap < 2*scheduled-50*time.Millisecond {
		t.Errorf("retry after %v, want at least %v (Retry-After honoured)", gap, 2*scheduled)
	}
}

func TestDeliverRedirectIsFailure(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	target := newEndpoint(t, nil)
	redirect := newEndpoint(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.url()+"/elsewhere", http.StatusTemporaryRedirect)
	})
	w := h.addWebhook(redirect.url(), []string{"user.created"}, func(w *kv.Webhook) { w.MaxRetries = 1 })
	id, _ := h.publish("user.created", "", "", "")
	d := h.waitStatus(w.ID, id, kv.DeliveryFailed)
	if d.AttemptCount != 2 || d.Attempts[0].StatusCode != http.StatusTemporaryRedirect {
		t.Fatalf("attempts = %+v, want two 307 failures", d.Attempts)
	}
	if target.count() != 0 {
		t.Errorf("redirect target got %d requests, want none", target.count())
	}
}

func TestDeliverTimeoutIsRetried(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	ep := newEndpoint(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			select { // sleeps past the 1s timeout
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	w := h.addWebhook(ep.url(), []string{"user.created"}, func(w *kv.Webhook) { w.TimeoutSeconds = 1 })
	id, _ := h.publish("user.created", "", "", "")
	d := h.waitStatus(w.ID, id, kv.DeliverySuccess)
	if d.AttemptCount != 2 || d.Attempts[0].StatusCode != 0 || !strings.Contains(d.Attempts[0].Error, "timeout") {
		t.Fatalf("attempts = %+v, want a timeout then success", d.Attempts)
	}
	if d.Attempts[0].DurationMS < 900 {
		t.Errorf("timed-out attempt took %dms, want about the 1s timeout", d.Attempts[0].DurationMS)
	}
}

func TestDeliverSlowEndpointDoesNotStarveOthers(t *testing.T) {
	t.Parallel()
	const perWebhook, events = 2, 10
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	var cur, peak atomic.Int32
	slow := newEndpoint(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		n := cur.Add(1)
		defer cur.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		select {
		case <-release:
			w.WriteHeader(http.StatusOK)
		case <-r.Context().Done():
		}
	})
	fast := newEndpoint(t, nil)
	h := newHarness(t, harnessOpts{cfg: func(c *Config) {
		c.Workers, c.PerWebhookConcurrency = 4, perWebhook
	}})
	ws := h.addWebhook(slow.url(), []string{"slow.*"}, func(w *kv.Webhook) { w.TimeoutSeconds = 30 })
	wf := h.addWebhook(fast.url(), []string{"fast.*"}, nil)
	slowIDs := make([]string, 0, events)
	for range events {
		id, _ := h.publish("slow.thing", "", "", "")
		slowIDs = append(slowIDs, id)
	}
	eventually(t, "slow endpoint saturated", func() bool { return cur.Load() == perWebhook })
	for range events {
		h.publish("fast.thing", "", "", "")
	}
	// Every fast delivery completes while the slow endpoint still hangs
	// (with 30s timeouts, longer than this wait): the slow one holds only
	// its own cap of the workers.
	eventually(t, "fast deliveries", func() bool { return len(fast.eventIDs()) == events })
	if p := peak.Load(); p > perWebhook {
		t.Errorf("slow endpoint saw %d concurrent attempts, cap is %d", p, perWebhook)
	}
	once.Do(func() { close(release) })
	for _, id := range slowIDs {
		d := h.waitStatus(ws.ID, id, kv.DeliverySuccess)
		// Tasks pushed back for the cap did not count as attempts.
		if d.AttemptCount != 1 {
			t.Errorf("slow delivery %s took %d attempts, want 1", id, d.AttemptCount)
		}
	}
	eventually(t, "tasks acked", func() bool { return h.streamMsgs(bus.TasksStream) == 0 })
	for id, n := range fast.eventIDs() {
		if n != 1 {
			t.Errorf("fast endpoint got event %s %d times", id, n)
		}
	}
	if n := slow.count(); n != events {
		t.Errorf("slow endpoint got %d requests, want %d", n, events)
	}
	if n := len(h.deliveries(wf.ID)); n != events {
		t.Errorf("fast webhook has %d deliveries, want %d", n, events)
	}
}

func TestDeliverDropsTaskOfDeletedWebhook(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	ep := newEndpoint(t, nil)
	w := h.addWebhook(ep.url(), []string{"user.created"}, nil)
	d, body := h.createDelivery(w, "user.created")
	if err := h.store.DeleteWebhook(context.Background(), w.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "webhook out of the index", func() bool { _, ok := h.f.Index().Get(w.ID); return !ok })
	h.publishTask(d, body, 0)
	eventually(t, "task dropped", func() bool { return h.streamMsgs(bus.TasksStream) == 0 })
	if ep.count() != 0 {
		t.Errorf("deleted webhook's endpoint got %d requests", ep.count())
	}
}

func TestDeliverDropsStaleGeneration(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	ep := newEndpoint(t, nil)
	w := h.addWebhook(ep.url(), []string{"user.created"}, nil)
	d, body := h.createDelivery(w, "user.created")
	ctx := context.Background()
	// Finish it, then requeue it as a manual retry would: generation 1.
	if _, err := h.store.RecordAttempt(ctx, kv.AttemptOutcome{WebhookID: w.ID, DeliveryID: d.ID, Success: true,
		Attempt: kv.Attempt{StartedAt: time.Now(), StatusCode: 200}}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.RequeueDelivery(ctx, w.ID, d.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	h.publishTask(d, body, 0) // stale: generation 0
	eventually(t, "stale task dropped", func() bool { return h.streamMsgs(bus.TasksStream) == 0 })
	if ep.count() != 0 {
		t.Fatalf("stale task made %d requests", ep.count())
	}
	if got := h.delivery(w.ID, d.EventID); got.Status != kv.DeliveryPending || got.AttemptCount != 1 {
		t.Fatalf("stale task changed the delivery: %+v", got)
	}
	h.publishTask(d, body, 1)
	got := h.waitStatus(w.ID, d.EventID, kv.DeliverySuccess)
	if got.AttemptCount != 2 || ep.count() != 1 || got.Attempts[1].Trigger != kv.TriggerScheduled {
		t.Errorf("current generation: %d attempts, %d requests", got.AttemptCount, ep.count())
	}
}

func TestDeliverSkipsInactiveWebhook(t *testing.T) {
	t.Parallel()
	for _, status := range []kv.WebhookStatus{kv.WebhookInactive, kv.WebhookDisabled} {
		t.Run(string(status), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOpts{})
			ep := newEndpoint(t, nil)
			w := h.addWebhook(ep.url(), []string{"user.created"}, func(w *kv.Webhook) { w.Status = status })
			d, body := h.createDelivery(w, "user.created")
			h.publishTask(d, body, 0)
			got := h.waitStatus(w.ID, d.EventID, kv.DeliveryFailed)
			if ep.count() != 0 {
				t.Errorf("%s webhook's endpoint got %d requests", status, ep.count())
			}
			a := got.Attempts[0]
			if got.AttemptCount != 1 || a.StatusCode != 0 || a.Error != "webhook "+string(status) {
				t.Errorf("attempt = %+v, want one %q without status", a, "webhook "+string(status))
			}
			if w := h.webhook(w.ID); w.ConsecutiveFailures != 0 || w.LastFailureAt != nil {
				t.Errorf("skipped attempt counted as a failure: %d failures, last %v", w.ConsecutiveFailures, w.LastFailureAt)
			}
			eventually(t, "task acked", func() bool { return h.streamMsgs(bus.TasksStream) == 0 })
		})
	}
}

func TestDeliverTerminatesGarbledTask(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	ep := newEndpoint(t, nil)
	w := h.addWebhook(ep.url(), []string{"user.created"}, nil)
	msg := &nats.Msg{Subject: bus.TaskSubject(w.ID), Header: nats.Header{}, Data: []byte("{}")}
	msg.Header.Set(bus.HeaderDeliveryID, "not-a-number")
	if _, err := h.bus.JetStream().PublishMsg(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	eventually(t, "garbled task removed", func() bool { return h.streamMsgs(bus.TasksStream) == 0 })
	eventually(t, "garbled task dead-lettered", func() bool { return h.streamMsgs(bus.DeadLetterStream) == 1 })
	if m := h.dlqMessage(); m.Subject != bus.DeadLetterTasksSubject ||
		!strings.HasPrefix(m.Header.Get(bus.HeaderDeadLetterReason), "invalid_task") {
		t.Errorf("dlq message on %s reason %q", m.Subject, m.Header.Get(bus.HeaderDeadLetterReason))
	}
	if ep.count() != 0 {
		t.Errorf("garbled task made %d requests", ep.count())
	}
}

func TestDeliverDuplicateTaskCopyMakesOneAttempt(t *testing.T) {
	t.Parallel()
	// Two different task messages for one delivery (a republish outside
	// the duplicate window): the second must not make a second attempt.
	h := newHarness(t, harnessOpts{})
	started := make(chan struct{}, 2)
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	ep := newEndpoint(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		started <- struct{}{}
		select { // bounded, so a failing test cannot hang the suite
		case <-release:
		case <-time.After(time.Minute):
		}
		w.WriteHeader(http.StatusOK)
	})
	w := h.addWebhook(ep.url(), []string{"user.created"}, nil)
	d, body := h.createDelivery(w, "user.created")
	h.publishTask(d, body, 0)
	<-started
	// The same task under another message id, as JetStream would store a
	// republish after its duplicate window.
	msg := &nats.Msg{Subject: bus.TaskSubject(w.ID), Header: nats.Header{}, Data: body}
	msg.Header.Set(bus.HeaderDeliveryID, strconv.FormatInt(d.ID, 10))
	msg.Header.Set(bus.HeaderWebhookID, w.ID)
	msg.Header.Set(bus.HeaderEventID, d.EventID)
	msg.Header.Set(bus.HeaderEventType, d.EventType)
	msg.Header.Set(bus.HeaderGeneration, "0")
	msg.Header.Set(bus.HeaderTrigger, bus.TriggerScheduled)
	msg.Header.Set(jetstream.MsgIDHeader, "copy")
	if _, err := h.bus.JetStream().PublishMsg(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	// The copy reaches the deliverer while the first is in flight; it is
	// deferred (it could be a newer generation), not attempted.
	eventually(t, "the copy delivered to the deliverer", func() bool {
		c, err := h.bus.JetStream().Consumer(context.Background(), bus.TasksStream, bus.DeliverConsumer)
		if err != nil {
			return false
		}
		info, err := c.Info(context.Background())
		return err == nil && info.Delivered.Consumer >= 2
	})
	if ep.count() != 1 {
		t.Fatalf("%d requests while the first attempt is in flight, want 1", ep.count())
	}
	once.Do(func() { close(release) })
	got := h.waitStatus(w.ID, d.EventID, kv.DeliverySuccess)
	eventually(t, "tasks acked", func() bool { return h.streamMsgs(bus.TasksStream) == 0 })
	if got.AttemptCount != 1 || ep.count() != 1 {
		t.Errorf("attempts = %d, requests = %d; want 1", got.AttemptCount, ep.count())
	}
}

func TestHeldMessagesKeptAlive(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{noStart: true})
	ctx := context.Background()
	js := h.bus.JetStream()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "KEEP", Subjects: []string{"keep.>"}}); err != nil {
		t.Fatal(err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, "KEEP", jetstream.ConsumerConfig{
		Durable: "k", AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "keep.1", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if every := keepAliveEvery(cons); every != 250*time.Millisecond {
		t.Fatalf("keepAliveEvery = %v, want AckWait/4", every)
	}
	set := newHeldSet(engLogger(), keepAliveEvery(cons))
	var wg sync.WaitGroup
	end := make(chan struct{})
	wg.Add(1)
	go set.keepAlive(&wg, end)
	defer func() { close(end); wg.Wait() }()

	m, err := cons.Next(jetstream.FetchMaxWait(waitDeadline))
	if err != nil {
		t.Fatal(err)
	}
	held := set.add(m)
	// Three AckWaits pass with no redelivery: the pull waits them out.
	b, err := cons.Fetch(1, jetstream.FetchMaxWait(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range b.Messages() {
		t.Fatalf("held message redelivered (delivery %d)", func() uint64 { md, _ := m.Metadata(); return md.NumDelivered }())
	}
	held.ack()
	if set.len() != 0 {
		t.Errorf("held set keeps %d after ack", set.len())
	}
}

// A manual retry (admin API: requeue, then a task with trigger manual) is
// one attempt now, recorded on the same delivery, whatever its outcome: it
// does not start a new retry schedule.
func TestDeliverManualRetryIsOneAttempt(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	ep := newEndpoint(t, statusSeq(500, 500, 500, 500))
	w := h.addWebhook(ep.url(), []string{"user.created"}, func(w *kv.Webhook) { w.MaxRetries = 1 })
	id, body := h.publish("user.created", "", "", "")
	d := h.waitStatus(w.ID, id, kv.DeliveryFailed)
	if d.AttemptCount != 2 {
		t.Fatalf("before the manual retry: %d attempts, want 2", d.AttemptCount)
	}

	rq, err := h.store.RequeueDelivery(context.Background(), w.ID, d.ID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := h.bus.PublishTasks(context.Background(), []bus.Task{{
		DeliveryID: rq.ID, WebhookID: w.ID, EventID: rq.EventID, EventType: rq.EventType,
		Generation: rq.Generation, Trigger: bus.TriggerManual, Body: body,
	}}); err != nil {
		t.Fatal(err)
	}
	d = h.waitStatus(w.ID, id, kv.DeliveryFailed)
	eventually(t, "task acked", func() bool { return h.streamMsgs(bus.TasksStream) == 0 })
	if d.AttemptCount != 3 || ep.count() != 3 {
		t.Fatalf("after the manual retry: %d attempts, %d requests; want 3 and 3", d.AttemptCount, ep.count())
	}
	if last := d.Attempts[2]; last.Trigger != kv.TriggerManual || last.Attempt != 3 {
		t.Errorf("manual attempt recorded as %+v", last)
	}
}

func TestRunnerWaitsForTheNextJob(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{cfg: func(c *Config) { c.runnerKeep = time.Hour }})
	ep := newEndpoint(t, nil)
	a := h.addWebhook(ep.url(), []string{"user.created"}, nil)
	b := h.addWebhook(ep.url(), []string{"user.deleted"}, nil)

	idA, _ := h.publish("user.created", "", "", "")
	h.waitStatus(a.ID, idA, kv.DeliverySuccess)
	eventually(t, "the runner to wait for a job", func() bool { return h.f.idle.len() == 1 })

	// Another webhook's job goes to the waiting runner: a new runner
	// would leave two alive for the hour.
	idB, _ := h.publish("user.deleted", "", "", "")
	h.waitStatus(b.ID, idB, kv.DeliverySuccess)
	eventually(t, "the runner to wait again", func() bool { return h.f.idle.len() == 1 })
	if n := h.f.runners.Load(); n != 1 {
		t.Fatalf("%d runners alive after two deliveries one after the other, want 1", n)
	}

	// Stop does not wait for the hour.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.f.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if n := h.f.runners.Load(); n != 0 {
		t.Fatalf("%d runners alive after Stop", n)
	}
}

func TestIdleRunnerEnds(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{cfg: func(c *Config) { c.runnerKeep = 50 * time.Millisecond }})
	ep := newEndpoint(t, nil)
	w := h.addWebhook(ep.url(), []string{"user.created"}, nil)
	id, _ := h.publish("user.created", "", "", "")
	h.waitStatus(w.ID, id, kv.DeliverySuccess)
	eventually(t, "the idle runner to end", func() bool { return h.f.runners.Load() == 0 })
}

func TestIdleRunnersAtMostWorkers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{cfg: func(c *Config) {
		c.Workers = 2
		c.runnerKeep = time.Hour
	}})
	gate := make(chan struct{})
	ep := newEndpoint(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		<-gate
		w.WriteHeader(http.StatusOK)
	})
	var hooks []*kv.Webhook
	for range 4 {
		hooks = append(hooks, h.addWebhook(ep.url(), []string{"user.created"}, nil))
	}
	id, _ := h.publish("user.created", "", "", "")
	// One runner per webhook: two send, two wait for a worker slot.
	eventually(t, "four runners", func() bool { return h.f.runners.Load() == 4 })
	close(gate)
	for _, w := range hooks {
		h.waitStatus(w.ID, id, kv.DeliverySuccess)
	}
	eventually(t, "the runners beyond Workers to end", func() bool { return h.f.runners.Load() == 2 })
	if n := h.f.idle.len(); n != 2 {
		t.Fatalf("%d runners wait for a job, want Workers = 2", n)
	}
}
