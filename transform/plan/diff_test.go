package plan

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/transform/plan/policyconf"
)

// The per-person decisions of Diff, each on its own. The scenario tests
// (scenario_test.go) cover their composition.

func opsOf(cs []contract.Change) string {
	var out []string
	for _, c := range cs {
		s := c.Op + " " + c.Email
		if c.Group != "" {
			s += " " + c.Group
		}
		out = append(out, s)
	}
	return strings.Join(out, "; ")
}

func TestIndexMatch(t *testing.T) {
	users := []contract.HighspotUser{
		{HighspotID: "hs-a", Email: "Ann@Acme.com"},
		{HighspotID: "hs-b", Email: "bob@acme.com"},
	}
	prev := []contract.DesiredUser{{Email: "ann@acme.com", Role: "r-ann"}, {Email: "carl@acme.com", Role: "r-carl"}, {Email: "b.alias@acme.com", Role: "r-alias"}}
	want := func(email string, aliases ...string) *Want {
		return &Want{User: contract.DesiredUser{Email: email}, Emails: append([]string{email}, aliases...)}
	}
	// Each case matches its wants in order against a fresh index; the last
	// want is the one checked.
	tests := []struct {
		name     string
		wants    []*Want
		ok       bool
		email    string // matched address
		hsID     string // "" = no Highspot user
		prevRole string // "" = no previous row
	}{
		{name: "by address, case-folded baseline", wants: []*Want{want("ann@acme.com")}, ok: true, email: "ann@acme.com", hsID: "hs-a", prevRole: "r-ann"},
		{name: "no Highspot user, previous row", wants: []*Want{want("carl@acme.com")}, ok: true, email: "carl@acme.com", prevRole: "r-carl"},
		{name: "joiner", wants: []*Want{want("dan@acme.com")}, ok: true, email: "dan@acme.com"},
		{name: "by another address takes the Highspot spelling", wants: []*Want{want("b.alias@acme.com", "BOB@acme.com")}, ok: true, email: "bob@acme.com", hsID: "hs-b", prevRole: "r-alias"},
		{name: "second person with a claimed address", wants: []*Want{want("ann@acme.com"), want("ann@acme.com")}, ok: false},
		{name: "second joiner with one address", wants: []*Want{want("dan@acme.com"), want("dan@acme.com")}, ok: false},
		{name: "alias already claimed: a joiner", wants: []*Want{want("bob@acme.com"), want("eve@acme.com", "bob@acme.com")}, ok: true, email: "eve@acme.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := newIndex(users, prev)
			var m match
			var ok bool
			for _, w := range tt.wants {
				m, ok = x.match(w)
			}
			if ok != tt.ok {
				t.Fatalf("got ok %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			hs, role := "", ""
			if m.b != nil {
				hs = m.b.HighspotID
			}
			if m.pv != nil {
				role = m.pv.Role
			}
			if m.email != tt.email || hs != tt.hsID || role != tt.prevRole {
				t.Errorf("got email %q, user %q, previous %q; want %q, %q, %q", m.email, hs, role, tt.email, tt.hsID, tt.prevRole)
			}
		})
	}
}

func TestOnboarding(t *testing.T) {
	u := contract.DesiredUser{Role: "field_sales", Region: "AMER", Groups: []string{"HS Field Sales"}, GroupRules: map[string]string{"HS Field Sales": "field-sales"}}
	w := &Want{User: u, Onboard: []Onboard{
		{Group: "Onb Join", Rule: "o1", Join: true},
		{Group: "Onb Move", Rule: "o2", Join: true, Move: true},
		{Group: "HS Field Sales", Rule: "o3", Join: true}, // granted by an access rule: never onboarding
	}}
	active := &contract.HighspotUser{Email: "a@x"}
	tests := []struct {
		name      string
		b         *contract.HighspotUser
		pv        *contract.DesiredUser
		have      []string
		prevOnb   []string
		wantEvent string
		wantMask  uint64
		wantNew   []string
	}{
		{name: "join: no Highspot user", wantEvent: "join", wantMask: 0b011, wantNew: []string{"Onb Join", "Onb Move"}},
		{name: "join: suspended user", b: &contract.HighspotUser{Suspended: true}, wantEvent: "join", wantMask: 0b011, wantNew: []string{"Onb Join", "Onb Move"}},
		{name: "move: role changed", b: active, pv: &contract.DesiredUser{Role: "inside_sales", Region: "AMER", Groups: []string{"HS Field Sales"}}, wantEvent: "move", wantMask: 0b010, wantNew: []string{"Onb Move"}},
		{name: "move: groups changed", b: active, pv: &contract.DesiredUser{Role: "field_sales", Region: "AMER", Groups: []string{"HS Inside Sales"}}, wantEvent: "move", wantMask: 0b010, wantNew: []string{"Onb Move"}},
		{name: "no event: onboarding groups of the previous plan do not count as a move", b: active,
			pv: &contract.DesiredUser{Role: "field_sales", Region: "AMER", Groups: []string{"HS Field Sales", "Onb Join"}, Onboarding: []string{"Onb Join"}}, have: []string{"Onb Join"}, prevOnb: []string{"Onb Join"},
			wantMask: 0b001},
		{name: "no event: granted before but not held is added again", b: active, pv: &contract.DesiredUser{Role: "field_sales", Region: "AMER", Groups: []string{"HS Field Sales"}},
			prevOnb: []string{"Onb Join"}, wantMask: 0b001, wantNew: []string{"Onb Join"}},
		{name: "no event: held in Highspot is kept, nothing new", b: active, pv: &contract.DesiredUser{Role: "field_sales", Region: "AMER", Groups: []string{"HS Field Sales"}},
			have: []string{"Onb Move"}, wantMask: 0b010},
		{name: "no event, no previous plan", b: active},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := onboardingEvent(tt.b, tt.pv, &w.User)
			mask, newOnb := onboarding(w, ev, tt.have, tt.prevOnb)
			if ev != tt.wantEvent || mask != tt.wantMask || !slices.Equal(newOnb, tt.wantNew) {
				t.Errorf("got event %q, mask %03b, new %v; want %q, %03b, %v", ev, mask, newOnb, tt.wantEvent, tt.wantMask, tt.wantNew)
			}
		})
	}
}

func TestProfileChanges(t *testing.T) {
	u := &contract.DesiredUser{PersonID: "p1", Email: "a@x", Name: "Ann", Surname: "Lee", DisplayName: "Ann Lee", Tree: "acme", ScopeRule: "sales"}
	tests := []struct {
		name string
		b    *contract.HighspotUser
		want string // ops
		what string // the last change's reason
	}{
		{name: "joiner", want: "create_user a@x", what: "joiner: in scope (rule sales) in tree acme with no Highspot user"},
		{name: "unchanged", b: &contract.HighspotUser{Name: "Ann", Surname: "Lee", DisplayName: "Ann Lee"}},
		{name: "renamed", b: &contract.HighspotUser{Name: "Ann", Surname: "Smith", DisplayName: "Ann Smith"}, want: "update_user a@x", what: "profile changed in the directory: surname, display_name"},
		{name: "suspended", b: &contract.HighspotUser{Suspended: true, Name: "Ann", Surname: "Lee", DisplayName: "Ann Lee"}, want: "reactivate_user a@x", what: "active and in scope in the directory again"},
		{name: "suspended and renamed", b: &contract.HighspotUser{Suspended: true, Name: "A"}, want: "reactivate_user a@x; update_user a@x", what: "profile changed in the directory: name, surname, display_name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := profileChanges(u, tt.b, nil)
			what := ""
			if len(got) > 0 {
				what = got[len(got)-1].Reason
			}
			if opsOf(got) != tt.want || what != tt.what {
				t.Errorf("got %q (%q), want %q (%q)", opsOf(got), what, tt.want, tt.what)
			}
		})
	}
}

func TestAccessChanges(t *testing.T) {
	pol := loadPolicy(t, "testdata/policy.yaml")
	u := &contract.DesiredUser{Email: "a@x", Role: "field_sales", Region: "AMER",
		Groups:     []string{"HS AMER", "HS Field Sales", "HS Onboarding Field AMER"},
		GroupRules: map[string]string{"HS AMER": "amer", "HS Field Sales": "field-sales", "HS Onboarding Field AMER": "onboarding-field-amer"},
		Onboarding: []string{"HS Onboarding Field AMER"}}
	tests := []struct {
		name   string
		b      *contract.HighspotUser
		have   []string
		want   string
		reason string // first change's reason
	}{
		{name: "joiner gets every group", want: "add_member a@x HS AMER; add_member a@x HS Field Sales; add_member a@x HS Onboarding Field AMER", reason: "rule amer grants HS AMER"},
		{name: "holds all", b: &contract.HighspotUser{}, have: []string{"HS Field Sales", "HS AMER", "HS Onboarding Field AMER"}},
		{name: "onboarding on move", b: &contract.HighspotUser{}, have: []string{"HS Field Sales", "HS AMER"}, want: "add_member a@x HS Onboarding Field AMER", reason: "onboarding rule onboarding-field-amer grants HS Onboarding Field AMER on move"},
		{name: "managed group no rule grants is removed, unmanaged kept", b: &contract.HighspotUser{}, have: []string{"Marketing", "HS Inside Sales", "HS Field Sales", "HS AMER", "HS Onboarding Field AMER"},
			want: "remove_member a@x HS Inside Sales", reason: "no rule grants HS Inside Sales any more (role field_sales, region AMER)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := accessChanges(u, tt.b, tt.have, "move", pol, nil)
			reason := ""
			if len(got) > 0 {
				reason = got[0].Reason
			}
			if opsOf(got) != tt.want || reason != tt.reason {
				t.Errorf("got %q (%q), want %q (%q)", opsOf(got), reason, tt.want, tt.reason)
			}
		})
	}
}

func TestGraceClock(t *testing.T) {
	now := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)
	since := map[string]string{"old@x": "2026-11-20", "bad@x": "yesterday"}
	tests := []struct {
		name, email      string
		days             int
		wantSince, until string
	}{
		{name: "no grace: due today", email: "new@x", wantSince: "2026-11-25"},
		{name: "first seen today: pending", email: "new@x", days: 3, wantSince: "2026-11-25", until: "2026-11-28"},
		{name: "seen before, still pending", email: "old@x", days: 7, wantSince: "2026-11-20", until: "2026-11-27"},
		{name: "seen before, grace over", email: "old@x", days: 5, wantSince: "2026-11-20"},
		{name: "unreadable date restarts today", email: "bad@x", days: 1, wantSince: "2026-11-25", until: "2026-11-26"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := graceClock{now: now, days: tt.days, since: since}.decide(tt.email)
			if g.since != tt.wantSince || g.pendingUntil != tt.until || g.due() != (tt.until == "") {
				t.Errorf("got since %q until %q, want %q until %q", g.since, g.pendingUntil, tt.wantSince, tt.until)
			}
		})
	}
}

func TestDecideUnclaimed(t *testing.T) {
	off := false
	now := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)
	b := &contract.HighspotUser{HighspotID: "hs-1", Email: "Gone@X", GroupNames: []string{"HS AMER"}}
	pv := &contract.DesiredUser{PersonID: "p1", Email: "gone@x", Tree: "acme", Groups: []string{"HS Field Sales"}, GroupRules: map[string]string{"HS Field Sales": "r"}, Suspended: true}
	tests := []struct {
		name      string
		pv        *contract.DesiredUser
		protected bool
		excluded  string
		leavers   policyconf.Leavers
		want      string // ops
		untouched string // reason
		leaver    string // "reason since pending"
		keep      string // "suspended groups" of the carried row; "" when none
	}{
		{name: "protected", pv: pv, protected: true, untouched: "protected"},
		{name: "never provisioned", untouched: "unmanaged"},
		{name: "previously protected", pv: &contract.DesiredUser{Protected: true}, untouched: "unmanaged"},
		{name: "missing: suspended", pv: pv, want: "suspend_user gone@x", leaver: "missing 2026-11-25 ", keep: "true [HS AMER]"},
		{name: "out of scope: suspended", pv: pv, excluded: ReasonOutOfScope, want: "suspend_user gone@x", leaver: "out_of_scope 2026-11-25 ", keep: "true [HS AMER]"},
		{name: "out of scope, rule off: carried active", pv: pv, excluded: ReasonOutOfScope, leavers: policyconf.Leavers{SuspendWhenOutOfScope: &off}, keep: "false [HS AMER]"},
		{name: "missing, within grace: carried active", pv: pv, leavers: policyconf.Leavers{GraceDays: 2}, leaver: "missing 2026-11-25 2026-11-27", keep: "false [HS AMER]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &policyconf.Policy{Scope: policyconf.ScopeRule{Name: "sales"}, Leavers: tt.leavers}
			o := decideUnclaimed(b, tt.pv, tt.protected, tt.excluded, c, graceClock{now: now, days: tt.leavers.GraceDays})
			untouched, leaver, keep := "", "", ""
			if o.untouched != nil {
				untouched = o.untouched.Reason
			}
			if o.leaver != nil {
				leaver = o.leaver.Reason + " " + o.leaver.Since + " " + o.leaver.PendingUntil
			}
			if o.keep {
				keep = fmt.Sprint(o.desired.Suspended, " ", o.desired.Groups)
			}
			if opsOf(o.changes) != tt.want || untouched != tt.untouched || leaver != tt.leaver || keep != tt.keep {
				t.Errorf("got changes %q, untouched %q, leaver %q, kept %q; want %q, %q, %q, %q",
					opsOf(o.changes), untouched, leaver, keep, tt.want, tt.untouched, tt.leaver, tt.keep)
			}
		})
	}
}

func TestDecidePersonDisabled(t *testing.T) {
	pol := loadPolicy(t, "testdata/policy.yaml")
	now := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)
	w := &Want{Disabled: true, User: contract.DesiredUser{PersonID: "p1", Email: "d@x", Name: "D", DisplayName: "D", Groups: []string{"HS AMER"}, GroupRules: map[string]string{"HS AMER": "amer"}}}
	active := &contract.HighspotUser{HighspotID: "hs-d", Email: "d@x", Name: "D", DisplayName: "D", GroupNames: []string{"HS AMER", "Other"}}
	tests := []struct {
		name string
		m    match
		days int
		want string
		keep bool
	}{
		{name: "active user: suspended", m: match{email: "d@x", b: active}, want: "suspend_user d@x", keep: true},
		{name: "within grace: stays", m: match{email: "d@x", b: active}, days: 3, keep: true},
		{name: "already suspended: no change", m: match{email: "d@x", b: &contract.HighspotUser{Suspended: true}}, keep: true},
		{name: "never created, never planned: no row", m: match{email: "d@x"}},
		{name: "never created, planned before: suspended row", m: match{email: "d@x", pv: &contract.DesiredUser{}}, keep: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := decidePerson(w, tt.m, pol, graceClock{now: now, days: tt.days}, func(*Want, uint64) *onbGrant { t.Fatal("no onboarding expected"); return nil })
			if opsOf(o.changes) != tt.want || o.keep != tt.keep {
				t.Errorf("got %q kept %v, want %q kept %v", opsOf(o.changes), o.keep, tt.want, tt.keep)
			}
		})
	}
}

func TestReportPerson(t *testing.T) {
	pol := loadPolicy(t, "testdata/policy.yaml")
	u := contract.DesiredUser{Email: "a@x", Role: "field_sales", Region: "AMER", Groups: []string{"HS AMER", "HS Field Sales"}}
	ch := func(op, group string) contract.Change { return contract.Change{Op: op, Email: "a@x", Group: group} }
	tests := []struct {
		name    string
		o       personPlan
		want    string
		removed []string
	}{
		{name: "created", o: personPlan{desired: u, changes: []contract.Change{ch(contract.OpCreateUser, ""), ch(contract.OpAddMember, "HS AMER")}}, want: "joiner"},
		{name: "reactivated", o: personPlan{desired: u, changes: []contract.Change{ch(contract.OpReactivateUser, "")}}, want: "joiner (reactivated)"},
		{name: "groups changed", o: personPlan{desired: u, have: []string{"HS Inside Sales", "HS AMER"}, pv: &contract.DesiredUser{Role: "inside_sales", Region: "AMER"},
			changes: []contract.Change{ch(contract.OpAddMember, "HS Field Sales"), ch(contract.OpRemoveMember, "HS Inside Sales")}}, want: "mover inside_sales->field_sales +[HS Field Sales] -[HS Inside Sales] before [HS AMER HS Inside Sales]"},
		{name: "profile only", o: personPlan{desired: u, changes: []contract.Change{ch(contract.OpUpdateUser, "")}}},
		{name: "suspended", o: personPlan{desired: u, changes: []contract.Change{ch(contract.OpSuspendUser, "")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, m := reportPerson(&tt.o, pol)
			got := ""
			switch {
			case j != nil && m != nil:
				got = "both"
			case j != nil:
				got = "joiner"
				if j.Reactivated {
					got += " (reactivated)"
				}
			case m != nil:
				got = fmt.Sprintf("mover %s->%s +%v -%v before %v", m.RoleBefore, m.RoleAfter, m.Added, m.Removed, m.GroupsBefore)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
