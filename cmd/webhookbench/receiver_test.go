package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestTally(t *testing.T) {
	t.Parallel()
	tl := newTally(2, 3)
	ms := int64(time.Millisecond)
	tl.record(0, 0, 0, 1*ms)
	tl.record(1, 0, 0, 2*ms)
	tl.record(0, 0, 0, 9*ms) // duplicate: counted, no latency sample
	tl.record(0, 2, 0, 4*ms)
	tl.record(2, 0, 0, 5*ms) // no such hook
	tl.record(0, 3, 0, 5*ms) // no such event
	tl.markBad()
	s := tl.stats()
	if s.Received != 7 || s.Unique != 3 || s.Duplicates != 1 || s.Bad != 3 {
		t.Errorf("counts %+v", s)
	}
	if s.FirstNS != 1*ms || s.LastNS != 4*ms {
		t.Errorf("first, last = %d, %d", s.FirstNS, s.LastNS)
	}
	if s.P50US != 2000 || s.MaxUS != 4000 {
		t.Errorf("latency p50 %dµs max %dµs; want 2000, 4000", s.P50US, s.MaxUS)
	}
	// progress: the same counts, no latencies.
	if p := tl.progress(); p.Received != s.Received || p.Unique != s.Unique || p.Duplicates != s.Duplicates ||
		p.Bad != s.Bad || p.FirstNS != s.FirstNS || p.LastNS != s.LastNS || p.P50US != 0 || p.MaxUS != 0 {
		t.Errorf("progress %+v, want the counts of %+v only", p, s)
	}
	tl.reset(1, 1)
	if s := tl.stats(); s.Received != 0 || s.Unique != 0 || s.P99US != 0 {
		t.Errorf("after reset %+v", s)
	}
}

func TestHookHandler(t *testing.T) {
	t.Parallel()
	tl := newTally(2, 10)
	srv := httptest.NewServer(hookHandler(tl))
	defer srv.Close()
	post := func(path, body string) int {
		t.Helper()
		resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	pub := time.Now().Add(-5 * time.Millisecond).UnixNano()
	good := string(appendEnvelope(nil, "evt_x_3", 3, time.Unix(0, pub), 512))
	if code := post("/hook/1", good); code != http.StatusOK {
		t.Fatalf("good delivery: %d", code)
	}
	if code := post("/hook/1", good); code != http.StatusOK {
		t.Fatalf("duplicate delivery: %d", code)
	}
	for _, c := range []struct{ path, body string }{
		{"/hook/x", good}, {"/hook/1", `{"data":{}}`}, {"/other", good},
	} {
		if code := post(c.path, c.body); code != http.StatusBadRequest {
			t.Errorf("POST %s %s: %d, want 400", c.path, c.body, code)
		}
	}
	s := tl.stats()
	if s.Unique != 1 || s.Duplicates != 1 || s.Bad != 3 {
		t.Errorf("stats %+v", s)
	}
	if s.P50US < 5000 {
		t.Errorf("latency %dµs, want at least the 5 ms since publish", s.P50US)
	}
}

// TestReceiverDownUp runs the receiver command in this process and drives
// it through its control listener as the bench does.
func TestReceiverDownUp(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdinR, stdinW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- runReceiver(ctx, nil, stdinR, outW) }()
	line, err := bufio.NewReader(outR).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, outR)
	hooks, control, err := parseReceiverLine(line)
	if err != nil {
		t.Fatal(err)
	}
	r := &receiverProc{HookAddr: hooks, control: "http://" + control, client: &http.Client{Timeout: 10 * time.Second}}
	if err := r.Reset(ctx, 1, 5); err != nil {
		t.Fatal(err)
	}
	deliver := func(seq int) error {
		body := appendEnvelope(nil, "evt_t", seq, time.Now(), 300)
		resp, err := http.Post(r.HookURL(0), "application/json", strings.NewReader(string(body)))
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
	if err := deliver(0); err != nil {
		t.Fatal(err)
	}
	if err := r.Down(ctx); err != nil {
		t.Fatal(err)
	}
	if err := deliver(1); err == nil {
		t.Fatal("delivery while down succeeded")
	}
	if err := r.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if err := deliver(1); err != nil {
		t.Fatalf("delivery after up: %v", err)
	}
	s, err := r.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.Unique != 2 || s.Received != 2 {
		t.Errorf("stats %+v, want 2 unique deliveries", s)
	}
	if p, err := r.Progress(ctx); err != nil || p.Unique != 2 || p.Received != 2 || p.P50US != 0 {
		t.Errorf("progress %+v, %v; want 2 unique deliveries and no latencies", p, err)
	}
	if err := r.Reset(ctx, 0, 5); err == nil {
		t.Error("reset with no hooks accepted")
	}
	// Closing stdin ends the receiver.
	stdinW.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("receiver did not end when stdin closed")
	}
}
