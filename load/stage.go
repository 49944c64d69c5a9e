package load

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/config"
	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/internal/records"
)

// Stage names and the plan summary key apply checks.
const (
	StageApply      = "apply"
	StagePull       = "pull"
	StagePlan       = "plan"
	StageTransform  = "transform"
	SummaryPlanHash = "plan_sha256"
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
// and a stale plan (opts.CheckFresh fails). It resumes from every
// load_results part of this run (ReadParts: also parts of a crashed
// attempt), writes ledger parts as it goes and commits the apply manifest,
// with counts by status and op, when every change has been attempted (also
// when some failed permanently: the ledger is the record). An interrupted
// run (breaker, cancel) flushes its ledger and commits nothing: re-run apply
// for the same run to resume.
func RunApply(ctx context.Context, env artifact.Env, cfg *config.Config, target Target, opts ApplyOptions) (*ApplyResult, error) {
	log := env.Log
	if log == nil {
		log = logrus.New()
	}
	log = log.WithFields(logrus.Fields{"run_id": env.RunID, "stage": StageApply})
	pm, pref, err := artifact.ReadManifest(ctx, env.Store, env.RunID, StagePlan)
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
	planSHA, _ := pm.Summary[SummaryPlanHash].(string)
	if opts.PlanSHA256 != "" && opts.PlanSHA256 != planSHA {
		return res, exitcode.New(exitcode.Usage, "apply: plan sha256 is %s, not the %s given; the plan changed since it was reviewed: review the current plan and pass its hash", planSHA, opts.PlanSHA256)
	}
	if opts.CheckFresh != nil {
		if err := opts.CheckFresh(ctx); err != nil {
			return res, fmt.Errorf("apply: plan is not fresh: %w", err)
		}
	}
	if _, _, err := artifact.ReadManifest(ctx, env.Store, env.RunID, StageApply); err == nil {
		res.AlreadyPublished = true
		log.Info("apply: already published for this run; nothing to do")
		return res, nil
	} else if !errors.Is(err, artifact.ErrNotPublished) {
		return res, fmt.Errorf("apply: read apply manifest: %w", err)
	}

	changes, err := artifact.ReadAll[records.Change](ctx, env.Store, pm, records.ChangesSpec)
	if err != nil {
		return res, fmt.Errorf("apply: read changes of run %s: %w", env.RunID, err)
	}
	if cfg != nil {
		opts = mergeOptions(OptionsFromConfig(cfg.Apply), opts)
	}
	if opts.DryRun {
		sum, err := Apply(ctx, target, changes, NewMemLedger(nil), opts, log)
		res.Summary = sum
		return res, err
	}

	var prior []records.LoadResult
	if err := artifact.ReadParts(ctx, env.Store, env.RunID, records.LoadResultsSpec, func(r records.LoadResult) error {
		prior = append(prior, r)
		return nil
	}); err != nil {
		return res, exitcode.Wrap(exitcode.Transient, fmt.Errorf("apply: read the ledger of earlier attempts: %w (nothing was applied; re-run apply)", err))
	}

	stage := artifact.NewStage(env, StageApply)
	committed := false
	defer func() {
		if !committed {
			stage.Abort()
		}
	}()
	stage.AddInput(pref)
	w, err := artifact.OpenTable[records.LoadResult](stage, records.LoadResultsSpec)
	if err != nil {
		return res, fmt.Errorf("apply: open ledger: %w", err)
	}
	ledger := NewMemLedger(prior)
	// Carry earlier attempts' final rows into this attempt's table so the
	// committed manifest lists the whole ledger.
	carried := 0
	inPlan := map[string]bool{}
	for _, c := range changes {
		inPlan[c.ChangeID] = true
	}
	latest := ledger.Latest()
	ids := make([]string, 0, len(latest))
	for id := range latest {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		r := latest[id]
		if inPlan[id] && (r.Status == records.StatusApplied || r.Status == records.StatusSkipped) {
			if err := w.Write(r); err != nil {
				return res, fmt.Errorf("apply: carry ledger row %s: %w", id, err)
			}
			carried++
		}
	}
	ledger.OnRecord = func(ctx context.Context, r records.LoadResult) error { return w.Write(r) }
	ledger.OnFlush = func(ctx context.Context) error { return w.Flush(ctx) }

	sum, applyErr := Apply(ctx, target, changes, ledger, opts, log)
	res.Summary = sum
	code := exitcode.Of(applyErr)
	if applyErr != nil && code != exitcode.ApplyFailed {
		// Interrupted (breaker, cancel, flush failure): the flushed parts are
		// the ledger; nothing is committed so the next attempt resumes.
		return res, applyErr
	}

	stage.SetSummary("changes", sum.Total)
	stage.SetSummary("resumed", sum.Resumed)
	stage.SetSummary("applied", sum.Applied)
	stage.SetSummary("skipped", sum.Skipped)
	stage.SetSummary("failed", sum.Failed)
	stage.SetSummary("carried_rows", carried)
	stage.SetSummary("creates_as_updates", sum.CreatesAsUpdates)
	stage.SetSummary("requests", sum.Requests)
	stage.SetSummary("retries", sum.Retries)
	stage.SetSummary("by_op", byOpFinal(changes, ledger))
	stage.SetSummary(SummaryPlanHash, planSHA)
	ref, m, err := stage.Commit(ctx)
	if err != nil {
		return res, exitcode.Wrap(exitcode.Transient, fmt.Errorf("apply: commit: %w (the ledger parts are kept; re-run apply to resume)", err))
	}
	committed = true
	res.Ref, res.Manifest = ref, m
	return res, applyErr
}

// mergeOptions overlays every non-zero field of o on base (the config).
func mergeOptions(base, o ApplyOptions) ApplyOptions {
	setF := func(dst *float64, v float64) {
		if v != 0 {
			*dst = v
		}
	}
	setI := func(dst *int, v int) {
		if v != 0 {
			*dst = v
		}
	}
	setD := func(dst *time.Duration, v time.Duration) {
		if v != 0 {
			*dst = v
		}
	}
	setF(&base.RatePerSecond, o.RatePerSecond)
	setI(&base.Burst, o.Burst)
	setI(&base.Concurrency, o.Concurrency)
	setI(&base.BatchSize, o.BatchSize)
	setI(&base.MaxAttempts, o.MaxAttempts)
	setD(&base.BackoffBase, o.BackoffBase)
	setD(&base.BackoffMax, o.BackoffMax)
	setD(&base.MaxRetryAfter, o.MaxRetryAfter)
	setI(&base.LookupListThreshold, o.LookupListThreshold)
	setI(&base.FlushEvery, o.FlushEvery)
	setD(&base.FlushInterval, o.FlushInterval)
	setI(&base.BreakerWindow, o.BreakerWindow)
	setI(&base.BreakerMinRequests, o.BreakerMinRequests)
	setF(&base.BreakerThreshold, o.BreakerThreshold)
	base.DryRun, base.DryRunOut, base.Classify, base.Rand, base.Now = o.DryRun, o.DryRunOut, o.Classify, o.Rand, o.Now
	base.PlanSHA256, base.CheckFresh = o.PlanSHA256, o.CheckFresh
	return base
}

// byOpFinal counts the final status of every planned change by op (resumed
// ones included): op -> status -> n.
func byOpFinal(changes []records.Change, l *MemLedger) map[string]map[string]int {
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
