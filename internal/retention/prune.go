// Package retention owns prune: removing old runs and orphan part files from
// stores that have no lifecycle rules of their own, without ever removing
// what a retention rule (S3 Object Lock) still holds, the newest runs, or the
// latest published manifest of any stage.
//
// A run is removed whole: its stage manifests first (so a half-pruned run
// never looks published), then its run manifest, blobs and part files. A run
// with any object still under retention is skipped entirely and reported.
package retention

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/store"
)

// Defaults.
const (
	DefaultKeepRuns    = 1
	DefaultOrphanGrace = 72 * time.Hour
)

// Options say what prune may remove.
type Options struct {
	// KeepDays: runs whose date (the run id's YYYYMMDD) is at least this many
	// days before today (UTC) may be removed. Must be >= 0.
	KeepDays int
	// KeepRuns: the newest N runs are never removed (default 1, minimum 1).
	KeepRuns int
	// OrphanGrace: part files no manifest lists, in runs that are kept, are
	// removed once older than this (default 72h). Negative disables orphan
	// removal.
	OrphanGrace time.Duration
	// DryRun lists what would be removed and removes nothing.
	DryRun bool
	Now    func() time.Time   // default time.Now
	Log    logrus.FieldLogger // default: discard
}

// Run reasons in Report.Kept.
const (
	KeptRecent   = "newer than keep_days"
	KeptNewest   = "among the newest runs"
	KeptLatest   = "holds the latest published manifest of a stage"
	KeptLocked   = "holds the run lock (running)"
	KeptRetained = "an object is under retention"
	KeptUnknown  = "a manifest cannot be read"
)

// RunAction is one run removed (or, in a dry run, to be removed).
type RunAction struct {
	RunID string   `json:"run_id"`
	Keys  []string `json:"keys"` // in deletion order
}

// Report says what prune did.
type Report struct {
	DryRun   bool              `json:"dry_run"`
	Removed  []RunAction       `json:"removed"`  // whole runs
	Orphans  []string          `json:"orphans"`  // unlisted part files and attempt blobs removed
	Kept     map[string]string `json:"kept"`     // run id -> reason
	Retained map[string]string `json:"retained"` // key -> retain-until (RFC 3339)
	Deleted  int               `json:"deleted"`  // objects deleted
}

// runObjects is everything a run owns in the store.
type runObjects struct {
	manifests []store.Info // _runs/<run>/<stage>.manifest.json
	runMan    []store.Info // _runs/<run>/run.manifest.json
	other     []store.Info // blobs and anything else under _runs/<run>/
	parts     []store.Info // <table>/dt=.../run_id=<run>/...
	staging   []store.Info // _staging/<run>/<attempt>/...: attempts' uploads and commit records
}

// Prune removes runs older than KeepDays and orphan part files older than
// OrphanGrace. It stops at the first error; a Delete that fails with
// store.ErrRetained stops prune with an error that says so (the Stat check
// before each run normally prevents it).
func Prune(ctx context.Context, st store.Store, opts Options) (Report, error) {
	if opts.KeepDays < 0 {
		return Report{}, fmt.Errorf("prune: keep days must be >= 0, got %d", opts.KeepDays)
	}
	if opts.KeepRuns < DefaultKeepRuns {
		opts.KeepRuns = DefaultKeepRuns
	}
	if opts.OrphanGrace == 0 {
		opts.OrphanGrace = DefaultOrphanGrace
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	t := now().UTC()
	log := opts.Log
	if log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		log = l
	}
	rep := Report{DryRun: opts.DryRun, Removed: []RunAction{}, Orphans: []string{}, Kept: map[string]string{}, Retained: map[string]string{}}

	all, err := st.List(ctx, "")
	if err != nil {
		return rep, fmt.Errorf("prune: list the store: %w", err)
	}
	runs := map[string]*runObjects{}
	get := func(id string) *runObjects {
		r := runs[id]
		if r == nil {
			r = &runObjects{}
			runs[id] = r
		}
		return r
	}
	for _, in := range all {
		if id, rest, ok := underRuns(in.Key); ok {
			switch {
			case rest == "run.manifest.json":
				get(id).runMan = append(get(id).runMan, in)
			case strings.HasSuffix(rest, ".manifest.json") && !strings.Contains(rest, "/"):
				get(id).manifests = append(get(id).manifests, in)
			default:
				get(id).other = append(get(id).other, in)
			}
			continue
		}
		if r, ok := strings.CutPrefix(in.Key, "_staging/"); ok {
			if id, _, ok := strings.Cut(r, "/"); ok && id != "" {
				get(id).staging = append(get(id).staging, in)
			}
			continue
		}
		if id, ok := partRun(in.Key); ok {
			get(id).parts = append(get(id).parts, in)
		}
	}

	ids := make([]string, 0, len(runs))
	for id := range runs {
		ids = append(ids, id)
	}
	sort.Strings(ids)

	// Read every stage manifest: which files it lists, and which run holds
	// each stage's latest published manifest.
	listed := map[string]bool{}
	latest := map[string]string{} // stage -> run id
	unreadable := map[string]bool{}
	for _, id := range ids {
		for _, mi := range runs[id].manifests {
			stage := strings.TrimSuffix(mi.Key[len("_runs/"+id+"/"):], ".manifest.json")
			m, _, err := artifact.ReadManifest(ctx, st, id, contract.Stage(stage))
			if err != nil {
				if ctx.Err() != nil {
					return rep, fmt.Errorf("prune: %w", ctx.Err())
				}
				log.WithError(err).WithField("run_id", id).Warn("prune: manifest cannot be read; the run is kept")
				unreadable[id] = true
				continue
			}
			for _, te := range m.Tables {
				for _, f := range te.Files {
					listed[f.Key] = true
				}
			}
			for _, b := range m.Blobs {
				listed[b.Key] = true
			}
			if m.Status == artifact.StatusPublished && id > latest[stage] {
				latest[stage] = id
			}
		}
	}
	latestRuns := map[string]bool{}
	for _, id := range latest {
		latestRuns[id] = true
	}
	lockRun := lockHolder(ctx, st)

	// Newest KeepRuns runs that published anything.
	newest := map[string]bool{}
	for i, n := len(ids)-1, 0; i >= 0 && n < opts.KeepRuns; i-- {
		if len(runs[ids[i]].manifests) > 0 || len(runs[ids[i]].runMan) > 0 {
			newest[ids[i]] = true
			n++
		}
	}
	today := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	cutoff := today.AddDate(0, 0, -opts.KeepDays)

	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return rep, fmt.Errorf("prune: %w", err)
		}
		ro := runs[id]
		d, derr := artifact.RunDate(id)
		reason := ""
		switch {
		case derr != nil:
			continue // not one of ours
		case id == lockRun:
			reason = KeptLocked
		case newest[id]:
			reason = KeptNewest
		case latestRuns[id]:
			reason = KeptLatest
		case unreadable[id]:
			reason = KeptUnknown
		case !d.Before(cutoff):
			reason = KeptRecent
		}
		if reason == "" {
			keys, held, err := runKeys(ctx, st, ro, t, rep.Retained)
			if err != nil {
				return rep, err
			}
			if held {
				rep.Kept[id] = KeptRetained
				log.WithField("run_id", id).Info("prune: run kept, an object is under retention")
				continue
			}
			act := RunAction{RunID: id, Keys: keys}
			if !opts.DryRun {
				for _, k := range keys {
					if err := del(ctx, st, k); err != nil {
						return rep, fmt.Errorf("prune run %s: %w", id, err)
					}
					rep.Deleted++
				}
				log.WithFields(logrus.Fields{"run_id": id, "objects": len(keys)}).Info("prune: run removed")
			}
			rep.Removed = append(rep.Removed, act)
			continue
		}
		rep.Kept[id] = reason
		// Kept run: remove its orphan parts (listed by no manifest) after the grace.
		if opts.OrphanGrace < 0 || unreadable[id] || id == lockRun {
			continue
		}
		// Staging files are never read by engines; a commit record is kept
		// (RollForward finishes its commit) unless its stage is published.
		for _, p := range append(append(attemptBlobs(id, ro.other), ro.parts...), stagingGarbage(ctx, st, id, ro.staging)...) {
			if listed[p.Key] || p.ModTime.IsZero() || t.Sub(p.ModTime) < opts.OrphanGrace {
				continue
			}
			held, err := retained(ctx, st, p, t, rep.Retained)
			if err != nil {
				return rep, err
			}
			if held {
				continue
			}
			if !opts.DryRun {
				if err := del(ctx, st, p.Key); err != nil {
					return rep, fmt.Errorf("prune orphan part of run %s: %w", id, err)
				}
				rep.Deleted++
			}
			rep.Orphans = append(rep.Orphans, p.Key)
		}
	}
	return rep, nil
}

// stagingGarbage is a run's staging files minus those of commits not
// finished yet (the next attempt rolls them forward). On an error it keeps
// everything.
func stagingGarbage(ctx context.Context, st store.Store, runID string, staging []store.Info) []store.Info {
	if len(staging) == 0 {
		return nil
	}
	pending, err := artifact.PendingCommits(ctx, st, runID)
	if err != nil {
		return nil
	}
	var out []store.Info
	for _, in := range staging {
		rest := strings.TrimPrefix(in.Key, artifact.StagingPrefix(runID))
		attempt, _, _ := strings.Cut(rest, "/")
		if !pending[artifact.StagingPrefix(runID)+attempt+"/"] {
			out = append(out, in)
		}
	}
	return out
}

// attemptBlobs picks the blobs of stage attempts (_runs/<run>/<stage>/<attempt>/<name>)
// among a run's other objects: the ones no manifest lists are orphans of a
// failed attempt.
func attemptBlobs(runID string, other []store.Info) []store.Info {
	var out []store.Info
	for _, in := range other {
		seg := strings.Split(strings.TrimPrefix(in.Key, "_runs/"+runID+"/"), "/")
		if len(seg) == 3 && isAttempt(seg[1]) && !strings.HasPrefix(in.Key, artifact.EventsPrefix(runID)) {
			out = append(out, in)
		}
	}
	return out
}

// isAttempt reports whether s looks like a stage attempt id (8 hex digits),
// so that other folders under _runs/<run>/ (events, approvals) are never
// taken for attempt blobs.
func isAttempt(s string) bool {
	if len(s) != 8 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// runKeys stats every object of a run (S3 List does not return retention)
// and returns them in deletion order: stage manifests, run manifest, blobs,
// parts. held is true when any object is under retention.
func runKeys(ctx context.Context, st store.Store, ro *runObjects, now time.Time, retainedOut map[string]string) ([]string, bool, error) {
	var keys []string
	held := false
	for _, group := range [][]store.Info{ro.manifests, ro.runMan, ro.other, ro.staging, ro.parts} {
		for _, in := range group {
			h, err := retained(ctx, st, in, now, retainedOut)
			if err != nil {
				return nil, false, err
			}
			held = held || h
			keys = append(keys, in.Key)
		}
	}
	return keys, held, nil
}

// retained stats key and records it when its retain-until is in the future.
func retained(ctx context.Context, st store.Store, in store.Info, now time.Time, out map[string]string) (bool, error) {
	info, err := st.Stat(ctx, in.Key)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("prune: stat %s: %w", st.URL(in.Key), err)
	}
	if info.RetainUntil.After(now) {
		out[in.Key] = info.RetainUntil.UTC().Format(time.RFC3339)
		return true, nil
	}
	return false, nil
}

func del(ctx context.Context, st store.Store, key string) error {
	err := st.Delete(ctx, key)
	switch {
	case err == nil, errors.Is(err, store.ErrNotFound):
		return nil
	case errors.Is(err, store.ErrRetained):
		return fmt.Errorf("delete %s: a retention rule still holds it; prune stopped (nothing else was removed after it): %w", st.URL(key), err)
	}
	return fmt.Errorf("delete %s: %w", st.URL(key), err)
}

// underRuns splits _runs/<run>/<rest>.
func underRuns(key string) (runID, rest string, ok bool) {
	r, ok := strings.CutPrefix(key, "_runs/")
	if !ok {
		return "", "", false
	}
	runID, rest, ok = strings.Cut(r, "/")
	return runID, rest, ok && runID != ""
}

// partRun finds the run of <table>/dt=YYYY-MM-DD/run_id=<run>/<file>.
func partRun(key string) (string, bool) {
	seg := strings.Split(key, "/")
	if len(seg) != 4 || strings.HasPrefix(seg[0], "_") || !strings.HasPrefix(seg[1], "dt=") {
		return "", false
	}
	id, ok := strings.CutPrefix(seg[2], "run_id=")
	return id, ok && id != ""
}

// lockHolder is the run id in the run lock, "" when there is none.
func lockHolder(ctx context.Context, st store.Store) string {
	rc, err := st.Get(ctx, artifact.LockKey)
	if err != nil {
		return ""
	}
	defer rc.Close()
	var h artifact.LockHolder
	if err := json.NewDecoder(io.LimitReader(rc, 1<<16)).Decode(&h); err != nil {
		return ""
	}
	return h.RunID
}
