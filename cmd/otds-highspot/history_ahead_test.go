package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/contract"
)

// TestPlanWithHistoryReadAhead: plan reads the run's persons for history
// while the plan is made; the outcomes stay those of plan, then history,
// one after the other. A history that fails leaves the plan published and
// no history, with exit 1 naming what history could not read; a plan that
// fails stops the read ahead and publishes neither.
func TestPlanWithHistoryReadAhead(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run skipped in -short mode")
	}
	const day1, day2 = "20261106T023000Z-day1", "20261107T023000Z-day2"
	ctx := context.Background()
	// corrupt overwrites the first file of table in the stage of run.
	corrupt := func(t *testing.T, w demoWorld, run string, stage contract.Stage, table string) {
		t.Helper()
		st := mustFileStore(t, filepath.Join(w.dir, "artifacts"))
		m, _, err := artifact.ReadManifest(ctx, st, run, stage)
		if err != nil {
			t.Fatal(err)
		}
		files := m.Tables[table].Files
		if len(files) == 0 {
			t.Fatalf("%s of run %s lists no %s file", stage, run, table)
		}
		if err := os.WriteFile(filepath.Join(w.dir, "artifacts", files[0].Key), []byte("not parquet"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	published := func(t *testing.T, w demoWorld, run string, stage contract.Stage) bool {
		t.Helper()
		_, _, err := artifact.ReadManifest(ctx, mustFileStore(t, filepath.Join(w.dir, "artifacts")), run, stage)
		if err != nil && !errors.Is(err, artifact.ErrNotPublished) {
			t.Fatal(err)
		}
		return err == nil
	}
	for _, tc := range []struct {
		name       string
		breakIt    func(t *testing.T, w demoWorld)
		code       int
		stderr     string
		plan, hist bool
	}{
		{"both succeed", func(*testing.T, demoWorld) {}, 0, "", true, true},
		{"history fails after the plan is published",
			func(t *testing.T, w demoWorld) {
				corrupt(t, w, day1, contract.History, contract.IdentityHistorySpec.Name)
			},
			1, "history: read the previous identity_history of run " + day1, true, false},
		{"plan fails while history reads ahead",
			func(t *testing.T, w demoWorld) { corrupt(t, w, day2, contract.Pull, contract.HighspotUsersSpec.Name) },
			1, "plan: read highspot_users of pull " + day2, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newDemoWorld(t)
			if r := w.run(t, "--run-id", day1, "run"); r.code != 0 {
				t.Fatalf("day 1: exit %d\n%s", r.code, r.stderr)
			}
			if r := w.run(t, "--run-id", day2, "run", "--until", "pull"); r.code != 0 {
				t.Fatalf("day 2 until pull: exit %d\n%s", r.code, r.stderr)
			}
			tc.breakIt(t, w)
			r := w.run(t, "--run-id", day2, "plan")
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) {
				t.Fatalf("plan: exit %d, want %d with %q\n%s", r.code, tc.code, tc.stderr, r.stderr)
			}
			if got := published(t, w, day2, contract.Plan); got != tc.plan {
				t.Errorf("plan published: got %v, want %v", got, tc.plan)
			}
			if got := published(t, w, day2, contract.History); got != tc.hist {
				t.Errorf("history published: got %v, want %v", got, tc.hist)
			}
			if !tc.hist {
				return
			}
			st := mustFileStore(t, filepath.Join(w.dir, "artifacts"))
			m, _, err := artifact.ReadManifest(ctx, st, day2, contract.History)
			if err != nil {
				t.Fatal(err)
			}
			if ps, _ := contract.SummaryOf[contract.HistorySummary](m.Summary); ps.Current == 0 || ps.Rows == 0 {
				t.Errorf("day 2 history: got %+v, want the day's persons", ps)
			}
		})
	}
}
