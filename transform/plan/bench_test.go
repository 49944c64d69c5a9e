package plan

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/contract"
)

// synth builds n persons and the Highspot baseline (and previous desired
// state) in which the previous plan was applied, then applies churn: every
// 100th index is one of four kinds (joiner, mover, disabled, gone), so 1% of
// n persons change. want is the exact number of changes that churn causes.
type synth struct {
	persons  []contract.Person
	base     Baseline
	prev     []contract.DesiredUser
	want     map[string]int
	nChurned int
}

func synthesize(n int) *synth {
	if n%500 != 0 {
		panic("synthesize: n must be a multiple of 500")
	}
	s := &synth{want: map[string]int{}}
	gFS, gIS := []string{"acme:Field Sales", "acme:Sales"}, []string{"acme:Inside Sales", "acme:Sales"}
	trees := [][]string{{"acme"}, {"beta"}}
	s.persons = make([]contract.Person, 0, n)
	s.base.Source, s.base.RunID = BaselinePull, "bench"
	s.base.Users = make([]contract.HighspotUser, 0, n)
	s.prev = make([]contract.DesiredUser, 0, n)
	hsGroups := map[string][]string{}
	groupsOf := func(role, region, bu string) []string {
		k := role + region + bu
		if g, ok := hsGroups[k]; ok {
			return g
		}
		var g []string
		switch role {
		case "field_sales":
			g = append(g, "HS Field Sales")
		case "inside_sales":
			g = append(g, "HS Inside Sales", "HS Onboarding Inside")
		}
		g = append(g, "HS "+region)
		if bu == "Enterprise" {
			g = append(g, "HS Enterprise")
		}
		sortStrings(g)
		hsGroups[k] = g
		return g
	}
	for i := 0; i < n; i++ {
		email := "u" + strconv.Itoa(i) + "@acme.com"
		role, groups := "field_sales", gFS
		if i%2 == 1 {
			role, groups = "inside_sales", gIS
		}
		region := "AMER"
		if i%3 == 0 {
			region = "EMEA"
		}
		bu := "Commercial"
		if i%5 == 0 {
			bu = "Enterprise"
		}
		tree := i % 2
		p := contract.Person{PersonID: "p" + strconv.Itoa(i), PrimaryEmail: email, Emails: []string{email},
			GivenName: "Given", Surname: "S" + strconv.Itoa(i), DisplayName: "Given S" + strconv.Itoa(i), Status: "enabled",
			Role: role, Region: region, BusinessUnit: bu, Territory: region + "-X",
			PrimaryTree: trees[tree][0], Trees: trees[tree], Groups: groups}
		hg := groupsOf(role, region, bu)
		s.base.Users = append(s.base.Users, contract.HighspotUser{HighspotID: "h" + strconv.Itoa(i), Email: email,
			Name: p.GivenName, Surname: p.Surname, DisplayName: p.DisplayName, GroupNames: hg})
		s.prev = append(s.prev, contract.DesiredUser{PersonID: p.PersonID, Email: email, Name: p.GivenName, Surname: p.Surname,
			DisplayName: p.DisplayName, Groups: hg, Role: role, Region: region, Tree: p.PrimaryTree, ScopeRule: "sales"})
		if i%125 == 124 {
			switch (i / 125) % 4 {
			case 0: // joiner (not in Highspot yet) and, in its baseline slot, a leaver gone from the directory
				s.nChurned += 2
				gone := "gone" + strconv.Itoa(i) + "@acme.com"
				s.base.Users[len(s.base.Users)-1].Email = gone
				s.prev[len(s.prev)-1].Email = gone
				s.want[contract.OpCreateUser]++
				s.want[contract.OpAddMember] += len(hg)
				s.want[contract.OpSuspendUser]++
			case 1: // mover: field <-> inside
				s.nChurned++
				if role == "field_sales" {
					p.Role, p.Groups = "inside_sales", gIS
				} else {
					p.Role, p.Groups = "field_sales", gFS
				}
				ng := groupsOf(p.Role, region, bu)
				// inside -> field drops the onboarding group too; field -> inside
				// gets no onboarding (join only).
				add, rem := 0, 0
				for _, g := range ng {
					if !slices.Contains(hg, g) && g != "HS Onboarding Inside" {
						add++
					}
				}
				for _, g := range hg {
					if !slices.Contains(ng, g) {
						rem++
					}
				}
				s.want[contract.OpAddMember] += add
				s.want[contract.OpRemoveMember] += rem
			case 2: // leaver: disabled
				s.nChurned++
				p.Status = "disabled"
				s.want[contract.OpSuspendUser]++
			case 3: // profile change
				s.nChurned++
				p.DisplayName += " Jr"
				s.want[contract.OpUpdateUser]++
			}
		}
		s.persons = append(s.persons, p)
	}
	return s
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// cpuTime is the process's user+system CPU time: on a shared machine the
// wall time of a run says more about the neighbours than about the code.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSS is the process's peak resident set (VmHWM) in bytes, 0 when unknown.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			f := strings.Fields(l)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func checkChurn(tb testing.TB, p *Plan, want map[string]int) {
	got := map[string]int{}
	for _, c := range p.Changes {
		got[c.Op]++
	}
	for _, op := range []string{contract.OpCreateUser, contract.OpUpdateUser, contract.OpReactivateUser, contract.OpAddMember, contract.OpRemoveMember, contract.OpSuspendUser} {
		if got[op] != want[op] {
			tb.Errorf("%s: got %d changes, want exactly %d", op, got[op], want[op])
		}
	}
}

func TestSyntheticChurnExact(t *testing.T) {
	pol := loadPolicy(t, "testdata/bench-policy.yaml")
	s := synthesize(20000)
	ev := mustEval(t, s.persons, pol)
	p := Diff(ev, s.base, State{Previous: s.prev}, pol, time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC))
	checkChurn(t, p, s.want)
	if got, want := s.nChurned, 200; got != want {
		t.Errorf("churned: got %d, want %d (1%%)", got, want)
	}
	if len(s.persons) != 20000 || len(s.base.Users) != 20000 {
		t.Errorf("sizes: got %d persons, %d users, want 20000 each", len(s.persons), len(s.base.Users))
	}
}

// BenchmarkPlan1M plans 1,000,000 persons against a 1,000,000-user baseline
// with 1% churn (Desired + Diff), checks the change set is exactly the churn,
// and reports peak RSS. Targets: < 10 s, < 2 GB. Run: make bench, or
// go test -run '^$' -bench Plan1M -benchtime 1x ./transform/plan/
func BenchmarkPlan1M(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("PLAN_BENCH_N"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	pol := loadPolicy(b, "testdata/bench-policy.yaml")
	s := synthesize(n)
	runtime.GC()
	cpu0 := cpuTime()
	b.ResetTimer()
	var p *Plan
	for i := 0; i < b.N; i++ {
		ev, err := Desired(s.persons, pol)
		if err != nil {
			b.Fatal(err)
		}
		p = Diff(ev, s.base, State{Previous: s.prev}, pol, time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC))
	}
	b.StopTimer()
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
	checkChurn(b, p, s.want)
	b.ReportMetric(float64(len(p.Changes)), "changes")
	b.ReportMetric(float64(peakRSS())/(1<<20), "peak-RSS-MiB")
	fmt.Fprintf(os.Stderr, "plan bench: %d persons, %d baseline users, %d churned, %d changes\n", len(s.persons), len(s.base.Users), s.nChurned, len(p.Changes))
}
