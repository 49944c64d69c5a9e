package history

import (
	"slices"
	"testing"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/contract"
)

// TestActualAccessIsFact: access_history answers "who had access on date X"
// from what Highspot held, where identity_history (intent) is wrong in three
// ways: a protected user appears with groups he never received, a user
// holding a managed group without entitlement appears with none, and a
// suspended leaver is still counted.
func TestActualAccessIsFact(t *testing.T) {
	day1 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	day2 := day1.Add(24 * time.Hour)
	// Highspot after day 1's pull: the protected boss holds only "Board";
	// eve holds the managed "Sales" by hand; leo is active with "Sales".
	pull := []contract.HighspotUser{
		{Email: "boss@acme.com", GroupNames: []string{"Board"}},
		{Email: "eve@acme.com", GroupNames: []string{"Sales"}},
		{Email: "leo@acme.com", GroupNames: []string{"Sales"}},
	}
	// Day 2's apply suspends leo and adds ann.
	ledger := []contract.LoadResult{
		{Op: contract.OpCreateUser, Email: "ann@acme.com", Status: contract.StatusApplied, At: day2},
		{Op: contract.OpAddMember, Email: "ann@acme.com", Group: "Sales", Status: contract.StatusApplied, At: day2.Add(time.Second)},
		{Op: contract.OpSuspendUser, Email: "leo@acme.com", Status: contract.StatusApplied, At: day2.Add(2 * time.Second)},
		{Op: contract.OpAddMember, Email: "eve@acme.com", Group: "Failed", Status: contract.StatusFailed, At: day2},
	}
	personOf := map[string]string{"boss@acme.com": "p-boss", "leo@acme.com": "p-leo", "ann@acme.com": "p-ann"}
	h := Next(nil, Actual(pull, nil, personOf), "20261101T000000Z-1", day1)
	h = Next(h, Actual(pull, ledger, personOf), "20261102T000000Z-1", day2)

	// Intent, as identity_history records it: the plan wants the protected
	// boss in "Board" and "Sales", does not know eve, and still lists leo.
	intent := Next(nil, []Snapshot{
		{PersonID: "p-boss", Email: "boss@acme.com", Status: "enabled", Groups: []string{"Board", "Sales"}},
		{PersonID: "p-leo", Email: "leo@acme.com", Status: "disabled", Groups: []string{"Sales"}},
		{PersonID: "p-ann", Email: "ann@acme.com", Status: "enabled", Groups: []string{"Sales"}},
	}, "20261102T000000Z-1", day2)
	wrong := map[string][]string{}
	for _, r := range AccessOn(intent, day2.Add(time.Hour)) {
		wrong[r.Email] = r.Groups
	}
	if _, eve := wrong["eve@acme.com"]; !slices.Equal(wrong["boss@acme.com"], []string{"Board", "Sales"}) || eve || wrong["leo@acme.com"] == nil {
		t.Fatalf("the intent history no longer shows the three errors this test guards against: %v", wrong)
	}

	on := day2.Add(time.Hour)
	got := map[string][]string{}
	for _, r := range ActiveOn(h, on) {
		got[r.Email] = r.Groups
	}
	cases := []struct {
		name, email string
		want        []string // nil = no access
	}{
		{"protected user: only what Highspot holds", "boss@acme.com", []string{"Board"}},
		{"managed group held without entitlement", "eve@acme.com", []string{"Sales"}},
		{"suspended leaver: no access", "leo@acme.com", nil},
		{"joiner added by the apply", "ann@acme.com", []string{"Sales"}},
	}
	for _, c := range cases {
		if g, ok := got[c.email]; !slices.Equal(g, c.want) || ok != (c.want != nil) {
			t.Errorf("%s: %s on %s: got %v (present %v), want %v", c.name, c.email, on, g, ok, c.want)
		}
	}
	// Day 1 is answered as it was: leo still active with Sales.
	var leo1 []string
	for _, r := range ActiveOn(h, day1.Add(time.Hour)) {
		if r.Email == "leo@acme.com" {
			leo1 = r.Groups
		}
	}
	if !slices.Equal(leo1, []string{"Sales"}) {
		t.Errorf("leo on day 1: got %v, want [Sales]", leo1)
	}
	for _, r := range h {
		if r.Attributes["access_source"] != AccessHighspot {
			t.Errorf("%s: access_source %q, want %q", r.Email, r.Attributes["access_source"], AccessHighspot)
		}
	}
}
