package pipelines

import (
	"runtime/debug"
	"testing"
)

// The heavy stages run under a soft heap limit unless the operator set
// GOMEMLIMIT, and the previous limit is back once the stage ends (run drives
// several stages in one process, and extract sets its own).
func TestSoftMemoryLimit(t *testing.T) {
	const prev = int64(5 << 30)
	orig := debug.SetMemoryLimit(prev)
	t.Cleanup(func() { debug.SetMemoryLimit(orig) })
	for _, tc := range []struct {
		name, gomemlimit string
		want             int64
	}{
		{"unset: the stage's limit", "", stageMemoryLimit},
		{"GOMEMLIMIT set: left alone", "3GiB", prev},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &App{Getenv: func(k string) string {
				if k == "GOMEMLIMIT" {
					return tc.gomemlimit
				}
				return ""
			}}
			restore := a.softMemoryLimit(stageMemoryLimit)
			if got := debug.SetMemoryLimit(-1); got != tc.want {
				t.Errorf("limit during the stage: got %d, want %d", got, tc.want)
			}
			restore()
			if got := debug.SetMemoryLimit(-1); got != prev {
				t.Errorf("limit after the stage: got %d, want %d (the previous one)", got, prev)
			}
		})
	}
}
