package apply

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/config"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/internal/store"
	"github.com/otds-highspot/otds-highspot/load"
)

// ApplyResult is what RunApply did.
type ApplyResult struct {
	Summary          Summary
	Ref              artifact.Ref       // the apply manifest ("" Key for a dry run or an interrupted run)
	Manifest         *artifact.Manifest // nil unless committed
	PlanRef          artifact.Ref       // the plan applied
	AlreadyPublished bool               // apply was already committed for this run: nothing was done
}

// RunApply applies this run's published plan. It refuses a blocked plan
// (exit 5), a plan whose plan_sha256 differs from opts.PlanSHA256 (exit 2),
// and a stale plan (opts.CheckFresh fails).
//
// Apply is complete for a run once the "apply" manifest exists: it is
// committed only by an attempt that leaves no change failed; a later
// RunApply of that run does nothing. An attempt that attempted every change
// but left some failed (exit 6) commits its ledger rows as stage
// "apply.attempt-NNN" with status "incomplete"; the next RunApply retries
// every change without a successful (applied or skipped) row. An
// interrupted attempt (breaker, cancel, crash) commits nothing: the ledger
// parts it flushed are read back by the next attempt, which publishes their
// rows with its own. So the run's ledger is the load_results rows of "apply"
// and every "apply.attempt-*" manifest, each row listed once.
func RunApply(ctx context.Context, env artifact.Env, cfg *config.Config, target load.Target, opts load.ApplyOptions) (*ApplyResult, error) {
	log := env.Log
	if log == nil {
		log = logrus.New()
	}
	log = log.WithFields(logrus.Fields{"run_id": env.RunID, "stage": string(contract.Apply)})
	pm, pref, err := artifact.ReadManifest(ctx, env.Store, env.RunID, contract.Plan)
	if err != nil {
		if errors.Is(err, artifact.ErrNotPublished) {
			return nil, exitcode.Wrap(exitcode.Usage, fmt.Errorf("apply: run %s has no published plan; run plan first: %w", env.RunID, err))
		}
		return nil, fmt.Errorf("apply: read plan manifest: %w", err)
	}
	res := &ApplyResult{PlanRef: pref}
	if pm.Status == artifact.StatusBlocked {
		return res, exitcode.New(exitcode.PlanBlocked, "apply: plan of run %s is blocked by a safety threshold (see its plan.md); if the change is intended, re-plan it with an override (otds-highspot plan --from-run %s --allow op=N) and apply the new run id", env.RunID, env.RunID)
	}
	ps, _ := contract.SummaryOf[contract.PlanSummary](pm.Summary)
	planSHA := ps.PlanSHA256
	if opts.PlanSHA256 != "" && opts.PlanSHA256 != planSHA {
		return res, exitcode.New(exitcode.Usage, "apply: plan sha256 is %s, not the %s given; the plan changed since it was reviewed: review the current plan and pass its hash", planSHA, opts.PlanSHA256)
	}
	if opts.CheckFresh != nil {
		if err := opts.CheckFresh(ctx); err != nil {
			return res, fmt.Errorf("apply: plan is not fresh: %w", err)
		}
	}
	if _, err := artifact.RollForward(ctx, env, func(stage contract.Stage) bool {
		return stage == contract.Apply || strings.HasPrefix(string(stage), AttemptStagePrefix)
	}); err != nil {
		return res, exitcode.Wrap(exitcode.Transient, fmt.Errorf("apply: %w (nothing was applied; re-run apply)", err))
	}
	if m, ref, err := artifact.ReadManifest(ctx, env.Store, env.RunID, contract.Apply); err == nil {
		res.AlreadyPublished, res.Manifest, res.Ref = true, m, ref
		log.Info("apply: already published for this run; nothing to do")
		return res, nil
	} else if !errors.Is(err, artifact.ErrNotPublished) {
		return res, fmt.Errorf("apply: read apply manifest: %w", err)
	}

	attempts, listed, err := applyAttempts(ctx, env.Store, env.RunID)
	if err != nil {
		return res, exitcode.Wrap(exitcode.Transient, fmt.Errorf("apply: %w (nothing was applied; re-run apply)", err))
	}

	changes, err := artifact.ReadAll[contract.Change](ctx, env.Store, pm, contract.ChangesSpec)
	if err != nil {
		return res, fmt.Errorf("apply: read changes of run %s: %w", env.RunID, err)
	}
	// The hash enforced is the hash of exactly what is executed.
	if got := contract.PlanSHA256(contract.PlanBindingOf(env.RunID, pm.Summary), changes); got != planSHA {
		return res, exitcode.Wrap(exitcode.Unexpected, fmt.Errorf("apply: the changes of run %s hash to %s, the plan manifest records %s: the plan was %w; nothing was applied", env.RunID, got, planSHA, artifact.ErrModified))
	}
	if cfg != nil {
		opts = load.MergeOptions(load.OptionsFromConfig(cfg.Apply), opts)
	}
	known := 0
	if !opts.DryRun && opts.KnownUsers == nil {
		var why string
		opts.KnownUsers, why = knownUsers(ctx, env, pm, changes)
		known = len(opts.KnownUsers)
		log.WithFields(logrus.Fields{"known_users": known, "why": why}).Debug("apply: users known from this run's pull")
	}
	if opts.DryRun {
		sum, err := Apply(ctx, target, changes, NewMemLedger(nil), opts, log)
		res.Summary = sum
		return res, err
	}

	var prior []contract.LoadResult
	if err := artifact.ReadParts(ctx, env.Store, env.RunID, contract.LoadResultsSpec, func(r contract.LoadResult) error {
		prior = append(prior, r)
		return nil
	}); err != nil {
		return res, exitcode.Wrap(exitcode.Transient, fmt.Errorf("apply: read the ledger of earlier attempts: %w (nothing was applied; re-run apply)", err))
	}

	stage := artifact.NewStage(env, contract.Apply)
	committed := false
	defer func() {
		if !committed {
			stage.Abort()
		}
	}()
	stage.AddInput(pref)
	w, err := artifact.OpenTable[contract.LoadResult](stage, contract.LoadResultsSpec)
	if err != nil {
		return res, fmt.Errorf("apply: open ledger: %w", err)
	}
	ledger := NewMemLedger(prior)
	// Publish the rows of earlier attempts that no manifest lists (a crash,
	// an interruption) with this attempt's, so every ledger row is published
	// once: rows already published by an incomplete attempt, and copies an
	// attempt carried before it crashed too, are not carried again.
	published := map[rowID]bool{}
	if err := artifact.ReadParts(ctx, env.Store, env.RunID, contract.LoadResultsSpec, func(r contract.LoadResult) error {
		published[idOf(r)] = true
		return nil
	}, artifact.PartFilter(func(name string) bool { return listed[name] })); err != nil {
		return res, exitcode.Wrap(exitcode.Transient, fmt.Errorf("apply: read the published ledger of earlier attempts: %w (nothing was applied; re-run apply)", err))
	}
	carried := 0
	if err := artifact.ReadParts(ctx, env.Store, env.RunID, contract.LoadResultsSpec, func(r contract.LoadResult) error {
		if published[idOf(r)] {
			return nil
		}
		published[idOf(r)] = true
		carried++
		return w.Write(r)
	}, artifact.PartFilter(func(name string) bool { return !listed[name] })); err != nil {
		return res, exitcode.Wrap(exitcode.Transient, fmt.Errorf("apply: carry the ledger rows of interrupted attempts: %w (nothing was applied; re-run apply)", err))
	}
	ledger.OnRecord = func(ctx context.Context, r contract.LoadResult) error { return w.Write(r) }
	ledger.OnFlush = func(ctx context.Context) error {
		err := w.Flush(ctx)
		env.Check(string(contract.Apply) + ":flush")
		return err
	}

	sum, applyErr := Apply(ctx, target, changes, ledger, opts, log)
	res.Summary = sum
	code := exitcode.Of(applyErr)
	if applyErr != nil && code != exitcode.ApplyFailed {
		// Interrupted (breaker, cancel, flush failure): the flushed parts are
		// the ledger; nothing is committed so the next attempt resumes.
		return res, applyErr
	}

	contract.PutSummary(stage.SetSummary, contract.ApplySummary{Changes: sum.Total, Resumed: sum.Resumed,
		Applied: sum.Applied, Skipped: sum.Skipped, Failed: sum.Failed, CarriedRows: carried,
		CreatesAsUpdates: sum.CreatesAsUpdates, Requests: sum.Requests, Retries: sum.Retries,
		UsersKnownFromPull: known, ByOp: byOpFinal(changes, ledger), PlanSHA256: planSHA, Attempt: len(attempts) + 1})
	if code == exitcode.ApplyFailed {
		// Not complete: record the attempt; re-running apply retries the failed changes.
		if err := stage.Rename(contract.ApplyAttemptStage(len(attempts) + 1)); err != nil {
			return res, fmt.Errorf("apply: %w", err)
		}
		stage.SetStatus(artifact.StatusIncomplete)
	}
	ref, m, err := stage.Commit(ctx)
	if err != nil && ctx.Err() != nil {
		return res, exitcode.Wrap(exitcode.Cancelled, fmt.Errorf("apply: cancelled before its commit: %w (the ledger parts are kept; re-run apply to resume)", err))
	}
	if err != nil {
		return res, exitcode.Wrap(exitcode.Transient, fmt.Errorf("apply: commit: %w (the ledger parts are kept; re-run apply to resume)", err))
	}
	committed = true
	res.Ref, res.Manifest = ref, m
	return res, applyErr
}

// rowID identifies one ledger row (a change's outcome at one time).
type rowID struct {
	change, status string
	attempts       int32
	at             int64
}

func idOf(r contract.LoadResult) rowID {
	return rowID{r.ChangeID, r.Status, r.Attempts, r.At.UnixNano()}
}

// AttemptStagePrefix names the manifest of an apply attempt that left
// changes failed: apply.attempt-001, apply.attempt-002, ...
const AttemptStagePrefix = contract.ApplyAttemptPrefix

// applyAttempts lists the committed incomplete attempts of a run's apply and
// the load_results part file names their manifests list.
func applyAttempts(ctx context.Context, st store.Store, runID string) ([]string, map[string]bool, error) {
	stages, err := artifact.StageNames(ctx, st, runID)
	if err != nil {
		return nil, nil, fmt.Errorf("list earlier apply attempts: %w", err)
	}
	var attempts []string
	listed := map[string]bool{}
	for _, name := range stages {
		if !strings.HasPrefix(name, AttemptStagePrefix) {
			continue
		}
		m, _, err := artifact.ReadManifest(ctx, st, runID, contract.Stage(name))
		if err != nil {
			return nil, nil, fmt.Errorf("read earlier apply attempt: %w", err)
		}
		attempts = append(attempts, name)
		for _, f := range m.Tables[contract.LoadResultsSpec.Name].Files {
			listed[path.Base(f.Key)] = true
		}
	}
	return attempts, listed, nil
}

// mergeOptions overlays every non-zero field of o on base (the config).
// knownUsers reads, from this run's pull snapshot (highspot_users), what it
// holds of the users the changes name (lower-cased email -> id, "" when
// absent) — only when the plan was diffed against exactly that snapshot
// (baseline_source pull with its sha256; CheckFresh has checked it is still
// the latest pull). Then apply needs no listing or lookup of its own to tell
// creates from updates. Otherwise, or when the snapshot cannot be read, it
// returns nil and why, and apply looks users up as before.
func knownUsers(ctx context.Context, env artifact.Env, pm *artifact.Manifest, changes []contract.Change) (map[string]string, string) {
	ps, _ := contract.SummaryOf[contract.PlanSummary](pm.Summary)
	src, bsha := ps.BaselineSource, ps.BaselineSHA256
	if src != "pull" || bsha == "" {
		return nil, "the plan's baseline is not a pull"
	}
	m, ref, err := artifact.ReadManifest(ctx, env.Store, env.RunID, contract.Pull)
	if err != nil {
		return nil, "this run has no readable pull: " + err.Error()
	}
	if ref.SHA256 != bsha {
		return nil, "this run's pull is not the plan's baseline"
	}
	want := map[string]string{}
	for _, c := range changes {
		if c.Email != "" && (c.Op == contract.OpCreateUser || c.HighspotID == "") {
			want[strings.ToLower(strings.TrimSpace(c.Email))] = ""
		}
	}
	if len(want) == 0 {
		return nil, "no change needs a lookup"
	}
	if err := artifact.ReadTable(ctx, env.Store, m, contract.HighspotUsersSpec, func(u contract.HighspotUser) error {
		e := strings.ToLower(strings.TrimSpace(u.Email))
		if _, ok := want[e]; ok && u.HighspotID != "" {
			want[e] = u.HighspotID
		}
		return nil
	}); err != nil {
		return nil, "read highspot_users of this run's pull: " + err.Error()
	}
	return want, "this run's pull is the plan's baseline"
}

// byOpFinal counts the final status of every planned change by op (resumed
// ones included): op -> status -> n.
func byOpFinal(changes []contract.Change, l *MemLedger) map[string]map[string]int {
	latest := l.Latest()
	out := map[string]map[string]int{}
	for _, c := range changes {
		st := "pending"
		if r, ok := latest[c.ChangeID]; ok {
			st = r.Status
		}
		if out[c.Op] == nil {
			out[c.Op] = map[string]int{}
		}
		out[c.Op][st]++
	}
	return out
}
