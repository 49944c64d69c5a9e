package plan

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/config"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/internal/store"
	"github.com/otds-highspot/otds-highspot/transform/plan/policyconf"
)

type stand struct {
	t   *testing.T
	st  store.Store
	cfg *config.Config
}

func newStand(t *testing.T) *stand {
	fs, err := store.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("testdata/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("testdata/policy.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	return &stand{t: t, st: fs, cfg: cfg}
}

func (s *stand) env(runID string, now time.Time) artifact.Env {
	l := logrus.New()
	l.SetOutput(os.Stderr)
	l.SetLevel(logrus.WarnLevel)
	return artifact.Env{Store: s.st, RunID: runID, ConfigHash: s.cfg.Hash, Version: "test", Host: "test", TempDir: s.t.TempDir(),
		Log: l, Now: func() time.Time { return now }}
}

func publish[T any](t *testing.T, env artifact.Env, stage string, spec contract.Spec, rows []T, more func(*artifact.Stage)) {
	t.Helper()
	ctx := context.Background()
	sg := artifact.NewStage(env, contract.Stage(stage))
	w, err := artifact.OpenTable[T](sg, spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if more != nil {
		more(sg)
	}
	if _, _, err := sg.Commit(ctx); err != nil {
		t.Fatalf("commit %s: %v", stage, err)
	}
}

func (s *stand) transform(env artifact.Env, ps []contract.Person) {
	publish(s.t, env, "transform", contract.PersonsSpec, ps, func(sg *artifact.Stage) {
		w, err := artifact.OpenTable[contract.MatchReview](sg, contract.MatchReviewSpec)
		if err != nil {
			s.t.Fatal(err)
		}
		_ = w.Write(contract.MatchReview{ReviewID: "r1", Reason: "weak_match_only"})
		_ = w.Close()
	})
}

func (s *stand) pull(env artifact.Env, b Baseline) {
	publish(s.t, env, "pull", contract.HighspotUsersSpec, b.Users, func(sg *artifact.Stage) {
		w, err := artifact.OpenTable[contract.HighspotGroup](sg, contract.HighspotGroupsSpec)
		if err != nil {
			s.t.Fatal(err)
		}
		for _, g := range b.Groups {
			_ = w.Write(g)
		}
		_ = w.Close()
	})
}

func (s *stand) applied(runID string, b Baseline, res *Result) Baseline {
	// record an apply so the next plan knows this plan reached Highspot
	publish(s.t, s.env(runID, t2), "apply", contract.LoadResultsSpec, []contract.LoadResult{{ChangeID: "x", Status: contract.StatusApplied, At: t2}}, nil)
	return simulateApply(b, res.Plan.Changes)
}

func TestStageRunFreshStaleReplayShow(t *testing.T) {
	ctx := context.Background()
	s := newStand(t)
	r1, r2, r3, r4 := "20261124T020000Z-0001", "20261125T020000Z-0002", "20261125T030000Z-0003", "20261125T040000Z-0004"

	e1 := s.env(r1, t1)
	s.transform(e1, day1())
	s.pull(e1, highspot0())
	res1, err := Run(ctx, e1, s.cfg, Options{})
	if err != nil {
		t.Fatalf("plan 1: %v", err)
	}
	if got, want := res1.Summary.Baseline.Source, BaselinePull; got != want {
		t.Errorf("baseline: got %s, want %s", got, want)
	}
	if got, want := res1.Summary.MatchReview, int64(1); got != want {
		t.Errorf("match review: got %d, want %d", got, want)
	}
	if got, want := res1.Manifest.Summary["plan_sha256"], res1.Plan.SHA256; got != want {
		t.Errorf("manifest plan_sha256: got %v, want %v", got, want)
	}
	for _, blob := range []string{"plan.md", "plan.html", "plan.json", "leavers.json"} {
		if _, ok := res1.Manifest.Blobs[blob]; !ok {
			t.Errorf("blob %s not published", blob)
		}
	}
	if err := CheckFresh(ctx, s.st, r1, res1.Plan.SHA256); err != nil {
		t.Errorf("fresh plan refused: %v", err)
	}
	if err := CheckFresh(ctx, s.st, r1, strings.Repeat("0", 64)); !errors.Is(err, ErrStale) {
		t.Errorf("wrong --plan-sha256: got %v, want ErrStale", err)
	}
	base1 := s.applied(r1, highspot0(), res1)

	// Day 2: a new pull after the apply; CheckFresh on plan 1 now refuses.
	e2 := s.env(r2, t2)
	s.transform(e2, day2())
	s.pull(e2, base1)
	if err := CheckFresh(ctx, s.st, r1, res1.Plan.SHA256); !errors.Is(err, ErrStale) || !strings.Contains(err.Error(), "pulled again") {
		t.Errorf("stale plan: got %v, want ErrStale naming the new pull", err)
	}
	res2, err := Run(ctx, e2, s.cfg, Options{})
	if err != nil {
		t.Fatalf("plan 2: %v", err)
	}
	if got, want := res2.Summary.ByOp[contract.OpSuspendUser], 3; got != want {
		t.Errorf("day 2 suspensions: got %d, want %d", got, want)
	}
	if len(res2.Summary.Trend) != 2 {
		t.Errorf("trend: got %+v, want 2 points", res2.Summary.Trend)
	}
	out, err := Show(ctx, s.st, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{r2, res2.Plan.SHA256, "suspend_user", "baseline  pull " + r2} {
		if !strings.Contains(out, want) {
			t.Errorf("plan show: missing %q in\n%s", want, out)
		}
	}

	// Replay day 2 with a stricter policy: publishes under r3 and blocks.
	strict := *s.cfg
	strict.Policy.Thresholds = []policyconf.Threshold{{Op: "suspend_user", MaxCount: ptr(1)}}
	e3 := s.env(r3, t2)
	res3, err := Run(ctx, e3, &strict, Options{FromRun: r2})
	if got := exitcode.Of(err); got != exitcode.PlanBlocked {
		t.Fatalf("replay: got exit %d (%v), want %d", got, err, exitcode.PlanBlocked)
	}
	if !strings.Contains(err.Error(), "suspend_user (whole plan): 3 changes") {
		t.Errorf("blocked error must name op, figure and limit: %v", err)
	}
	if got, want := res3.Manifest.Status, artifact.StatusBlocked; got != want {
		t.Errorf("blocked manifest status: got %s, want %s", got, want)
	}
	if got, want := res3.Summary.FromRun, r2; got != want {
		t.Errorf("from_run: got %s, want %s", got, want)
	}
	if got, want := res3.Manifest.Summary["changes_sha256"], res2.Manifest.Summary["changes_sha256"]; got != want {
		t.Errorf("replay with the same rules must give the same change set: got %s, want %s", got, want)
	}
	if res3.Plan.SHA256 == res2.Plan.SHA256 {
		t.Errorf("the replay (run %s) has the plan sha256 of run %s: the plan hash must bind the run", r3, r2)
	}
	if err := CheckFresh(ctx, s.st, r3, ""); exitcode.Of(err) != exitcode.PlanBlocked {
		t.Errorf("apply of a blocked plan: got %v, want exit 5", err)
	}
	html := readBlobT(t, s, res3.Manifest, "plan.html")
	if !strings.Contains(html, "BLOCKED") || !strings.Contains(html, "<svg") {
		t.Errorf("plan.html: want the BLOCKED banner and inline SVG charts")
	}
	for _, bad := range []string{"<script", "src=", "href=", "@import", "url("} {
		if strings.Contains(html, bad) {
			t.Errorf("plan.html must be self-contained; found %q", bad)
		}
	}

	// --allow unblocks and is recorded.
	e4 := s.env(r4, t2)
	res4, err := Run(ctx, e4, &strict, Options{FromRun: r2, Allow: map[string]int{"suspend_user": 3}})
	if err != nil {
		t.Fatalf("allowed: %v", err)
	}
	if got := res4.Manifest.Summary["allow"]; got == nil {
		t.Errorf("--allow not recorded in the manifest summary: %v", res4.Manifest.Summary)
	}
}

func ptr[T any](v T) *T { return &v }

func readBlobT(t *testing.T, s *stand, m *artifact.Manifest, name string) string {
	t.Helper()
	data, err := readBlob(context.Background(), s.st, m.Blobs[name].Key)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// failingPut fails every Put of keys with suffix (an S3 outage, a full disk
// in the window between the reports and the manifest).
type failingPut struct {
	store.Store
	suffix string
}

func (f failingPut) Put(ctx context.Context, key string, body io.ReadSeeker, size int64) error {
	if strings.HasSuffix(key, f.suffix) {
		return errors.New("injected store failure")
	}
	return f.Store.Put(ctx, key, body, size)
}

// TestStageRetryAfterFailedCommit: plan stores its reports, then the store
// fails, either before the commit (a report) or while writing the manifest.
// Re-running plan for the same run id works: nothing was written at a fixed
// key before the commit, and a commit cut short after its commit record is
// rolled forward (the pipeline's published-check does it; then the stage is
// published and skipped).
func TestStageRetryAfterFailedCommit(t *testing.T) {
	for _, tc := range []struct {
		name, failOn string
		rolled       bool // the failed attempt's commit is finished by RollForward
	}{
		{"report write fails", "/plan.html", false},
		{"manifest write fails", "/plan.manifest.json", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := newStand(t)
			const r1 = "20261124T020000Z-0001"
			e1 := s.env(r1, t1)
			s.transform(e1, day1())
			s.pull(e1, highspot0())

			broken := e1
			broken.Store = failingPut{Store: s.st, suffix: tc.failOn}
			if _, err := Run(ctx, broken, s.cfg, Options{}); err == nil || !strings.Contains(err.Error(), "injected store failure") {
				t.Fatalf("plan with a failing store: got %v, want the injected failure", err)
			}
			if infos, _ := s.st.List(ctx, "_runs/"+r1+"/plan/"); len(infos) == 0 {
				t.Fatal("the failed attempt stored no report: the test does not cover the window before the commit")
			}
			refs, err := artifact.RollForward(ctx, e1, nil)
			if err != nil {
				t.Fatalf("roll forward: %v", err)
			}
			if got := len(refs) == 1; got != tc.rolled {
				t.Fatalf("rolled forward %v, want %v", refs, tc.rolled)
			}
			var sha string
			if tc.rolled {
				m, _, err := artifact.ReadManifest(ctx, s.st, r1, contract.Plan)
				if err != nil {
					t.Fatalf("the rolled-forward plan is not published: %v", err)
				}
				sha, _ = m.Summary["plan_sha256"].(string)
			} else {
				res, err := Run(ctx, e1, s.cfg, Options{})
				if err != nil {
					t.Fatalf("retry of plan for the same run id: %v", err)
				}
				sha = res.Plan.SHA256
			}
			text, err := Show(ctx, s.st, r1)
			if err != nil || sha == "" || !strings.Contains(text, sha) {
				t.Fatalf("plan show after the retry: %v\n%s", err, text)
			}
		})
	}
}

// TestBaselineAndPersonsErrors: the baseline is read while the persons are
// evaluated; which error a plan returns is still the one it met first when
// they were read one after the other (the baseline's), and nothing is
// published.
func TestBaselineAndPersonsErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		broken []string // tables whose first file is overwritten
		want   string
	}{
		{"baseline unreadable", []string{contract.HighspotUsersSpec.Name}, "plan: read highspot_users of pull"},
		{"persons unreadable", []string{contract.PersonsSpec.Name}, "plan: read persons of run"},
		{"both unreadable: the baseline's", []string{contract.PersonsSpec.Name, contract.HighspotUsersSpec.Name}, "plan: read highspot_users of pull"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := newStand(t)
			const r1 = "20261124T020000Z-0001"
			e1 := s.env(r1, t1)
			s.transform(e1, day1())
			s.pull(e1, highspot0())
			for _, table := range tc.broken {
				stage := contract.Transform
				if table == contract.HighspotUsersSpec.Name {
					stage = contract.Pull
				}
				m, _, err := artifact.ReadManifest(ctx, s.st, r1, stage)
				if err != nil {
					t.Fatal(err)
				}
				key := m.Tables[table].Files[0].Key
				if err := s.st.Delete(ctx, key); err != nil {
					t.Fatal(err)
				}
				body := "not parquet"
				if err := s.st.Put(ctx, key, strings.NewReader(body), int64(len(body))); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Run(ctx, e1, s.cfg, Options{})
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q...", err, tc.want)
			}
			if _, _, err := artifact.ReadManifest(ctx, s.st, r1, contract.Plan); !errors.Is(err, artifact.ErrNotPublished) {
				t.Errorf("plan manifest after the failure: got %v, want none", err)
			}
		})
	}
}
