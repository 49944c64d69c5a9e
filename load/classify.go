package load

import (
	"errors"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/retry"
)

// ErrorClass is what the applier needs to know about a failed call: whether
// it may be retried, how long the server asked us to wait, and the HTTP
// status (0 when the request never got an answer).
type ErrorClass struct {
	Retryable  bool
	RetryAfter time.Duration
	HTTPStatus int
}

// Classifier turns a Target error into an ErrorClass. The pipelines wire the
// Highspot client's own classification (highspot.Retryable and
// highspot.StatusError); DefaultClassify is the fallback.
type Classifier func(error) ErrorClass

// StatusCoder is implemented by errors that carry an HTTP status.
type StatusCoder interface{ HTTPStatus() int }

// RetryAfterer is implemented by errors that carry the server's Retry-After.
type RetryAfterer interface{ RetryAfterDelay() time.Duration }

// RetryableStatus reports the statuses every client retries (internal/retry:
// 429, 500, 502, 503 and 504). Every other status, 400, 409 and 501 in
// particular, is final.
func RetryableStatus(status int) bool { return retry.Status(status) }

// DefaultClassify classifies errors without knowing the client package:
// errors exposing HTTPStatus()/RetryAfterDelay() by their status, timeouts and
// dropped connections as retryable, everything else (and cancellation) as final.
func DefaultClassify(err error) ErrorClass {
	if err == nil {
		return ErrorClass{}
	}
	var c ErrorClass
	var sc StatusCoder
	if errors.As(err, &sc) {
		c.HTTPStatus = sc.HTTPStatus()
		c.Retryable = RetryableStatus(c.HTTPStatus)
	}
	var ra RetryAfterer
	if errors.As(err, &ra) {
		c.RetryAfter = ra.RetryAfterDelay()
	}
	if c.HTTPStatus != 0 {
		return c
	}
	c.Retryable = TransportRetryable(err)
	return c
}

// TransportRetryable reports whether err is a timeout or a dropped or refused
// connection, the failures that happen before an HTTP status is read
// (internal/retry's decision).
func TransportRetryable(err error) bool { return retry.Transport(err) }
