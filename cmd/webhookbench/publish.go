package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// benchEventType is the type of every event the bench publishes (it is in
// webhookd's built-in catalogue, so a webhook may name it exactly).
const benchEventType = "user.created"

// padding fills events up to -event-bytes (at most maxEventBytes).
var padding = strings.Repeat("x", maxEventBytes)

// pubWindow is how many async publishes may wait for their ack.
const pubWindow = 1024

// publisher publishes bench events to webhookd's NATS as a platform
// service would: JetStream publishes with Nats-Msg-Id set to the event id.
type publisher struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	subject string
	size    int
	ids     eventIDs
}

// pubAckTimeout is how long a publish waits for its ack before it counts
// as failed: without one, a publish run whose webhookd died (killed, or
// OOM-killed in a memory cgroup) would wait for its acks for ever.
const pubAckTimeout = time.Minute

func newPublisher(url string, eventBytes int, ids eventIDs, ackTimeout time.Duration) (*publisher, error) {
	nc, err := nats.Connect(url, nats.Name("webhookbench"))
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", url, err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(2*pubWindow),
		jetstream.WithPublishAsyncTimeout(ackTimeout))
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &publisher{nc: nc, js: js, subject: "events." + benchEventType, size: eventBytes, ids: ids}, nil
}

func (p *publisher) close() { p.nc.Close() }

// pubResult is what one publish run did.
type pubResult struct {
	Start  time.Time // just before the first publish
	End    time.Time // when the last ack arrived
	Errors int64     // publishes not acknowledged
}

// publish sends n events tagged tag (seq 0..n-1 in their data, ids from
// p.ids), at rate events/s or as fast as acks allow when rate is 0, and
// waits for every ack.
func (p *publisher) publish(ctx context.Context, tag string, n int, rate float64) (pubResult, error) {
	futures := make(chan jetstream.PubAckFuture, pubWindow)
	var failed atomic.Int64
	acked := make(chan struct{})
	go func() {
		defer close(acked)
		for f := range futures {
			select {
			case <-f.Ok():
			case <-f.Err():
				failed.Add(1)
			}
		}
	}()
	res := pubResult{Start: time.Now()}
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(time.Second) / rate)
	}
	var err error
	buf := make([]byte, 0, p.size+256)
	for i := range n {
		if ctx.Err() != nil {
			err = ctx.Err()
			break
		}
		if interval > 0 {
			if wait := time.Until(res.Start.Add(time.Duration(i) * interval)); wait > 0 {
				time.Sleep(wait)
			}
		}
		id := p.ids.id(tag, i)
		now := time.Now()
		buf = appendEnvelope(buf[:0], id, i, now, p.size)
		msg := &nats.Msg{Subject: p.subject, Data: append([]byte(nil), buf...),
			Header: nats.Header{jetstream.MsgIDHeader: []string{id}}}
		f, perr := p.js.PublishMsgAsync(msg)
		if perr != nil {
			err = fmt.Errorf("publish %s: %w", id, perr)
			break
		}
		futures <- f
	}
	close(futures)
	<-acked
	res.End = time.Now()
	res.Errors = failed.Load()
	return res, err
}

// appendEnvelope appends an event envelope whose data carries seq and the
// publish time (what the receiver computes latency from), padded to
// about size bytes.
func appendEnvelope(dst []byte, id string, seq int, now time.Time, size int) []byte {
	dst = append(dst, `{"event_id":"`...)
	dst = append(dst, id...)
	dst = append(dst, `","event_type":"`+benchEventType+`","timestamp":"`...)
	dst = now.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z")
	dst = append(dst, `","source":"webhookbench","tenant_id":"tnt_bench","data":{"seq":`...)
	dst = strconv.AppendInt(dst, int64(seq), 10)
	dst = append(dst, `,"bench_ns":`...)
	dst = strconv.AppendInt(dst, now.UnixNano(), 10)
	dst = append(dst, `,"pad":"`...)
	if pad := min(size-len(dst)-3, len(padding)); pad > 0 {
		dst = append(dst, padding[:pad]...)
	}
	return append(dst, `"}}`...)
}
