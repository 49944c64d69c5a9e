// Package retry is the one retry policy of every HTTP client of the project
// (the OTDS REST source, the Highspot REST and SCIM clients, the applier and
// the pull's per-page retry), modelled on rclone's lib/pacer: one decision
// (ShouldRetry: which statuses and errors are transient), the server's
// Retry-After (delta seconds or HTTP-date), exponential backoff with full
// jitter, and a budget (an attempt count chosen by the caller, and the
// ctx's deadline: Sleep never waits past it).
//
// Decisions, written down once:
//   - Retried: 429, 500, 502, 503, 504; timeouts; connections refused, reset,
//     aborted or closed mid-answer (EOF); DNS failures (a flapping resolver
//     answers "no such host" too; the attempt budget bounds the cost).
//   - Never retried: every other status. 501 Not Implemented is final (the
//     server says it will never do this, retrying cannot help); 400, 404 and
//     409 are the request's fault; 401 and 403 are auth, handled by the
//     caller (the OTDS source signs in again once; everything else stops).
//   - A cancelled ctx is never retried.
//
// The package holds no state and logs nothing.
package retry

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Status reports whether an HTTP status is transient: 429, 500, 502, 503
// and 504. Every other status (501, 4xx, unknown 5xx) is final.
func Status(code int) bool {
	switch code {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// Transport reports whether err, a failure before an HTTP status was read,
// is transient: a timeout (a per-request deadline included; the caller
// checks its own ctx), a refused, reset, aborted or closed connection, an
// answer cut short (EOF), a DNS failure. Cancellation is not.
func Transport(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var oe *net.OpError
	var de *net.DNSError
	if errors.As(err, &oe) || errors.As(err, &de) {
		return true
	}
	// net/http reports a peer that closed mid-response with these texts and
	// no typed error.
	msg := err.Error()
	for _, s := range []string{"server closed idle connection", "connection reset", "broken pipe", "EOF"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// ShouldRetry is the decision for one attempt that returned resp and err:
// false once ctx is done; by status when there is an answer (resp non-nil,
// err nil); by Transport otherwise. Auth statuses (401, 403) are false: a
// caller that can fix them (signing in again) does so before asking.
func ShouldRetry(ctx context.Context, resp *http.Response, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if err == nil && resp != nil {
		return Status(resp.StatusCode)
	}
	return Transport(err)
}

// ParseRetryAfter reads a Retry-After value: delta seconds or an HTTP-date
// (relative to now). It returns 0 when absent, unparseable or in the past.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 || n > int64(time.Duration(1<<63-1)/time.Second) {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// Backoff is the wait between attempts: the server's Retry-After when it
// gave one (capped at MaxRetryAfter), else full jitter, a uniform draw from
// [0, min(Base*2^(attempt-1), Max)].
type Backoff struct {
	Base, Max     time.Duration
	MaxRetryAfter time.Duration
	// Int64N draws the jitter, uniform in [0, n); nil = math/rand/v2.
	// It must be safe for the caller's concurrency.
	Int64N func(n int64) int64
}

// Delay is the wait before retry number attempt (1-based) after an answer
// that carried retryAfter (0 = none).
func (b Backoff) Delay(attempt int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		if b.MaxRetryAfter > 0 {
			return min(retryAfter, b.MaxRetryAfter)
		}
		return retryAfter
	}
	ceil := b.Base
	for i := 1; i < attempt && ceil < b.Max; i++ {
		ceil *= 2
	}
	ceil = min(ceil, b.Max)
	if ceil <= 0 {
		return 0
	}
	draw := b.Int64N
	if draw == nil {
		draw = rand.Int64N
	}
	return time.Duration(draw(int64(ceil) + 1))
}

// Sleep waits d, or returns ctx's error when ctx ends first. When ctx's
// deadline falls before the wait would end, it returns
// context.DeadlineExceeded at once: the time budget is spent, and an attempt
// that cannot start is not worth waiting for.
func Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return context.DeadlineExceeded
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
