package fanout

import "testing"

func TestIdleRunners(t *testing.T) {
	t.Parallel()
	p := idleRunners{max: 2}
	if p.handOff(&job{}) {
		t.Fatal("handOff with no runner waiting = true")
	}
	a, b, c := make(chan *job, 1), make(chan *job, 1), make(chan *job, 1)
	if !p.park(a) || !p.park(b) {
		t.Fatal("park under max = false")
	}
	if p.park(c) {
		t.Fatal("park of a third runner with max 2 = true")
	}

	// The newest waiting runner gets the job, and is no longer waiting.
	j := &job{}
	if !p.handOff(j) {
		t.Fatal("handOff with runners waiting = false")
	}
	if got := <-b; got != j {
		t.Fatal("the job did not go to the newest runner")
	}
	if p.unpark(b) {
		t.Fatal("unpark of a runner handed a job = true: it would drop the job")
	}
	if p.len() != 1 {
		t.Fatalf("%d waiting, want 1", p.len())
	}

	// A runner that gives up waiting takes itself out: no job goes to it.
	if !p.unpark(a) {
		t.Fatal("unpark of a waiting runner = false")
	}
	if p.handOff(&job{}) || len(a) != 0 {
		t.Fatal("a job went to a runner that had stopped waiting")
	}
}
