package pipelines

import (
	"context"
	"errors"
	"fmt"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/exitcode"
)

// published reports whether stage already published for runID. Stages are
// write-once per run, so re-running one (an orchestrator's retry, `run
// --from`) skips what is already there instead of failing on it. A stage
// manifest is committed only when the stage is complete (apply: only when no
// change is left failed; see apply.RunApply), so the skip never hides
// unfinished work.
func (a *App) published(ctx context.Context, runID string, stage contract.Stage) (*artifact.Manifest, bool, error) {
	// A commit an earlier attempt left half done is finished first: its
	// parts may already sit in a table prefix.
	if _, err := artifact.RollForward(ctx, a.Env(runID), func(s contract.Stage) bool { return s == stage }); err != nil {
		return nil, false, fmt.Errorf("check whether %s already ran for run %s: %w", stage, runID, err)
	}
	m, _, err := artifact.ReadManifest(ctx, a.Store, runID, stage)
	switch {
	case err == nil:
		return m, true, nil
	case errors.Is(err, artifact.ErrNotPublished):
		return nil, false, nil
	}
	return nil, false, fmt.Errorf("check whether %s already ran for run %s: %w", stage, runID, err)
}

// skipPublished records and prints a stage that is already published.
func (a *App) skipPublished(runID string, stage contract.Stage, m *artifact.Manifest) {
	rows := map[string]int64{}
	for n, t := range m.Tables {
		rows[n] = t.Rows
	}
	details := map[string]any{"already_published": true}
	if ps, _ := contract.SummaryOf[contract.PlanSummary](m.Summary); ps.PlanSHA256 != "" {
		details["plan_sha256"] = ps.PlanSHA256 // plan and apply record the plan they are bound to
	}
	a.Summary.Stages = append(a.Summary.Stages, StageSummary{Stage: string(stage), Status: m.Status, Rows: rows,
		Manifest: a.Store.URL(artifact.ManifestKey(runID, stage)), Details: details})
	fmt.Fprintf(a.Stdout, "%s: already published for run %s; skipped\n", stage, runID)
}

// blockedPlanError is the outcome of a plan stage that is published as blocked.
func blockedPlanError(runID string) error {
	return exitcode.New(exitcode.PlanBlocked, "the plan of run %s is published as blocked by a safety gate; review its plan.md, then, if the change is intended: otds-highspot plan --from-run %s --allow op=N (publishes a new run id to apply)", runID, runID)
}
