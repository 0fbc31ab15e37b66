package fanout

import (
	"testing"
	"time"
)

func TestLimiterTookIsAMovingAverage(t *testing.T) {
	t.Parallel()
	l := newLimiter(1, 4)
	l.admit("a", &job{})
	l.took("a", 800*time.Millisecond)
	if got := l.hooks["a"].took; got != 800*time.Millisecond {
		t.Fatalf("after one job of 800ms: took %s", got)
	}
	l.took("a", 0)
	if got := l.hooks["a"].took; got != 700*time.Millisecond {
		t.Fatalf("after a second job of 0s: took %s, want 700ms (1/8 of the way)", got)
	}
	if l.took("b", time.Hour) != nil || l.hooks["b"] != nil {
		t.Fatal("took made a slot for a webhook without work")
	}
}

func TestLimiterQueueSizeFollowsThePace(t *testing.T) {
	t.Parallel()
	l := newLimiter(8, 256)
	for _, tc := range []struct {
		took time.Duration
		size int
		fast bool
	}{
		{0, 16, false},                      // unknown: short
		{4 * time.Millisecond, 256, true},   // 500 in a quarter second: the bound
		{100 * time.Millisecond, 20, true},  // 8 x 250ms / 100ms
		{time.Second, 16, false},            // 2: short
		{10 * time.Second, 16, false},       // a hanging endpoint: short
		{125 * time.Millisecond, 16, false}, // exactly short: not fast
		{time.Nanosecond, 256, true},        // no overflow
	} {
		size, fast := l.queueSize(&hookSlot{took: tc.took})
		if size != tc.size || fast != tc.fast {
			t.Errorf("queueSize with jobs of %s = %d, %v; want %d, %v", tc.took, size, fast, tc.size, tc.fast)
		}
	}
}

func TestLimiterHandsBackASlowWebhooksSurplus(t *testing.T) {
	t.Parallel()
	l := newLimiter(2, 8)
	for i, want := range []admission{admitRun, admitRun, admitQueued, admitQueued, admitQueued, admitQueued, admitFull} {
		if got := l.admit("a", &job{}); got != want {
			t.Fatalf("task %d of a webhook of unknown pace: %d, want %d", i+1, got, want)
		}
	}
	if crowdedNow(l) {
		t.Fatal("a webhook that hands its surplus back crowds the deliverer")
	}
}

func TestLimiterCrowdsOnAFastWebhookUntilItsQueueIsHalfDone(t *testing.T) {
	t.Parallel()
	l := newLimiter(1, 8)
	l.admit("a", &job{}) // runs
	l.took("a", 10*time.Millisecond)
	for i := range 9 {
		if got := l.admit("a", &job{}); got != admitQueued {
			t.Fatalf("task %d of a fast webhook: %d, want queued", i+2, got)
		}
		if crowded := crowdedNow(l); crowded != (i >= 7) {
			t.Fatalf("with %d queued (size 8): crowded %v", i+1, crowded)
		}
	}
	_, room := l.isCrowded()
	for range 4 {
		if l.next("a") == nil || !crowdedNow(l) {
			t.Fatal("crowded ended before the queue was half done")
		}
	}
	select {
	case <-room:
		t.Fatal("room signalled while still crowded")
	default:
	}
	l.next("a") // 4 left of a size of 8
	if crowdedNow(l) {
		t.Fatal("still crowded with the queue half done")
	}
	select {
	case <-room:
	default:
		t.Fatal("no room signal when the crowd cleared")
	}
	l.waitRoom(nil) // returns at once: nothing is crowded
}

func TestLimiterGivesUpTheQueueOfAWebhookThatTurnedSlow(t *testing.T) {
	t.Parallel()
	l := newLimiter(2, 8)
	l.admit("a", &job{})
	l.admit("a", &job{})
	l.took("a", 10*time.Millisecond)
	for range 8 {
		l.admit("a", &job{})
	}
	_, room := l.isCrowded()
	if !crowdedNow(l) {
		t.Fatal("a fast webhook with a full queue does not crowd")
	}
	// One job of 2 s: the average goes to about 260 ms, the size to the
	// short queue of 2 x cap.
	surplus := l.took("a", 2*time.Second)
	if len(surplus) != 4 || l.queued("a") != 4 {
		t.Fatalf("after turning slow: %d handed back, %d queued; want 4 and 4", len(surplus), l.queued("a"))
	}
	if crowdedNow(l) {
		t.Fatal("a webhook that turned slow still crowds the deliverer")
	}
	select {
	case <-room:
	default:
		t.Fatal("no room signal when the slow webhook gave up its surplus")
	}
}

func TestLimiterParksTasksAtTheWebhooksPace(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	full := func(took time.Duration) *limiter {
		l := newLimiter(2, 2)
		for range 4 {
			l.admit("a", &job{})
		}
		if l.admit("a", &job{}) != admitFull {
			t.Fatal("a webhook at cap 2 with 2 queued has room")
		}
		l.hooks["a"].took = took
		return l
	}

	// 160 ms jobs, 2 at a time: one ends every 80 ms, paced as if every
	// 60 ms. The 2 queued go first, so the first task handed back is due
	// after 180 ms, each further one 60 ms later.
	l := full(160 * time.Millisecond)
	for i, want := range []time.Duration{180, 240, 300, 360} {
		if got := l.park("a", now); got != want*time.Millisecond {
			t.Errorf("park #%d = %s, want %dms", i+1, got, want)
		}
	}
	// Later on, the schedule goes on from where it stands...
	if got := l.park("a", now.Add(100*time.Millisecond)); got != 320*time.Millisecond {
		t.Errorf("park 100ms later = %s, want 320ms (after the 4 handed back)", got)
	}
	// ...and starts afresh once everything handed back is due.
	if got := l.park("a", now.Add(time.Hour)); got != 180*time.Millisecond {
		t.Errorf("park an hour later = %s, want 180ms", got)
	}
	// The slot outlives its last runner while tasks are handed back.
	l.next("a")
	l.next("a")
	l.nextAt("a", now)
	l.nextAt("a", now)
	if l.hooks["a"] == nil {
		t.Fatal("the pace was forgotten while tasks are handed back")
	}

	// Before its pace is known, a job counts as unknownTook.
	if got, want := full(0).park("a", now), max(3*unknownTook*3/8, handBackDelay); got != want {
		t.Errorf("park with no pace known = %s, want %s", got, want)
	}
	// A hanging endpoint's tasks are handed back for at most maxPark.
	l = full(60 * time.Second)
	var got time.Duration
	for range 10 {
		got = l.park("a", now)
	}
	if got != maxPark {
		t.Errorf("park behind a hanging endpoint's backlog = %s, want the bound %s", got, maxPark)
	}
	// A webhook with no slot has room: back at once.
	if got := newLimiter(1, 1).park("idle", now); got != handBackDelay {
		t.Errorf("park of an idle webhook = %s, want %s", got, handBackDelay)
	}
}

func crowdedNow(l *limiter) bool {
	crowded, _ := l.isCrowded()
	return crowded
}

// Every waiter wakes when the crowd clears: the deliverer and each match
// worker wait on the same signal.
func TestLimiterRoomWakesEveryWaiter(t *testing.T) {
	t.Parallel()
	l := newLimiter(1, 8)
	l.admit("a", &job{}) // runs
	l.took("a", 10*time.Millisecond)
	for range 8 {
		l.admit("a", &job{})
	}
	if !crowdedNow(l) {
		t.Fatal("not crowded")
	}
	woke := make(chan struct{}, 3)
	for range 3 {
		go func() {
			l.waitRoom(nil)
			woke <- struct{}{}
		}()
	}
	for range 4 {
		l.next("a")
	}
	for i := range 3 {
		select {
		case <-woke:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of 3 waiters woke when the crowd cleared", i)
		}
	}
}

// A job the match stage would run without a task message is admitted only
// where it takes nothing from older work.
func TestLimiterAdmitsDirectJobsOnlyWithRoomAndNothingParked(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	l := newLimiter(2, 8)
	for i, want := range []bool{true, true, false} {
		adm, ok := l.admitDirect("slow", &job{}, now)
		if ok != want || (ok && adm != admitRun) {
			t.Fatalf("job %d of a webhook of unknown pace: %v %v; want runs for the first two, then none queued", i+1, adm, ok)
		}
	}
	// A fast webhook queues direct jobs like tasks, crowding at its size.
	l.admitDirect("fast", &job{}, now)
	l.admitDirect("fast", &job{}, now)
	l.took("fast", 10*time.Millisecond) // a queue of 250 ms x 2 / 10 ms, capped at 8
	size, fast := l.queueSize(l.hooks["fast"])
	if !fast {
		t.Fatal("webhook not fast")
	}
	for i := range size {
		j := &job{created: true}
		if adm, ok := l.admitDirect("fast", j, now); !ok || adm != admitQueued {
			t.Fatalf("direct job %d of a fast webhook: %v %v", i+1, adm, ok)
		}
		if j.created {
			// keepFresh unset (a store shared by other processes): while
			// it waits, another process may move the delivery on.
			t.Fatalf("queued direct job %d still trusts the state it was created with", i+1)
		}
	}
	if !crowdedNow(l) {
		t.Fatal("a fast webhook's queue at its size does not crowd")
	}
	// With tasks handed back, new jobs go as tasks even when a slot is free.
	l.next("slow")
	l.park("slow", now)
	if _, ok := l.admitDirect("slow", &job{}, now); ok {
		t.Fatal("direct job admitted while the webhook has tasks handed back")
	}
}
