package test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/scailabs/webhookd/kv"
)

// crashHooks are the webhooks of the crash and SIGTERM runs: what each
// subscribes to, and how the sink answers it.
var crashHooks = []struct {
	name   string
	events []string
	tenant string
	sink   sinkHook
}{
	{"all", []string{"*"}, "", sinkHook{Latency: 5 * time.Millisecond}},
	{"users", []string{"user.*"}, "", sinkHook{}},
	// Fails each event's first attempt, so retries are pending (nak'd with
	// a delay in JetStream) at every kill.
	{"flaky", []string{"*"}, "", sinkHook{FailFirst: true}},
	{"tenant", []string{"*"}, "tnt_a", sinkHook{Latency: 2 * time.Millisecond}},
}

func crashEvent(n int) (string, string) {
	return []string{"user.created", "request.completed", "user.deleted"}[n%3], []string{"tnt_a", "tnt_b"}[n%2]
}

func crashWants(hook string, e pubEvent) bool {
	if e.Bad {
		return false
	}
	switch hook {
	case "users":
		return strings.HasPrefix(e.Type, "user.")
	case "tenant":
		return e.Tenant == "tnt_a"
	}
	return true
}

func crashHookNames() []string {
	var out []string
	for _, h := range crashHooks {
		out = append(out, h.name)
	}
	return out
}

// createCrashHooks registers crashHooks on the sink and the daemon and
// returns the webhook id of each name.
func createCrashHooks(t *testing.T, d *daemon, tok string, sk *sink) map[string]string {
	t.Helper()
	ids := make(map[string]string)
	for _, h := range crashHooks {
		body := map[string]any{"url": sk.hook(h.name, h.sink), "events": h.events, "max_retries": 10}
		if h.tenant != "" {
			body["tenant_id"] = h.tenant
		}
		ids[h.name] = d.createWebhook(t, tok, body).ID
	}
	return ids
}

// TestFaultKill9UnderLoadLosesNoAcceptedEvent runs with the default
// --fsync always; the soak also runs it with interval (a killed process
// loses nothing either way: both hand every write to the OS before
// acknowledging it; they differ on a machine crash, which no test here
// makes).
func TestFaultKill9UnderLoadLosesNoAcceptedEvent(t *testing.T) {
	t.Parallel()
	modes := []string{"always"}
	if soak() {
		modes = append(modes, "interval")
	}
	for _, mode := range modes {
		// One after the other: each alone is more than two cores deliver.
		t.Run("fsync="+mode, func(t *testing.T) { kill9UnderLoad(t, mode) })
	}
}

func kill9UnderLoad(t *testing.T, fsync string) {
	rng := faultRand(t)
	const perHook = 8
	rate, loadFor, kills := 200, 12*time.Second, 3
	if soak() {
		loadFor, kills = 60*time.Second, 10
	}
	sk := newSink(t)
	lives := []lifetime{{Start: time.Now()}}
	d := startDaemon(t, daemonOptions{
		RetrySchedule: "300ms",
		// The flaky webhook fails every event once: with auto-disable it
		// would soon be disabled, which is not what this run is about.
		Extra: append(fixedPorts(t), "--log-level", "info", "--auto-disable-after", "0", "--fsync", fsync,
			"--per-webhook-concurrency", fmt.Sprint(perHook)),
	})
	tok := d.superToken(t)
	ids := createCrashHooks(t, d, tok, sk)
	names := crashHookNames()

	l := newLedger()
	ld := startLoad(t, l, loadConfig{NATSURL: d.NATSURL, Prefix: "evt_crash", Rate: rate, For: loadFor,
		Event: crashEvent, BadEvery: 50})

	// kill -9 at a random moment in each slice of the load, then check the
	// bbolt file while the process is down and restart on the same dir.
	slice := loadFor / time.Duration(kills)
	var inFlight []int
	for k := range kills {
		wait := time.Second + time.Duration(rng.Int64N(int64(slice-time.Second)))
		time.Sleep(wait)
		inFlight = append(inFlight, sk.inFlight())
		d.kill()
		d.checkStore(t)
		lives[k].Killed = true
		lives[k].End = time.Now()
		lives = append(lives, lifetime{Start: lives[k].End})
		d.restart()
		t.Logf("kill %d: %s into process %d, %d requests open at the receiver", k+1, wait.Round(time.Millisecond), k, inFlight[k])
	}

	if !ld.wait(loadFor + 2*time.Minute) {
		t.Errorf("publishers could not get every event acknowledged")
	}
	published, accepted, bad := l.counts()
	// After a kill, JetStream hands an unacknowledged message back once its
	// consumer's AckWait has passed (20 s).
	// A long run also leaves a backlog to work off (the load is above what
	// two cores deliver).
	if missing := sk.waitDelivered(l, names, crashWants, 3*time.Minute+6*loadFor); len(missing) > 0 {
		t.Errorf("%d accepted deliveries still missing, e.g.%s", len(missing), sample(missing, 5))
	}
	// Invalid input is dead-lettered once each, kills notwithstanding.
	var dlq int
	deadline := time.Now().Add(time.Minute)
	for dlq = deadLetters(t, ld); dlq < bad && time.Now().Before(deadline); dlq = deadLetters(t, ld) {
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%d invalid events accepted, %d dead letters", bad, dlq)
	if dlq != bad {
		t.Errorf("%d dead letters for %d invalid events", dlq, bad)
	}
	waited := waitSettled(t, d.NATSURL, 2*time.Minute)
	t.Logf("every event and task settled %s after the last delivery was received", waited.Round(time.Millisecond))
	if err := d.terminate(40 * time.Second); err != nil {
		t.Fatalf("SIGTERM after the run: %v", err)
	}
	lives[len(lives)-1].End = time.Now()
	d.checkStore(t)

	rep := check(l.snapshot(), sk.receipts(), names, crashWants)
	t.Logf("%d kills at %d events/s: %s", kills, rate, rep)
	if rep.Published != published || rep.Accepted != accepted {
		t.Fatalf("ledger changed after the load ended")
	}
	if len(rep.Lost) > 0 {
		t.Errorf("lost %d accepted deliveries:%s", len(rep.Lost), sample(rep.Lost, 10))
	}
	if len(rep.Unexpected) > 0 {
		t.Errorf("%d unexpected deliveries:%s", len(rep.Unexpected), sample(rep.Unexpected, 10))
	}
	perLife, err := explainDuplicates(rep.Duplicates, lives, perHook)
	if err != nil {
		t.Error(err)
	}
	t.Logf("duplicates per killed process %v (requests open at the receiver at each kill %v; bound %d per webhook per kill)",
		perLife[:kills], inFlight, perHook)

	checkCrashRecords(t, d, ids, l, sk.receipts(), lives)
}

// deadLetters counts the messages in the dead-letter stream.
func deadLetters(t *testing.T, ld *load) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := ld.js.Stream(ctx, "WEBHOOKD_DLQ")
	if err != nil {
		t.Fatalf("dead-letter stream: %v", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatalf("dead-letter stream: %v", err)
	}
	return int(info.State.Msgs)
}

// checkCrashRecords reads the stopped daemon's bbolt file: every accepted
// delivery is a success whose attempts are numbered 1..n without a gap
// (numbering continued across restarts), n is no more than the requests
// the receiver got, and the last attempt is the 2xx.
func checkCrashRecords(t *testing.T, d *daemon, ids map[string]string, l *ledger, receipts []receipt, lives []lifetime) {
	t.Helper()
	st := d.openStore(t)
	defer st.Close()
	got := make(map[pair]int)
	for _, r := range receipts {
		got[pair{r.Hook, r.ID}]++
	}
	lifeOf := func(at time.Time) int {
		for i, l := range lives {
			if l.holds(at) {
				return i
			}
		}
		return -1
	}
	var records, attempts, unrecorded, resumed, bad int
	for name, id := range ids {
		stored := storedDeliveries(t, st, id)
		for _, e := range l.snapshot() {
			if e.AckedAt.IsZero() || !crashWants(name, e) {
				continue
			}
			dl, ok := stored[e.ID]
			p := pair{name, e.ID}
			if !ok {
				bad++
				t.Errorf("%s: no delivery record", p)
				continue
			}
			records++
			attempts += len(dl.Attempts)
			if msg := attemptProblem(dl, got[p]); msg != "" {
				bad++
				if bad <= 10 {
					t.Errorf("%s: %s", p, msg)
				}
				continue
			}
			unrecorded += got[p] - len(dl.Attempts)
			for i := 1; i < len(dl.Attempts); i++ {
				if lifeOf(dl.Attempts[i-1].StartedAt) < lifeOf(dl.Attempts[i].StartedAt) {
					resumed++
					break
				}
			}
		}
		for evID := range stored {
			if e, ok := l.get(evID); !ok || !crashWants(name, e) {
				bad++
				t.Errorf("%s: a delivery record of an event the webhook should not get", pair{name, evID})
			}
		}
	}
	t.Logf("records: %d deliveries, %d attempts recorded, %d requests made but not recorded (in flight at a kill), %d deliveries whose attempts continued in a later process",
		records, attempts, unrecorded, resumed)
	if bad > 10 {
		t.Errorf("%d bad delivery records in all", bad)
	}
}

// attemptProblem says what is wrong with a finished delivery's record,
// given how many requests the receiver got for it.
func attemptProblem(dl *kv.Delivery, requests int) string {
	n := len(dl.Attempts)
	switch {
	case dl.Status != kv.DeliverySuccess:
		return fmt.Sprintf("status %s, want success", dl.Status)
	case n == 0 || dl.AttemptCount != n:
		return fmt.Sprintf("attempt_count %d with %d attempts", dl.AttemptCount, n)
	case n > requests:
		return fmt.Sprintf("%d attempts recorded but the receiver got %d requests", n, requests)
	case dl.Attempts[n-1].StatusCode < 200 || dl.Attempts[n-1].StatusCode > 299:
		return fmt.Sprintf("last attempt status %d, want 2xx", dl.Attempts[n-1].StatusCode)
	}
	for i, a := range dl.Attempts {
		if a.Attempt != i+1 {
			return fmt.Sprintf("attempt %d numbered %d", i+1, a.Attempt)
		}
	}
	return ""
}
