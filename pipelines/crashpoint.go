package pipelines

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// EnvCrashPoint names the crash-consistency suite's test hook: with
// OTDS_HIGHSPOT_CRASHPOINT=<stage>:<point>[#n][!TERM] the process sends
// itself SIGKILL (or SIGTERM with !TERM) the n-th time (default the first)
// it reaches that point. Points: "<stage>:staged" (after each part upload),
// "<stage>:record" (commit record stored, no part in place yet),
// "<stage>:copied" (after each part copied into its table prefix, before
// the manifest), "apply:flush" (after each ledger flush). Never set it in
// production.
const EnvCrashPoint = "OTDS_HIGHSPOT_CRASHPOINT"

// crashPoint is a parsed EnvCrashPoint.
type crashPoint struct {
	point string
	nth   int
	sig   syscall.Signal
	// ctx is the command's context, which SIGTERM cancels: after sending
	// SIGTERM the hook waits for it, so the interruption lands at the point
	// and not wherever the process happens to be when the signal is
	// delivered (a run that finished first would exit 0).
	ctx context.Context

	mu   sync.Mutex
	hits int
}

func parseCrashPoint(v string) (*crashPoint, error) {
	if v == "" {
		return nil, nil
	}
	cp := &crashPoint{nth: 1, sig: syscall.SIGKILL}
	if rest, ok := strings.CutSuffix(v, "!TERM"); ok {
		v, cp.sig = rest, syscall.SIGTERM
	}
	if p, n, ok := strings.Cut(v, "#"); ok {
		i, err := strconv.Atoi(n)
		if err != nil || i < 1 {
			return nil, fmt.Errorf("%s=%q: the count after # must be a positive number", EnvCrashPoint, v)
		}
		v, cp.nth = p, i
	}
	if !strings.Contains(v, ":") {
		return nil, fmt.Errorf("%s=%q: use <stage>:<point>[#n][!TERM]", EnvCrashPoint, v)
	}
	cp.point = v
	return cp, nil
}

// check is the artifact.Env Checkpoint.
func (c *crashPoint) check(point string) {
	if c == nil || point != c.point {
		return
	}
	c.mu.Lock()
	c.hits++
	hit := c.hits == c.nth
	c.mu.Unlock()
	if hit {
		fmt.Fprintf(os.Stderr, "otds-highspot: %s: sending %v to myself at %s (test hook)\n", EnvCrashPoint, c.sig, point)
		_ = syscall.Kill(os.Getpid(), c.sig)
		if c.sig == syscall.SIGTERM && c.ctx != nil {
			select {
			case <-c.ctx.Done():
			case <-time.After(10 * time.Second): // a process that ignores SIGTERM goes on
			}
		}
	}
}
