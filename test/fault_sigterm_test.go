package test

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestFaultSIGTERMUnderLoadDrainsAndResendsNothing(t *testing.T) {
	t.Parallel()
	rng := faultRand(t)
	const drain = 10 * time.Second // the harness's --drain-timeout
	rate, loadFor := 200, 6*time.Second
	if soak() {
		loadFor = 60 * time.Second
	}
	sk := newSink(t)
	lives := []lifetime{{Start: time.Now()}}
	d := startDaemon(t, daemonOptions{
		RetrySchedule: "300ms",
		Extra:         append(fixedPorts(t), "--log-level", "info", "--auto-disable-after", "0"),
	})
	tok := d.superToken(t)
	ids := createCrashHooks(t, d, tok, sk)
	names := crashHookNames()
	l := newLedger()
	ld := startLoad(t, l, loadConfig{NATSURL: d.NATSURL, Prefix: "evt_term", Rate: rate, For: loadFor, Event: crashEvent})

	time.Sleep(1500*time.Millisecond + time.Duration(rng.Int64N(int64(2*time.Second))))
	inFlight, before := sk.inFlight(), sk.delivered()
	start := time.Now()
	if err := d.terminate(drain + 20*time.Second); err != nil {
		t.Fatalf("SIGTERM under load: %v\n%s", err, d.logs.String())
	}
	took := time.Since(start)
	t.Logf("SIGTERM with %d requests open at the receiver and %d deliveries made: exit 0 after %s", inFlight, before, took.Round(time.Millisecond))
	if took > drain {
		t.Errorf("exit took %s, more than the drain deadline %s", took, drain)
	}
	if len(d.logs.lines("in-flight attempts cancelled")) > 0 {
		t.Errorf("the drain cancelled attempts: receivers answer within milliseconds")
	}
	d.checkStore(t)
	lives[0].End = time.Now()
	lives = append(lives, lifetime{Start: lives[0].End})
	d.restart()

	if !ld.wait(loadFor + time.Minute) {
		t.Errorf("publishers could not get every event acknowledged")
	}
	// Stop hands every message back at once: nothing waits for JetStream's
	// AckWait (20 s) after the restart, which
	// would show as a long silence at the receivers with work outstanding.
	missing, gap := sk.waitDeliveredGap(l, names, crashWants, 2*time.Minute+4*loadFor)
	if len(missing) > 0 {
		t.Errorf("%d accepted deliveries missing, e.g.%s", len(missing), sample(missing, 5))
	}
	t.Logf("all delivered %s after the restart; longest silence with deliveries outstanding %s",
		time.Since(lives[1].Start).Round(time.Millisecond), gap.Round(time.Millisecond))
	// Known gap: events in a pull that is under way when Stop begins can be
	// left to the events consumer's AckWait (20 s). Lateness, not loss:
	// reported here, asserted only beyond AckWait.
	if gap > 15*time.Second {
		t.Logf("receivers got nothing for %s while deliveries were outstanding: some messages were left to AckWait", gap)
	}
	if gap > 45*time.Second {
		t.Errorf("receivers got nothing for %s while deliveries were outstanding: longer than any AckWait", gap)
	}
	waitSettled(t, d.NATSURL, 2*time.Minute)
	if err := d.terminate(drain + 20*time.Second); err != nil {
		t.Fatalf("second SIGTERM: %v", err)
	}
	lives[1].End = time.Now()
	d.checkStore(t)

	receipts := sk.receipts()
	rep := check(l.snapshot(), receipts, names, crashWants)
	t.Logf("SIGTERM at %d events/s: %s", rate, rep)
	if len(rep.Lost) > 0 {
		t.Errorf("lost %d accepted deliveries:%s", len(rep.Lost), sample(rep.Lost, 10))
	}
	if len(rep.Unexpected) > 0 {
		t.Errorf("%d unexpected deliveries:%s", len(rep.Unexpected), sample(rep.Unexpected, 10))
	}
	// A clean stop finishes (and records) what is in flight: a delivery the
	// receiver answered with a 2xx is never sent again.
	if rep.Extra > 0 {
		var dups []pair
		for p := range rep.Duplicates {
			dups = append(dups, p)
		}
		t.Errorf("%d deliveries were sent again after a clean stop:%s", len(dups), sample(dups, 10))
	}
	checkCrashRecords(t, d, ids, l, receipts, lives)
}

func TestFaultSIGTERMWithAHangingReceiverExitsAfterTheDrainDeadline(t *testing.T) {
	t.Parallel()
	const drain = 2 * time.Second
	var hang atomic.Bool
	hang.Store(true)
	sk := newSink(t)
	d := startDaemon(t, daemonOptions{Extra: append(fixedPorts(t), "--drain-timeout", drain.String())})
	tok := d.superToken(t)
	w := d.createWebhook(t, tok, map[string]any{"url": sk.hook("slow", sinkHook{Hang: hang.Load}),
		"events": []string{"*"}, "timeout_seconds": 30})
	l := newLedger()
	ld := startLoad(t, l, loadConfig{NATSURL: d.NATSURL, Prefix: "evt_hang", Rate: 4, For: time.Second, Event: crashEvent})
	if !ld.wait(30 * time.Second) {
		t.Fatal("publishing failed")
	}
	eventually(t, 30*time.Second, "four requests hanging", func() bool { return sk.inFlight() == 4 })

	start := time.Now()
	if err := d.terminate(drain + 20*time.Second); err != nil {
		t.Fatalf("SIGTERM with attempts hanging: %v", err)
	}
	took := time.Since(start)
	t.Logf("SIGTERM with 4 attempts hanging and --drain-timeout %s: exit 0 after %s", drain, took.Round(time.Millisecond))
	// The deadline bounds the wait for attempts; closing NATS and the
	// store follow it.
	if took < drain || took > drain+5*time.Second {
		t.Errorf("exit after %s, want the drain deadline %s and little more", took, drain)
	}
	if len(d.logs.lines("in-flight attempts cancelled")) == 0 {
		t.Errorf("no attempt was cancelled at the deadline")
	}

	// The cancelled attempts were not finished: after a restart they are
	// made again at once (handed back, not left to AckWait).
	hang.Store(false)
	d.restart()
	names, all := []string{"slow"}, func(string, pubEvent) bool { return true }
	if missing := sk.waitDelivered(l, names, all, 20*time.Second); len(missing) > 0 {
		t.Fatalf("%d deliveries missing after the restart:%s", len(missing), sample(missing, 4))
	}
	if rep := check(l.snapshot(), sk.receipts(), names, all); len(rep.Lost)+len(rep.Unexpected)+rep.Extra > 0 {
		t.Errorf("after the restart: %s", rep)
	}
	// A receipt is written before webhookd has the answer, let alone has
	// recorded it: wait for the records to settle.
	eventually(t, 20*time.Second, "every delivery recorded as success", func() bool {
		for _, dl := range d.deliveries(t, tok, w.ID) {
			if dl.Status != "success" {
				return false
			}
		}
		return true
	})
	for _, dl := range d.deliveries(t, tok, w.ID) {
		// A cancelled attempt is the shutdown's doing, not the receiver's:
		// it is not recorded.
		if dl.AttemptCount != 1 {
			t.Errorf("delivery %d: %s with %d attempts, want success with 1", dl.ID, dl.Status, dl.AttemptCount)
		}
	}
}
