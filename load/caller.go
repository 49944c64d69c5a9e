package load

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/time/rate"

	"github.com/otds-highspot/otds-highspot/internal/retry"
)

// ErrBreakerOpen stops a call because the circuit breaker tripped.
var ErrBreakerOpen = errors.New("circuit breaker open")

// Breaker is the circuit breaker a Caller consults before each attempt and
// tells every outcome.
type Breaker interface {
	IsOpen() bool
	Record(failed bool)
}

// Caller paces, retries and counts the calls one stage makes to a Target:
// the rate limiter, the server-requested pauses (Retry-After, 429), the one
// backoff policy (internal/retry) and an optional circuit breaker. Apply and
// pull each make their own.
type Caller struct {
	opts ApplyOptions
	log  logrus.FieldLogger
	lim  *rate.Limiter
	br   Breaker
	// perRequest: the target paces each HTTP request through a Pacer
	// (requestPacer), so a call does not wait per call.
	perRequest bool
	onAuth     func(what string, c ErrorClass, err error)

	pauseMu    sync.Mutex
	pauseUntil time.Time

	randMu sync.Mutex

	requests atomic.Int64
	retries  atomic.Int64
}

// NewCaller returns a Caller for opts (defaults already set: SetDefaults).
// br may be nil (no breaker). onAuth, when set, is told of a 401 or 403:
// every further request would be refused the same way, so the caller's
// owner stops the run.
func NewCaller(opts ApplyOptions, br Breaker, onAuth func(what string, c ErrorClass, err error), log logrus.FieldLogger) *Caller {
	c := &Caller{opts: opts, br: br, onAuth: onAuth, log: log}
	if opts.RatePerSecond > 0 {
		c.lim = rate.NewLimiter(rate.Limit(opts.RatePerSecond), max(opts.Burst, 1))
	}
	return c
}

// PacePerRequest makes the caller pace (and count) each HTTP request of
// target instead of each call, when target is a RequestPacer that paces its
// requests.
func (a *Caller) PacePerRequest(target Target) {
	if rp, ok := target.(RequestPacer); ok && rp.PacesRequests() {
		a.perRequest = true
	}
}

// Requests is the number of requests sent so far (calls, for a target that
// does not pace its requests), retries included.
func (a *Caller) Requests() int64 { return a.requests.Load() }

// Retries is the number of retries so far.
func (a *Caller) Retries() int64 { return a.retries.Load() }

// CountRetry counts a retry the caller's owner makes itself.
func (a *Caller) CountRetry() { a.retries.Add(1) }

func (a *Caller) breakerOpen() bool { return a.br != nil && a.br.IsOpen() }

func (a *Caller) record(failed bool) {
	if a.br != nil {
		a.br.Record(failed)
	}
}

// wait blocks until the rate limiter and any server-requested pause allow
// another request.
func (a *Caller) wait(ctx context.Context) error {
	for {
		a.pauseMu.Lock()
		d := time.Until(a.pauseUntil)
		a.pauseMu.Unlock()
		if d <= 0 {
			break
		}
		if err := retry.Sleep(ctx, d); err != nil {
			return err
		}
	}
	if a.lim != nil {
		return a.lim.Wait(ctx)
	}
	return nil
}

// requestPacer is the Pacer the caller hands a RequestPacer target: every
// HTTP request waits for the limiter and any pause, and is counted.
type requestPacer struct{ a *Caller }

func (p requestPacer) Wait(ctx context.Context) error {
	if err := p.a.wait(ctx); err != nil {
		return err
	}
	p.a.requests.Add(1)
	return nil
}

// Pause makes every worker hold off until d from now (a 429 slows the whole
// run, not only the call that got it).
func (a *Caller) Pause(d time.Duration) {
	until := time.Now().Add(d)
	a.pauseMu.Lock()
	if until.After(a.pauseUntil) {
		a.pauseUntil = until
	}
	a.pauseMu.Unlock()
}

// Backoff is the wait before retry number attempt (1-based), by the
// project's one policy (retry.Backoff): the server's Retry-After when given
// (capped at MaxRetryAfter), else full jitter over base*2^(attempt-1) capped
// at BackoffMax.
func (a *Caller) Backoff(attempt int, c ErrorClass) time.Duration {
	b := retry.Backoff{Base: a.opts.BackoffBase, Max: a.opts.BackoffMax, MaxRetryAfter: a.opts.MaxRetryAfter,
		Int64N: func(n int64) int64 {
			a.randMu.Lock()
			defer a.randMu.Unlock()
			return a.opts.Rand.Int64N(n)
		}}
	return b.Delay(attempt, c.RetryAfter)
}

// CallResult is the outcome of a retried call.
type CallResult struct {
	Attempts  int
	Class     ErrorClass // of the last error
	Ambiguous bool       // an earlier attempt failed after the request may have reached the server
	Err       error
}

// Call runs fn with pacing (rate limiter, server-requested pauses), retrying
// only errors the classifier calls retryable, up to MaxAttempts, with
// exponential backoff and full jitter or the server's Retry-After. Every
// HTTP request of an attempt takes a token of the limiter (every attempt,
// for a target that is not a RequestPacer); every attempt is one outcome
// for the breaker
// (429s excepted). A 401 stops the run.
func (a *Caller) Call(ctx context.Context, what string, fn func(ctx context.Context) (err error)) CallResult {
	return a.CallN(ctx, what, a.opts.MaxAttempts, fn)
}

// CallN is Call with at most maxAttempts tries.
func (a *Caller) CallN(ctx context.Context, what string, maxAttempts int, fn func(ctx context.Context) (err error)) CallResult {
	var r CallResult
	for {
		if a.breakerOpen() {
			r.Err = ErrBreakerOpen
			return r
		}
		r.Attempts++
		var err error
		if a.perRequest {
			err = fn(WithPacer(ctx, requestPacer{a}))
		} else if err = a.wait(ctx); err == nil {
			a.requests.Add(1)
			err = fn(ctx)
		}
		if err == nil {
			a.record(false)
			r.Err = nil
			return r
		}
		if ctx.Err() != nil {
			r.Err = ctx.Err()
			return r
		}
		c := a.opts.Classify(err)
		r.Class, r.Err = c, err
		if c.HTTPStatus != http.StatusTooManyRequests {
			// A 429 is the server pacing us (the pacer slows down); only
			// failures count toward the breaker.
			a.record(c.Retryable)
		}
		if c.HTTPStatus == http.StatusUnauthorized || c.HTTPStatus == http.StatusForbidden {
			// Every further request would be refused the same way: stop,
			// and never let an orchestrator retry it (exit 7).
			if a.onAuth != nil {
				a.onAuth(what, c, err)
			}
			return r
		}
		if !c.Retryable || r.Attempts >= maxAttempts {
			return r
		}
		r.Ambiguous = r.Ambiguous || c.HTTPStatus == 0 || c.HTTPStatus >= 500
		d := a.Backoff(r.Attempts, c)
		if c.RetryAfter > 0 || c.HTTPStatus == http.StatusTooManyRequests {
			a.Pause(d)
		}
		a.retries.Add(1)
		a.log.WithFields(logrus.Fields{"op": what, "attempt": r.Attempts, "status": c.HTTPStatus, "wait": d.String()}).Debug("apply: retrying")
		if err := retry.Sleep(ctx, d); err != nil {
			r.Err = err
			return r
		}
	}
}
