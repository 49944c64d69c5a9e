package pipelines

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/otds-highspot/otds-highspot/extract"
	"github.com/otds-highspot/otds-highspot/extract/otdsrest"
	"github.com/otds-highspot/otds-highspot/extract/sources"
	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/transform"
)

var stageOrder = []string{string(contract.Extract), string(contract.Transform), string(contract.Pull), string(contract.Plan), string(contract.Apply)}

// newRunID picks the run id for a command that starts a run.
func (a *App) newRunID() string {
	if a.RunID != "" {
		return a.RunID
	}
	return artifact.NewRunID(time.Now())
}

// latestRunID picks the run id for a command that continues a run: --run-id,
// else the newest run in the store.
func (a *App) latestRunID(ctx context.Context) (string, error) {
	if a.RunID != "" {
		return a.RunID, nil
	}
	runs, err := artifact.ListRuns(ctx, a.Store)
	if err != nil {
		return "", err
	}
	if len(runs) == 0 {
		return "", exitcode.New(exitcode.Usage, "no runs in %s yet; run 'otds-highspot extract' (or 'run') first, or pass --run-id", a.Store.URL(""))
	}
	return runs[0].RunID, nil
}

// withLock runs fn holding the run lock for runID and a lock on each of
// stages (see artifact.AcquireLock): other tasks of the same run (an Airflow
// task per stage or per tree) may run other stages side by side; the same
// stage of the same run, and any other run, are refused with exit 11. fn's
// context is cancelled when the lock is lost (taken over after this process
// could not write its heartbeat for store.lock_stale_after).
func (a *App) withLock(ctx context.Context, runID string, stages []string, fn func(ctx context.Context) error) error {
	lock, err := artifact.AcquireLock(ctx, a.Store, artifact.LockHolder{RunID: runID, Host: a.Host, PID: os.Getpid(), Command: a.Summary.Command},
		a.Cfg.Store.LockStaleAfter, artifact.WithLockLogger(a.Log), artifact.WithLockStages(stages...), artifact.WithLockHost(a.Host))
	if err != nil {
		return err
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := lock.Release(rctx); err != nil {
			a.Log.WithError(err).Warn("release run lock")
		}
	}()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-lock.Lost():
			a.Log.WithError(lock.LostErr()).Error("run lock lost; stopping")
			cancel()
		case <-wctx.Done():
		}
	}()
	err = fn(wctx)
	if lerr := lock.LostErr(); lerr != nil && err != nil && ctx.Err() == nil {
		return exitcode.Wrap(exitcode.Locked, fmt.Errorf("%w (stopped: %v)", lerr, err))
	}
	return err
}

// extractStages are the lock names of extracting trees (all when none named).
func (a *App) extractStages(trees []string) []string {
	if len(trees) == 0 {
		trees = a.Cfg.TreeNames()
	}
	out := make([]string, 0, len(trees))
	for _, t := range trees {
		out = append(out, string(contract.ExtractStage(t)))
	}
	return out
}

// ExtractOptions select trees.
type ExtractOptions struct {
	Trees []string
}

// Extract runs the extract stage under the lock for a new (or the given) run id.
func (a *App) Extract(ctx context.Context, o ExtractOptions) error {
	runID := a.newRunID()
	a.Summary.RunID = runID
	return a.tracked(ctx, runID, a.extractStages(o.Trees), nil, func(ctx context.Context) error { return a.extract(ctx, runID, o) })
}

// extractMemoryPerTree is the soft Go heap limit per tree read at once
// during extract (unless GOMEMLIMIT is set): reading is streamed, so the live
// heap stays small, and without a limit the garbage collector lets it double
// before collecting, so the peak followed the tree's size. Measured
// (scripts/bench-extract.sh, median peak RSS at 100k / 400k accounts): no
// limit 164 / 255 MB; 160 MiB 132 / 185 MiB (the limit binding at 400k only);
// 120 MiB 134 / 150 MiB, about 6% more CPU at 400k, within the noise of the
// ratio to ldapsearch.
const extractMemoryPerTree = 120 << 20

// stageMemoryLimit is the soft heap limit of the transform, pull, plan (with
// history) and apply stages. Their live heap grows with the population (at 1M
// accounts the transform holds ~0.9 GiB); with the default GOGC=100 and no
// limit the collector lets the heap double before collecting, so the
// transform peaked at 2.5 GiB RSS at 1M. With this limit it peaks at
// 1.7 GiB in the same wall time (1M day 2: 73.1 s / 2,526 MiB without,
// 74.5 s / 1,757 MiB with). Below ~1M accounts the limit never binds. Above
// ~1.5M accounts the live heap nears it and the collector works harder
// (Go caps that at half the CPU): set GOMEMLIMIT to the memory you give the
// job (docs/operations.md).
const stageMemoryLimit = 1700 << 20

// softMemoryLimit sets the process's soft heap limit for one stage unless the
// operator set GOMEMLIMIT, and returns what restores the previous one.
func (a *App) softMemoryLimit(limit int64) (restore func()) {
	if a.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	prev := debug.SetMemoryLimit(limit)
	return func() { debug.SetMemoryLimit(prev) }
}

func (a *App) extract(ctx context.Context, runID string, o ExtractOptions) error {
	n := len(a.Cfg.Trees)
	if len(o.Trees) > 0 {
		n = len(o.Trees)
	}
	n = min(n, max(a.Cfg.Extract.Concurrency, 1))
	defer a.softMemoryLimit(int64(n) * extractMemoryPerTree)()
	env := a.Env(runID)
	log := env.Log.WithField("stage", string(contract.Extract))
	httpClient := &http.Client{Timeout: 5 * time.Minute}
	names := o.Trees
	if len(names) == 0 {
		names = a.Cfg.TreeNames()
	}
	// Trees already published for this run are skipped (a retry, or run --from).
	var todo []string
	for _, t := range names {
		m, ok, err := a.published(ctx, runID, contract.ExtractStage(t))
		if err != nil {
			return exitcode.Wrap(exitcode.Transient, err)
		}
		if ok {
			a.skipPublished(runID, contract.ExtractStage(t), m)
			continue
		}
		todo = append(todo, t)
	}
	if len(todo) == 0 {
		return nil
	}
	names = todo
	progress, done := a.treeProgress(names)
	res, err := extract.Run(ctx, env, a.Cfg, extract.Options{
		Trees:    names,
		Getenv:   a.Getenv,
		Progress: progress,
		NewSource: sources.Factory(sources.Deps{
			Getenv:   a.Getenv,
			Log:      log,
			HTTP:     httpClient,
			OpenLDIF: a.openPath,
			NewREST:  otdsrest.New,
		}),
	})
	done()
	if res != nil {
		for _, t := range res.Trees {
			s := StageSummary{Stage: string(contract.ExtractStage(t.Tree)), Status: t.Status, Error: t.Error,
				Rows: map[string]int64{"accounts": t.Accounts, "groups": t.Groups, "memberships": t.Memberships, "rejects": t.Rejects}}
			if t.Ref != nil {
				s.Manifest = a.Store.URL(t.Ref.Key)
			}
			if len(t.Gates) > 0 {
				s.Details = map[string]any{"gates": t.Gates}
			}
			if len(t.RejectsByCode) > 0 {
				if s.Details == nil {
					s.Details = map[string]any{}
				}
				s.Details["rejects_by_code"] = t.RejectsByCode
			}
			a.Summary.Stages = append(a.Summary.Stages, s)
			fmt.Fprintf(a.Stdout, "extract %-12s %-9s accounts=%d groups=%d memberships=%d rejects=%d%s (%s)\n",
				t.Tree, t.Status, t.Accounts, t.Groups, t.Memberships, t.Rejects, byCode(t.RejectsByCode), t.Duration.Round(time.Millisecond))
		}
	}
	return err
}

// byCode renders reject counts by code (" (bad_email 2, dangling_member 1)"),
// "" when there are none.
func byCode(m map[string]int64) string {
	codes := make([]string, 0, len(m))
	for c, n := range m {
		if n > 0 {
			codes = append(codes, c)
		}
	}
	if len(codes) == 0 {
		return ""
	}
	sort.Strings(codes)
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%s %d", c, m[c])
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// TransformOptions tune transform.
type TransformOptions struct {
	AllowMissingTrees bool
}

// Transform runs the transform stage for --run-id or the latest run.
func (a *App) Transform(ctx context.Context, o TransformOptions) error {
	runID, err := a.latestRunID(ctx)
	if err != nil {
		return err
	}
	a.Summary.RunID = runID
	return a.tracked(ctx, runID, []string{string(contract.Transform)}, nil, func(ctx context.Context) error { return a.transform(ctx, runID, o) })
}

func (a *App) transform(ctx context.Context, runID string, o TransformOptions) error {
	defer a.softMemoryLimit(stageMemoryLimit)()
	if m, ok, err := a.published(ctx, runID, contract.Transform); err != nil || ok {
		if ok {
			a.skipPublished(runID, contract.Transform, m)
		}
		return err
	}
	res, err := transform.Run(ctx, a.Env(runID), a.Cfg, transform.Options{AllowMissingTrees: o.AllowMissingTrees})
	if err != nil {
		a.Summary.Stages = append(a.Summary.Stages, StageSummary{Stage: string(contract.Transform), Status: "failed", Error: err.Error()})
		return err
	}
	a.Summary.Stages = append(a.Summary.Stages, StageSummary{Stage: string(contract.Transform), Status: "published", Manifest: a.Store.URL(res.Ref.Key),
		Rows: map[string]int64{"accounts_normalized": res.Accounts, "effective_memberships": res.Memberships, "persons": res.Persons, "person_links": res.Links, "match_review": res.Reviews}})
	fmt.Fprintf(a.Stdout, "transform: %d accounts → %d persons (%d links, %d for review) in %s\n",
		res.Accounts, res.Persons, res.Links, res.Reviews, res.Duration.Round(time.Millisecond))
	for _, w := range res.Warnings {
		a.Log.Warn(w)
	}
	return nil
}

// Explain prints how a person was resolved.
func (a *App) Explain(ctx context.Context, query string) error {
	runID, err := a.latestRunID(ctx)
	if err != nil {
		return err
	}
	a.Summary.RunID = runID
	out, err := transform.Explain(ctx, a.Store, runID, query)
	if err != nil {
		return err
	}
	a.Summary.Details = map[string]any{"query": query, "explanation": out}
	fmt.Fprint(a.Stdout, out)
	return nil
}
