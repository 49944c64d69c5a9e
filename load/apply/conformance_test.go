package apply_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/load"
	"github.com/otds-highspot/otds-highspot/load/apply"
	"github.com/otds-highspot/otds-highspot/load/highspot/sandbox"
	"github.com/otds-highspot/otds-highspot/load/internal/loadtest"
)

// conformanceUsers is the size of TestTargetConformance's first load:
// 300 by default (well under a minute on a shared 2-core machine for all six
// runs); OTDS_HIGHSPOT_CONFORMANCE_USERS=3000 runs the few-thousand-user
// load of docs/benchmarks.md.
func conformanceUsers(t *testing.T) int {
	v := os.Getenv("OTDS_HIGHSPOT_CONFORMANCE_USERS")
	if v == "" {
		return 300
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 10 {
		t.Fatalf("OTDS_HIGHSPOT_CONFORMANCE_USERS=%q: want a number of users >= 10", v)
	}
	return n
}

// firstLoad is a first load of n new users into a Highspot that holds only
// its managed groups and a few hand-made users: n creates with one or two
// memberships each, plus 3 stale creates of users who exist unverified
// (they must become updates), 5 removals from Legacy and 2 suspensions.
// One managed group, Partners, does not exist yet: a create_group change
// (highspot.create_missing_groups) makes it before the memberships.
func firstLoad(n int) fixture {
	f := fixture{want: map[string]expected{}}
	groups := []string{"Sales", "Marketing", "EMEA", "AMER", "APAC", "Partners"}
	for _, g := range groups[:len(groups)-1] {
		f.seed.Groups = append(f.seed.Groups, sandbox.SeedGroup{Name: g})
	}
	f.seed.Groups = append(f.seed.Groups, sandbox.SeedGroup{Name: "Legacy"})
	legacy := &f.seed.Groups[len(f.seed.Groups)-1]
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
	add(contract.Change{Op: contract.OpCreateGroup, Group: "Partners"})
	for i := range 10 {
		e := fmt.Sprintf("Hand-%02d@Corp.example", i) // mixed case: userName matches case-insensitively
		f.seed.Users = append(f.seed.Users, sandbox.User{Email: e, Name: "Hand", Verified: i%2 == 0})
		w := expected{name: "Hand"}
		switch {
		case i < 3:
			add(contract.Change{Op: contract.OpCreateUser, Email: fmt.Sprintf("hand-%02d@corp.example", i), After: after("Again", e)})
			w.name = "Again"
		case i < 8:
			legacy.Members = append(legacy.Members, e)
			add(contract.Change{Op: contract.OpRemoveMember, Email: e, Group: "Legacy"})
		default:
			add(contract.Change{Op: contract.OpSuspendUser, Email: e})
			w.suspended = true
		}
		f.want[fmt.Sprintf("hand-%02d@corp.example", i)] = w
	}
	for i := range n {
		e := fmt.Sprintf("new-%05d@corp.example", i)
		add(contract.Change{Op: contract.OpCreateUser, Email: e, After: after("New", e)})
		gs := []string{groups[i%len(groups)]}
		if i%3 == 0 {
			gs = append(gs, groups[(i+1)%len(groups)])
		}
		for _, g := range gs {
			add(contract.Change{Op: contract.OpAddMember, Email: e, Group: g})
		}
		sort.Strings(gs)
		f.want[e] = expected{name: "New", groups: gs}
	}
	r := rand.New(rand.NewPCG(11, 11))
	r.Shuffle(len(f.changes), func(i, j int) { f.changes[i], f.changes[j] = f.changes[j], f.changes[i] })
	return f
}

// conformanceRun is one apply of the first load against one profile and
// surface.
type conformanceRun struct {
	requests int64 // HTTP requests the sandbox answered (faults included)
	faults   map[string]int64
	sum      apply.Summary
}

func runFirstLoad(t *testing.T, fx fixture, profile, surface string, faults sandbox.Faults) conformanceRun {
	t.Helper()
	sb, target := loadtest.SandboxTarget(t, sandbox.Options{Seed: &fx.seed, RandSeed: 7, Profile: profile, Faults: faults}, surface)
	l := apply.NewMemLedger(nil)
	opts := load.ApplyOptions{Concurrency: 4, MaxAttempts: 10, BackoffBase: 2 * time.Millisecond, BackoffMax: 20 * time.Millisecond,
		MaxRetryAfter: 20 * time.Millisecond, FlushEvery: 50, BreakerWindow: 200, BreakerMinRequests: 100, Classify: loadtest.Classify,
		Rand: rand.New(rand.NewPCG(1, 1))}
	sum, err := apply.Apply(t.Context(), target, fx.changes, l, opts, loadtest.Log())
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	checkState(t, sb.State(), fx.want)
	checkLedger(t, l.Rows(), fx.changes)
	c := sb.Counters()
	return conformanceRun{requests: c["total"], sum: sum,
		faults: map[string]int64{"5xx": c["fault 5xx"], "drop": c["fault drop"], "429": c["fault 429"]}}
}

// TestTargetConformance applies a first load (conformanceUsers new users
// with memberships) to every provider profile over REST and over SCIM with
// the fault injector on: 5xx and dropped connections, half of them after the
// write was applied, and 429s with and without Retry-After. Highspot must
// end equal to the plan with no duplicate user, every change must be in the
// ledger exactly once, and the requests must stay within a stated bound:
//
//   - fault-free, at most 1.1 × the ideal + 10, where the ideal counts one
//     request per write the surface cannot batch (SCIM without Bulk: a POST
//     per create; every membership: one request), one per batch where it
//     can (REST POST /users by 50, SCIM Bulk by its size), one paged list of
//     the users (no lookup per create: no N+1), and the group and
//     discovery lookups;
//   - with faults, at most the fault-free count × (1 + 4 × the injected
//     fault rate) + 20: each fault costs a bounded number of retries, never
//     a storm.
func TestTargetConformance(t *testing.T) {
	n := conformanceUsers(t)
	fx := firstLoad(n)
	memberships, creates := 0, 0
	for _, c := range fx.changes {
		switch c.Op {
		case contract.OpAddMember, contract.OpRemoveMember:
			memberships++
		case contract.OpCreateUser:
			creates++
		}
	}
	const faultRate = 0.04 + 0.02 + 0.02 // 5xx + drops + 429s
	faults := sandbox.Faults{ErrorRate: 0.04, DropRate: 0.02, Rate429: 0.02, RetryAfter: "mixed", FaultAfterApplyShare: 0.5}
	for _, profile := range sandbox.Profiles() {
		for _, surface := range []string{"rest", "scim"} {
			t.Run(profile+"/"+surface, func(t *testing.T) {
				clean := runFirstLoad(t, fx, profile, surface, sandbox.Faults{})
				if t.Failed() {
					return
				}
				writes := int64(memberships + 2 + 5 + 2) // memberships, suspensions, lookups of users without a learnt id, the group's lookup and create
				pageSize := 100
				switch {
				case surface == "rest":
					writes += int64((creates + 49) / 50)
				case profile == sandbox.ProfileStrictRFC:
					writes += int64(creates)
				default:
					writes += int64((creates + 49) / 50)
				}
				if profile == sandbox.ProfileQuirky {
					pageSize = 40
				}
				lists := int64((n+10)/pageSize + 2)
				if surface == "rest" {
					lists = int64((n+10)/pageSize+2) + 1 // list=verified and list=unverified
				}
				ideal := writes + lists + 7*int64(3) + 1 // group lookups (REST lists the groups per name) and discovery
				if max := ideal + ideal/10 + 10; clean.requests > max {
					t.Errorf("fault-free requests: got %d, want at most %d (ideal %d)", clean.requests, max, ideal)
				}
				faulty := runFirstLoad(t, fx, profile, surface, faults)
				bound := int64(float64(clean.requests)*(1+4*faultRate)) + 20
				if faulty.requests > bound {
					t.Errorf("requests with faults: got %d, want at most %d (fault-free %d)", faulty.requests, bound, clean.requests)
				}
				if faulty.faults["5xx"] == 0 || faulty.faults["drop"] == 0 || faulty.faults["429"] == 0 {
					t.Errorf("faults injected: got %v, want 5xx, drops and 429s", faulty.faults)
				}
				t.Logf("first load of %d users (%d changes): %s/%s: %d requests fault-free (ideal %d), %d with faults %v, %d retries, %v",
					n, len(fx.changes), profile, surface, clean.requests, ideal, faulty.requests, faulty.faults, faulty.sum.Retries,
					faulty.sum.Elapsed.Round(time.Millisecond))
			})
		}
	}
}
