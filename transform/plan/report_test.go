package plan

import (
	"encoding/csv"
	"strings"
	"testing"

	"github.com/otds-highspot/otds-highspot/internal/contract"
)

// TestReportIsAnApprovalDocument: plan.html and plan.md state the status
// first, the provenance an approver signs (run, creation time, program
// version, config hash, baseline with its time), the exact commands with the
// sha256, every change with its rule and reason, and untouched users and
// drift by name; the "base" figure is explained; a two-point trend is a
// table, not a chart of two bars.
func TestReportIsAnApprovalDocument(t *testing.T) {
	ready := &Summary{RunID: "20261102T000000Z-0003", Status: "published", PlanSHA256: "abc123", ProgramVersion: "v1.2.3", ConfigHash: "cfg999",
		Baseline: BaselineRef{Source: BaselinePull, RunID: "20261102T000000Z-0002", SHA256: "pull777", Why: "Highspot's actual state"},
		Changes:  2, ByOp: map[string]int{"add_member": 1, "suspend_user": 1},
		ByOpTree:         map[string]map[string]int{"add_member": {"acme": 1}, "suspend_user": {"beta": 1}},
		Trend:            []TrendPoint{{RunID: "r1", Headcount: 5}, {RunID: "r2", Headcount: 5}},
		UntouchedManaged: []UntouchedUser{{Email: "manual@acme.com", Reason: "unmanaged", Groups: []string{"HS Sales"}}}, UntouchedManagedTotal: 1,
		Drift: []DriftItem{{Kind: "manual_membership", Email: "drifter@acme.com", Group: "HS Sales"}}, DriftTotal: 1}
	changes := []contract.Change{
		{Seq: 1, Op: "add_member", Tree: "acme", Email: "ann@acme.com", Group: "HS Sales", Rule: "groups.sales", Reason: "role is sales"},
		{Seq: 2, Op: "suspend_user", Tree: "beta", Email: "=cmd|calc@beta.com", Rule: "leaver", Reason: "left the directory"},
	}
	blocked := *ready
	blocked.Status, blocked.Blocked = "blocked", []string{"suspend_user (whole plan): 1 changes, limit max 0"}
	blocked.Gates = []Gate{{Op: "suspend_user", Count: 1, Blocked: true}}

	cases := []struct {
		name   string
		render string
		first  string // must come before everything listed in want
		want   []string
		not    []string
	}{
		{"html ready", RenderHTML(ready, changes), "READY TO APPLY", []string{
			"v1.2.3", "cfg999", "pull777", "otds-highspot --run-id 20261102T000000Z-0003 apply --plan-sha256 abc123",
			"plan approve --sha256 abc123", "<details open><summary>add_member (1)</summary>", "groups.sales", "role is sales", "left the directory",
			"manual@acme.com", "drifter@acme.com", "of (base)", "what a percentage limit is taken of", "changes.csv"}, []string{"headcount over the last", "<script"}},
		{"html blocked", RenderHTML(&blocked, changes), "BLOCKED", []string{"otds-highspot plan --from-run 20261102T000000Z-0003 --allow suspend_user=1", "left the directory"}, []string{"apply --plan-sha256"}},
		{"md ready", RenderMarkdown(ready, changes), "ready to apply", []string{"v1.2.3", "cfg999", "apply --plan-sha256 abc123", "| groups.sales | role is sales |", "manual@acme.com", "drifter@acme.com"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			at := strings.Index(c.render, c.first)
			if at < 0 {
				t.Fatalf("got no %q", c.first)
			}
			for _, w := range c.want {
				i := strings.Index(c.render, w)
				if i < 0 {
					t.Errorf("got no %q", w)
				} else if i < at {
					t.Errorf("got %q before the status %q", w, c.first)
				}
			}
			for _, n := range c.not {
				if strings.Contains(c.render, n) {
					t.Errorf("got %q, want none", n)
				}
			}
		})
	}

	data, err := ChangesCSV(changes)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(string(data))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(rows), len(changes)+1; got != want {
		t.Fatalf("changes.csv rows: got %d, want %d", got, want)
	}
	if got, want := rows[2][3], "'=cmd|calc@beta.com"; got != want {
		t.Errorf("a formula-like cell: got %q, want %q", got, want)
	}
	if got, want := rows[1][5]+"/"+rows[1][6], "groups.sales/role is sales"; got != want {
		t.Errorf("rule/reason: got %q, want %q", got, want)
	}
}
