package review

import (
	"strings"
	"testing"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/contract"
)

// TestBuildGivesEveryGroupAReason: one row per group held; a granted group
// names its rule, a managed group the policy does not grant is drift (with
// why it stays: protected, out of scope), an unmanaged group is manual, a user
// holding nothing still has a row; directory status and the last change come
// from the persons and the ledger.
func TestBuildGivesEveryGroupAReason(t *testing.T) {
	users := []contract.HighspotUser{
		{Email: "ann@acme.com", GroupNames: []string{"Sales", "Book Club"}},
		{Email: "pat@acme.com", GroupNames: []string{"Sales"}},
		{Email: "Manual@acme.com", GroupNames: []string{"Sales"}},
		{Email: "idle@acme.com", Suspended: true},
	}
	managed := map[string]bool{"Sales": true}
	desired := map[string]*contract.DesiredUser{
		"ann@acme.com": {Email: "ann@acme.com", Groups: []string{"Sales"}, GroupRules: map[string]string{"Sales": "sales-roles"}},
		"pat@acme.com": {Email: "pat@acme.com", Protected: true},
	}
	persons := map[string]*contract.Person{"ann@acme.com": {PersonID: "p1", Status: "enabled", Trees: []string{"acme"}, AccountKeys: []string{"acme:1"}}}
	at := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	last := map[string]change{"ann@acme.com": {at: at, what: "add_member Sales", runID: "r1"}}
	rows := Build(users, managed, desired, persons, map[[2]string]bool{{"manual@acme.com", "Sales"}: true}, last)

	cases := []struct {
		email, group, grant, rule, reason string
	}{
		{"ann@acme.com", "Book Club", contract.GrantManual, "", "manual"},
		{"ann@acme.com", "Sales", contract.GrantPolicy, "sales-roles", "sales-roles"},
		{"idle@acme.com", "", contract.GrantNone, "", "holds no group"},
		{"manual@acme.com", "Sales", contract.GrantDrift, "", "not in scope"},
		{"pat@acme.com", "Sales", contract.GrantDrift, "", "protected"},
	}
	if len(rows) != len(cases) {
		t.Fatalf("rows: got %d, want %d: %+v", len(rows), len(cases), rows)
	}
	for i, c := range cases {
		r := rows[i]
		if r.Email != c.email || r.Group != c.group || r.Grant != c.grant || r.Rule != c.rule || !strings.Contains(r.Reason, c.reason) {
			t.Errorf("row %d: got %s %q %q rule %q reason %q, want %s %q %q rule %q reason with %q", i, r.Email, r.Group, r.Grant, r.Rule, r.Reason, c.email, c.group, c.grant, c.rule, c.reason)
		}
	}
	if r := rows[1]; r.DirectoryStatus != "enabled" || r.PersonID != "p1" || r.LastChangedAt == nil || !r.LastChangedAt.Equal(at) || r.LastChangeRunID != "r1" {
		t.Errorf("ann: got status %q person %q last %v run %q, want enabled p1 %v r1", r.DirectoryStatus, r.PersonID, r.LastChangedAt, r.LastChangeRunID, at)
	}
	if r := rows[2]; r.HighspotStatus != "suspended" || r.DirectoryStatus != "not in the directory" {
		t.Errorf("idle: got %q %q, want suspended, not in the directory", r.HighspotStatus, r.DirectoryStatus)
	}
	if !strings.Contains(HTML(Meta{}, rows), "manual@acme.com") {
		t.Errorf("review.html does not list manual@acme.com")
	}
}
