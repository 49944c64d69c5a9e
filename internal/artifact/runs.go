package artifact

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/store"
)

// RunInfo describes one run as found in the store.
type RunInfo struct {
	RunID  string      `json:"run_id"`
	Stages []StageInfo `json:"stages"` // by stage name
	// The run's current exit status: from its events (the latest truth,
	// see StatusOf) when it has any, else from its run manifest.
	HasStatus bool   `json:"has_status"`
	ExitCode  int    `json:"exit_code"`
	ExitName  string `json:"exit_name,omitempty"`
	// Status is the status folded from the run's events (nil: none).
	Status *RunStatus `json:"status,omitempty"`
	// Events are the run's events, oldest first (ShowRun only).
	Events []RunEvent `json:"events,omitempty"`
	// From the run manifest, when the run wrote one (write-once: the first
	// run or apply command that ended the run writes it).
	HasRunManifest bool `json:"has_run_manifest"`
	// Manifest is the run manifest's own exit status (it may be older
	// than ExitCode: a resumed run records its new outcome as an event).
	Manifest struct {
		ExitCode int    `json:"exit_code"`
		ExitName string `json:"exit_name"`
	} `json:"run_manifest_exit,omitzero"`
	StartedAt   time.Time `json:"started_at,omitzero"`
	FinishedAt  time.Time `json:"finished_at,omitzero"`
	RunManifest string    `json:"run_manifest,omitempty"` // URL (ShowRun)
}

// StageInfo describes one published stage of a run.
type StageInfo struct {
	Stage     contract.Stage   `json:"stage"`
	Status    string           `json:"status"` // published | blocked | unreadable
	CreatedAt time.Time        `json:"created_at"`
	Rows      map[string]int64 `json:"rows"` // table -> rows
	Error     string           `json:"error,omitempty"`
	// Locations (ShowRun only).
	Manifest string               `json:"manifest,omitempty"`
	Tables   map[string]TableInfo `json:"tables,omitempty"`
	Blobs    map[string]string    `json:"blobs,omitempty"` // name -> URL
}

// TableInfo gives a table's size and file locations.
type TableInfo struct {
	Schema  string   `json:"schema"`
	Version int      `json:"schema_version"`
	Rows    int64    `json:"rows"`
	Files   []string `json:"files"` // URLs
}

// ListRuns lists every run that published at least one manifest or wrote
// an event, newest first, with each stage's status and row counts and the
// run's current exit status (events, else the run manifest). A run that
// crashed before any commit or event is not listed (its orphan parts are
// left for prune).
func ListRuns(ctx context.Context, st store.Store) ([]RunInfo, error) {
	infos, err := st.List(ctx, "_runs/")
	if err != nil {
		return nil, fmt.Errorf("list runs: list %s: %w", st.URL("_runs/"), err)
	}
	keys := manifestKeys(infos)
	byRun := map[string][]manifestKey{}
	for _, in := range infos {
		if run, rest, ok := strings.Cut(strings.TrimPrefix(in.Key, "_runs/"), "/"); ok && strings.HasPrefix(rest, "events/") && ValidateRunID(run) == nil {
			if _, ok := byRun[run]; !ok {
				byRun[run] = nil // a run with events only is listed too
			}
		}
	}
	for _, k := range keys {
		byRun[k.runID] = append(byRun[k.runID], k)
	}
	runs := make([]RunInfo, 0, len(byRun))
	for id, ks := range byRun {
		ri, err := runInfo(ctx, st, id, ks, false)
		if err != nil {
			return nil, fmt.Errorf("list runs: %w", err)
		}
		runs = append(runs, ri)
	}
	sort.Slice(runs, func(a, b int) bool { return runs[a].RunID > runs[b].RunID })
	return runs, nil
}

// ShowRun describes one run with the locations (Store.URL) of its manifests,
// data files and blobs. ErrNotPublished when the run has no manifest.
func ShowRun(ctx context.Context, st store.Store, runID string) (RunInfo, error) {
	if err := ValidateRunID(runID); err != nil {
		return RunInfo{}, fmt.Errorf("show run: %w", err)
	}
	keys, err := listManifests(ctx, st, runID)
	if err != nil {
		return RunInfo{}, fmt.Errorf("show run %s: %w", runID, err)
	}
	ri, err := runInfo(ctx, st, runID, keys, true)
	if err != nil {
		return RunInfo{}, fmt.Errorf("show run %s: %w", runID, err)
	}
	if len(keys) == 0 && len(ri.Events) == 0 {
		return RunInfo{}, fmt.Errorf("show run %s: no manifests or events under %s: %w", runID, st.URL("_runs/"+runID+"/"), ErrNotPublished)
	}
	return ri, nil
}

func runInfo(ctx context.Context, st store.Store, runID string, keys []manifestKey, locations bool) (RunInfo, error) {
	ri := RunInfo{RunID: runID, Stages: []StageInfo{}}
	for _, k := range keys {
		if k.stage == "run" {
			rm, _, err := ReadRunManifest(ctx, st, runID)
			if err != nil {
				if errors.Is(err, ErrNotPublished) {
					continue
				}
				ri.ExitName = "unreadable: " + err.Error()
				continue
			}
			ri.HasRunManifest, ri.HasStatus = true, true
			ri.ExitCode, ri.ExitName = rm.ExitCode, rm.ExitName
			ri.Manifest.ExitCode, ri.Manifest.ExitName = rm.ExitCode, rm.ExitName
			ri.StartedAt, ri.FinishedAt = rm.StartedAt, rm.FinishedAt
			if locations {
				ri.RunManifest = st.URL(k.key)
			}
			continue
		}
		si := StageInfo{Stage: k.stage, Rows: map[string]int64{}}
		if locations {
			si.Manifest = st.URL(k.key)
		}
		m, _, err := ReadManifest(ctx, st, runID, k.stage)
		if err != nil {
			if errors.Is(err, ErrNotPublished) {
				continue // deleted between List and Get
			}
			if ctx.Err() != nil {
				return ri, ctx.Err()
			}
			si.Status, si.Error = "unreadable", err.Error()
			ri.Stages = append(ri.Stages, si)
			continue
		}
		si.Status, si.CreatedAt = m.Status, m.CreatedAt
		for n, te := range m.Tables {
			si.Rows[n] = te.Rows
		}
		if locations {
			si.Tables = map[string]TableInfo{}
			for n, te := range m.Tables {
				ti := TableInfo{Schema: te.Schema, Version: te.Version, Rows: te.Rows, Files: []string{}}
				for _, f := range te.Files {
					ti.Files = append(ti.Files, st.URL(f.Key))
				}
				si.Tables[n] = ti
			}
			si.Blobs = map[string]string{}
			for n, b := range m.Blobs {
				si.Blobs[n] = st.URL(b.Key)
			}
		}
		ri.Stages = append(ri.Stages, si)
	}
	evs, _, err := ReadRunEvents(ctx, st, runID)
	if err != nil {
		return ri, err
	}
	if rs, ok := StatusOf(evs); ok {
		ri.Status = &rs
		ri.HasStatus = true
		ri.ExitCode, ri.ExitName = rs.ExitCode, rs.ExitName
	}
	if locations {
		ri.Events = evs
	}
	return ri, nil
}

// StageNames lists the stages of runID that have a manifest (the run
// manifest excluded), sorted.
func StageNames(ctx context.Context, st store.Store, runID string) ([]string, error) {
	if err := ValidateRunID(runID); err != nil {
		return nil, fmt.Errorf("list stages: %w", err)
	}
	keys, err := listManifests(ctx, st, runID)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, k := range keys {
		if k.stage != "run" {
			out = append(out, string(k.stage))
		}
	}
	sort.Strings(out)
	return out, nil
}
