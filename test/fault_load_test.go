package test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// loadConfig shapes a steady publishing load.
type loadConfig struct {
	NATSURL string
	Prefix  string        // event ids are <Prefix>_<n>
	Rate    int           // events per second
	For     time.Duration // how long new events are started
	Workers int           // concurrent publishers. Defaults to 16.
	// Event gives event n's type and tenant.
	Event func(n int) (eventType, tenant string)
	// Pad is extra bytes of data in each envelope.
	Pad int
	// BadEvery makes every BadEvery-th event invalid input (bad JSON, a
	// missing field, a type that contradicts the subject): it must be
	// dead-lettered, never delivered. 0: none.
	BadEvery int
}

// load publishes events as a platform service does: Nats-Msg-Id is the
// event id, and a publish that fails (webhookd down: in embedded mode its
// NATS server is gone too) is retried with the same id until a PubAck
// arrives. Only then is the event accepted.
type load struct {
	cfg    loadConfig
	ledger *ledger
	nc     *nats.Conn
	js     jetstream.JetStream
	stop   chan struct{}
	done   chan struct{}
}

func startLoad(t *testing.T, l *ledger, cfg loadConfig) *load {
	t.Helper()
	if cfg.Workers == 0 {
		cfg.Workers = 16
	}
	nc, err := nats.Connect(cfg.NATSURL,
		nats.MaxReconnects(-1),
		nats.ReconnectWait(100*time.Millisecond),
		nats.ReconnectJitter(50*time.Millisecond, 50*time.Millisecond),
		nats.RetryOnFailedConnect(true),
		// A kill resets the connection: expected, not worth a line on stderr.
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		t.Fatalf("connect %s: %v", cfg.NATSURL, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ld := &load{cfg: cfg, ledger: l, nc: nc, js: js, stop: make(chan struct{}), done: make(chan struct{})}
	t.Cleanup(func() {
		ld.abort()
		nc.Close()
	})
	go ld.run()
	return ld
}

func (ld *load) run() {
	defer close(ld.done)
	total := ld.cfg.Rate * int(ld.cfg.For/time.Second)
	queue := make(chan int, total)
	var wg sync.WaitGroup
	for range ld.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range queue {
				ld.publish(n)
			}
		}()
	}
	start := time.Now()
	interval := time.Second / time.Duration(ld.cfg.Rate)
	for n := range total {
		if d := time.Until(start.Add(time.Duration(n) * interval)); d > 0 {
			select {
			case <-time.After(d):
			case <-ld.stop:
			}
		}
		select {
		case <-ld.stop:
			close(queue)
			wg.Wait()
			return
		default:
		}
		queue <- n
	}
	close(queue)
	wg.Wait()
}

// publish sends event n until it is acknowledged or the load is stopped.
func (ld *load) publish(n int) {
	typ, tenant := ld.cfg.Event(n)
	id := fmt.Sprintf("%s_%d", ld.cfg.Prefix, n)
	data := fmt.Sprintf(`{"n":%d,"pad":%q}`, n, strings.Repeat("x", ld.cfg.Pad))
	body := envelope(id, typ, tenant, "", data)
	bad := ld.cfg.BadEvery > 0 && n%ld.cfg.BadEvery == ld.cfg.BadEvery-1
	if bad {
		switch n / ld.cfg.BadEvery % 3 {
		case 0:
			body = []byte(fmt.Sprintf(`{"event_id":%q, not json`, id))
		case 1:
			body = []byte(fmt.Sprintf(`{"event_id":%q,"event_type":%q}`, id, typ))
		default:
			body = envelope(id, "other.type", tenant, "", data)
		}
	}
	ld.ledger.sent(pubEvent{ID: id, Type: typ, Tenant: tenant, Bad: bad, SentAt: time.Now()})
	for {
		select {
		case <-ld.stop:
			return
		default:
		}
		ld.ledger.attempt(id)
		msg := nats.NewMsg("events." + typ)
		msg.Header.Set(jetstream.MsgIDHeader, id)
		msg.Data = body
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := ld.js.PublishMsg(ctx, msg)
		cancel()
		if err == nil {
			ld.ledger.acked(id, time.Now())
			return
		}
		select {
		case <-ld.stop:
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// wait waits until every event was started and acknowledged; false at the
// deadline (the load is then stopped).
func (ld *load) wait(timeout time.Duration) bool {
	select {
	case <-ld.done:
		return true
	case <-time.After(timeout):
		ld.abort()
		<-ld.done
		return false
	}
}

// abort stops publishing; events not acknowledged stay unaccepted.
func (ld *load) abort() {
	select {
	case <-ld.stop:
	default:
		close(ld.stop)
	}
}
