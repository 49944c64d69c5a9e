package pipelines

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/exitcode"
)

// RunsList prints every run, newest first.
func (a *App) RunsList(ctx context.Context) error {
	runs, err := artifact.ListRuns(ctx, a.Store)
	if err != nil {
		return err
	}
	a.Summary.Details = map[string]any{"runs": runs}
	if len(runs) == 0 {
		fmt.Fprintf(a.Stdout, "no runs in %s\n", a.Store.URL(""))
		return nil
	}
	fmt.Fprintf(a.Stdout, "%-26s %-13s %s\n", "RUN ID", "EXIT", "STAGES")
	for _, r := range runs {
		exit := "-" // a run from before run events, stages run one by one
		if r.HasStatus {
			exit = fmt.Sprintf("%d %s", r.ExitCode, r.ExitName)
		}
		var st []string
		for _, s := range r.Stages {
			mark := ""
			if s.Status != artifact.StatusPublished {
				mark = "(" + s.Status + ")"
			}
			st = append(st, string(s.Stage)+mark)
		}
		fmt.Fprintf(a.Stdout, "%-26s %-13s %s\n", r.RunID, exit, strings.Join(st, " "))
	}
	return nil
}

// RunsShow prints one run with counts and artifact locations.
func (a *App) RunsShow(ctx context.Context, runID string) error {
	r, err := artifact.ShowRun(ctx, a.Store, runID)
	if err != nil {
		return err
	}
	a.Summary.RunID = runID
	a.Summary.Details = map[string]any{"run": r}
	fmt.Fprintf(a.Stdout, "run %s\n", r.RunID)
	if r.Status != nil {
		fmt.Fprintf(a.Stdout, "  exit %d (%s) now, decided by %s at %s; %d attempts\n",
			r.ExitCode, r.ExitName, r.Status.Command, r.Status.At.Format("2006-01-02 15:04:05Z07:00"), r.Status.Attempts)
		for _, e := range r.Events {
			stages := strings.Join(e.Stages, ",")
			if e.FailedStage != "" {
				stages += " (failed at " + e.FailedStage + ")"
			}
			fmt.Fprintf(a.Stdout, "    %s  %-9s exit %-3d %-13s %s pid %d  %s\n", e.FinishedAt.Format("2006-01-02 15:04:05Z"), e.Command, e.ExitCode, e.ExitName, e.Host, e.PID, stages)
		}
	}
	if r.HasRunManifest {
		fmt.Fprintf(a.Stdout, "  run manifest (first end of the run): exit %d (%s), started %s, finished %s\n  %s\n",
			r.Manifest.ExitCode, r.Manifest.ExitName, r.StartedAt.Format("2006-01-02 15:04:05Z07:00"), r.FinishedAt.Format("15:04:05Z07:00"), r.RunManifest)
	} else {
		fmt.Fprintln(a.Stdout, "  no run manifest yet (the run has not reached its end: apply, or run)")
	}
	for _, s := range r.Stages {
		fmt.Fprintf(a.Stdout, "  %-18s %-10s %s\n", s.Stage, s.Status, s.Manifest)
		names := make([]string, 0, len(s.Tables))
		for n := range s.Tables {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			t := s.Tables[n]
			loc := ""
			if len(t.Files) > 0 {
				loc = t.Files[0]
				if len(t.Files) > 1 {
					loc += fmt.Sprintf(" (+%d files)", len(t.Files)-1)
				}
			}
			fmt.Fprintf(a.Stdout, "      %-22s %8d rows  %s\n", n, t.Rows, loc)
		}
		for n, u := range s.Blobs {
			fmt.Fprintf(a.Stdout, "      %-22s %s\n", n, u)
		}
	}
	return nil
}

// RunsVerify re-hashes a run's files and walks the manifest chain; any
// problem is listed and the command exits 1.
func (a *App) RunsVerify(ctx context.Context, runID string) error {
	rep, err := artifact.Verify(ctx, a.Store, runID)
	if err != nil {
		return err
	}
	a.Summary.RunID = runID
	a.Summary.Details = map[string]any{"verify": rep}
	fmt.Fprintf(a.Stdout, "run %s: %d manifests, %d files (%d bytes) re-hashed, %d chain links checked\n",
		runID, rep.Manifests, rep.Files, rep.Bytes, rep.ChainLinks)
	if rep.OK() {
		fmt.Fprintln(a.Stdout, "OK: every file and chain link matches")
		return nil
	}
	for _, p := range rep.Problems {
		fmt.Fprintln(a.Stdout, "PROBLEM: "+p)
	}
	return exitcode.New(exitcode.Unexpected, "verify %s: %d problems found (listed above); the artifacts were changed after publication or are incomplete", runID, len(rep.Problems))
}
