package artifact

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/otds-highspot/otds-highspot/internal/contract"
)

// publishRun commits a transform stage with a table and a blob, then a run
// manifest, and returns the stage ref and manifest.
func publishRun(t *testing.T, st *memStore, runID string, rows int) (Ref, *Manifest, Ref) {
	t.Helper()
	ctx := context.Background()
	env := testEnv(t, st, runID)
	s := NewStage(env, "transform")
	s.SetLimits(Limits{RowGroupRows: 10, PartRows: 20})
	w, err := OpenTable[contract.PersonLink](s, contract.PersonLinksSpec)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < rows; i++ {
		if err := w.Write(contract.PersonLink{AccountKey: "k", PersonID: "p", Rule: "email"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.PutBlob(ctx, "report.json", []byte(`{"ok":true}`)); err != nil {
		t.Fatal(err)
	}
	s.SetSummary("persons", rows)
	ref, m, err := s.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rref, err := WriteRunManifest(ctx, env, RunManifest{StartedAt: env.Now(), Stages: []Ref{ref}, ExitCode: 0})
	if err != nil {
		t.Fatal(err)
	}
	return ref, m, rref
}

func TestVerifyDetectsTampering(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	ref1, _, rref1 := publishRun(t, st, "20261123T100000Z-aaaa", 15)
	_, _, _ = publishRun(t, st, "20261124T100000Z-bbbb", 15)
	ref3, m3, _ := publishRun(t, st, "20261125T100000Z-cccc", 45)

	if m3.Previous == nil || m3.Previous.RunID != "20261124T100000Z-bbbb" {
		t.Fatalf("run 3 previous = %+v, want run 2", m3.Previous)
	}
	rep, err := Verify(ctx, st, "20261125T100000Z-cccc")
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("clean store: problems %v", rep.Problems)
	}
	if got, want := rep.Files, 4; got != want { // 3 parts + 1 blob
		t.Errorf("files checked = %d, want %d", got, want)
	}
	if rep.ChainLinks < 4 { // stage ref, 2 stage previous, 2 run previous
		t.Errorf("chain links checked = %d, want >= 4", rep.ChainLinks)
	}

	part := m3.Tables["person_links"].Files[1].Key
	st.flip(part, 100)
	// An earlier run's stage manifest: one byte of its host name.
	st.flip(ref1.Key, strings.Index(string(st.objs[ref1.Key]), "test-host"))
	if err := st.Delete(ctx, m3.Blobs["report.json"].Key); err != nil {
		t.Fatal(err)
	}
	rep, err = Verify(ctx, st, "20261125T100000Z-cccc")
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(rep.Problems, "\n")
	for _, want := range []string{
		part + " (table person_links of stage transform) has changed content",
		ref1.Key + " (transform of run 20261123T100000Z-aaaa, previous of _runs/20261124T100000Z-bbbb/transform.manifest.json) was changed after it was referenced",
		"report.json (blob report.json of stage transform) is missing",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("problems do not mention %q:\n%s", want, all)
		}
	}
	if len(rep.Problems) != 3 {
		t.Errorf("got %d problems, want 3:\n%s", len(rep.Problems), all)
	}

	// Changing the newest stage manifest is caught through the run manifest.
	st.flip(ref3.Key, 5)
	rep, _ = Verify(ctx, st, "20261125T100000Z-cccc")
	if !strings.Contains(strings.Join(rep.Problems, "\n"), ref3.Key+" (transform of run 20261125T100000Z-cccc, listed by the run manifest) was changed") {
		t.Errorf("tampered newest manifest not reported: %v", rep.Problems)
	}
	// A removed run manifest breaks the run chain.
	if err := st.Delete(ctx, rref1.Key); err != nil {
		t.Fatal(err)
	}
	rep, _ = Verify(ctx, st, "20261124T100000Z-bbbb")
	if !strings.Contains(strings.Join(rep.Problems, "\n"), "run.manifest.json (run of run 20261123T100000Z-aaaa, previous of _runs/20261124T100000Z-bbbb/run.manifest.json) is missing: the chain is broken") {
		t.Errorf("missing run manifest not reported: %v", rep.Problems)
	}
	if _, err := Verify(ctx, st, "20261126T000000Z-none"); !errors.Is(err, ErrNotPublished) {
		t.Errorf("verify of unknown run: got %v, want ErrNotPublished", err)
	}
}

func TestListAndShowRuns(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	publishRun(t, st, "20261124T100000Z-bbbb", 5)
	// Run 2: a blocked plan and no run manifest yet.
	s := NewStage(testEnv(t, st, "20261125T100000Z-cccc"), "plan")
	s.SetStatus(StatusBlocked)
	w, _ := OpenTable[contract.Change](s, contract.ChangesSpec)
	_ = w.Write(contract.Change{ChangeID: "c1"})
	if _, _, err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	runs, err := ListRuns(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].RunID != "20261125T100000Z-cccc" || runs[1].RunID != "20261124T100000Z-bbbb" {
		t.Fatalf("runs = %+v, want newest first", runs)
	}
	if r := runs[0]; r.HasRunManifest || len(r.Stages) != 1 || r.Stages[0].Status != StatusBlocked || r.Stages[0].Rows["changes"] != 1 {
		t.Errorf("run 2 = %+v", r)
	}
	if r := runs[1]; !r.HasRunManifest || r.ExitName != "ok" || r.Stages[0].Rows["person_links"] != 5 {
		t.Errorf("run 1 = %+v", r)
	}
	// A blocked plan is not the latest published plan.
	if _, _, err := LatestManifest(ctx, st, "plan", ""); !errors.Is(err, ErrNotPublished) {
		t.Errorf("LatestManifest(plan) = %v, want ErrNotPublished for a blocked plan", err)
	}
	ri, err := ShowRun(ctx, st, "20261124T100000Z-bbbb")
	if err != nil {
		t.Fatal(err)
	}
	si := ri.Stages[0]
	if si.Manifest != "mem:///_runs/20261124T100000Z-bbbb/transform.manifest.json" ||
		!strings.HasPrefix(si.Blobs["report.json"], "mem:///_runs/20261124T100000Z-bbbb/transform/") || !strings.HasSuffix(si.Blobs["report.json"], "/report.json") ||
		len(si.Tables["person_links"].Files) != 1 || !strings.HasPrefix(si.Tables["person_links"].Files[0], "mem:///person_links/dt=2026-11-24/run_id=20261124T100000Z-bbbb/part-00000-") ||
		ri.RunManifest != "mem:///_runs/20261124T100000Z-bbbb/run.manifest.json" {
		t.Errorf("ShowRun = %+v", ri)
	}
	if _, err := ShowRun(ctx, st, "20261126T000000Z-none"); !errors.Is(err, ErrNotPublished) {
		t.Errorf("ShowRun of unknown run: got %v, want ErrNotPublished", err)
	}
}

func TestStageRejectsBadNames(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	for _, tc := range []struct{ run, stage string }{
		{"not-a-date", "transform"},
		{"20261125T100000Z-aaaa", "run"},
		{"20261125T100000Z-aaaa", "a/b"},
		{"20261125/x", "transform"},
	} {
		s := NewStage(testEnv(t, st, tc.run), contract.Stage(tc.stage))
		if _, err := OpenTable[contract.Reject](s, contract.RejectsSpec); err == nil {
			t.Errorf("OpenTable with run %q stage %q succeeded", tc.run, tc.stage)
		}
		if _, _, err := s.Commit(ctx); err == nil {
			t.Errorf("Commit with run %q stage %q succeeded", tc.run, tc.stage)
		}
	}
	// Local scratch files are gone after Commit.
	env := testEnv(t, st, "20261125T100000Z-aaaa")
	s := NewStage(env, "transform")
	w, _ := OpenTable[contract.Reject](s, contract.RejectsSpec)
	_ = w.Write(contract.Reject{})
	if _, _, err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(env.TempDir); len(left) != 0 {
		t.Errorf("scratch left behind: %v", left)
	}
}
