package pull_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/load"
	"github.com/otds-highspot/otds-highspot/load/highspot/sandbox"
	"github.com/otds-highspot/otds-highspot/load/internal/loadtest"
	"github.com/otds-highspot/otds-highspot/load/pull"
)

func publish[T any](t *testing.T, env artifact.Env, stage string, spec contract.Spec, rows []T) {
	t.Helper()
	s := artifact.NewStage(env, contract.Stage(stage))
	w, err := artifact.OpenTable[T](s, spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestRunPullSandbox(t *testing.T) {
	for _, surface := range []string{"rest", "scim"} {
		t.Run(surface, func(t *testing.T) {
			seed := sandbox.Seed{
				Users: []sandbox.User{
					{Email: "ann@corp.example", Name: "Ann", Verified: true},
					{Email: "bob@corp.example", Name: "Bob", Verified: false, Suspended: true},
					{Email: "ghost@corp.example", Name: "Ghost", Verified: true},
				},
				Groups: []sandbox.SeedGroup{
					{Name: "Sales", Members: []string{"ann@corp.example", "ghost@corp.example"}},
					{Name: "Unmanaged", Members: []string{"bob@corp.example"}},
				},
			}
			_, target := loadtest.SandboxTarget(t, sandbox.Options{Seed: &seed, RandSeed: 2}, surface)
			env := loadtest.FileEnv(t, t.TempDir(), t.TempDir())
			publish(t, env, string(contract.Transform), contract.PersonsSpec, []contract.Person{
				{PersonID: "p-ann", PrimaryEmail: "ann@corp.example", Status: "enabled"},
				{PersonID: "p-bob", PrimaryEmail: "bob@corp.example", Status: "enabled"},
				{PersonID: "p-svc", PrimaryEmail: sandbox.DefaultServiceUser, Status: "enabled"},
			})
			publish(t, env, string(contract.Plan), contract.DesiredUsersSpec, []contract.DesiredUser{
				{PersonID: "p-ann", Email: "ann@corp.example", Groups: []string{"Sales"}},
				{PersonID: "p-bob", Email: "bob@corp.example", Groups: []string{"Sales"}},
			})
			res, err := pull.RunPull(t.Context(), env, nil, target, pull.PullOptions{ManagedGroups: []string{"Sales"}, Apply: load.ApplyOptions{Classify: loadtest.Classify}})
			if err != nil {
				t.Fatalf("RunPull: %v", err)
			}
			users, err := artifact.ReadAll[contract.HighspotUser](t.Context(), env.Store, res.Manifest, contract.HighspotUsersSpec)
			if err != nil {
				t.Fatal(err)
			}
			if len(users) != 4 { // three seeded and the service user
				t.Errorf("highspot_users: got %d rows, want 4 (unverified users included)", len(users))
			}
			for _, u := range users {
				if u.Email == "bob@corp.example" && (!u.Suspended || (surface == "rest" && u.Verified) || fmt.Sprint(u.GroupNames) != "[Unmanaged]") {
					t.Errorf("bob: got %+v, want suspended, unverified (REST; SCIM has no such flag), in Unmanaged", u)
				}
			}
			groups, err := artifact.ReadAll[contract.HighspotGroup](t.Context(), env.Store, res.Manifest, contract.HighspotGroupsSpec)
			if err != nil {
				t.Fatal(err)
			}
			managed := map[string]bool{}
			for _, g := range groups {
				managed[g.Name] = g.Managed
			}
			if !managed["Sales"] || managed["Unmanaged"] || len(groups) != 2 {
				t.Errorf("highspot_groups: got %v, want Sales managed and Unmanaged not", managed)
			}
			var got []string
			for _, d := range res.Drift {
				got = append(got, d.Kind+" "+d.Email+" "+d.Group)
			}
			sort.Strings(got)
			want := []string{
				"manual_membership ghost@corp.example Sales",
				"suspension_mismatch bob@corp.example ",
				"unknown_user ghost@corp.example ",
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("drift:\n got %q\nwant %q", got, want)
			}
			if _, ok := res.Manifest.Blobs["drift.md"]; !ok {
				t.Errorf("drift.md not published; blobs: %v", res.Manifest.Blobs)
			}
			if !strings.Contains(pull.DriftReport(res), "unknown_user") {
				t.Errorf("drift.md lacks the drift table:\n%s", pull.DriftReport(res))
			}
		})
	}
}

// Pull reports what its listings cost: every HTTP request the server saw
// (pages, SCIM discovery, the 429s it retried) in its result and manifest
// summary, which the CLI's --json and the nightly bench read.
func TestPullCountsItsRequests(t *testing.T) {
	for _, surface := range []string{"rest", "scim"} {
		t.Run(surface, func(t *testing.T) {
			seed := sandbox.Seed{Groups: []sandbox.SeedGroup{{Name: "Sales"}}}
			for i := range 260 {
				seed.Users = append(seed.Users, sandbox.User{Email: fmt.Sprintf("u%03d@corp.example", i), Verified: i%26 != 0})
			}
			// Two 429s first (REST: on the groups page; SCIM would get them
			// on its discovery request, which no listing retries).
			opts, retries := sandbox.Options{Seed: &seed, RandSeed: 2}, int64(0)
			if surface == "rest" {
				opts.Faults, retries = sandbox.Faults{Burst429: 2, RetryAfter: "off"}, 2
			}
			sb, target := loadtest.SandboxTarget(t, opts, surface)
			env := loadtest.FileEnv(t, t.TempDir(), t.TempDir())
			res, err := pull.RunPull(t.Context(), env, nil, target, pull.PullOptions{ManagedGroups: []string{"Sales"},
				Apply: load.ApplyOptions{Classify: loadtest.Classify, BackoffBase: time.Millisecond, BackoffMax: 2 * time.Millisecond}})
			if err != nil {
				t.Fatalf("RunPull: %v", err)
			}
			served := sb.State().Counters["total"]
			if res.Requests != served || res.Retries != retries {
				t.Errorf("got %d requests, %d retries, want %d (what the server saw), %d", res.Requests, res.Retries, served, retries)
			}
			if surface == "rest" && served != 2+1+3+1 { // two 429s, groups, 251 verified users, 10 unverified
				t.Errorf("REST pull: the server saw %d requests, want 7 (pages of 100)", served)
			}
			if ps, err := contract.SummaryOf[contract.PullSummary](res.Manifest.Summary); err != nil || ps.Requests != res.Requests {
				t.Errorf("manifest summary requests: got %d (%v), want %d", ps.Requests, err, res.Requests)
			}
			if res.Users != 261 {
				t.Errorf("got %d users, want 261 (260 seeded and the service user)", res.Users)
			}
		})
	}
}
