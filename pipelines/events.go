package pipelines

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/exitcode"
)

// stageFailure marks which stage of a multi-stage command (run) failed; the
// stages after it were not attempted. It changes neither the message nor
// the exit code.
type stageFailure struct {
	stage string
	err   error
}

func (e *stageFailure) Error() string { return e.err.Error() }
func (e *stageFailure) Unwrap() error { return e.err }

// tracked runs fn for runID holding the locks of stages, then records the
// attempt as a run event (artifact.RunEvent), whatever the outcome: that is
// how `runs list` knows a run's latest status, however it was driven. The
// event covers eventStages (nil: stages), the stages whose outcome this
// attempt decides (a dry run decides none).
func (a *App) tracked(ctx context.Context, runID string, stages, eventStages []string, fn func(ctx context.Context) error) error {
	started := time.Now()
	err := a.withLock(ctx, runID, stages, fn)
	if eventStages == nil {
		eventStages = stages
	}
	a.recordEvent(ctx, runID, eventStages, started, err)
	return err
}

// recordEvent writes one run event; a failure to write it is logged, never
// allowed to mask the command's own outcome.
func (a *App) recordEvent(ctx context.Context, runID string, stages []string, started time.Time, runErr error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	code := exitcode.Of(runErr)
	ev := artifact.RunEvent{RunID: runID, Command: a.Summary.Command, Stages: stages, ExitCode: code, ExitName: exitcode.Name(code),
		PID: os.Getpid(), User: a.Getenv("USER"), StartedAt: started}
	if runErr != nil {
		ev.Error = runErr.Error()
		if len(ev.Error) > 4000 {
			ev.Error = ev.Error[:4000] + "…"
		}
		var sf *stageFailure
		if errors.As(runErr, &sf) {
			ev.FailedStage = sf.stage
		}
	}
	key, err := artifact.WriteRunEvent(ctx, a.Env(runID), ev)
	if err != nil {
		a.Log.WithError(err).Warn("could not record this attempt as a run event; runs list may show an older status for the run")
		return
	}
	if a.Summary.Details == nil {
		a.Summary.Details = map[string]any{}
	}
	a.Summary.Details["run_event"] = a.Store.URL(key)
}
