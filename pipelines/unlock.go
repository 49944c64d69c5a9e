package pipelines

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/exitcode"
)

// UnlockOptions tune unlock.
type UnlockOptions struct {
	// Force removes live locks too (the holder may still be writing: only
	// when you know it is gone, e.g. its machine was lost).
	Force bool
}

// Unlock removes the locks left by dead holders (their pid is gone from this
// host, or their heartbeat expired); with Force every lock. --run-id limits it
// to one run's locks. Each removal is recorded as an "unlock" event of the
// run (who, from where, which lock, whose). Live locks left in place make it
// exit 11.
func (a *App) Unlock(ctx context.Context, o UnlockOptions) error {
	started := time.Now()
	locks, err := artifact.ListLocks(ctx, a.Store, a.Cfg.Store.LockStaleAfter, artifact.WithLockHost(a.Host))
	if err != nil {
		return fmt.Errorf("unlock: %w", err)
	}
	removed := map[string][]artifact.LockStatus{}
	var kept []artifact.LockStatus
	for _, l := range locks {
		if a.RunID != "" && l.Holder.RunID != a.RunID {
			continue
		}
		if l.Live && !o.Force {
			kept = append(kept, l)
			fmt.Fprintf(a.Stdout, "kept    %s: %s is alive (%s)\n", l.Key, l.Holder, l.Why)
			continue
		}
		if err := artifact.RemoveLock(ctx, a.Store, l); err != nil {
			return fmt.Errorf("unlock: %w", err)
		}
		state := "dead: " + l.Why
		if l.Live {
			state = "FORCED while alive: " + l.Why
		}
		fmt.Fprintf(a.Stdout, "removed %s: %s (%s)\n", l.Key, l.Holder, state)
		removed[l.Holder.RunID] = append(removed[l.Holder.RunID], l)
	}
	for runID, ls := range removed {
		if artifact.ValidateRunID(runID) != nil {
			continue // an unreadable lock: nowhere to record it but the log
		}
		key, err := artifact.WriteRunEvent(ctx, a.Env(runID), artifact.RunEvent{
			RunID: runID, Command: "unlock", PID: os.Getpid(), User: a.Getenv("USER"),
			StartedAt: started, ExitCode: exitcode.OK, Details: map[string]any{"forced": o.Force, "removed": ls},
		})
		if err != nil {
			return fmt.Errorf("unlock: locks were removed but the record could not be written: %w", err)
		}
		fmt.Fprintf(a.Stdout, "recorded %s\n", a.Store.URL(key))
	}
	a.Summary.Details = map[string]any{"removed": removed, "kept": kept}
	n := 0
	for _, ls := range removed {
		n += len(ls)
	}
	if len(kept) > 0 {
		return exitcode.New(exitcode.Locked, "unlock: %d locks removed, %d held by live processes were left in place (listed above); wait for them, or use 'otds-highspot unlock --force' if you know they are gone", n, len(kept))
	}
	if n == 0 {
		fmt.Fprintln(a.Stdout, "unlock: no locks")
	}
	return nil
}
