package main

import (
	"context"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/otds-highspot/otds-highspot/fixtures"
	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/store"
)

var shaLine = regexp.MustCompile(`sha256\s+([0-9a-f]{64})`)

func planSHA(t *testing.T, cfg, runID string) string {
	t.Helper()
	r := run(t, nil, "--config", cfg, "--run-id", runID, "plan", "show")
	m := shaLine.FindStringSubmatch(r.stdout)
	if r.code != 0 || m == nil {
		t.Fatalf("plan show %s: exit %d, no sha256\n%s%s", runID, r.code, r.stdout, r.stderr)
	}
	return m[1]
}

// TestApprovalWalk walks plan → approve → apply with apply.require_approval,
// then the access review:
// a blocked plan cannot be approved; its override plan (a new run id, the
// same change list) has a different sha256 (before: the hash covered the
// content only, so both were equal and an approval carried over); apply
// refuses without a record, refuses another run's sha256, and applies once
// the plan is approved by its own sha256. After a new pull, review lists every
// Highspot user of that pull with a grant and a reason for every group held.
func TestApprovalWalk(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run skipped in -short mode")
	}
	dir := t.TempDir()
	demo, err := fixtures.DemoConfig()
	if err != nil {
		t.Fatal(err)
	}
	day1 := strings.Replace(string(demo), "url: ./artifacts", "url: "+filepath.Join(dir, "artifacts"), 1)
	day1 = strings.Replace(day1, "sandbox: {surface: rest}", "sandbox: {surface: rest, state_file: "+filepath.Join(dir, "hs.json")+"}", 1)
	day2 := strings.ReplaceAll(day1, "fixtures:otds/trees.ldif", "fixtures:otds/day2/trees.ldif")
	day2 = strings.Replace(day2, "{op: suspend_user, max_count: 5, max_percent: 20}", "{op: suspend_user, max_count: 0}", 1)
	day2 = strings.Replace(day2, "\napply:\n", "\napply:\n  require_approval: true\n", 1)
	if !strings.Contains(day2, "require_approval: true") || !strings.Contains(day2, "max_count: 0}") {
		t.Fatal("could not derive the day-2 config from the demo config")
	}
	c1, c2 := writeFile(t, dir, "day1.yaml", day1), writeFile(t, dir, "day2.yaml", day2)
	const blocked, override = "20261102T000000Z-0002", "20261102T000000Z-0003"

	if r := run(t, nil, "--config", c1, "--run-id", "20261101T000000Z-0001", "run"); r.code != 0 {
		t.Fatalf("day 1: exit %d\n%s", r.code, r.stderr)
	}
	if r := run(t, nil, "--config", c2, "--run-id", blocked, "run", "--until", "plan"); r.code != 5 {
		t.Fatalf("day 2: exit %d, want 5 (blocked)\n%s", r.code, r.stderr)
	}
	blockedSHA := planSHA(t, c2, blocked)
	if r := run(t, nil, "--config", c2, "--run-id", blocked, "plan", "approve", "--sha256", blockedSHA, "--by", "ann"); r.code != 5 || !strings.Contains(r.stderr, "cannot be approved") {
		t.Fatalf("approve a blocked plan: exit %d, want 5\n%s", r.code, r.stderr)
	}
	if r := run(t, nil, "--config", c2, "--run-id", override, "plan", "--from-run", blocked, "--allow", "suspend_user=1"); r.code != 0 {
		t.Fatalf("override plan: exit %d\n%s", r.code, r.stderr)
	}
	sha := planSHA(t, c2, override)
	if sha == blockedSHA {
		t.Fatalf("the override plan of run %s has the blocked plan's sha256 %s: the hash does not bind the run", override, sha)
	}

	cases := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"apply without an approval", []string{"apply"}, 2, "plan approve --sha256 " + sha},
		{"approve with another run's sha", []string{"plan", "approve", "--sha256", blockedSHA, "--by", "ann"}, 2, "is not the sha256 of the plan of run " + override},
		{"approve without --by", []string{"plan", "approve", "--sha256", sha}, 2, "--by is required"},
		{"still refused", []string{"apply"}, 2, "no approval record"},
		{"approve", []string{"plan", "approve", "--sha256", sha, "--by", "ann@example.com", "--comment", "CHG-1"}, 0, "approved by ann@example.com"},
		{"plan show lists the approval", []string{"plan", "show"}, 0, "approved  by ann@example.com"},
		{"apply with another run's sha", []string{"apply", "--plan-sha256", blockedSHA}, 2, "not the " + blockedSHA + " given"},
		{"apply", []string{"apply", "--plan-sha256", sha}, 0, "0 failed"},
	}
	for _, c := range cases {
		r := run(t, nil, append([]string{"--config", c2, "--run-id", override}, c.args...)...)
		if r.code != c.wantCode || !strings.Contains(r.stdout+r.stderr, c.want) {
			t.Fatalf("%s: exit %d, want %d and %q\n%s%s", c.name, r.code, c.wantCode, c.want, r.stdout, r.stderr)
		}
	}

	// The access review of a run whose pull follows the apply.
	const after = "20261103T000000Z-0004"
	if r := run(t, nil, "--config", c2, "--run-id", after, "pull"); r.code != 0 {
		t.Fatalf("pull after apply: exit %d\n%s", r.code, r.stderr)
	}
	r := run(t, nil, "--config", c2, "--run-id", after, "review")
	if r.code != 0 || !strings.Contains(r.stdout, "review.html") {
		t.Fatalf("review: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	ctx := context.Background()
	st, err := store.NewFileStore(filepath.Join(dir, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	pm, _, err := artifact.ReadManifest(ctx, st, after, "pull")
	if err != nil {
		t.Fatal(err)
	}
	users, err := artifact.ReadAll[contract.HighspotUser](ctx, st, pm, contract.HighspotUsersSpec)
	if err != nil {
		t.Fatal(err)
	}
	rm, _, err := artifact.ReadManifest(ctx, st, after, "review")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := artifact.ReadAll[contract.AccessReview](ctx, st, rm, contract.AccessReviewSpec)
	if err != nil {
		t.Fatal(err)
	}
	held := map[string]int{}
	grants := map[string]int{}
	for _, row := range rows {
		held[row.Email]++
		if row.Group == "" {
			continue
		}
		grants[row.Grant]++
		if row.Reason == "" || (row.Grant == contract.GrantPolicy) == (row.Rule == "") || !slices.Contains([]string{contract.GrantPolicy, contract.GrantDrift, contract.GrantManual}, row.Grant) {
			t.Errorf("%s holds %s: grant %q rule %q reason %q, want a grant with a reason (and a rule for policy)", row.Email, row.Group, row.Grant, row.Rule, row.Reason)
		}
	}
	for _, u := range users {
		if want := max(len(u.GroupNames), 1); held[strings.ToLower(u.Email)] != want {
			t.Errorf("review rows of %s: got %d, want %d (one per group held)", u.Email, held[strings.ToLower(u.Email)], want)
		}
	}
	if grants[contract.GrantPolicy] == 0 {
		t.Errorf("no group granted by policy in the review: %v", grants)
	}
	html, _, err := artifact.ReadBlob(ctx, st, rm, "review.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if !strings.Contains(string(html), strings.ToLower(u.Email)) {
			t.Errorf("review.html does not list %s", u.Email)
		}
	}
}
