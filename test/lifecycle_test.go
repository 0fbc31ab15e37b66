package test

import (
	"context"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestRestartMidRetryContinuesTheAttemptCount(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// Long enough between attempts to stop the process in the gap.
	d := startDaemon(t, daemonOptions{DataDir: dir, RetrySchedule: "1500ms"})
	tok := d.superToken(t)
	rc := newReceiver(t, func(n int, _ *http.Request) int {
		if n <= 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	w := d.createWebhook(t, tok, map[string]any{"url": rc.URL(), "events": []string{"*"}, "max_retries": 5})
	newPublisher(t, d.NATSURL).event(t, "evt_restart_1", "user.created", "", "")

	// Wait until the first attempt is recorded, then kill -9 in the gap
	// before the second. (A kill during an attempt loses that attempt's
	// record, by design: it is made again after restart.)
	eventually(t, 30*time.Second, "first attempt recorded", func() bool {
		for _, dl := range d.deliveries(t, tok, w.ID) {
			if dl.EventID == "evt_restart_1" && dl.AttemptCount == 1 {
				return true
			}
		}
		return false
	})
	d.kill()
	d.restart()
	tok = d.superToken(t)

	// After a crash JetStream redelivers an unacked task once its AckWait
	// (20 s) has passed, so allow for that.
	dl := d.waitDelivery(t, tok, w.ID, "evt_restart_1", 150*time.Second, "success")
	if dl.AttemptCount != 4 {
		t.Fatalf("attempt_count = %d after restart, want 4 (3 failures + 1 success)", dl.AttemptCount)
	}
	for i, a := range dl.Attempts {
		if a.Attempt != i+1 {
			t.Fatalf("attempt numbers %v are not 1..4 in order", dl.Attempts)
		}
	}
	if rc.count() != 4 {
		t.Errorf("receiver got %d requests, want 4", rc.count())
	}
}

func TestMalformedEnvelopeIsDeadLetteredAndTheNextEventDelivered(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOptions{})
	tok := d.superToken(t)
	rc := newReceiver(t, nil)
	d.createWebhook(t, tok, map[string]any{"url": rc.URL(), "events": []string{"*"}})
	pub := newPublisher(t, d.NATSURL)

	pub.publish(t, "user.created", "bad-json", []byte(`{"event_id": "evt_x", not json`))
	pub.publish(t, "user.created", "bad-missing", []byte(`{"event_id":"evt_y","event_type":"user.created"}`))
	pub.publish(t, "user.created", "bad-subject", envelope("evt_z", "user.deleted", "", "", ""))
	pub.event(t, "evt_good_1", "user.created", "", "")

	eventually(t, 30*time.Second, "the good event", func() bool { return rc.count() == 1 })
	if id := rc.deliveries()[0].Header.Get("webhook-id"); id != "evt_good_1" {
		t.Fatalf("delivered %q, want only evt_good_1", id)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var dlq *jetstream.StreamInfo
	eventually(t, 10*time.Second, "three dead letters", func() bool {
		s, err := pub.js.Stream(ctx, "WEBHOOKD_DLQ")
		if err != nil {
			return false
		}
		dlq, err = s.Info(ctx)
		return err == nil && dlq.State.Msgs == 3
	})
	s, _ := pub.js.Stream(ctx, "WEBHOOKD_DLQ")
	for seq := uint64(1); seq <= 3; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if m.Header.Get("Webhookd-Dlq-Reason") == "" {
			t.Errorf("dead letter %d has no reason header: %v", seq, m.Header)
		}
	}
	// Counted in a metric...
	resp, err := http.Get(d.HTTPURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var metrics strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		metrics.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if !strings.Contains(metrics.String(), "webhookd_dead_letters_total") {
		t.Errorf("/metrics has no webhookd_dead_letters_total")
	}
	// ...and logged once each, without the body.
	lines := d.logs.lines("dead")
	if len(lines) < 3 {
		t.Errorf("want a log line per dead letter, got %d:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	if strings.Contains(d.logs.String(), "not json") {
		t.Errorf("a payload body leaked into the logs")
	}
}

func TestSIGTERMExitsZero(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOptions{})
	tok := d.superToken(t)
	rc := newReceiver(t, nil)
	d.createWebhook(t, tok, map[string]any{"url": rc.URL(), "events": []string{"*"}})
	newPublisher(t, d.NATSURL).event(t, "evt_term_1", "user.created", "", "")
	eventually(t, 30*time.Second, "delivery", func() bool { return rc.count() == 1 })
	if err := d.terminate(30 * time.Second); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, d.logs.String())
	}
	if len(d.logs.lines("webhookd stopped")) != 1 {
		t.Errorf("no clean stop logged")
	}
}

func TestSecondProcessOnTheSameDataDirFailsFast(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOptions{})
	cmd := exec.Command(binPath, "serve", "--data-dir", d.dataDir, "--http-addr", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0")
	cmd.Env = cleanEnv()
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("second webhookd on the same data dir exited 0:\n%s", out)
	}
	if !strings.Contains(string(out), "in use by another webhookd") {
		t.Errorf("error does not say why:\n%s", out)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("took %s to fail: not fast", took)
	}
}

func TestVersionPrintsTheVersion(t *testing.T) {
	t.Parallel()
	if out := runCLI(t, "version"); !strings.HasPrefix(out, "webhookd ") {
		t.Fatalf("version printed %q", out)
	}
}
