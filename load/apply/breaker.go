package apply

import (
	"sync"
)

// breaker trips when, over the last window outcomes (at least min of them),
// the share of failures passes threshold. It never closes again within a run.
type breaker struct {
	mu        sync.Mutex
	ring      []bool
	next, n   int
	failed    int
	min       int
	threshold float64
	open      bool
}

func newBreaker(window, minReq int, threshold float64) *breaker {
	return &breaker{ring: make([]bool, window), min: min(minReq, window), threshold: threshold}
}

func (b *breaker) Record(failed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.n == len(b.ring) {
		if b.ring[b.next] {
			b.failed--
		}
	} else {
		b.n++
	}
	b.ring[b.next] = failed
	if failed {
		b.failed++
	}
	b.next = (b.next + 1) % len(b.ring)
	if b.n >= b.min && float64(b.failed) > b.threshold*float64(b.n) {
		b.open = true
	}
}

func (b *breaker) IsOpen() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.open
}

func (b *breaker) stats() (failed, n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.failed, b.n
}
