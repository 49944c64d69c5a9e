package apply

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/load"
)

// record writes the ledger row of change c, counts it in the summary, and
// flushes the ledger when due. A ledger that refuses the row stops the run.
func (a *applier) record(ctx context.Context, c contract.Change, status string, res load.CallResult, id, reason string) {
	row := contract.LoadResult{
		ChangeID:   c.ChangeID,
		Op:         c.Op,
		Email:      c.Email,
		Group:      c.Group,
		Status:     status,
		Attempts:   int32(res.Attempts),
		HighspotID: id,
		Error:      reason,
		At:         a.opts.Now().UTC(),
	}
	if status == contract.StatusFailed {
		row.HTTPStatus = int32(res.Class.HTTPStatus)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.ledger.Record(ctx, row); err != nil {
		if a.fatal == nil {
			a.fatal = exitcode.Wrap(exitcode.Transient, fmt.Errorf("apply: record ledger row for %s: %w (re-run apply to resume)", c.ChangeID, err))
		}
		return
	}
	byOp := a.sum.ByOp[c.Op]
	if byOp == nil {
		byOp = map[string]int{}
		a.sum.ByOp[c.Op] = byOp
	}
	byOp[status]++
	switch status {
	case contract.StatusApplied:
		a.sum.Applied++
	case contract.StatusSkipped:
		a.sum.Skipped++
	case contract.StatusFailed:
		a.sum.Failed++
		a.sum.Failures = append(a.sum.Failures, Failure{
			ChangeID: c.ChangeID, Op: c.Op, Email: c.Email, Group: c.Group,
			HTTPStatus: res.Class.HTTPStatus, Reason: reason,
			Transient: res.Class.Retryable,
		})
	}
	a.unflush++
	a.flushLocked(ctx, false)
	if a.opts.Progress != nil {
		a.opts.Progress(a.sum.Done(), a.sum.Total)
	}
}

// flushIfDue flushes the ledger when rows are waiting and FlushEvery rows or
// FlushInterval have passed (any waiting row when timer is set).
func (a *applier) flushIfDue(ctx context.Context, timer bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.flushLocked(ctx, timer)
}

func (a *applier) flushLocked(ctx context.Context, timer bool) {
	if a.unflush == 0 || a.fatal != nil {
		return
	}
	if !timer && a.unflush < a.opts.FlushEvery && time.Since(a.lastFl) < a.opts.FlushInterval {
		return
	}
	if err := a.ledger.Flush(ctx); err != nil {
		if ctx.Err() != nil {
			return // the final flush in Apply retries with a live context
		}
		a.fatal = exitcode.Wrap(exitcode.Transient, fmt.Errorf("apply: flush ledger: %w (re-run apply to resume)", err))
		return
	}
	a.unflush = 0
	a.lastFl = time.Now()
}

// failReason is the ledger text for a failed call.
func failReason(res load.CallResult) string {
	if res.Class.Retryable {
		return fmt.Sprintf("gave up after %d attempts on a retryable error: %v", res.Attempts, res.Err)
	}
	return res.Err.Error()
}

// settled reports whether the call ended in a way that is recorded (not
// interrupted by the breaker, cancellation or a fatal error).
func (a *applier) settled(ctx context.Context, res load.CallResult) bool {
	if res.Err == nil {
		return true
	}
	if errors.Is(res.Err, load.ErrBreakerOpen) || ctx.Err() != nil || a.fatalErr() != nil {
		return false
	}
	return true
}
