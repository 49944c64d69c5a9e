package apply_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/load"
	"github.com/otds-highspot/otds-highspot/load/apply"
	"github.com/otds-highspot/otds-highspot/load/highspot/sandbox"
	"github.com/otds-highspot/otds-highspot/load/internal/loadtest"
)

// The tests in this file run the applier against the real sandbox
// (load/highspot/sandbox) over httptest, through the real REST and SCIM
// clients.

type expected struct {
	name      string
	suspended bool
	groups    []string
}

// fixture is the seed and plan the soak and resume tests apply, and the
// state Highspot must end in.
type fixture struct {
	seed    sandbox.Seed
	changes []contract.Change
	want    map[string]expected // by email
}

// newFixture: 20 existing users (some unverified, one suspended, some in
// Legacy), nNew creates (3 of them for users who already exist unverified:
// the plan is stale and they must become updates), updates, memberships in
// managed groups, removals, a reactivation and suspensions.
func newFixture(nNew int) fixture {
	f := fixture{want: map[string]expected{}}
	groups := []string{"Sales", "Marketing", "EMEA", "Legacy"}
	for _, g := range groups {
		f.seed.Groups = append(f.seed.Groups, sandbox.SeedGroup{Name: g})
	}
	legacy := &f.seed.Groups[3]
	for i := range 20 {
		e := fmt.Sprintf("exist-%02d@corp.example", i)
		u := sandbox.User{Email: e, Name: "Old", Surname: fmt.Sprint(i), DisplayName: "Old " + fmt.Sprint(i), Verified: i%3 != 0, Suspended: i == 5}
		f.seed.Users = append(f.seed.Users, u)
		if i >= 10 && i < 15 {
			legacy.Members = append(legacy.Members, e)
		}
		f.want[e] = expected{name: "Old", suspended: i == 5 || i >= 15, groups: nil}
	}
	seq := int64(0)
	add := func(c contract.Change) {
		seq++
		c.Seq = seq
		c.ChangeID = fmt.Sprintf("%s-%s-%s", c.Op, c.Email, c.Group)
		f.changes = append(f.changes, c)
	}
	after := func(name, e string) string {
		return fmt.Sprintf(`{"name":%q,"surname":"S","display_name":"%s S","email":%q}`, name, name, e)
	}
	// Stale plan: creates for users that exist, unverified (hidden without list=all).
	for _, i := range []int{0, 3, 6} {
		e := fmt.Sprintf("exist-%02d@corp.example", i)
		add(contract.Change{Op: contract.OpCreateUser, Email: e, After: after("Again", e)})
		w := f.want[e]
		w.name = "Again"
		f.want[e] = w
	}
	for i := range nNew {
		e := fmt.Sprintf("new-%03d@corp.example", i)
		add(contract.Change{Op: contract.OpCreateUser, Email: e, After: after("New", e)})
		g := groups[i%2]
		add(contract.Change{Op: contract.OpAddMember, Email: e, Group: g})
		f.want[e] = expected{name: "New", groups: []string{g}}
	}
	for i := 7; i < 10; i++ {
		e := fmt.Sprintf("exist-%02d@corp.example", i)
		add(contract.Change{Op: contract.OpUpdateUser, Email: e, After: after("Renamed", e)})
		add(contract.Change{Op: contract.OpAddMember, Email: e, Group: "EMEA"})
		f.want[e] = expected{name: "Renamed", groups: []string{"EMEA"}}
	}
	add(contract.Change{Op: contract.OpReactivateUser, Email: "exist-05@corp.example"})
	w := f.want["exist-05@corp.example"]
	w.suspended = false
	f.want["exist-05@corp.example"] = w
	for i := 10; i < 15; i++ {
		add(contract.Change{Op: contract.OpRemoveMember, Email: fmt.Sprintf("exist-%02d@corp.example", i), Group: "Legacy"})
	}
	for i := 15; i < 20; i++ {
		add(contract.Change{Op: contract.OpSuspendUser, Email: fmt.Sprintf("exist-%02d@corp.example", i)})
	}
	// Shuffle so the applier's own ordering is what puts creates first.
	r := rand.New(rand.NewPCG(9, 9))
	r.Shuffle(len(f.changes), func(i, j int) { f.changes[i], f.changes[j] = f.changes[j], f.changes[i] })
	return f
}

// checkState asserts the sandbox ended in the desired state with no
// duplicate users.
func checkState(t *testing.T, d sandbox.StateDump, want map[string]expected) {
	t.Helper()
	count := map[string]int{}
	for _, u := range d.Users {
		count[strings.ToLower(u.Email)]++
	}
	for e, n := range count {
		if n != 1 {
			t.Errorf("user %s: got %d users, want exactly 1 (duplicate create)", e, n)
		}
	}
	groupName := map[string]string{}
	for _, g := range d.Groups {
		groupName[g.ID] = g.Name
	}
	for e, w := range want {
		u, ok := d.UserByEmail(e)
		if !ok {
			t.Errorf("user %s: missing from Highspot", e)
			continue
		}
		if u.Name != w.name || u.Suspended != w.suspended {
			t.Errorf("user %s: got name=%q suspended=%v, want %q and %v", e, u.Name, u.Suspended, w.name, w.suspended)
		}
		var got []string
		for _, id := range u.Groups {
			got = append(got, groupName[id])
		}
		sort.Strings(got)
		if fmt.Sprint(got) != fmt.Sprint(w.groups) && !(len(got) == 0 && len(w.groups) == 0) {
			t.Errorf("user %s: got groups %v, want %v", e, got, w.groups)
		}
	}
}

// checkLedger asserts every change has exactly one row, in a final status.
func checkLedger(t *testing.T, rows []contract.LoadResult, changes []contract.Change) {
	t.Helper()
	n := map[string]int{}
	for _, r := range rows {
		n[r.ChangeID]++
		if r.Status != contract.StatusApplied && r.Status != contract.StatusSkipped {
			t.Errorf("ledger %s: got status %s (%s), want applied", r.ChangeID, r.Status, r.Error)
		}
	}
	for _, c := range changes {
		if n[c.ChangeID] != 1 {
			t.Errorf("ledger %s: got %d rows, want 1", c.ChangeID, n[c.ChangeID])
		}
	}
	if len(n) != len(changes) {
		t.Errorf("ledger: got %d change ids, want %d", len(n), len(changes))
	}
}

func TestApplySandboxFaultSoak(t *testing.T) {
	tests := []struct {
		surface    string
		retryAfter string
		bulkOff    bool
	}{
		{"rest", "on", false},
		{"rest", "http-date", false},
		{"scim", "off", false},
		{"scim", "on", true},
	}
	for _, tc := range tests {
		name := tc.surface + "/retry-after-" + tc.retryAfter
		if tc.bulkOff {
			name += "/no-bulk"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(40)
			faults := sandbox.Faults{ErrorRate: 0.10, DropRate: 0.03, FaultAfterApply: true, RetryAfter: tc.retryAfter,
				Burst429: 4, SCIMBulkDisabled: tc.bulkOff, DeleteMode: "suspend"}
			sb, target := loadtest.SandboxTarget(t, sandbox.Options{Seed: &fx.seed, RandSeed: 42, Faults: faults}, tc.surface)
			// Re-arm a 429 burst part way through the run.
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				select {
				case <-time.After(400 * time.Millisecond):
					f := sb.Faults()
					f.Burst429 = 4
					sb.SetFaults(f)
				case <-stop:
				}
			}()
			l := apply.NewMemLedger(nil)
			opts := load.ApplyOptions{RatePerSecond: 500, Burst: 5, Concurrency: 4, MaxAttempts: 12,
				BackoffBase: 5 * time.Millisecond, BackoffMax: 80 * time.Millisecond, MaxRetryAfter: 1500 * time.Millisecond,
				FlushEvery: 10, Classify: loadtest.Classify, Rand: rand.New(rand.NewPCG(1, 1))}
			sum, err := apply.Apply(t.Context(), target, fx.changes, l, opts, loadtest.Log())
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			checkState(t, sb.State(), fx.want)
			checkLedger(t, l.Rows(), fx.changes)
			c := sb.Counters()
			if c["fault 5xx"] == 0 || c["fault drop"] == 0 || c["fault 429"] == 0 {
				t.Errorf("faults injected: got %v, want 5xx, drops and 429s", c)
			}
			if sum.CreatesAsUpdates != 3 {
				t.Errorf("creates sent as updates: got %d, want 3", sum.CreatesAsUpdates)
			}
			t.Logf("%s: %d changes, %d requests, %d retries, faults 5xx=%d drop=%d 429=%d, %v",
				name, sum.Total, sum.Requests, sum.Retries, c["fault 5xx"], c["fault drop"], c["fault 429"], sum.Elapsed.Round(time.Millisecond))
		})
	}
}

func TestApplySandboxValidationNotRetried(t *testing.T) {
	sb, target := loadtest.SandboxTarget(t, sandbox.Options{Seed: &sandbox.Seed{}, RandSeed: 1}, "rest")
	changes := []contract.Change{
		{ChangeID: "bad", Seq: 1, Op: contract.OpCreateUser, Email: "not-an-email", After: `{"name":"X"}`},
		{ChangeID: "good", Seq: 2, Op: contract.OpCreateUser, Email: "ok@corp.example", After: `{"name":"Ok"}`},
	}
	l := apply.NewMemLedger(nil)
	sum, err := apply.Apply(t.Context(), target, changes, l, load.ApplyOptions{Classify: loadtest.Classify, MaxAttempts: 5, BackoffBase: time.Millisecond}, loadtest.Log())
	if got := fmt.Sprint(err); !strings.Contains(got, "bad create_user not-an-email") {
		t.Errorf("error: got %v, want it to list the failed change", err)
	}
	bad, _ := l.Applied("bad")
	good, _ := l.Applied("good")
	if bad.Status != contract.StatusFailed || bad.Attempts != 1 || bad.Error == "" {
		t.Errorf("bad: got %+v, want failed after 1 attempt with a reason", bad)
	}
	if good.Status != contract.StatusApplied || sum.Failed != 1 {
		t.Errorf("good: got %+v (failed=%d), want applied and one failure", good, sum.Failed)
	}
	if n := sb.Counters()["REST POST /users"]; n != 1 {
		t.Errorf("POST /users: got %d requests, want 1 (no retry of a validation error)", n)
	}
}

func TestApplySandboxRetryAfterHonoured(t *testing.T) {
	for _, mode := range []string{"on", "http-date"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			seed := sandbox.Seed{Users: []sandbox.User{{Email: "a@corp.example", Verified: true}}, Groups: []sandbox.SeedGroup{{Name: "Sales"}}}
			sb, err := sandbox.New(sandbox.Options{Seed: &seed, RandSeed: 1, Faults: sandbox.Faults{Burst429: 1, RetryAfter: mode}})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(sb.Handler())
			defer srv.Close()
			target, _ := sandbox.Client("rest", srv.URL, srv.Client(), loadtest.Log())
			start := time.Now()
			changes := []contract.Change{{ChangeID: "m", Op: contract.OpAddMember, Email: "a@corp.example", Group: "Sales"}}
			if _, err := apply.Apply(t.Context(), target, changes, apply.NewMemLedger(nil), load.ApplyOptions{Classify: loadtest.Classify, BackoffBase: time.Millisecond, BackoffMax: time.Millisecond}, loadtest.Log()); err != nil {
				t.Fatal(err)
			}
			// Retry-After is at least 1 s; backoff alone would wait ~1 ms.
			if el := time.Since(start); el < 900*time.Millisecond {
				t.Errorf("elapsed: got %v, want >= ~1s (Retry-After honoured)", el)
			}
		})
	}
}

func TestApplySandboxBreakerTrips(t *testing.T) {
	fx := newFixture(30)
	sb, err := sandbox.New(sandbox.Options{Seed: &fx.seed, RandSeed: 3, Faults: sandbox.Faults{ErrorRate: 0.9}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sb.Handler())
	defer srv.Close()
	target, _ := sandbox.Client("rest", srv.URL, srv.Client(), loadtest.Log())
	l := apply.NewMemLedger(nil)
	sum, err := apply.Apply(t.Context(), target, fx.changes, l, load.ApplyOptions{Classify: loadtest.Classify, MaxAttempts: 3,
		BackoffBase: time.Millisecond, BackoffMax: 2 * time.Millisecond, BreakerWindow: 20, BreakerMinRequests: 10}, loadtest.Log())
	var ec interface{ Error() string }
	if err == nil {
		t.Fatal("Apply: got nil error, want the breaker to trip")
	}
	ec = err
	if !sum.BreakerTripped || !strings.Contains(ec.Error(), "circuit breaker") || l.Flushes() == 0 {
		t.Errorf("got tripped=%v flushes=%d err=%v, want a tripped breaker and a flushed ledger", sum.BreakerTripped, l.Flushes(), err)
	}
	if total := sb.Counters()["total"]; total > 60 {
		t.Errorf("requests: got %d, want the breaker to stop early", total)
	}
}

func TestApplySandboxDryRunMakesNoRequest(t *testing.T) {
	fx := newFixture(10)
	sb, err := sandbox.New(sandbox.Options{Seed: &fx.seed, RandSeed: 3})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sb.Handler())
	defer srv.Close()
	for _, surface := range []string{"rest", "scim"} {
		target, _ := sandbox.Client(surface, srv.URL, srv.Client(), loadtest.Log())
		var out bytes.Buffer
		sum, err := apply.Apply(t.Context(), target, fx.changes, apply.NewMemLedger(nil), load.ApplyOptions{DryRun: true, DryRunOut: &out, Classify: loadtest.Classify}, loadtest.Log())
		if err != nil {
			t.Fatal(err)
		}
		if n := sb.Counters()["total"]; n != 0 {
			t.Errorf("%s: sandbox requests: got %d, want 0", surface, n)
		}
		if !sum.DryRun || !strings.Contains(out.String(), "new-000@corp.example") {
			t.Errorf("%s: dry run output lacks the planned users:\n%s", surface, out.String())
		}
	}
}

// TestApplySCIMStrictProviderFirstLoad is the first load of issue 11: a SCIM
// provider that takes only `userName eq` (no `or`) and has no Bulk. Every
// change must apply, with no lookup per user.
func TestApplySCIMStrictProviderFirstLoad(t *testing.T) {
	const n = 120
	seed := sandbox.Seed{Groups: []sandbox.SeedGroup{{Name: "Sales"}, {Name: "Marketing"}}}
	var changes []contract.Change
	for i := range n {
		e := fmt.Sprintf("first-%03d@corp.example", i)
		changes = append(changes,
			contract.Change{ChangeID: "c" + e, Seq: int64(2 * i), Op: contract.OpCreateUser, Email: e, After: fmt.Sprintf(`{"name":"N%d","surname":"S"}`, i)},
			contract.Change{ChangeID: "m" + e, Seq: int64(2*i + 1), Op: contract.OpAddMember, Email: e, Group: []string{"Sales", "Marketing"}[i%2]})
	}
	sb, target := loadtest.SandboxTarget(t, sandbox.Options{Seed: &seed, RandSeed: 1, Profile: sandbox.ProfileStrictRFC}, "scim")
	l := apply.NewMemLedger(nil)
	sum, err := apply.Apply(t.Context(), target, changes, l, load.ApplyOptions{Classify: loadtest.Classify, BackoffBase: time.Millisecond}, loadtest.Log())
	if err != nil {
		t.Fatalf("Apply: %v (applied %d, failed %d)", err, sum.Applied, sum.Failed)
	}
	checkLedger(t, l.Rows(), changes)
	if got := len(sb.State().Users); got != n+1 {
		t.Errorf("users: got %d, want %d", got, n+1)
	}
	// Ideal: discovery, one lookup per create (n <= lookup_list_threshold),
	// a POST per create, a PATCH per membership, a lookup per group.
	if got, max := sb.Counters()["total"], int64(3*n+10); got > max {
		t.Errorf("requests: got %d, want at most %d", got, max)
	}
}

// TestApplyLimiterCountsHTTPRequests: the rate limiter takes a token per
// HTTP request, not per call to the target. Over REST a membership by email
// sends a lookup (two requests: list=all, then list=unverified to settle the
// verified state) before the write, so the applier must count every one of
// them: what it paced equals what the server answered.
func TestApplyLimiterCountsHTTPRequests(t *testing.T) {
	for _, surface := range []string{"rest", "scim"} {
		t.Run(surface, func(t *testing.T) {
			seed := sandbox.Seed{Groups: []sandbox.SeedGroup{{Name: "Sales"}}}
			var changes []contract.Change
			for i := range 8 {
				e := fmt.Sprintf("m%d@corp.example", i)
				seed.Users = append(seed.Users, sandbox.User{Email: e, Verified: true})
				changes = append(changes, contract.Change{ChangeID: e, Seq: int64(i), Op: contract.OpAddMember, Email: e, Group: "Sales"})
			}
			sb, target := loadtest.SandboxTarget(t, sandbox.Options{Seed: &seed, RandSeed: 1}, surface)
			sum, err := apply.Apply(t.Context(), target, changes, apply.NewMemLedger(nil),
				load.ApplyOptions{RatePerSecond: 10000, Burst: 1, Classify: loadtest.Classify}, loadtest.Log())
			if err != nil {
				t.Fatal(err)
			}
			got := sb.Counters()["total"]
			if sum.Requests != got {
				t.Errorf("paced requests: got %d, want %d (every HTTP request the sandbox answered)", sum.Requests, got)
			}
			if calls := int64(2*len(changes) + 1); got <= calls {
				t.Errorf("HTTP requests: got %d, want more than the %d calls (lookups and writes are separate requests)", got, calls)
			}
		})
	}
}

// TestApplyCreateMissingGroups: create_group changes (highspot.create_missing_groups)
// run before memberships over both surfaces and every profile; a group that
// exists by the time apply runs (made by hand, or by an earlier attempt
// whose answer was lost) is not created twice, and the memberships land in
// the created group.
func TestApplyCreateMissingGroups(t *testing.T) {
	for _, profile := range sandbox.Profiles() {
		for _, surface := range []string{"rest", "scim"} {
			t.Run(profile+"/"+surface, func(t *testing.T) {
				seed := sandbox.Seed{Groups: []sandbox.SeedGroup{{Name: "Made By Hand"}}}
				changes := []contract.Change{
					{ChangeID: "g1", Seq: 1, Op: contract.OpCreateGroup, Group: "New Team"},
					{ChangeID: "g2", Seq: 2, Op: contract.OpCreateGroup, Group: "Made By Hand"},
					{ChangeID: "u1", Seq: 3, Op: contract.OpCreateUser, Email: "x@corp.example", After: `{"name":"X"}`},
					{ChangeID: "m1", Seq: 4, Op: contract.OpAddMember, Email: "x@corp.example", Group: "New Team"},
					{ChangeID: "m2", Seq: 5, Op: contract.OpAddMember, Email: "x@corp.example", Group: "Made By Hand"},
				}
				sb, target := loadtest.SandboxTarget(t, sandbox.Options{Seed: &seed, RandSeed: 1, Profile: profile}, surface)
				for run := range 2 { // the second run (a fresh ledger) must not create again
					l := apply.NewMemLedger(nil)
					if _, err := apply.Apply(t.Context(), target, changes, l, load.ApplyOptions{Classify: loadtest.Classify, BackoffBase: time.Millisecond}, loadtest.Log()); err != nil {
						t.Fatalf("run %d: Apply: %v", run, err)
					}
					checkLedger(t, l.Rows(), changes)
				}
				st := sb.State()
				if len(st.Groups) != 2 {
					t.Errorf("groups: got %d, want 2 (New Team created once, Made By Hand kept)", len(st.Groups))
				}
				checkState(t, st, map[string]expected{"x@corp.example": {name: "X", groups: []string{"Made By Hand", "New Team"}}})
			})
		}
	}
}
