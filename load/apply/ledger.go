package apply

import (
	"context"
	"sync"

	"github.com/otds-highspot/otds-highspot/internal/contract"
)

// Ledger is where the applier writes one load_results row per change as its
// result arrives, and where it learns, on a re-run, what is already done.
type Ledger interface {
	// Applied returns the latest row recorded for changeID (in this or an
	// earlier attempt of the same run).
	Applied(changeID string) (contract.LoadResult, bool)
	Record(ctx context.Context, r contract.LoadResult) error
	// Flush makes every recorded row durable (it survives a crash).
	Flush(ctx context.Context) error
}

// MemLedger is an in-memory Ledger: the latest row per change id, plus every
// row in order. It is the base of the artifact ledger and serves tests.
type MemLedger struct {
	mu     sync.Mutex
	latest map[string]contract.LoadResult
	rows   []contract.LoadResult
	// OnRecord and OnFlush, when set, are called after a row is kept and
	// on Flush (the artifact ledger writes and uploads there).
	OnRecord func(ctx context.Context, r contract.LoadResult) error
	OnFlush  func(ctx context.Context) error
	flushes  int
}

// NewMemLedger starts a ledger holding prior rows (a resumed run's ledger);
// for the same change id the later row wins.
func NewMemLedger(prior []contract.LoadResult) *MemLedger {
	l := &MemLedger{latest: map[string]contract.LoadResult{}}
	for _, r := range prior {
		if old, ok := l.latest[r.ChangeID]; !ok || !r.At.Before(old.At) {
			l.latest[r.ChangeID] = r
		}
	}
	return l
}

// Applied implements Ledger.
func (l *MemLedger) Applied(changeID string) (contract.LoadResult, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r, ok := l.latest[changeID]
	return r, ok
}

// Record implements Ledger.
func (l *MemLedger) Record(ctx context.Context, r contract.LoadResult) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.OnRecord != nil {
		if err := l.OnRecord(ctx, r); err != nil {
			return err
		}
	}
	l.latest[r.ChangeID] = r
	l.rows = append(l.rows, r)
	return nil
}

// Flush implements Ledger.
func (l *MemLedger) Flush(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushes++
	if l.OnFlush != nil {
		return l.OnFlush(ctx)
	}
	return nil
}

// Rows returns the rows recorded through this ledger (not the prior ones), in order.
func (l *MemLedger) Rows() []contract.LoadResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]contract.LoadResult(nil), l.rows...)
}

// Latest returns the latest row per change id, prior rows included.
func (l *MemLedger) Latest() map[string]contract.LoadResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]contract.LoadResult, len(l.latest))
	for k, v := range l.latest {
		out[k] = v
	}
	return out
}

// Flushes is how many times Flush was called.
func (l *MemLedger) Flushes() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.flushes
}
