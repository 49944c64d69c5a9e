package pull

import (
	"fmt"
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
