// Package exitcode owns the process exit-code contract (docs/operations.md).
// Library code returns errors classified with Wrap; only main turns them into
// an exit status with Of.
package exitcode

import (
	"context"
	"errors"
	"fmt"
)

// Exit codes. Scripts, cron wrappers and Airflow depend on these numbers.
const (
	OK          = 0   // success
	Unexpected  = 1   // a bug or an unclassified failure
	Usage       = 2   // bad flags or configuration
	Transient   = 3   // a service failed or dropped; safe to retry
	SourceGate  = 4   // a source-health gate tripped; a human must look
	PlanBlocked = 5   // the plan exceeded a safety threshold and was published as blocked
	ApplyFailed = 6   // apply finished, some changes failed permanently
	Auth        = 7   // a service refused the credentials or the permission; never retry
	Locked      = 11  // another run holds the run lock
	Cancelled   = 130 // SIGINT/SIGTERM
)

// Coder is an error type that knows its own exit code (a package's typed
// error that callers also match with errors.As), so that no layer has to
// remember to wrap it.
type Coder interface {
	error
	ExitCode() int
}

// Error carries an exit code with its cause.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Wrap classifies err with code (nil stays nil).
func Wrap(code int, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Err: err}
}

// New makes a classified error from a message.
func New(code int, format string, args ...any) error {
	return &Error{Code: code, Err: fmt.Errorf(format, args...)}
}

// Of returns the exit code for err: 0 for nil; Auth when any error in the
// chain is classified Auth (a refused credential is never retried, whatever
// an outer layer thought); else the outermost classified code, looking past
// Unexpected to a more specific inner one; 130 for a cancelled context; 1
// otherwise.
func Of(err error) int {
	if err == nil {
		return OK
	}
	codes := codesOf(err, nil)
	for _, c := range codes {
		if c == Auth {
			return Auth
		}
	}
	for _, c := range codes {
		if c != Unexpected {
			return c
		}
	}
	if len(codes) > 0 {
		return Unexpected
	}
	if errors.Is(err, context.Canceled) {
		return Cancelled
	}
	return Unexpected
}

// codesOf lists the classified codes in err's chain, outermost first.
func codesOf(err error, out []int) []int {
	for err != nil {
		if e, ok := err.(*Error); ok {
			out = append(out, e.Code)
		} else if c, ok := err.(Coder); ok {
			out = append(out, c.ExitCode())
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				out = codesOf(e, out)
			}
			return out
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		default:
			return out
		}
	}
	return out
}

// Default classifies err with code unless it already carries a code.
func Default(code int, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Code: code, Err: err}
}

// Name is the short name of a code, used in --json summaries.
func Name(code int) string {
	switch code {
	case OK:
		return "ok"
	case Usage:
		return "usage"
	case Transient:
		return "transient"
	case SourceGate:
		return "source_gate"
	case PlanBlocked:
		return "plan_blocked"
	case ApplyFailed:
		return "apply_failed"
	case Auth:
		return "auth"
	case Locked:
		return "locked"
	case Cancelled:
		return "cancelled"
	}
	return "unexpected"
}
