package kv_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/scailabs/webhookd/kv"
	"github.com/scailabs/webhookd/kv/kvtest"
)

// openBolt opens a store on a fresh file; cleanup checks the file's
// consistency, then closes it.
func openBolt(t testing.TB, opts kv.BoltOptions) *kv.Bolt {
	t.Helper()
	if opts.Path == "" {
		opts.Path = filepath.Join(t.TempDir(), "kv.db")
	}
	s, err := kv.OpenBolt(opts)
	if err != nil {
		t.Fatalf("OpenBolt: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Check(); err != nil && !errors.Is(err, kv.ErrClosed) {
			t.Errorf("consistency check: %v", err)
		}
		if err := s.Close(); err != nil && !errors.Is(err, kv.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestBoltConformance(t *testing.T) {
	t.Parallel()
	kvtest.Run(t, func(t *testing.T) kv.Store { return openBolt(t, kv.BoltOptions{}) })
}

func TestBoltConformanceNoSync(t *testing.T) {
	t.Parallel()
	kvtest.Run(t, func(t *testing.T) kv.Store {
		return openBolt(t, kv.BoltOptions{NoSync: true, SyncInterval: 5 * time.Millisecond})
	})
}

// Every group committed at once: the file alone, as before the journal.
func TestBoltConformanceCheckpointEveryGroup(t *testing.T) {
	t.Parallel()
	kvtest.Run(t, func(t *testing.T) kv.Store { return openBolt(t, kv.BoltOptions{CheckpointOps: 1}) })
}

func TestBoltLocked(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "kv.db")
	openBolt(t, kv.BoltOptions{Path: path})
	s, err := kv.OpenBolt(kv.BoltOptions{Path: path, Timeout: 50 * time.Millisecond})
	if !errors.Is(err, kv.ErrLocked) {
		if s != nil {
			_ = s.Close()
		}
		t.Fatalf("OpenBolt(held file) = %v, want ErrLocked", err)
	}
}

// TestMain lets the test binary double as the process that holds a store
// for TestBoltLockedByOtherProcess.
func TestMain(m *testing.M) {
	if path := os.Getenv("KV_TEST_HOLD_STORE"); path != "" {
		os.Exit(holdStore(path))
	}
	os.Exit(m.Run())
}

// holdStore opens the store, says so on stdout and keeps it open until
// stdin closes.
func holdStore(path string) int {
	s, err := kv.OpenBolt(kv.BoltOptions{Path: path})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := s.Close(); err != nil {
		return 1
	}
	return 0
}

func TestBoltLockedByOtherProcess(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "kv.db")
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "KV_TEST_HOLD_STORE="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("holder said %q, %v", line, err)
	}

	s, err := kv.OpenBolt(kv.BoltOptions{Path: path, Timeout: 50 * time.Millisecond})
	if !errors.Is(err, kv.ErrLocked) {
		if s != nil {
			_ = s.Close()
		}
		t.Fatalf("OpenBolt(file held by another process) = %v, want ErrLocked", err)
	}

	// Once the holder lets go, the file opens.
	_ = stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("holder: %v", err)
	}
	openBolt(t, kv.BoltOptions{Path: path, Timeout: 5 * time.Second})
}

func TestBoltReopenKeepsData(t *testing.T) {
	t.Parallel()
	for _, noSync := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "kv.db")
		ctx := context.Background()
		s, err := kv.OpenBolt(kv.BoltOptions{Path: path, NoSync: noSync, SyncInterval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		w := &kv.Webhook{ID: "wh_1", URL: "https://receiver.example", Status: kv.WebhookActive, CreatedAt: time.Now()}
		if err := s.CreateWebhook(ctx, w); err != nil {
			t.Fatal(err)
		}
		d := &kv.Delivery{WebhookID: "wh_1", EventID: "evt_1"}
		if _, err := s.CreateDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RecordAttempt(ctx, kv.AttemptOutcome{WebhookID: "wh_1", DeliveryID: d.ID, Success: true,
			Attempt: kv.Attempt{StartedAt: time.Now(), DurationMS: 12, StatusCode: 200}}); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := s.Close(); !errors.Is(err, kv.ErrClosed) {
			t.Fatalf("second Close = %v, want ErrClosed", err)
		}

		s = openBolt(t, kv.BoltOptions{Path: path, NoSync: noSync})
		got, err := s.GetDelivery(ctx, "wh_1", d.ID)
		if err != nil || got.Status != kv.DeliverySuccess || len(got.Attempts) != 1 {
			t.Fatalf("no_sync=%v: after reopen GetDelivery = %+v, %v", noSync, got, err)
		}
		st, err := s.WebhookStats(ctx, "wh_1", time.Now())
		if err != nil || st.Success != 1 || st.LastDelivery == nil || st.LastDelivery.ID != d.ID {
			t.Fatalf("no_sync=%v: after reopen stats = %+v, %v", noSync, st, err)
		}
		// The watch sequence continues where it was: revisions keep growing.
		before, _ := s.GetWebhook(ctx, "wh_1")
		after, err := s.UpdateWebhook(ctx, "wh_1", func(w *kv.Webhook) error { return nil })
		if err != nil || after.Revision <= before.Revision {
			t.Fatalf("no_sync=%v: revision after reopen %d, before %d (%v)", noSync, after.Revision, before.Revision, err)
		}
		d2 := &kv.Delivery{WebhookID: "wh_1", EventID: "evt_2"}
		if _, err := s.CreateDelivery(ctx, d2); err != nil || d2.ID <= d.ID {
			t.Fatalf("no_sync=%v: delivery id after reopen %d, before %d (%v)", noSync, d2.ID, d.ID, err)
		}
	}
}

func TestBoltOptionsValidate(t *testing.T) {
	t.Parallel()
	for name, opts := range map[string]kv.BoltOptions{
		"no path":          {},
		"negative timeout": {Path: filepath.Join(t.TempDir(), "a.db"), Timeout: -time.Second},
	} {
		if s, err := kv.OpenBolt(opts); err == nil {
			_ = s.Close()
			t.Errorf("OpenBolt(%s) succeeded, want an error", name)
		}
	}
}
