package load

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestBackoffFullJitter(t *testing.T) {
	a := NewCaller(ApplyOptions{BackoffBase: 100 * time.Millisecond, BackoffMax: time.Second, MaxRetryAfter: 2 * time.Second, Rand: rand.New(rand.NewPCG(3, 4))}, nil, nil, nil)
	for attempt := 1; attempt <= 6; attempt++ {
		ceil := min(100*time.Millisecond<<(attempt-1), time.Second)
		for range 50 {
			if d := a.Backoff(attempt, ErrorClass{}); d < 0 || d > ceil {
				t.Fatalf("attempt %d: got %v, want within [0, %v]", attempt, d, ceil)
			}
		}
	}
	if got := a.Backoff(1, ErrorClass{RetryAfter: 5 * time.Second}); got != 2*time.Second {
		t.Errorf("capped Retry-After: got %v, want 2s", got)
	}
}
