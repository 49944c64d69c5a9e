package apply

import (
	"context"
	"fmt"
	"testing"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/internal/store"
	"github.com/otds-highspot/otds-highspot/load/internal/loadtest"
)

const testRunID = "20261125T120000Z-abcd"

func testEnv(t *testing.T) artifact.Env {
	t.Helper()
	st, err := store.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return artifact.Env{Store: st, RunID: testRunID, TempDir: t.TempDir(), Log: quiet(), Version: "test"}
}

// publishPlan publishes a plan stage holding changes, as transform/plan does;
// sha "" records the changes' real hash.
func publishPlan(t *testing.T, env artifact.Env, changes []contract.Change, status, sha string) {
	t.Helper()
	loadtest.PublishPlan(t, env, changes, status, contract.PlanSummary{PlanSHA256: sha})
}

func TestRunApplyRefusesPlan(t *testing.T) {
	tests := []struct {
		name     string
		status   string
		givenSHA string
		recorded string // "" = the changes' real hash
		fresh    error
		wantCode int
	}{
		{"blocked", artifact.StatusBlocked, "", "", nil, exitcode.PlanBlocked},
		{"hash mismatch", artifact.StatusPublished, "other", "", nil, exitcode.Usage},
		{"stale baseline", artifact.StatusPublished, "", "", exitcode.New(exitcode.Usage, "baseline changed"), exitcode.Usage},
		// the manifest's hash is not the hash of the changes apply would execute
		{"changes differ from the recorded hash", artifact.StatusPublished, "", "abc", nil, exitcode.Unexpected},
		{"changes differ from the reviewed hash", artifact.StatusPublished, "abc", "abc", nil, exitcode.Unexpected},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := testEnv(t)
			publishPlan(t, env, plan(), tc.status, tc.recorded)
			f := newFake()
			opts := fastOpts()
			opts.PlanSHA256 = tc.givenSHA
			if tc.fresh != nil {
				opts.CheckFresh = func(context.Context) error { return tc.fresh }
			}
			_, err := RunApply(t.Context(), env, nil, f, opts)
			if got := exitcode.Of(err); got != tc.wantCode {
				t.Errorf("exit code: got %d, want %d (%v)", got, tc.wantCode, err)
			}
			if len(f.calls) != 0 {
				t.Errorf("calls: got %v, want none", f.calls)
			}
		})
	}
}

func TestRunApplyResumesAndCommits(t *testing.T) {
	env := testEnv(t)
	var changes []contract.Change
	for i := range 60 {
		changes = append(changes, contract.Change{ChangeID: fmt.Sprintf("m%02d", i), Seq: int64(i), Op: contract.OpAddMember, Email: "a@x.com", HighspotID: "h", GroupID: "g"})
	}
	publishPlan(t, env, changes, artifact.StatusPublished, "")

	// First attempt: the target starts failing after 25 writes; the breaker stops it.
	f := newFake()
	f.fail = func(call string, n int) error {
		if call == "add" && n > 25 {
			return statusErr{status: 503}
		}
		return nil
	}
	opts := fastOpts()
	opts.Concurrency, opts.FlushEvery = 1, 10
	opts.BreakerWindow, opts.BreakerMinRequests, opts.BreakerThreshold = 10, 5, 0.5
	res, err := RunApply(t.Context(), env, nil, f, opts)
	if exitcode.Of(err) != exitcode.Transient {
		t.Fatalf("first attempt: got %v, want a transient error", err)
	}
	if res.Manifest != nil {
		t.Fatal("first attempt committed a manifest")
	}

	// Second attempt resumes from the flushed parts.
	f2 := newFake()
	res, err = RunApply(t.Context(), env, nil, f2, fastOpts())
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	if res.Summary.Resumed < 20 || f2.n["add"] != 60-res.Summary.Resumed {
		t.Errorf("got resumed=%d adds=%d, want >=20 resumed and the rest applied", res.Summary.Resumed, f2.n["add"])
	}
	rows, err := artifact.ReadAll[contract.LoadResult](t.Context(), env.Store, res.Manifest, contract.LoadResultsSpec)
	if err != nil {
		t.Fatal(err)
	}
	// The committed ledger holds every row of both attempts (the first
	// attempt's failures too) and exactly one applied row per change.
	applied := map[string]int{}
	for _, r := range rows {
		if r.Status == contract.StatusApplied {
			applied[r.ChangeID]++
		}
	}
	if len(applied) != 60 {
		t.Errorf("manifest ledger: got %d applied change ids, want 60", len(applied))
	}
	for id, n := range applied {
		if n != 1 {
			t.Errorf("change %s: got %d applied rows in the committed ledger, want 1", id, n)
		}
	}
	if got := fmt.Sprint(res.Manifest.Summary["by_op"]); got != "map[add_member:map[applied:60]]" {
		t.Errorf("summary by_op: got %s, want add_member applied 60", got)
	}

	// Third attempt: already published, nothing to do.
	res, err = RunApply(t.Context(), env, nil, newFake(), fastOpts())
	if err != nil || !res.AlreadyPublished {
		t.Errorf("re-run after commit: got %v, %+v; want already published", err, res)
	}
}

// TestRunApplyRetriesFailedChangesUntilComplete: an attempt that leaves
// changes failed commits an incomplete attempt manifest (exit 6); the next
// attempts retry only those changes; "apply" is committed once none remains
// failed, and then nothing is sent again.
func TestRunApplyRetriesFailedChangesUntilComplete(t *testing.T) {
	env := testEnv(t)
	var changes []contract.Change
	for i := range 10 {
		changes = append(changes, contract.Change{ChangeID: fmt.Sprintf("m%02d", i), Seq: int64(i), Op: contract.OpAddMember, Email: "a@x.com", HighspotID: "h", GroupID: "g"})
	}
	publishPlan(t, env, changes, artifact.StatusPublished, "")
	failAdds := func(upTo int) func(string, int) error {
		return func(call string, n int) error {
			if call == "add" && n <= upTo {
				return statusErr{status: 404}
			}
			return nil
		}
	}
	opts := fastOpts()
	opts.Concurrency = 1

	attempts := []struct {
		failFirst  int
		wantCode   int
		wantStage  contract.Stage
		wantStatus string
		wantAdds   int
	}{
		{3, exitcode.ApplyFailed, "apply.attempt-001", artifact.StatusIncomplete, 10},
		{1, exitcode.ApplyFailed, "apply.attempt-002", artifact.StatusIncomplete, 3},
		{0, exitcode.OK, "apply", artifact.StatusPublished, 1},
	}
	for i, a := range attempts {
		f := newFake()
		f.fail = failAdds(a.failFirst)
		res, err := RunApply(t.Context(), env, nil, f, opts)
		if got := exitcode.Of(err); got != a.wantCode {
			t.Fatalf("attempt %d: exit %d, want %d (%v)", i+1, got, a.wantCode, err)
		}
		if res.Manifest == nil || res.Manifest.Stage != a.wantStage || res.Manifest.Status != a.wantStatus {
			t.Fatalf("attempt %d: committed %+v, want stage %s status %s", i+1, res.Manifest, a.wantStage, a.wantStatus)
		}
		if f.n["add"] != a.wantAdds {
			t.Errorf("attempt %d: got %d adds, want %d", i+1, f.n["add"], a.wantAdds)
		}
	}
	f := newFake()
	res, err := RunApply(t.Context(), env, nil, f, opts)
	if err != nil || !res.AlreadyPublished || len(f.calls) != 0 {
		t.Fatalf("apply after completion: got %v, already=%v, calls %v; want nothing done", err, res.AlreadyPublished, f.calls)
	}
	// The run's ledger: every row of every attempt, each published once.
	total := 0
	for _, stage := range []string{"apply.attempt-001", "apply.attempt-002", "apply"} {
		m, _, err := artifact.ReadManifest(t.Context(), env.Store, env.RunID, contract.Stage(stage))
		if err != nil {
			t.Fatal(err)
		}
		total += int(m.TableRows(contract.LoadResultsSpec.Name))
	}
	if total != 14 {
		t.Errorf("ledger rows over all attempts: got %d, want 14 (10 + 3 + 1)", total)
	}
}
