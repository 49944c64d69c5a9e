// Package apply owns stage apply: a published change set applied to
// Highspot in three phases (groups and users, memberships, suspensions),
// paced and retried by a load.Caller, stopped by a circuit breaker, every
// result written to the load_results ledger as it arrives so that a re-run
// resumes. Files: apply.go (entry, summary), phases.go (order and pool),
// phase_users.go, phase_members.go, breaker.go, record.go (ledger rows),
// ledger.go, dryrun.go, stage.go (the stage around Apply: plan binding,
// attempts, manifest).
package apply

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/load"
)

// Failure is one change that did not apply.
type Failure struct {
	ChangeID   string
	Op         string
	Email      string
	Group      string
	HTTPStatus int
	Reason     string
	// Transient: the change gave up on a retryable error; a re-run retries it.
	Transient bool
}

// Summary says what one apply did.
type Summary struct {
	Total    int // changes in the plan
	Resumed  int // already applied or skipped per the ledger before this run
	Applied  int
	Skipped  int
	Failed   int
	Pending  int // not attempted (breaker tripped or cancelled)
	ByOp     map[string]map[string]int
	Failures []Failure
	// CreatesAsUpdates counts creates whose email already existed in Highspot
	// (sent as updates: a create is never duplicated).
	CreatesAsUpdates int
	Requests         int64 // HTTP requests sent to the target, retries included (calls, for a target that is not a load.RequestPacer)
	Retries          int64
	Elapsed          time.Duration
	BreakerTripped   bool
	DryRun           bool
}

// Done is how many changes are in a final state, this run or before.
func (s *Summary) Done() int { return s.Resumed + s.Applied + s.Skipped + s.Failed }

// Apply applies changes to target in phase order (creates and updates, then
// memberships, then suspensions), skipping changes the ledger already holds
// as applied or skipped, and records a ledger row per change as results
// arrive. It returns an error classified exitcode.Transient when the circuit
// breaker stopped the run (re-running resumes) and exitcode.ApplyFailed when
// some changes failed permanently (each listed).
func Apply(ctx context.Context, target load.Target, changes []contract.Change, ledger Ledger, opts load.ApplyOptions, log logrus.FieldLogger) (Summary, error) {
	opts.SetDefaults()
	start := time.Now()
	a := &applier{
		t:      target,
		ledger: ledger,
		opts:   opts,
		log:    log,
		br:     newBreaker(opts.BreakerWindow, opts.BreakerMinRequests, opts.BreakerThreshold),
		ids:    map[string]string{},
		groups: map[string]*groupRef{},
		sum:    Summary{ByOp: map[string]map[string]int{}, DryRun: opts.DryRun},
		lastFl: time.Now(),
	}
	a.caller = load.NewCaller(opts, a.br, a.authFailed, log)
	a.caller.PacePerRequest(target)
	phases := orderChanges(changes)
	a.sum.Total = 0
	for _, p := range phases {
		a.sum.Total += len(p)
	}
	if opts.DryRun {
		err := a.dryRun(phases)
		a.sum.Elapsed = time.Since(start)
		return a.sum, err
	}

	// Resume: drop what the ledger already holds as done; remember ids.
	for i, p := range phases {
		var todo []contract.Change
		for _, c := range p {
			if r, ok := ledger.Applied(c.ChangeID); ok && (r.Status == contract.StatusApplied || r.Status == contract.StatusSkipped) {
				a.sum.Resumed++
				if r.HighspotID != "" && c.Email != "" && i == 0 {
					a.ids[strings.ToLower(c.Email)] = r.HighspotID
				}
				continue
			}
			todo = append(todo, c)
		}
		phases[i] = todo
	}
	if a.sum.Resumed > 0 {
		log.WithField("resumed", a.sum.Resumed).Info("apply: resuming; changes already in the ledger are not repeated")
	}

	// Flush on a timer too, so rows wait at most FlushInterval even while
	// the run is paused by a Retry-After or a slow phase.
	tickCtx, stopTick := context.WithCancel(ctx)
	tickDone := make(chan struct{})
	go func() {
		defer close(tickDone)
		t := time.NewTicker(opts.FlushInterval)
		defer t.Stop()
		for {
			select {
			case <-tickCtx.Done():
				return
			case <-t.C:
				a.flushIfDue(tickCtx, true)
			}
		}
	}()
	var runErr error
	for i, p := range phases {
		if len(p) == 0 {
			continue
		}
		if err := a.runPhase(ctx, i+1, p); err != nil {
			runErr = err
			break
		}
		if a.br.IsOpen() || a.fatalErr() != nil || ctx.Err() != nil {
			break
		}
	}
	stopTick()
	<-tickDone
	// Always flush what we have, even when cancelled: the ledger is what makes
	// a re-run resume instead of repeating work.
	flushErr := ledger.Flush(context.WithoutCancel(ctx))
	a.sum.Requests = a.caller.Requests()
	a.sum.Retries = a.caller.Retries()
	a.sum.Elapsed = time.Since(start)
	a.sum.Pending = a.sum.Total - a.sum.Done()
	sort.Slice(a.sum.Failures, func(i, j int) bool { return a.sum.Failures[i].ChangeID < a.sum.Failures[j].ChangeID })

	if err := a.fatalErr(); err != nil {
		return a.sum, err
	}
	if flushErr != nil {
		return a.sum, exitcode.Wrap(exitcode.Transient, fmt.Errorf("apply: flush ledger: %w (re-run apply to resume; unflushed rows are re-applied idempotently)", flushErr))
	}
	if runErr != nil {
		return a.sum, runErr
	}
	if err := ctx.Err(); err != nil {
		return a.sum, fmt.Errorf("apply: cancelled after %d of %d changes (re-run apply for the same run to resume): %w", a.sum.Done(), a.sum.Total, err)
	}
	if a.br.IsOpen() {
		a.sum.BreakerTripped = true
		failed, n := a.br.stats()
		return a.sum, exitcode.New(exitcode.Transient,
			"apply: circuit breaker tripped: %d of the last %d requests to Highspot failed; stopped with %d of %d changes done (%d pending); re-run apply for the same run to resume",
			failed, n, a.sum.Done(), a.sum.Total, a.sum.Pending)
	}
	return a.sum, failuresError(a.sum)
}

func failuresError(s Summary) error {
	if len(s.Failures) == 0 {
		return nil
	}
	var b strings.Builder
	transient := 0
	for _, f := range s.Failures {
		if f.Transient {
			transient++
		}
		fmt.Fprintf(&b, "\n  %s %s %s", f.ChangeID, f.Op, f.Email)
		if f.Group != "" {
			fmt.Fprintf(&b, " group=%q", f.Group)
		}
		fmt.Fprintf(&b, ": %s", f.Reason)
	}
	if transient == len(s.Failures) {
		return exitcode.New(exitcode.Transient, "apply: %d change(s) gave up on retryable errors; re-run apply for the same run to retry them:%s", transient, b.String())
	}
	return exitcode.New(exitcode.ApplyFailed, "apply: %d change(s) failed (fix the cause and re-run apply; failed changes are retried, applied ones are not):%s", len(s.Failures), b.String())
}

type groupRef struct {
	g   *load.Group
	err error // permanent resolution failure
}

type applier struct {
	t      load.Target
	ledger Ledger
	opts   load.ApplyOptions
	log    logrus.FieldLogger
	br     *breaker
	caller *load.Caller

	mu      sync.Mutex // guards everything below
	ids     map[string]string
	groups  map[string]*groupRef
	sum     Summary
	unflush int
	lastFl  time.Time
	fatal   error
}

func (a *applier) fatalErr() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.fatal
}

func (a *applier) setFatal(err error) {
	a.mu.Lock()
	if a.fatal == nil {
		a.fatal = err
	}
	a.mu.Unlock()
}

// authFailed stops the run on a 401 or 403: every further request would be
// refused the same way; never let an orchestrator retry it (exit 7).
func (a *applier) authFailed(what string, c load.ErrorClass, err error) {
	a.setFatal(exitcode.Wrap(exitcode.Auth, fmt.Errorf("apply: %s: Highspot refused the credentials or the permission (HTTP %d): check the highspot credentials, the API user's rights (and hs-user impersonation) and that the API is enabled for the tenant; then re-run apply (it resumes): %w", what, c.HTTPStatus, err)))
}

func (a *applier) stopped(ctx context.Context) bool {
	return ctx.Err() != nil || a.br.IsOpen() || a.fatalErr() != nil
}
