package pull

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/otds-highspot/otds-highspot/internal/contract"
)

func TestComputeDrift(t *testing.T) {
	hs := []contract.HighspotUser{
		{HighspotID: "1", Email: "ann@x.com", GroupNames: []string{"Sales", "Hand Picked"}},
		{HighspotID: "2", Email: "bob@x.com", Suspended: true},
		{HighspotID: "3", Email: "cat@x.com"},
		{HighspotID: "4", Email: "ghost@x.com", GroupNames: []string{"Sales"}},
		{HighspotID: "5", Email: "dan@x.com"},
	}
	persons := []contract.Person{
		{PersonID: "p-ann", PrimaryEmail: "ann@x.com", Status: "enabled"},
		{PersonID: "p-bob", PrimaryEmail: "bob@x.com", Status: "enabled"},
		{PersonID: "p-cat", PrimaryEmail: "cat@old.com", Emails: []string{"cat@x.com"}, Status: "disabled"},
		{PersonID: "p-dan", PrimaryEmail: "dan@x.com", Status: "enabled"},
	}
	desired := []contract.DesiredUser{
		{PersonID: "p-ann", Email: "ann@x.com", Groups: []string{"Marketing"}},
		{PersonID: "p-dan", Email: "dan@x.com", Groups: []string{"Sales"}},
	}
	managed := []string{"Sales", "Marketing"}
	got := ComputeDrift(hs, persons, desired, managed, true, true)
	var gotS []string
	for _, d := range got {
		gotS = append(gotS, fmt.Sprintf("%s %s %s", d.Kind, d.Email, d.Group))
	}
	want := []string{
		"manual_membership ann@x.com Sales",
		"manual_membership ghost@x.com Sales",
		"missing_membership ann@x.com Marketing",
		"missing_membership dan@x.com Sales",
		"suspension_mismatch bob@x.com ",
		"suspension_mismatch cat@x.com ",
		"unknown_user ghost@x.com ",
	}
	if fmt.Sprint(gotS) != fmt.Sprint(want) {
		t.Errorf("drift:\n got %q\nwant %q", gotS, want)
	}
	// Without persons or desired state nothing is claimed.
	if got := ComputeDrift(hs, nil, nil, managed, false, false); len(got) != 0 {
		t.Errorf("drift without inputs: got %v, want none", got)
	}
}

// TestComputeDriftManyUsers: over several chunks of slots (10,000 users)
// and group names spelled in every case (a group held twice is reported
// twice), the drift is what a plain map-by-email comparison finds.
func TestComputeDriftManyUsers(t *testing.T) {
	const n = 10_000
	managed := []string{"Sales", "Marketing", "sales"} // the last spelling names a group
	spell := []string{"Sales", "SALES", "sales", "Marketing", "MarKeting", "Other"}
	var hs []contract.HighspotUser
	var persons []contract.Person
	var desired []contract.DesiredUser
	for i := range n {
		e := fmt.Sprintf("u%05d@x.com", i)
		u := contract.HighspotUser{HighspotID: fmt.Sprint(i), Email: e, Suspended: i%11 == 0}
		for j := range i % 4 {
			u.GroupNames = append(u.GroupNames, spell[(i+j)%len(spell)])
		}
		hs = append(hs, u)
		if i%3 != 0 {
			st := "enabled"
			if i%5 == 0 {
				st = "disabled"
			}
			persons = append(persons, contract.Person{PersonID: "p" + e, PrimaryEmail: strings.ToUpper(e), Status: st})
		}
		if i%2 == 0 {
			desired = append(desired, contract.DesiredUser{PersonID: "p" + e, Email: e, Groups: []string{spell[i%len(spell)], "MARKETING"}})
		}
	}
	got := ComputeDrift(hs, persons, desired, managed, true, true)

	// The plain comparison.
	name := map[string]string{"sales": "sales", "marketing": "Marketing"}
	person, want := map[string]contract.Person{}, map[string]contract.DesiredUser{}
	for _, p := range persons {
		person[strings.ToLower(p.PrimaryEmail)] = p
	}
	for _, d := range desired {
		want[d.Email] = d
	}
	var exp []contract.Drift
	for _, u := range hs {
		p, hasP := person[u.Email]
		switch {
		case !hasP:
			exp = append(exp, contract.Drift{Kind: DriftUnknownUser, Email: u.Email, HighspotID: u.HighspotID,
				Detail: "Highspot user with no person in the directory (created by hand, or left the directory)"})
		case p.Status == "enabled" && u.Suspended:
			exp = append(exp, contract.Drift{Kind: DriftSuspension, Email: u.Email, HighspotID: u.HighspotID, PersonID: p.PersonID, Detail: "directory: enabled; Highspot: suspended"})
		case p.Status != "enabled" && !u.Suspended:
			exp = append(exp, contract.Drift{Kind: DriftSuspension, Email: u.Email, HighspotID: u.HighspotID, PersonID: p.PersonID, Detail: "directory: " + p.Status + "; Highspot: active"})
		}
		d, hasD := want[u.Email]
		in, granted := map[string]bool{}, map[string]bool{}
		var inOrder, grantOrder []string
		for _, g := range u.GroupNames {
			if m, ok := name[strings.ToLower(g)]; ok {
				in[m] = true
				inOrder = append(inOrder, m)
			}
		}
		for _, g := range d.Groups {
			if m, ok := name[strings.ToLower(g)]; ok {
				granted[m] = true
				grantOrder = append(grantOrder, m)
			}
		}
		for _, g := range inOrder {
			if !granted[g] {
				detail := "member of a managed group the policy does not grant (added by hand)"
				if !hasD {
					detail = "member of a managed group but not in the desired state (added by hand)"
				}
				pid := d.PersonID
				if !hasD && hasP {
					pid = p.PersonID
				}
				exp = append(exp, contract.Drift{Kind: DriftManualMembership, Email: u.Email, HighspotID: u.HighspotID, PersonID: pid, Group: g, Detail: detail})
			}
		}
		if hasD && !u.Suspended {
			for _, g := range grantOrder {
				if !in[g] {
					exp = append(exp, contract.Drift{Kind: DriftMissingMembership, Email: u.Email, HighspotID: u.HighspotID, PersonID: d.PersonID, Group: g,
						Detail: "the policy grants this managed group but the user is not in it (removed by hand, or not applied yet)"})
				}
			}
		}
	}
	sort.SliceStable(exp, func(i, j int) bool {
		if exp[i].Kind != exp[j].Kind {
			return exp[i].Kind < exp[j].Kind
		}
		if exp[i].Email != exp[j].Email {
			return exp[i].Email < exp[j].Email
		}
		return exp[i].Group < exp[j].Group
	})
	if len(got) != len(exp) {
		t.Fatalf("got %d drift rows, want %d", len(got), len(exp))
	}
	for i := range got {
		if got[i] != exp[i] {
			t.Fatalf("drift row %d: got %+v, want %+v", i, got[i], exp[i])
		}
	}
}

// TestDriftIndexAddUserAllocs: a user's managed groups are found without
// lower-casing their names each time (two allocations per user in groups
// spelled with capitals), and the slots grow without being copied.
func TestDriftIndexAddUserAllocs(t *testing.T) {
	const n = 20_000
	users := make([]contract.HighspotUser, n)
	for i := range users {
		users[i] = contract.HighspotUser{HighspotID: fmt.Sprint(i), Email: fmt.Sprintf("u%05d@x.com", i), GroupNames: []string{"Region - EMEA", "Sales - Field"}}
	}
	managed := []string{"Sales - Field", "Region - EMEA"}
	allocs := testing.AllocsPerRun(3, func() {
		ix := newDriftIndex(managed)
		for _, u := range users {
			ix.addUser(u)
		}
	})
	if per := allocs / n; per > 1.5 {
		t.Errorf("%.2f allocations per user added, want at most 1.5 (its list of managed groups)", per)
	}
}
