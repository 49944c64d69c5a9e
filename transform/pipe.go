package transform

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/store"
)

// The stage is a pipeline on every core: the extract tables are decoded on
// reader goroutines (readAhead) while the stage's own goroutine builds the
// graph or normalizes, and each output table is encoded on its own writer
// goroutine (asyncWriter). Rows keep their order: one reader per manifest,
// consumed in manifest order, and one writer per table. Every hand-off is a
// bounded queue of batches, so memory does not grow with the table.

// readAhead reads spec's table of every manifest in ms and hands its rows to
// fn on the calling goroutine, in manifest order, in batches of up to batch
// rows (a batch holds rows of one manifest; fn must not keep the slice). Up
// to par manifests are decoded at once, each on its own goroutine, a few
// batches ahead of fn. A read error is wrapped with the table, the
// manifest's stage and run; an error from fn is returned as is. On return every
// reader goroutine has stopped.
func readAhead[T any](ctx context.Context, st store.Store, ms []*artifact.Manifest, spec contract.Spec, par, batch int,
	fn func(m *artifact.Manifest, rows []T) error, opts ...artifact.ReadOption) error {
	if len(ms) == 0 {
		return nil
	}
	par = max(1, min(par, len(ms)))
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	const ahead = 2 // batches queued per reader
	queues := make([]chan []T, len(ms))
	errs := make([]error, len(ms)) // errs[i] is set before queues[i] is closed
	free := make(chan []T, par*(ahead+2))
	slots := make(chan struct{}, par)
	for i := range queues {
		queues[i] = make(chan []T, ahead)
	}
	read := func(i int) {
		defer wg.Done()
		defer func() { <-slots }()
		defer close(queues[i])
		var cur []T
		send := func() error {
			select {
			case queues[i] <- cur:
			case <-ctx.Done():
				return ctx.Err()
			}
			cur = nil
			select {
			case cur = <-free:
			default:
			}
			return nil
		}
		err := artifact.ReadTable(ctx, st, ms[i], spec, func(row T) error {
			if cur == nil {
				cur = make([]T, 0, batch)
			}
			cur = append(cur, row)
			if len(cur) == batch {
				return send()
			}
			return nil
		}, append(slices.Clip(opts), artifact.DecodeInline())...)
		if err == nil && len(cur) > 0 {
			err = send()
		}
		if err != nil {
			errs[i] = readError(spec, ms[i], err)
		}
	}
	wg.Add(1)
	go func() { // starts the readers in order as slots free up
		defer wg.Done()
		for i := range ms {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				for ; i < len(ms); i++ {
					errs[i] = readError(spec, ms[i], ctx.Err())
					close(queues[i])
				}
				return
			}
			wg.Add(1)
			go read(i)
		}
	}()
	for i, q := range queues {
		for rows := range q {
			if err := fn(ms[i], rows); err != nil {
				return err
			}
			clear(rows)
			select {
			case free <- rows[:0]:
			default:
			}
		}
		if errs[i] != nil {
			return errs[i]
		}
	}
	return nil
}

func readError(spec contract.Spec, m *artifact.Manifest, err error) error {
	return fmt.Errorf("transform: read %s of %s in run %s: %w", spec.Name, m.Stage, m.RunID, err)
}

// asyncWriter writes rows of one table on its own goroutine, in the order
// Write was called: rows are queued in batches (at most two queued, one
// filling), so the caller only copies rows while the Arrow appends and the
// encoding run beside it. Close (or stop, on a failure path) must be called.
type asyncWriter[T any] struct {
	ctx   context.Context
	w     *artifact.TableWriter[T]
	name  string
	batch int
	cur   []T
	queue chan []T
	free  chan []T
	done  chan struct{} // closed when the goroutine has returned
	err   error         // the goroutine's error; read after done
	shut  bool          // queue closed
	// release (nil = none) is called on the writer goroutine with each row
	// once the table has copied it, before the row is cleared: what the
	// row points at may be reused from then on.
	release func(*T)
}

// openAsync opens spec's table in stage and starts its writer goroutine;
// batch is the number of rows handed over at once; prepare is applied to the
// table writer before that goroutine starts (e.g. EncodeAsync).
func openAsync[T any](ctx context.Context, stage *artifact.Stage, spec contract.Spec, batch int, prepare ...func(*artifact.TableWriter[T])) (*asyncWriter[T], error) {
	return openAsyncReleasing(ctx, stage, spec, batch, nil, prepare...)
}

// openAsyncReleasing is openAsync with a release function (see
// asyncWriter.release).
func openAsyncReleasing[T any](ctx context.Context, stage *artifact.Stage, spec contract.Spec, batch int, release func(*T), prepare ...func(*artifact.TableWriter[T])) (*asyncWriter[T], error) {
	w, err := artifact.OpenTable[T](stage, spec)
	if err != nil {
		return nil, fmt.Errorf("transform: %w", err)
	}
	for _, p := range prepare {
		p(w) // before the writer goroutine starts
	}
	a := &asyncWriter[T]{ctx: ctx, w: w, name: spec.Name, batch: batch, queue: make(chan []T, 2), free: make(chan []T, 3), done: make(chan struct{}), release: release}
	go a.run()
	return a, nil
}

func (a *asyncWriter[T]) run() {
	defer close(a.done)
	for rows := range a.queue {
		if err := a.ctx.Err(); err != nil {
			a.err = fmt.Errorf("transform: write %s: %w", a.name, err)
			return // the caller learns of it at its next hand-off or at Close
		}
		for i := range rows {
			if err := a.w.Write(rows[i]); err != nil {
				a.err = fmt.Errorf("transform: write %s: %w", a.name, err)
				return
			}
			if a.release != nil {
				a.release(&rows[i])
			}
		}
		clear(rows)
		select {
		case a.free <- rows[:0]:
		default:
		}
	}
}

// Write queues one row.
func (a *asyncWriter[T]) Write(row T) error {
	if a.cur == nil {
		select {
		case a.cur = <-a.free:
		default:
			a.cur = make([]T, 0, a.batch)
		}
	}
	a.cur = append(a.cur, row)
	if len(a.cur) < a.batch {
		return nil
	}
	return a.hand()
}

// hand queues the filling batch.
func (a *asyncWriter[T]) hand() error {
	if a.shut {
		return fmt.Errorf("transform: write %s: writer is closed", a.name)
	}
	if len(a.cur) == 0 {
		return nil
	}
	select {
	case a.queue <- a.cur:
		a.cur = nil
		return nil
	case <-a.done: // the goroutine returns early only after an error
		return a.err
	case <-a.ctx.Done():
		return fmt.Errorf("transform: write %s: %w", a.name, a.ctx.Err())
	}
}

// stop ends the goroutine (queued rows are still written unless the context
// is cancelled or a write failed) and waits for it; it does not close the
// table. Calling it twice is a no-op.
func (a *asyncWriter[T]) stop() {
	if !a.shut {
		a.shut = true
		close(a.queue)
	}
	<-a.done
}

// Close writes every queued row and closes the table (its last part file is
// finished). It returns the first error of the writer goroutine or of the
// close.
func (a *asyncWriter[T]) Close() error {
	if a.shut {
		return fmt.Errorf("transform: close %s: writer is closed", a.name)
	}
	err := a.hand()
	a.stop()
	if err == nil {
		err = a.err
	}
	if err != nil {
		return err
	}
	if err := a.w.Close(); err != nil {
		return fmt.Errorf("transform: close %s: %w", a.name, err)
	}
	return nil
}

// Rows is the number of rows written to the table (final after Close).
func (a *asyncWriter[T]) Rows() int64 { return a.w.Rows() }
