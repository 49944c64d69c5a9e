package plan

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/transform/plan/policyconf"
)

// massLeave: 1000 managed users, 30% of them disabled in the directory.
func massLeave(t *testing.T) (*Plan, *Evaluation, Baseline, State, *Policy) {
	pol := loadPolicy(t, "testdata/bench-policy.yaml") // default thresholds
	var ps []contract.Person
	var base Baseline
	var prev []contract.DesiredUser
	base.Source = BaselinePull
	for i := 0; i < 1000; i++ {
		email := "m" + strconv.Itoa(i) + "@acme.com"
		tree := "acme"
		if i%2 == 1 {
			tree = "beta"
		}
		p := contract.Person{PersonID: email, PrimaryEmail: email, Emails: []string{email}, GivenName: "G", Surname: "S", DisplayName: "G S",
			Status: "enabled", Role: "field_sales", Region: "AMER", PrimaryTree: tree, Trees: []string{tree}}
		if i < 300 {
			p.Status = "disabled"
		}
		ps = append(ps, p)
		base.Users = append(base.Users, contract.HighspotUser{HighspotID: "h" + email, Email: email, Name: "G", Surname: "S", DisplayName: "G S", GroupNames: []string{"HS AMER", "HS Field Sales"}})
		prev = append(prev, contract.DesiredUser{Email: email, Tree: tree, Role: "field_sales", Region: "AMER", Groups: []string{"HS AMER", "HS Field Sales"}})
	}
	ev := mustEval(t, ps, pol)
	st := State{Previous: prev}
	return Diff(ev, base, st, pol, t2), ev, base, st, pol
}

func TestMassSuspensionBlocked(t *testing.T) {
	p, ev, base, st, pol := massLeave(t)
	if got, want := len(p.Changes), 300; got != want {
		t.Fatalf("changes: got %d, want %d", got, want)
	}
	for _, tc := range []struct {
		name        string
		allow       map[string]int
		wantBlocked int
	}{
		{"no override", nil, 1},
		{"allow too small", map[string]int{"suspend_user": 299}, 1},
		{"allow", map[string]int{"suspend_user": 300}, 0},
		{"allow other op", map[string]int{"create_user": 1000}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gates := Gates(p, ev, base, st, pol, tc.allow)
			b := Blocked(gates)
			if got := len(b); got != tc.wantBlocked {
				t.Fatalf("blocked gates: got %d (%v), want %d", got, b, tc.wantBlocked)
			}
			if tc.wantBlocked > 0 {
				msg := b[0].String()
				for _, want := range []string{"suspend_user", "whole plan", "300 changes", "30.00% of 1000", "max 50", "max 2%"} {
					if !strings.Contains(msg, want) {
						t.Errorf("gate message %q lacks %q", msg, want)
					}
				}
			}
		})
	}
}

func TestGatePerTree(t *testing.T) {
	p, ev, base, st, pol := massLeave(t)
	pol.Conf.Thresholds = []policyconf.Threshold{
		{Op: "suspend_user", Tree: "acme", MaxPercent: ptr(20.0)},
		{Op: "suspend_user", Tree: "beta", MaxCount: ptr(200)},
	}
	gates := Gates(p, ev, base, st, pol, map[string]int{"suspend_user@acme": 150})
	if got, want := len(gates), 2; got != want {
		t.Fatalf("gates: got %d, want %d", got, want)
	}
	for _, g := range gates {
		if got, want := g.Count, 150; got != want {
			t.Errorf("%s count: got %d, want %d", g.Tree, got, want)
		}
		if g.Tree == "acme" && (!g.Tripped || g.Blocked || g.Base != 500) {
			t.Errorf("acme gate: got %+v, want tripped at 30%% of 500 and overridden", g)
		}
		if g.Tree == "beta" && g.Tripped {
			t.Errorf("beta gate: got %+v, want not tripped (150 <= 200)", g)
		}
	}
}

func TestParseAllow(t *testing.T) {
	got, err := ParseAllow([]string{"suspend_user=120", "remove_member@acme=5"})
	if err != nil || got["suspend_user"] != 120 || got["remove_member@acme"] != 5 {
		t.Errorf("ParseAllow: got %v, %v", got, err)
	}
	for _, bad := range []string{"suspend_user", "nuke=1", "suspend_user=-1", "=3"} {
		if _, err := ParseAllow([]string{bad}); err == nil {
			t.Errorf("ParseAllow(%q): got nil error, want one", bad)
		}
	}
}

func TestEvalErrorFailsThePlan(t *testing.T) {
	pol := loadPolicy(t, "testdata/policy.yaml")
	pol.Conf.Access[0].When = `person.attributes["product"] == "x"`
	prg, errs := pol.Conf.Compile("policy")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	pol.Programs = prg
	_, err := Desired(day1(), pol)
	if err == nil || !strings.Contains(err.Error(), "policy.access[0].when") {
		t.Errorf("got %v, want an evaluation error naming policy.access[0].when", err)
	}
}

func TestAttrHelperIsSafe(t *testing.T) {
	pol := loadPolicy(t, "testdata/policy.yaml")
	pol.Conf.Access[0].When = `person.attr("product") == "x"`
	prg, errs := pol.Conf.Compile("policy")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	pol.Programs = prg
	ps := day1()
	ps[0].Attributes = map[string]string{"product": "x"}
	ev, err := Desired(ps, pol)
	if err != nil {
		t.Fatalf("attr on a missing key must not fail: %v", err)
	}
	if got := ev.RuleHits["sales-management"]; got != 1 {
		t.Errorf("person.attr rule hits: got %d, want 1", got)
	}
}

func TestIdentityFieldDisablesMemo(t *testing.T) {
	c := loadPolicy(t, "testdata/policy.yaml").Conf
	c.Access[1].When = `person.email.startsWith("maria")`
	pol, err := NewPolicy(c)
	if err != nil {
		t.Fatal(err)
	}
	if pol.memoOK {
		t.Fatalf("memo must be off when a rule reads person.email")
	}
	ev := mustEval(t, day1(), pol)
	for _, w := range ev.Wants {
		hasFS := slices.Contains(w.User.Groups, "HS Field Sales")
		if want := strings.HasPrefix(w.User.Email, "maria"); hasFS != want {
			t.Errorf("%s: HS Field Sales got %v, want %v", w.User.Email, hasFS, want)
		}
	}
}

func TestReportEscapes(t *testing.T) {
	s := &Summary{RunID: "r<1>", Status: "blocked", Blocked: []string{`<img src=x onerror=alert(1)>`},
		Joiners: []Joiner{{Email: `"><script>alert(1)</script>`, Tree: "acme"}}, ByOp: map[string]int{}, ByOpTree: map[string]map[string]int{},
		HeadcountByTree: map[string]int{"a&b": 1}, HeadcountByRole: map[string]int{}}
	h := RenderHTML(s, []contract.Change{{Seq: 1, Op: "add_member", Tree: "acme", Email: "<b>x", Group: "g<i>", Rule: "r<u>", Reason: "<svg onload=1>"}})
	for _, bad := range []string{"<script>", "<img", "a&b", "<b>x", "g<i>", "r<u>", "<svg onload"} {
		if strings.Contains(h, bad) {
			t.Errorf("plan.html holds unescaped %q", bad)
		}
	}
}

// TestCreateMissingGroups: with highspot.create_missing_groups a managed
// group the pull did not find becomes a create_group change, ordered first
// and gated like any op; without it the plan only reports it.
func TestCreateMissingGroups(t *testing.T) {
	pol := loadPolicy(t, "testdata/policy.yaml")
	ps := []contract.Person{person("acme", "john.doe", "john.doe@acme.com", "channel", "LATAM", "", "LATAM", "enabled")}
	base := Baseline{Source: BaselinePull} // Highspot has no group at all
	for _, tc := range []struct {
		name   string
		create bool
	}{{"off", false}, {"on", true}} {
		t.Run(tc.name, func(t *testing.T) {
			pol.CreateMissingGroups = tc.create
			ev := mustEval(t, ps, pol)
			p := Diff(ev, base, State{}, pol, t1)
			if len(p.MissingGroups) == 0 {
				t.Fatalf("missing groups: got none, want the managed groups john needs")
			}
			var creates []string
			for i, c := range p.Changes {
				if c.Op == contract.OpCreateGroup {
					creates = append(creates, c.Group)
					if i >= len(p.MissingGroups) || c.Phase != 1 || c.ChangeID == "" {
						t.Errorf("create_group %s: got seq %d phase %d id %q, want it first, phase 1, with an id", c.Group, c.Seq, c.Phase, c.ChangeID)
					}
				}
			}
			want := ""
			if tc.create {
				want = strings.Join(p.MissingGroups, ",")
			}
			if got := strings.Join(creates, ","); got != want {
				t.Errorf("create_group changes: got %q, want %q", got, want)
			}
			zero := 0
			pol.Conf.Thresholds = append(pol.Conf.Thresholds, policyconf.Threshold{Op: contract.OpCreateGroup, MaxCount: &zero})
			blocked := Blocked(Gates(p, ev, base, State{}, pol, nil))
			pol.Conf.Thresholds = pol.Conf.Thresholds[:len(pol.Conf.Thresholds)-1]
			if got := len(blocked) > 0 && blocked[0].Op == contract.OpCreateGroup; got != tc.create {
				t.Errorf("create_group gate (max_count 0, %d creates): got blocked=%v (%v), want %v", len(creates), got, blocked, tc.create)
			}
		})
	}
}
