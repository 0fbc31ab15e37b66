package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scailabs/webhookd/fanout"
)

// ceilingResult is one ceiling measurement.
type ceilingResult struct {
	Rate   float64       // requests or messages per second
	Count  int           // how many were timed
	Errors int64         // requests that did not get a 2xx
	P50    time.Duration // per-request latency (HTTP: publish-to-receipt as the receiver saw it)
	P99    time.Duration
}

// rawHTTP drives the receiver directly with webhookd's own client code
// (fanout.BuildHeader signing and fanout.Sender) from conc goroutines,
// spreading n requests over hooks hook URLs: the most any delivery engine
// on this machine could do at that concurrency.
func rawHTTP(ctx context.Context, recv *receiverProc, conc, n, hooks, eventBytes int) (ceilingResult, error) {
	sender := fanout.NewSender(fanout.SenderConfig{
		Policy:    fanout.AddrPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}},
		AllowHTTP: true,
		UserAgent: "webhookbench",
	})
	defer sender.Close()
	secret := newSecret()
	run := func(tag string, n int) (time.Duration, int64, error) {
		if err := recv.Reset(ctx, hooks, n); err != nil {
			return 0, 0, err
		}
		var next, failed atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 0, eventBytes+256)
				for {
					i := int(next.Add(1) - 1)
					if i >= n || ctx.Err() != nil {
						return
					}
					id := "evt_" + tag + "_" + strconv.Itoa(i)
					now := time.Now()
					buf = appendEnvelope(buf[:0], id, i, now, eventBytes)
					hdr := fanout.BuildHeader(fanout.AttemptHeader{
						EventID: id, EventType: benchEventType, DeliveryID: int64(i + 1),
						Timestamp: now.Unix(), Secrets: []string{secret}, Body: buf,
						UserAgent: "webhookbench",
					})
					resp := sender.Send(ctx, fanout.Request{URL: recv.HookURL(i % hooks), Header: hdr, Body: buf, Timeout: 10 * time.Second})
					if fanout.Classify(resp) != fanout.VerdictSuccess {
						failed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		return time.Since(start), failed.Load(), ctx.Err()
	}
	// Warm up connections and both runtimes first.
	if _, _, err := run("warm", min(n, 500)); err != nil {
		return ceilingResult{}, err
	}
	elapsed, failed, err := run("http", n)
	if err != nil {
		return ceilingResult{}, err
	}
	st, err := recv.Stats(ctx)
	if err != nil {
		return ceilingResult{}, err
	}
	return ceilingResult{
		Rate: float64(n) / elapsed.Seconds(), Count: n, Errors: failed,
		P50: time.Duration(st.P50US) * time.Microsecond, P99: time.Duration(st.P99US) * time.Microsecond,
	}, nil
}

// rawJetStream measures synchronous publishes to a file stream of a fresh
// nats-server (in this process, reached over TCP like webhookd's
// publishers) with the fsync setting webhookd uses for mode: SyncAlways for
// "always", a 1 s sync interval for "interval".
func rawJetStream(ctx context.Context, dir string, syncAlways bool, n, eventBytes int, ids eventIDs) (ceilingResult, error) {
	storeDir, err := os.MkdirTemp(dir, "js-ceiling-")
	if err != nil {
		return ceilingResult{}, err
	}
	defer os.RemoveAll(storeDir)
	srv, err := server.NewServer(&server.Options{
		ServerName:   "webhookbench-ceiling",
		JetStream:    true,
		StoreDir:     storeDir,
		SyncAlways:   syncAlways,
		SyncInterval: time.Second,
		Host:         "127.0.0.1",
		Port:         -1,
		NoSigs:       true,
		NoLog:        true,
	})
	if err != nil {
		return ceilingResult{}, err
	}
	srv.Start()
	defer func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	}()
	if !srv.ReadyForConnections(10 * time.Second) {
		return ceilingResult{}, errors.New("ceiling nats-server not ready")
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		return ceilingResult{}, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return ceilingResult{}, err
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "BENCH", Subjects: []string{"bench.>"}, Storage: jetstream.FileStorage,
		Duplicates: 2 * time.Minute,
	}); err != nil {
		return ceilingResult{}, err
	}
	buf := make([]byte, 0, eventBytes+256)
	lat := make([]int64, 0, n)
	var elapsed time.Duration
	for pass, count := range []int{min(n, 200), n} {
		lat = lat[:0]
		start := time.Now()
		for i := range count {
			id := ids.id("js"+strconv.Itoa(pass), i)
			t0 := time.Now()
			buf = appendEnvelope(buf[:0], id, i, t0, eventBytes)
			if _, err := js.Publish(ctx, "bench."+benchEventType, buf, jetstream.WithMsgID(id)); err != nil {
				return ceilingResult{}, fmt.Errorf("ceiling publish: %w", err)
			}
			lat = append(lat, int64(time.Since(t0)))
		}
		elapsed = time.Since(start)
	}
	slices.Sort(lat)
	return ceilingResult{
		Rate: float64(n) / elapsed.Seconds(), Count: n,
		P50: time.Duration(percentile(lat, 50)), P99: time.Duration(percentile(lat, 99)),
	}, nil
}

// newSecret returns a webhook secret in webhookd's format.
func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}
