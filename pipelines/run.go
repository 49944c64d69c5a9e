package pipelines

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/internal/retention"
	"github.com/otds-highspot/otds-highspot/transform/analytics"
	"github.com/otds-highspot/otds-highspot/transform/history"
)

// RunOptions select the stages of a run.
type RunOptions struct {
	Until      string // last stage to run ("" = apply)
	From       string // first stage to run ("" = extract); needs an existing run id
	Allow      map[string]int
	DryRun     bool
	PlanSHA256 string
	Trees      []string
}

func stageIndex(name, flag string) (int, error) {
	i := slices.Index(stageOrder, name)
	if i < 0 {
		return 0, exitcode.New(exitcode.Usage, "--%s %q: use one of %v", flag, name, stageOrder)
	}
	return i, nil
}

// Run executes the stages in order for one run id, holding the run lock, and
// writes the run manifest (who/what ran, stage manifests, plan hash,
// overrides, exit status) at the end, whatever the outcome.
func (a *App) Run(ctx context.Context, o RunOptions) error {
	from, until := 0, len(stageOrder)-1
	if err := a.checkAllow(o.Allow); err != nil {
		return err
	}
	var err error
	if o.From != "" {
		if from, err = stageIndex(o.From, "from"); err != nil {
			return err
		}
	}
	if o.Until != "" {
		if until, err = stageIndex(o.Until, "until"); err != nil {
			return err
		}
	}
	if from > until {
		return exitcode.New(exitcode.Usage, "--from %s comes after --until %s", o.From, o.Until)
	}
	var runID string
	if from == 0 {
		runID = a.newRunID()
	} else if runID, err = a.latestRunID(ctx); err != nil {
		return err
	}
	a.Summary.RunID = runID
	started := time.Now()
	var lockStages []string
	for _, s := range stageOrder[from : until+1] {
		if s == string(contract.Extract) {
			lockStages = append(lockStages, a.extractStages(o.Trees)...)
			continue
		}
		lockStages = append(lockStages, s)
	}
	decides := lockStages
	if o.DryRun && until == len(stageOrder)-1 {
		decides = lockStages[:len(lockStages)-1] // a dry-run apply decides nothing
	}
	return a.tracked(ctx, runID, lockStages, decides, func(ctx context.Context) error {
		err := a.runStages(ctx, runID, from, until, o)
		a.writeRunManifest(ctx, runID, started, o, err)
		return err
	})
}

func (a *App) runStages(ctx context.Context, runID string, from, until int, o RunOptions) error {
	for i := from; i <= until; i++ {
		if err := ctx.Err(); err != nil {
			return exitcode.Wrap(exitcode.Cancelled, fmt.Errorf("run %s cancelled before %s: %w", runID, stageOrder[i], err))
		}
		log := a.Log.WithFields(map[string]any{"run_id": runID, "stage": stageOrder[i]})
		log.Debug("stage starting")
		var err error
		switch stageOrder[i] {
		case string(contract.Extract):
			err = a.extract(ctx, runID, ExtractOptions{Trees: o.Trees})
		case string(contract.Transform):
			err = a.transform(ctx, runID, TransformOptions{})
		case string(contract.Pull):
			err = a.pull(ctx, runID)
		case string(contract.Plan):
			err = a.planDerived(ctx, runID, PlanOptions{Allow: o.Allow})
		case string(contract.Apply):
			err = a.apply(ctx, runID, ApplyOptions{PlanSHA256: o.PlanSHA256, DryRun: o.DryRun})
		}
		if err != nil {
			log.WithError(err).Error("stage failed; the run stops here")
			return &stageFailure{stage: stageOrder[i], err: err}
		}
	}
	if until < len(stageOrder)-1 {
		fmt.Fprintf(a.Stdout, "stopped after %s (--until). Review, then: otds-highspot run --run-id %s --from %s\n",
			stageOrder[until], runID, stageOrder[until+1])
	}
	return nil
}

// derived publishes the products derived from the run's snapshots:
// identity_history (on by default) and the PII-hashed analytics copy (opt-in).
// ahead, when not nil, is history's feed of the run's persons from the
// plan's read; desired, when not nil, the desired_users of the plan just
// published (history then does not read them back).
func (a *App) derived(ctx context.Context, runID string, ahead *historyAhead, desired *history.PlanDesired) error {
	env := a.Env(runID)
	if a.Cfg.Operate.History.On() {
		_, done, err := a.published(ctx, runID, contract.History)
		if err != nil {
			return err
		}
		if !done {
			res, err := history.Run(ctx, env, history.Options{Prepared: ahead.prepared(), Desired: desired})
			if err != nil {
				return fmt.Errorf("history: %w", err)
			}
			a.Summary.Stages = append(a.Summary.Stages, StageSummary{Stage: string(contract.History), Status: "published", Manifest: a.Store.URL(res.Ref.Key),
				Rows: map[string]int64{"identity_history": res.Rows}})
		}
	}
	if a.Cfg.Operate.Analytics.Enabled {
		_, done, err := a.published(ctx, runID, contract.Analytics)
		if err != nil {
			return err
		}
		if !done {
			opts, err := analytics.OptionsFromConfig(a.Cfg.Operate.Analytics, a.Getenv)
			if err != nil {
				return exitcode.Wrap(exitcode.Usage, err)
			}
			res, err := analytics.Run(ctx, env, opts)
			if err != nil {
				return fmt.Errorf("analytics: %w", err)
			}
			a.Summary.Stages = append(a.Summary.Stages, StageSummary{Stage: string(contract.Analytics), Status: "published", Manifest: a.Store.URL(res.Ref.Key), Rows: res.Rows})
		}
	}
	return nil
}

// writeRunManifest records the run; a failure to write it is logged, never
// allowed to mask the run's own outcome.
func (a *App) writeRunManifest(ctx context.Context, runID string, started time.Time, o RunOptions, runErr error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	refs, planSHA := a.stageRefs(ctx, runID)
	var overrides []string
	keys := make([]string, 0, len(o.Allow))
	for k := range o.Allow {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		overrides = append(overrides, fmt.Sprintf("allow %s=%d", k, o.Allow[k]))
	}
	if o.DryRun {
		overrides = append(overrides, "dry-run")
	}
	if _, _, err := artifact.ReadRunManifest(ctx, a.Store, runID); err == nil {
		a.Log.WithField("run_id", runID).Debug("the run already has its (write-once) run manifest; this attempt is recorded as a run event")
		return
	}
	code := exitcode.Of(runErr)
	host, _ := os.Hostname()
	ref, err := artifact.WriteRunManifest(ctx, a.Env(runID), artifact.RunManifest{
		RunID: runID, StartedAt: started.UTC(), FinishedAt: time.Now().UTC(), Host: host,
		Stages: refs, ExitCode: code, ExitName: exitcode.Name(code), PlanSHA256: planSHA, Overrides: overrides,
	})
	if err != nil {
		a.Log.WithError(err).Warn("could not write the run manifest (a re-run of the same run id cannot write a second one)")
		return
	}
	if a.Summary.Details == nil {
		a.Summary.Details = map[string]any{}
	}
	a.Summary.Details["run_manifest"] = a.Store.URL(ref.Key)
}

// stageRefs lists the run's published stage manifests (and its plan hash).
func (a *App) stageRefs(ctx context.Context, runID string) ([]artifact.Ref, string) {
	info, err := artifact.ShowRun(ctx, a.Store, runID)
	if err != nil {
		return nil, ""
	}
	var refs []artifact.Ref
	planSHA := ""
	for _, s := range info.Stages {
		m, ref, err := artifact.ReadManifest(ctx, a.Store, runID, s.Stage)
		if err != nil {
			continue
		}
		refs = append(refs, ref)
		if s.Stage == contract.Plan {
			if ps, _ := contract.SummaryOf[contract.PlanSummary](m.Summary); ps.PlanSHA256 != "" {
				planSHA = ps.PlanSHA256
			}
		}
	}
	return refs, planSHA
}

// PruneOptions tune prune.
type PruneOptions struct {
	KeepDays int
	DryRun   bool
}

// Prune removes old runs from stores without Object Lock retention.
func (a *App) Prune(ctx context.Context, o PruneOptions) error {
	p := a.Cfg.Operate.Prune
	keep := p.KeepDays
	if o.KeepDays > 0 {
		keep = o.KeepDays
	}
	rep, err := retention.Prune(ctx, a.Store, retention.Options{KeepDays: keep, KeepRuns: p.KeepRuns, OrphanGrace: p.OrphanGrace, DryRun: o.DryRun, Log: a.Log})
	a.Summary.Details = map[string]any{"prune": rep}
	verb := "removed"
	if rep.DryRun {
		verb = "would remove"
	}
	for _, r := range rep.Removed {
		fmt.Fprintf(a.Stdout, "%s run %s (%d objects)\n", verb, r.RunID, len(r.Keys))
	}
	for _, k := range rep.Orphans {
		fmt.Fprintf(a.Stdout, "%s orphan %s\n", verb, k)
	}
	ids := make([]string, 0, len(rep.Kept))
	for id := range rep.Kept {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		fmt.Fprintf(a.Stdout, "kept run %s: %s\n", id, rep.Kept[id])
	}
	fmt.Fprintf(a.Stdout, "prune: %d runs and %d orphan files %s (%d objects), %d runs kept\n", len(rep.Removed), len(rep.Orphans), verb, rep.Deleted, len(rep.Kept))
	return err
}
