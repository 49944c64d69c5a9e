package exitcode

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// gateErr is a typed error that knows its exit code (like entry.LimitError).
type gateErr struct{}

func (gateErr) Error() string { return "limit" }
func (gateErr) ExitCode() int { return SourceGate }

func TestOf(t *testing.T) {
	auth := Wrap(Auth, errors.New("401"))
	cases := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, OK},
		{"plain", errors.New("x"), Unexpected},
		{"cancelled", fmt.Errorf("read: %w", context.Canceled), Cancelled},
		{"classified", fmt.Errorf("pull: %w", Wrap(Transient, errors.New("503"))), Transient},
		{"outermost wins", Wrap(SourceGate, Wrap(Transient, errors.New("x"))), SourceGate},
		{"auth under transient", Wrap(Transient, fmt.Errorf("apply: %w", auth)), Auth},
		{"auth in a joined error", Wrap(Transient, errors.Join(errors.New("a"), auth)), Auth},
		{"past unexpected to the inner class", Wrap(Unexpected, Wrap(Transient, errors.New("x"))), Transient},
		{"only unexpected", Wrap(Unexpected, errors.New("x")), Unexpected},
		{"a typed error with its own code", fmt.Errorf("tree a: %w", gateErr{}), SourceGate},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Of(tc.err); got != tc.want {
				t.Errorf("Of(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}

func TestDefault(t *testing.T) {
	if got := Of(Default(Usage, Wrap(Transient, errors.New("x")))); got != Transient {
		t.Errorf("Default over a classified error: got %d, want %d (kept)", got, Transient)
	}
	if got := Of(Default(Usage, errors.New("x"))); got != Usage {
		t.Errorf("Default over a plain error: got %d, want %d", got, Usage)
	}
	if Default(Usage, nil) != nil {
		t.Error("Default(nil) is not nil")
	}
	if Name(Auth) != "auth" {
		t.Errorf("Name(Auth) = %q, want auth", Name(Auth))
	}
}
