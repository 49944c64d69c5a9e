package plan

import (
	"encoding/json"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/config"
	"github.com/otds-highspot/otds-highspot/internal/contract"
)

func loadPolicy(t testing.TB, path string) *Policy {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse(path, data)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	pol, err := NewPolicy(&c.Policy)
	if err != nil {
		t.Fatalf("policy: %v", err)
	}
	return pol
}

// person builds a scenario person; groups are directory groups "tree:name".
func person(tree, id, email, role, region, bu, territory, status string, groups ...string) contract.Person {
	given, sur, _ := strings.Cut(id, ".")
	return contract.Person{PersonID: "p-" + id, PrimaryEmail: email, Emails: []string{email},
		GivenName: given, Surname: sur, DisplayName: given + " " + sur, Status: status,
		Role: role, Region: region, BusinessUnit: bu, Territory: territory,
		PrimaryTree: tree, Trees: []string{tree}, Groups: groups}
}

// day1 is the directory on day 1 (names follow fixtures/otds).
func day1() []contract.Person {
	return []contract.Person{
		person("acme", "john.doe", "john.doe@acme.com", "field_sales", "AMER", "Enterprise", "AMER-East", "enabled", "acme:Field Sales", "acme:Sales"),
		person("acme", "robert.jones", "robert.jones@acme.com", "inside_sales", "AMER", "Commercial", "AMER-Central", "enabled", "acme:Inside Sales"),
		person("acme", "maria.garcia", "maria.garcia@acme.com", "field_sales", "AMER", "Enterprise", "AMER-West", "enabled", "acme:Field Sales"),
		person("acme", "daniel.kim", "daniel.kim@acme.com", "field_sales", "AMER", "Commercial", "AMER-East", "enabled", "acme:Field Sales"),
		person("acme", "paul.white", "paul.white@acme.com", "inside_sales", "AMER", "Commercial", "AMER-Canada", "enabled", "acme:Inside Sales"),
		person("acme", "alice.smith", "alice.smith@acme.com", "field_sales", "AMER", "Commercial", "AMER-West", "enabled", "acme:Field Sales"),
		person("acme", "it.admin", "admin@acme.com", "field_sales", "AMER", "Operations", "AMER-East", "enabled", "acme:Highspot Admins"),
		person("acme", "sam.eng", "sam.eng@acme.com", "engineering", "AMER", "Operations", "AMER-East", "enabled", "acme:Engineering"),
		person("beta", "maria.schulz", "maria.schulz@beta-gmbh.de", "field_sales", "EMEA", "Mittelstand", "EMEA-DACH", "enabled", "beta:Vertrieb", "beta:EMEA"),
		person("gamma", "peter.ext", "peter.ext@gamma-partners.com", "channel", "LATAM", "Channel", "LATAM", "enabled", "gamma:Channel Partners"),
		{PersonID: "p-svc", PrimaryEmail: "svc-backup@acme.com", Emails: []string{"svc-backup@acme.com"}, Status: "enabled", Role: "field_sales", IsService: true, PrimaryTree: "acme", Trees: []string{"acme"}},
	}
}

// day2: joiner nwilson, mover rjones inside -> field (AMER-West, Enterprise),
// mover mgarcia field -> sales management, leavers dkim (disabled), pwhite
// (gone), asmith (Engineering: out of scope).
func day2() []contract.Person {
	ps := day1()
	out := ps[:0]
	for _, p := range ps {
		switch p.PersonID {
		case "p-robert.jones":
			p.Role, p.BusinessUnit, p.Territory, p.Groups = "field_sales", "Enterprise", "AMER-West", []string{"acme:Field Sales"}
		case "p-maria.garcia":
			p.Role, p.Groups = "sales_management", []string{"acme:Sales Management"}
		case "p-daniel.kim":
			p.Status = "disabled"
		case "p-paul.white":
			continue
		case "p-alice.smith":
			p.Role, p.Groups = "engineering", []string{"acme:Engineering"}
		}
		out = append(out, p)
	}
	return append(out, person("acme", "nina.wilson", "nina.wilson@acme.com", "inside_sales", "AMER", "Commercial", "AMER-Central", "enabled", "acme:Inside Sales", "acme:AMER"))
}

// highspot0 is Highspot before the first plan: a hand-made admin, an unknown
// consultant, and john.doe with a hand-made (unmanaged) group membership.
func highspot0() Baseline {
	return Baseline{Source: BaselinePull, RunID: "20261101T000000Z-0000", Users: []contract.HighspotUser{
		{HighspotID: "hs-admin", Email: "admin@acme.com", Name: "IT", Surname: "Admin", DisplayName: "IT Admin", GroupNames: []string{"HS Field Sales", "Admins"}},
		{HighspotID: "hs-consultant", Email: "consultant@partner.example", Name: "Con", DisplayName: "Con", GroupNames: []string{"HS AMER"}},
		{HighspotID: "hs-jdoe", Email: "john.doe@acme.com", Name: "john", Surname: "doe", DisplayName: "Johnny Doe", GroupNames: []string{"Marketing Content"}},
	}, Groups: []contract.HighspotGroup{{HighspotID: "g-fs", Name: "HS Field Sales", Managed: true}, {HighspotID: "g-mc", Name: "Marketing Content"}}}
}

// simulateApply applies changes to a baseline as Highspot would.
func simulateApply(b Baseline, cs []contract.Change) Baseline {
	users := append([]contract.HighspotUser(nil), b.Users...)
	idx := map[string]int{}
	for i := range users {
		users[i].GroupNames = append([]string(nil), users[i].GroupNames...)
		idx[users[i].Email] = i
	}
	for _, c := range cs {
		i, ok := idx[c.Email]
		if c.Op == contract.OpCreateUser {
			var pr profile
			mustJSON(c.After, &pr)
			users = append(users, contract.HighspotUser{HighspotID: "hs-" + c.Email, Email: c.Email, Name: pr.Name, Surname: pr.Surname, DisplayName: pr.DisplayName})
			idx[c.Email] = len(users) - 1
			continue
		}
		if !ok {
			panic("apply: unknown user " + c.Email)
		}
		u := &users[i]
		switch c.Op {
		case contract.OpUpdateUser:
			var pr profile
			mustJSON(c.After, &pr)
			u.Name, u.Surname, u.DisplayName = pr.Name, pr.Surname, pr.DisplayName
		case contract.OpReactivateUser:
			u.Suspended = false
		case contract.OpSuspendUser:
			u.Suspended = true
		case contract.OpAddMember:
			u.GroupNames = append(u.GroupNames, c.Group)
		case contract.OpRemoveMember:
			var keep []string
			for _, g := range u.GroupNames {
				if g != c.Group {
					keep = append(keep, g)
				}
			}
			u.GroupNames = keep
		}
	}
	return Baseline{Source: BaselinePull, RunID: b.RunID + "+applied", Users: users, Groups: b.Groups}
}

func changeKeys(cs []contract.Change) []string {
	var out []string
	for _, c := range cs {
		k := c.Op + " " + c.Email
		if c.Group != "" {
			k += " " + c.Group
		}
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func hasKey(keys []string, k string) bool {
	for _, x := range keys {
		if x == k {
			return true
		}
	}
	return false
}

var (
	t1 = time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC)
	t2 = time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)
)

func mustEval(t testing.TB, ps []contract.Person, pol *Policy) *Evaluation {
	t.Helper()
	ev, err := Desired(ps, pol)
	if err != nil {
		t.Fatalf("desired: %v", err)
	}
	return ev
}

func mustJSON(s string, v any) {
	if err := json.Unmarshal([]byte(s), v); err != nil {
		panic(err)
	}
}

func TestScenarioDay1Day2(t *testing.T) {
	pol := loadPolicy(t, "testdata/policy.yaml")
	base0 := highspot0()
	p1 := Diff(mustEval(t, day1(), pol), base0, State{}, pol, t1)
	k1 := changeKeys(p1.Changes)
	for _, want := range []string{
		// joiner with onboarding by role and region
		"create_user robert.jones@acme.com", "add_member robert.jones@acme.com HS Inside Sales", "add_member robert.jones@acme.com HS Onboarding Inside",
		"add_member maria.garcia@acme.com HS Onboarding Field AMER",
		"add_member maria.schulz@beta-gmbh.de HS Onboarding EMEA", "add_member maria.schulz@beta-gmbh.de HS EMEA",
		// audience by BU
		"add_member peter.ext@gamma-partners.com HS Channel", "add_member maria.garcia@acme.com HS Enterprise",
		// existing user, profile from the directory
		"update_user john.doe@acme.com", "add_member john.doe@acme.com HS Field Sales",
	} {
		if !hasKey(k1, want) {
			t.Errorf("day 1: missing change %q; got %v", want, k1)
		}
	}
	for _, k := range k1 {
		for _, never := range []string{"admin@acme.com", "consultant@partner.example", "Marketing Content", "svc-backup", "sam.eng"} {
			if strings.Contains(k, never) {
				t.Errorf("day 1: change %q touches %s (protected, unmanaged, service or out of scope)", k, never)
			}
		}
	}
	if got, want := p1.Untouched["protected"], 1; got != want {
		t.Errorf("day 1 protected untouched: got %d, want %d", got, want)
	}
	if got, want := p1.Untouched["unmanaged"], 1; got != want {
		t.Errorf("day 1 unmanaged untouched: got %d, want %d", got, want)
	}

	base1 := simulateApply(base0, p1.Changes)
	st1 := State{Previous: p1.Desired, LeaverSince: p1.LeaverSince}
	if again := Diff(mustEval(t, day1(), pol), base1, st1, pol, t1); len(again.Changes) != 0 {
		t.Fatalf("zero churn after day 1: got %v, want none", changeKeys(again.Changes))
	}

	p2 := Diff(mustEval(t, day2(), pol), base1, st1, pol, t2)
	k2 := changeKeys(p2.Changes)
	want2 := []string{
		// joiner nwilson: inside sales onboarding + AMER audience
		"create_user nina.wilson@acme.com", "add_member nina.wilson@acme.com HS Inside Sales",
		"add_member nina.wilson@acme.com HS Onboarding Inside", "add_member nina.wilson@acme.com HS AMER",
		// mover inside -> field sales: new field onboarding (on move), enterprise audience, old groups removed
		"add_member robert.jones@acme.com HS Field Sales", "add_member robert.jones@acme.com HS Onboarding Field AMER",
		"add_member robert.jones@acme.com HS Enterprise",
		"remove_member robert.jones@acme.com HS Inside Sales", "remove_member robert.jones@acme.com HS Onboarding Inside",
		// mover sales -> sales management
		"add_member maria.garcia@acme.com HS Sales Managers", "add_member maria.garcia@acme.com HS Onboarding Managers",
		"remove_member maria.garcia@acme.com HS Onboarding Field AMER",
		// leavers: disabled, gone, out of scope
		"suspend_user daniel.kim@acme.com", "suspend_user paul.white@acme.com", "suspend_user alice.smith@acme.com",
	}
	for _, w := range want2 {
		if !hasKey(k2, w) {
			t.Errorf("day 2: missing change %q", w)
		}
	}
	if got, want := len(k2), len(want2); got != want {
		t.Errorf("day 2: got %d changes %v, want %d", got, k2, want)
	}
	reasons := map[string]string{}
	for _, l := range p2.Leavers {
		reasons[l.Email] = l.Reason
	}
	for email, want := range map[string]string{"daniel.kim@acme.com": ReasonDisabled, "paul.white@acme.com": ReasonMissing, "alice.smith@acme.com": ReasonOutOfScope} {
		if got := reasons[email]; got != want {
			t.Errorf("leaver %s: got reason %q, want %q", email, got, want)
		}
	}
	if got, want := len(p2.Movers), 2; got != want {
		t.Errorf("movers: got %d, want %d", got, want)
	}
	for _, c := range p2.Changes {
		if c.Rule == "" || c.Reason == "" || c.ChangeID == "" || c.Tree == "" {
			t.Errorf("change %+v lacks rule, reason, id or tree", c)
		}
	}
	base2 := simulateApply(base1, p2.Changes)
	st2 := State{Previous: p2.Desired, LeaverSince: p2.LeaverSince}
	if again := Diff(mustEval(t, day2(), pol), base2, st2, pol, t2.Add(time.Hour)); len(again.Changes) != 0 {
		t.Fatalf("zero churn after day 2: got %v, want none", changeKeys(again.Changes))
	}
	// With no pull, the previous desired state is the baseline: still zero churn.
	if again := Diff(mustEval(t, day2(), pol), BaselineFromDesired("r2", p2.Desired), st2, pol, t2.Add(time.Hour)); len(again.Changes) != 0 {
		t.Fatalf("zero churn on the previous-plan baseline: got %v, want none", changeKeys(again.Changes))
	}
	// The hand-made groups stay on john.doe.
	for _, u := range base2.Users {
		if u.Email == "john.doe@acme.com" && !hasKey(u.GroupNames, "Marketing Content") {
			t.Errorf("john.doe lost the unmanaged group: %v", u.GroupNames)
		}
		if u.Email == "admin@acme.com" && (u.Suspended || len(u.GroupNames) != 2) {
			t.Errorf("protected admin changed: %+v", u)
		}
	}
}

func TestDeterministicIDsAndHash(t *testing.T) {
	pol := loadPolicy(t, "testdata/policy.yaml")
	ev := mustEval(t, day2(), pol)
	st := State{}
	a := Diff(ev, highspot0(), st, pol, t2)
	b := Diff(mustEval(t, day2(), pol), highspot0(), st, pol, t2)
	if a.SHA256 != b.SHA256 || len(a.Changes) != len(b.Changes) {
		t.Fatalf("plan hash: got %s and %s, want equal", a.SHA256, b.SHA256)
	}
	seen := map[string]bool{}
	for i := range a.Changes {
		if a.Changes[i].ChangeID != b.Changes[i].ChangeID {
			t.Errorf("change %d id: got %s and %s", i, a.Changes[i].ChangeID, b.Changes[i].ChangeID)
		}
		if seen[a.Changes[i].ChangeID] {
			t.Errorf("duplicate change id %s", a.Changes[i].ChangeID)
		}
		seen[a.Changes[i].ChangeID] = true
		if got, want := a.Changes[i].Seq, int64(i+1); got != want {
			t.Errorf("seq: got %d, want %d", got, want)
		}
		if i > 0 && a.Changes[i].Phase < a.Changes[i-1].Phase {
			t.Errorf("phase order broken at %d", i)
		}
	}
	if got, want := ChangeID("add_member", "a@x", "G", `{"member":true}`), ChangeID("add_member", "a@x", "G", `{"member":true}`); got != want || len(got) != 32 {
		t.Errorf("ChangeID: got %q, want stable 32 hex", got)
	}
}

func TestGraceDays(t *testing.T) {
	pol := loadPolicy(t, "testdata/policy.yaml")
	pol.Conf.Leavers.GraceDays = 3
	p1 := Diff(mustEval(t, day1(), pol), highspot0(), State{}, pol, t1)
	base1 := simulateApply(highspot0(), p1.Changes)
	st := State{Previous: p1.Desired, LeaverSince: p1.LeaverSince}
	for day := 1; day <= 4; day++ {
		now := t1.AddDate(0, 0, day)
		p := Diff(mustEval(t, day2(), pol), base1, st, pol, now)
		suspends := 0
		for _, c := range p.Changes {
			if c.Op == contract.OpSuspendUser {
				suspends++
			}
		}
		want := 0
		if day >= 4 { // first seen leaving on day 1, grace 3 days
			want = 3
		}
		if suspends != want {
			t.Errorf("day %d: got %d suspensions, want %d (leavers %+v)", day, suspends, want, p.Leavers)
		}
		// not applied: carry the state as a real run would
		st = State{Previous: p.Desired, LeaverSince: p.LeaverSince}
	}
}

func TestReactivationAndLeaverSwitches(t *testing.T) {
	pol := loadPolicy(t, "testdata/policy.yaml")
	p1 := Diff(mustEval(t, day1(), pol), highspot0(), State{}, pol, t1)
	base1 := simulateApply(highspot0(), p1.Changes)
	st1 := State{Previous: p1.Desired, LeaverSince: p1.LeaverSince}
	p2 := Diff(mustEval(t, day2(), pol), base1, st1, pol, t2)
	base2 := simulateApply(base1, p2.Changes)
	st2 := State{Previous: p2.Desired, LeaverSince: p2.LeaverSince}

	// Day 3: daniel.kim is enabled again.
	day3 := day2()
	for i := range day3 {
		if day3[i].PersonID == "p-daniel.kim" {
			day3[i].Status = "enabled"
		}
	}
	p3 := Diff(mustEval(t, day3, pol), base2, st2, pol, t2.AddDate(0, 0, 1))
	if got, want := changeKeys(p3.Changes), []string{"reactivate_user daniel.kim@acme.com"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("reactivation: got %v, want %v", got, want)
	}
	base3 := simulateApply(base2, p3.Changes)
	st3 := State{Previous: p3.Desired, LeaverSince: p3.LeaverSince}
	if again := Diff(mustEval(t, day3, pol), base3, st3, pol, t2.AddDate(0, 0, 1)); len(again.Changes) != 0 {
		t.Errorf("zero churn after reactivation: got %v", changeKeys(again.Changes))
	}

	// Switches off: nobody is suspended on day 2, and the carried users stay managed.
	off := false
	pol.Conf.Leavers.SuspendWhenDisabled = &off
	pol.Conf.Leavers.SuspendWhenMissing = &off
	pol.Conf.Leavers.SuspendWhenOutOfScope = &off
	p2off := Diff(mustEval(t, day2(), pol), base1, st1, pol, t2)
	for _, c := range p2off.Changes {
		if c.Op == contract.OpSuspendUser {
			t.Errorf("leaver switches off: got %s %s", c.Op, c.Email)
		}
	}
	kept := map[string]bool{}
	for _, d := range p2off.Desired {
		kept[d.Email] = !d.Suspended
	}
	for _, e := range []string{"paul.white@acme.com", "alice.smith@acme.com"} {
		if !kept[e] {
			t.Errorf("%s: want carried as an active desired user while leaver switches are off", e)
		}
	}
}

func TestDuplicateEmailKeepsFirst(t *testing.T) {
	pol := loadPolicy(t, "testdata/policy.yaml")
	ps := []contract.Person{
		person("acme", "a.one", "same@acme.com", "field_sales", "AMER", "", "AMER-East", "enabled"),
		person("beta", "a.two", "same@acme.com", "inside_sales", "EMEA", "", "EMEA-DACH", "enabled"),
		person("acme", "john.doe", "john.doe@acme.com", "field_sales", "AMER", "", "AMER-East", "enabled"),
		person("beta", "j.dup", "John.Doe@acme.com", "inside_sales", "EMEA", "", "EMEA-DACH", "enabled"),
	}
	p := Diff(mustEval(t, ps, pol), highspot0(), State{}, pol, t1)
	if got, want := strings.Join(p.Duplicates, ","), "same@acme.com,john.doe@acme.com"; got != want {
		t.Errorf("duplicates: got %s, want %s", got, want)
	}
	for _, c := range p.Changes {
		if c.PersonID == "p-a.two" || c.PersonID == "p-j.dup" {
			t.Errorf("change for the second person of a duplicate address: %s %s", c.Op, c.Email)
		}
	}
}

func TestGroupNameCaseInsensitive(t *testing.T) {
	pol := loadPolicy(t, "testdata/policy.yaml")
	ps := []contract.Person{person("acme", "john.doe", "john.doe@acme.com", "channel", "LATAM", "", "LATAM", "enabled")}
	base := Baseline{Source: BaselinePull, Users: []contract.HighspotUser{{HighspotID: "h1", Email: "john.doe@acme.com",
		Name: "john", Surname: "doe", DisplayName: "john doe", GroupNames: []string{"hs channel", "HS Field Sales"}}},
		Groups: []contract.HighspotGroup{{HighspotID: "g1", Name: "hs channel"}, {HighspotID: "g2", Name: "HS Field Sales"}}}
	p := Diff(mustEval(t, ps, pol), base, State{}, pol, t1)
	if got, want := strings.Join(changeKeys(p.Changes), ","), "remove_member john.doe@acme.com HS Field Sales"; got != want {
		t.Errorf("got %s, want %s (hs channel is HS Channel)", got, want)
	}
	if len(p.Changes) == 1 && p.Changes[0].GroupID != "g2" {
		t.Errorf("group id: got %q, want g2", p.Changes[0].GroupID)
	}
}
