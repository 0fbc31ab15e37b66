package fanout

import (
	"slices"
	"sync"
)

// idleRunners holds the runners waiting for a new job (Fanout.runner),
// each on a channel of its own. A runner once parked is sure to get a job
// handed to it until it takes itself out, so a job never misses a runner
// that is about to wait. The newest goes first: its stack is the likeliest
// to be grown still, and the others time out.
type idleRunners struct {
	mu      sync.Mutex
	max     int
	waiting []chan *job // capacity 1 each, newest last
}

// park registers c, a runner's own channel; false when max runners wait
// already (the runner ends).
func (p *idleRunners) park(c chan *job) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.waiting) >= p.max {
		return false
	}
	p.waiting = append(p.waiting, c)
	return true
}

// unpark takes c out again; false when handOff took it first, in which
// case its job is in c.
func (p *idleRunners) unpark(c chan *job) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, w := range p.waiting {
		if w == c {
			p.waiting = slices.Delete(p.waiting, i, i+1)
			return true
		}
	}
	return false
}

// handOff gives j to the newest waiting runner; false when none waits.
func (p *idleRunners) handOff(j *job) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.waiting)
	if n == 0 {
		return false
	}
	c := p.waiting[n-1]
	p.waiting[n-1] = nil
	p.waiting = p.waiting[:n-1]
	c <- j // its only job: never blocks
	return true
}

// len is how many runners wait.
func (p *idleRunners) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.waiting)
}
