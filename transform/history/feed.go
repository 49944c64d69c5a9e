package history

import (
	"context"
	"slices"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/contract"
)

// Feeder is Prepare fed by another reader of the same persons table (the
// plan's, which reads every column history tracks): the run's persons are
// then read and decoded once, for both. The rows handed to Add are copied
// (the columns history tracks) and added on the feeder's own goroutine, a
// bounded number of batches behind the reader.
//
// A feed that did not see every row of the run's persons, in order, gives no
// Prepared (Run then reads the persons itself): Prepared checks the count
// against the transform's manifest. Once the last row is in, the feeder
// sorts the persons and reads the run's pull and ledgers (what Run reads
// first), while the plan finishes.
type Feeder struct {
	full chan []personAccess // batches to add, in table order
	free chan []personAccess // batch buffers to refill
	done chan struct{}       // closed when the goroutine has returned
	shut bool                // full is closed
	pp   *Prepared           // set by the goroutine when the feed is whole
	// Panicked is what the feeder's goroutine panicked with (nil when it
	// did not); its Prepared is then nil.
	Panicked any
}

// feedBuffers is how many batches a Feeder holds at once (one being
// filled by Add, one queued, one being added).
const feedBuffers = 3

// Feed starts a Feeder for env.RunID's persons. Call Add with every persons
// row in table order, then Prepared; or Stop to abandon the feed.
func Feed(ctx context.Context, env artifact.Env) *Feeder {
	f := &Feeder{full: make(chan []personAccess, 1), free: make(chan []personAccess, feedBuffers), done: make(chan struct{})}
	for range feedBuffers {
		f.free <- nil
	}
	go f.run(ctx, env)
	return f
}

func (f *Feeder) run(ctx context.Context, env artifact.Env) {
	defer close(f.done)
	defer func() {
		if r := recover(); r != nil {
			f.Panicked, f.pp = r, nil
		}
	}()
	st := env.Store
	pp := &Prepared{store: st.URL(""), runID: env.RunID}
	tm, tref, err := artifact.ReadManifest(ctx, st, env.RunID, contract.Transform)
	if err != nil || tm.Status != artifact.StatusPublished {
		pp = nil // Run meets the error reading them itself
	} else {
		pp.tm, pp.tref = tm, tref
		pp.begin()
	}
	want := tm.TableRows(contract.PersonsSpec.Name)
	ordered := false
	for b := range f.full {
		if pp != nil {
			for i := range b {
				pp.add(&b[i])
			}
			if int64(pp.rows) == want {
				// Every row is in: sorted now, while the plan still works
				// (a row more makes the feed incomplete all the same).
				pp.cur.order()
				ordered = true
				pp.actual = readAhead(ctx, env)
			}
		}
		f.free <- b // never blocks: there are feedBuffers buffers
	}
	if pp == nil || ctx.Err() != nil || int64(pp.rows) != want {
		return
	}
	if !ordered { // no rows
		pp.cur.order()
	}
	f.pp = pp
}

// Add feeds the next persons rows (in table order). The caller may reuse
// batch once Add returns. Add must not be called after Prepared or Stop,
// nor from two goroutines at once.
func (f *Feeder) Add(batch []contract.Person) {
	var b []personAccess
	select {
	case b = <-f.free:
	case <-f.done: // the goroutine panicked: nothing more is added
		return
	}
	b = slices.Grow(b[:0], len(batch))[:len(batch)]
	for i := range batch {
		p := &batch[i]
		b[i] = personAccess{PersonID: p.PersonID, PrimaryEmail: p.PrimaryEmail, Status: p.Status, Role: p.Role, Region: p.Region,
			BusinessUnit: p.BusinessUnit, Territory: p.Territory, Title: p.Title, Department: p.Department, Company: p.Company, Country: p.Country}
	}
	select {
	case f.full <- b:
	case <-f.done:
	}
}

// Prepared ends the feed and returns the persons fed, as Prepare would have
// read them, or nil when the feed did not hold every row of the run's
// persons (none were fed, it was cut short, the transform's manifest could
// not be read, or the goroutine panicked).
func (f *Feeder) Prepared() *Prepared {
	if f == nil {
		return nil
	}
	f.close()
	return f.pp
}

// Stop abandons the feed and waits for its goroutine to return.
func (f *Feeder) Stop() {
	if f == nil {
		return
	}
	f.close()
	f.pp = nil
}

func (f *Feeder) close() {
	if !f.shut {
		f.shut = true
		close(f.full)
	}
	<-f.done
}

// readAhead reads env's run's pull and ledgers as Run would (readActual),
// or returns nil when they cannot be read (Run then reads them itself and
// reports the error). The plan, which runs meanwhile, publishes no apply
// ledger, and the run's lock keeps apply from publishing one.
func readAhead(ctx context.Context, env artifact.Env) *actualInput {
	infos, err := artifact.ListRuns(ctx, env.Store)
	if err != nil {
		return nil
	}
	a, err := readActual(ctx, env, env.RunID, infos)
	if err != nil {
		return nil
	}
	return &a
}
