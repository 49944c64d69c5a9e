package history

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/records"
	"github.com/otds-highspot/otds-highspot/internal/store"
)

// Options tune Run.
type Options struct {
	// Rebuild ignores earlier history tables and folds every run that
	// published a transform stage, oldest first, up to this run. Use it after
	// changing what is tracked, or when an earlier history is missing.
	Rebuild bool
}

// Result summarises one history run.
type Result struct {
	Rows int64 // rows in the published table (all versions)
	// AccessRows is the rows of access_history: what Highspot held.
	AccessRows int64
	Current    int // open rows (persons present in this run)
	Opened     int // rows opened by this run (joiners, movers, returners)
	Closed     int // rows closed by this run (movers and leavers)
	Folded     int // runs folded (1, or more with Rebuild)
	Ref        artifact.Ref
}

// Run publishes stage "history" for env.RunID: the previous run's published
// history (or, with Rebuild or when there is none, a fold over every earlier
// published transform) advanced by this run's persons and, when this run has
// a published plan, its desired_users. The run's transform must be published.
func Run(ctx context.Context, env artifact.Env, opts Options) (Result, error) {
	st := env.Store
	if st == nil {
		return Result{}, errors.New("history: no store configured")
	}
	var (
		prev       []records.IdentityHistory
		prevAccess []records.IdentityHistory
		inputs     []artifact.Ref
		res        Result
		runs       []string
	)
	if !opts.Rebuild {
		m, ref, err := artifact.LatestManifest(ctx, st, string(contract.History), env.RunID)
		switch {
		case err == nil:
			prev, err = ReadTable(ctx, st, m, env.TempDir)
			if err != nil {
				return Result{}, fmt.Errorf("history: read the previous history of run %s: %w", m.RunID, err)
			}
			if _, ok := m.Tables[records.AccessHistorySpec.Name]; ok {
				if prevAccess, err = artifact.ReadAll[Row](ctx, st, m, records.AccessHistorySpec, artifact.WithTempDir(env.TempDir)); err != nil {
					return Result{}, fmt.Errorf("history: read the previous access_history of run %s: %w", m.RunID, err)
				}
			}
			inputs = append(inputs, ref)
			runs = []string{env.RunID}
		case errors.Is(err, artifact.ErrNotPublished):
			opts.Rebuild = true // first history: fold everything there is
		default:
			return Result{}, fmt.Errorf("history: find the previous history: %w", err)
		}
	}
	if opts.Rebuild {
		var err error
		runs, err = transformRuns(ctx, env)
		if err != nil {
			return Result{}, err
		}
	}
	if len(runs) == 0 || runs[len(runs)-1] != env.RunID {
		return Result{}, fmt.Errorf("history: run %s has no published transform; run `otds-highspot transform` first", env.RunID)
	}

	infos, err := artifact.ListRuns(ctx, st)
	if err != nil {
		return Result{}, fmt.Errorf("history: %w", err)
	}
	for _, runID := range runs {
		snaps, refs, err := Snapshots(ctx, env, runID)
		if err != nil {
			return Result{}, err
		}
		at, ok := RunTime(runID)
		if !ok {
			return Result{}, fmt.Errorf("history: run id %s does not start with a date", runID)
		}
		personOf := make(map[string]string, len(snaps))
		for _, sn := range snaps {
			if _, dup := personOf[sn.Email]; !dup && sn.Email != "" {
				personOf[sn.Email] = sn.PersonID
			}
		}
		actual, arefs, hasPull, err := actualSnapshots(ctx, env, runID, infos, personOf)
		if err != nil {
			return Result{}, err
		}
		if hasPull {
			prevAccess = Next(prevAccess, actual, runID, at)
			if runID == env.RunID {
				inputs = append(inputs, arefs...)
			}
		}
		next := Next(prev, snaps, runID, at)
		if runID == env.RunID {
			inputs = append(inputs, refs...)
			res.Opened, res.Closed = diffCounts(prev, next, runID)
		}
		prev = next
		res.Folded++
	}

	stage := artifact.NewStage(env, string(contract.History))
	w, err := artifact.OpenTable[Row](stage, records.IdentityHistorySpec)
	if err != nil {
		stage.Abort()
		return Result{}, fmt.Errorf("history: %w", err)
	}
	for _, r := range prev {
		if err := w.Write(r); err != nil {
			stage.Abort()
			return Result{}, fmt.Errorf("history: write identity_history: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		stage.Abort()
		return Result{}, fmt.Errorf("history: close identity_history: %w", err)
	}
	aw, err := artifact.OpenTable[Row](stage, records.AccessHistorySpec)
	if err != nil {
		stage.Abort()
		return Result{}, fmt.Errorf("history: %w", err)
	}
	for _, r := range prevAccess {
		if err := aw.Write(r); err != nil {
			stage.Abort()
			return Result{}, fmt.Errorf("history: write access_history: %w", err)
		}
	}
	if err := aw.Close(); err != nil {
		stage.Abort()
		return Result{}, fmt.Errorf("history: close access_history: %w", err)
	}
	res.AccessRows = aw.Rows()
	res.Rows = w.Rows()
	res.Current = countOpen(prev)
	for _, in := range inputs {
		stage.AddInput(in)
	}
	contract.PutSummary(stage.SetSummary, contract.HistorySummary{Rows: res.Rows, AccessRows: res.AccessRows,
		Current: res.Current, Opened: res.Opened, Closed: res.Closed, RunsFolded: res.Folded})
	ref, _, err := stage.Commit(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("history: %w", err)
	}
	res.Ref = ref
	return res, nil
}

// ReadTable reads the identity_history table a history manifest lists.
func ReadTable(ctx context.Context, st store.Store, m *artifact.Manifest, tempDir string) ([]records.IdentityHistory, error) {
	var out []records.IdentityHistory
	err := artifact.ReadTable(ctx, st, m, records.IdentityHistorySpec, func(r Row) error {
		out = append(out, r)
		return nil
	}, artifact.WithTempDir(tempDir))
	return out, err
}

// Snapshots reads the tracked state of every person in runID: persons from
// the run's transform and, when the run's plan is published, desired_users.
// It returns the manifests it read.
func Snapshots(ctx context.Context, env artifact.Env, runID string) ([]Snapshot, []artifact.Ref, error) {
	st := env.Store
	tm, tref, err := artifact.ReadManifest(ctx, st, runID, string(contract.Transform))
	if err != nil {
		return nil, nil, fmt.Errorf("history: read transform of run %s: %w", runID, err)
	}
	if tm.Status != artifact.StatusPublished {
		return nil, nil, fmt.Errorf("history: transform of run %s is %s, not published", runID, tm.Status)
	}
	refs := []artifact.Ref{tref}
	persons, err := artifact.ReadAll[records.Person](ctx, st, tm, records.PersonsSpec, artifact.WithTempDir(env.TempDir))
	if err != nil {
		return nil, nil, fmt.Errorf("history: read persons of run %s: %w", runID, err)
	}
	planned := false
	desired := map[string]*records.DesiredUser{}
	pm, pref, err := artifact.ReadManifest(ctx, st, runID, string(contract.Plan))
	switch {
	case err == nil && pm.Status == artifact.StatusPublished:
		if _, ok := pm.Tables[records.DesiredUsersSpec.Name]; ok {
			planned = true
			refs = append(refs, pref)
			err := artifact.ReadTable(ctx, st, pm, records.DesiredUsersSpec, func(d records.DesiredUser) error {
				if _, dup := desired[d.PersonID]; !dup {
					desired[d.PersonID] = &d
				}
				return nil
			}, artifact.WithTempDir(env.TempDir))
			if err != nil {
				return nil, nil, fmt.Errorf("history: read desired_users of run %s: %w", runID, err)
			}
		}
	case err == nil, errors.Is(err, artifact.ErrNotPublished):
		// No published plan (blocked or never planned): directory access.
	default:
		return nil, nil, fmt.Errorf("history: read plan of run %s: %w", runID, err)
	}
	snaps := make([]Snapshot, 0, len(persons))
	for _, p := range persons {
		snaps = append(snaps, FromPerson(p, desired[p.PersonID], planned))
	}
	return snaps, refs, nil
}

// transformRuns lists the runs up to env.RunID whose transform is published,
// oldest first.
func transformRuns(ctx context.Context, env artifact.Env) ([]string, error) {
	infos, err := artifact.ListRuns(ctx, env.Store)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	var runs []string
	for _, ri := range infos {
		if ri.RunID > env.RunID {
			continue
		}
		for _, s := range ri.Stages {
			if s.Stage == string(contract.Transform) && s.Status == artifact.StatusPublished {
				runs = append(runs, ri.RunID)
				break
			}
		}
	}
	sort.Strings(runs)
	return runs, nil
}

func countOpen(h []records.IdentityHistory) int {
	n := 0
	for _, r := range h {
		if r.ValidTo == nil {
			n++
		}
	}
	return n
}

// diffCounts counts the rows runID opened and the rows it closed.
func diffCounts(prev, next []records.IdentityHistory, runID string) (opened, closed int) {
	wasOpen := map[string]bool{}
	for _, r := range prev {
		if r.ValidTo == nil {
			wasOpen[r.PersonID+"\x00"+r.ValidFrom.Format(time.RFC3339Nano)] = true
		}
	}
	for _, r := range next {
		k := r.PersonID + "\x00" + r.ValidFrom.Format(time.RFC3339Nano)
		if r.ValidTo == nil && r.OpenedRunID == runID && !wasOpen[k] {
			opened++
		}
		if r.ValidTo != nil && wasOpen[k] {
			closed++
		}
	}
	return opened, closed
}
