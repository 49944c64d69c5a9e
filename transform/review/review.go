// Package review owns the access review: for every Highspot user of a run's
// pull, each group held and why (the policy rule that grants it, or not
// granted by policy: drift or manual), the person behind the account in the
// directory, and when this tool last changed the user (from the apply ledgers
// of earlier runs). It publishes the access_review table and review.html /
// review.csv as stage "review" of the run.
package review

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"html"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/internal/store"
)

// LedgerRuns bounds how many earlier runs' apply ledgers are read for "last
// changed by the tool".
const LedgerRuns = 60

// Result is what Run published.
type Result struct {
	Ref      artifact.Ref
	Manifest *artifact.Manifest
	Rows     []contract.AccessReview
	Users    int
	PullRun  string
	PlanRun  string
}

// Run builds the access review of env.RunID from the latest pull at or
// before it (required), the latest published plan at or before it (the
// grants) and that plan's transform (the directory persons).
func Run(ctx context.Context, env artifact.Env) (*Result, error) {
	st, runID := env.Store, env.RunID
	pm, pref, err := atOrBefore(ctx, st, runID, contract.Pull)
	if err != nil {
		if errors.Is(err, artifact.ErrNotPublished) {
			return nil, exitcode.Wrap(exitcode.Usage, fmt.Errorf("review: no pull at or before run %s: run pull first (the review lists what Highspot holds): %w", runID, err))
		}
		return nil, fmt.Errorf("review: %w", err)
	}
	users, err := artifact.ReadAll[contract.HighspotUser](ctx, st, pm, contract.HighspotUsersSpec)
	if err != nil {
		return nil, fmt.Errorf("review: read highspot_users of pull %s: %w", pref.RunID, err)
	}
	groups, err := artifact.ReadAll[contract.HighspotGroup](ctx, st, pm, contract.HighspotGroupsSpec)
	if err != nil {
		return nil, fmt.Errorf("review: read highspot_groups of pull %s: %w", pref.RunID, err)
	}
	managed := map[string]bool{}
	for _, g := range groups {
		if g.Managed {
			managed[g.Name] = true
		}
	}
	stage := artifact.NewStage(env, contract.Review)
	defer stage.Abort()
	stage.AddInput(pref)

	desired := map[string]*contract.DesiredUser{}
	var persons []contract.Person
	planRun := ""
	qm, qref, err := atOrBefore(ctx, st, runID, contract.Plan)
	switch {
	case err == nil:
		planRun = qref.RunID
		stage.AddInput(qref)
		ds, err := artifact.ReadAll[contract.DesiredUser](ctx, st, qm, contract.DesiredUsersSpec)
		if err != nil {
			return nil, fmt.Errorf("review: read desired_users of plan %s: %w", qref.RunID, err)
		}
		for i := range ds {
			desired[strings.ToLower(ds[i].Email)] = &ds[i]
		}
		for _, in := range qm.Inputs {
			if in.Stage != contract.Transform {
				continue
			}
			tm, tref, err := artifact.ReadManifest(ctx, st, in.RunID, contract.Transform)
			if err != nil {
				return nil, fmt.Errorf("review: read the transform of run %s: %w", in.RunID, err)
			}
			stage.AddInput(tref)
			if persons, err = artifact.ReadAll[contract.Person](ctx, st, tm, contract.PersonsSpec); err != nil {
				return nil, fmt.Errorf("review: read persons of run %s: %w", in.RunID, err)
			}
		}
	case !errors.Is(err, artifact.ErrNotPublished):
		return nil, fmt.Errorf("review: %w", err)
	}
	byEmail := map[string]*contract.Person{}
	for i := range persons {
		p := &persons[i]
		for _, e := range append([]string{p.PrimaryEmail}, p.Emails...) {
			if e = strings.ToLower(e); e != "" && byEmail[e] == nil {
				byEmail[e] = p
			}
		}
	}
	drift := map[[2]string]bool{}
	if _, ok := pm.Tables[contract.DriftSpec.Name]; ok {
		ds, err := artifact.ReadAll[contract.Drift](ctx, st, pm, contract.DriftSpec)
		if err != nil {
			return nil, fmt.Errorf("review: read drift of pull %s: %w", pref.RunID, err)
		}
		for _, d := range ds {
			drift[[2]string{strings.ToLower(d.Email), d.Group}] = true
		}
	}
	last, err := lastChanges(ctx, st, runID)
	if err != nil {
		return nil, fmt.Errorf("review: %w", err)
	}

	rows := Build(users, managed, desired, byEmail, drift, last)
	w, err := artifact.OpenTable[contract.AccessReview](stage, contract.AccessReviewSpec)
	if err != nil {
		return nil, fmt.Errorf("review: open access_review: %w", err)
	}
	for i := range rows {
		if err := w.Write(rows[i]); err != nil {
			return nil, fmt.Errorf("review: write access_review: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("review: close access_review: %w", err)
	}
	csvData, err := CSV(rows)
	if err != nil {
		return nil, fmt.Errorf("review: %w", err)
	}
	now := time.Now
	if env.Now != nil {
		now = env.Now
	}
	meta := Meta{RunID: runID, PullRun: pref.RunID, PullAt: pm.CreatedAt, PlanRun: planRun, CreatedAt: now().UTC(), Users: len(users)}
	for _, b := range []struct {
		name string
		data []byte
	}{{"review.csv", csvData}, {"review.html", []byte(HTML(meta, rows))}} { // a fixed order, as plan's reports
		if _, err := stage.PutBlob(ctx, b.name, b.data); err != nil {
			return nil, fmt.Errorf("review: store %s: %w", b.name, err)
		}
	}
	contract.PutSummary(stage.SetSummary, contract.ReviewSummary{Users: len(users), PullRunID: pref.RunID, PlanRunID: planRun})
	ref, m, err := stage.Commit(ctx)
	if err != nil {
		return nil, fmt.Errorf("review: publish: %w", err)
	}
	return &Result{Ref: ref, Manifest: m, Rows: rows, Users: len(users), PullRun: pref.RunID, PlanRun: planRun}, nil
}

// atOrBefore is the manifest of stage in runID, else the newest published
// one before it.
func atOrBefore(ctx context.Context, st store.Store, runID string, stage contract.Stage) (*artifact.Manifest, artifact.Ref, error) {
	m, ref, err := artifact.ReadManifest(ctx, st, runID, stage)
	if err == nil && m.Status == artifact.StatusPublished {
		return m, ref, nil
	}
	if err != nil && !errors.Is(err, artifact.ErrNotPublished) {
		return nil, ref, err
	}
	return artifact.LatestManifest(ctx, st, stage, runID)
}

// change is the latest applied ledger row of one user.
type change struct {
	at          time.Time
	what, runID string
}

// lastChanges reads the published apply ledgers (apply and apply.attempt-*)
// of up to LedgerRuns runs at or before runID and keeps, per email, the
// latest applied change.
func lastChanges(ctx context.Context, st store.Store, runID string) (map[string]change, error) {
	runs, err := artifact.ListRuns(ctx, st)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	out := map[string]change{}
	n := 0
	for _, r := range runs { // newest first
		if r.RunID > runID {
			continue
		}
		if n++; n > LedgerRuns {
			break
		}
		for _, s := range r.Stages {
			if s.Stage != contract.Apply && !strings.HasPrefix(string(s.Stage), contract.ApplyAttemptPrefix) {
				continue
			}
			m, _, err := artifact.ReadManifest(ctx, st, r.RunID, s.Stage)
			if err != nil {
				return nil, fmt.Errorf("read the ledger manifest %s of run %s: %w", s.Stage, r.RunID, err)
			}
			lr, err := artifact.ReadAll[contract.LoadResult](ctx, st, m, contract.LoadResultsSpec)
			if err != nil {
				return nil, fmt.Errorf("read the ledger of run %s: %w", r.RunID, err)
			}
			for _, l := range lr {
				if l.Status != contract.StatusApplied {
					continue
				}
				e := strings.ToLower(l.Email)
				if c, ok := out[e]; !ok || l.At.After(c.at) {
					what := l.Op
					if l.Group != "" {
						what += " " + l.Group
					}
					out[e] = change{at: l.At.UTC(), what: what, runID: r.RunID}
				}
			}
		}
	}
	return out, nil
}

// Build is the access review, one row per group held (one row for a user
// holding none), sorted by email and group. Pure: the inputs are the pull's
// users, the managed group names, the plan's desired users by email, the
// directory persons by email, the pull's drift (email, group) pairs and the
// latest applied change per email.
func Build(users []contract.HighspotUser, managed map[string]bool, desired map[string]*contract.DesiredUser, persons map[string]*contract.Person, drift map[[2]string]bool, last map[string]change) []contract.AccessReview {
	var rows []contract.AccessReview
	for i := range users {
		u := &users[i]
		email := strings.ToLower(u.Email)
		base := contract.AccessReview{Email: email, HighspotID: u.HighspotID, HighspotStatus: "active", DisplayName: u.DisplayName, DirectoryStatus: "not in the directory"}
		if u.Suspended {
			base.HighspotStatus = "suspended"
		}
		if p := persons[email]; p != nil {
			base.PersonID, base.Trees, base.Accounts, base.DirectoryStatus = p.PersonID, p.Trees, p.AccountKeys, p.Status
			if p.DisplayName != "" {
				base.DisplayName = p.DisplayName
			}
		}
		if c, ok := last[email]; ok {
			at := c.at
			base.LastChangedAt, base.LastChange, base.LastChangeRunID = &at, c.what, c.runID
		}
		d := desired[email]
		held := append([]string(nil), u.GroupNames...)
		sort.Strings(held)
		if len(held) == 0 {
			r := base
			r.Reason = "holds no group"
			rows = append(rows, r)
			continue
		}
		for _, g := range held {
			r := base
			r.Group, r.Managed = g, managed[g]
			rule := ""
			if d != nil && !d.Suspended {
				rule = d.GroupRules[g]
				if rule == "" && slices.Contains(d.Groups, g) {
					rule = "(policy)"
				}
			}
			switch {
			case rule != "":
				r.Grant, r.Rule = contract.GrantPolicy, rule
				r.Reason = fmt.Sprintf("granted by policy rule %s", rule)
			case r.Managed:
				r.Grant = contract.GrantDrift
				r.Reason = driftReason(d, drift[[2]string{email, g}])
			default:
				r.Grant = contract.GrantManual
				r.Reason = "not granted by policy: manual (a group this tool does not manage; given in Highspot by hand)"
			}
			rows = append(rows, r)
		}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].Email != rows[j].Email {
			return rows[i].Email < rows[j].Email
		}
		return rows[i].Group < rows[j].Group
	})
	return rows
}

func driftReason(d *contract.DesiredUser, inDrift bool) string {
	why := "not granted by policy: drift (a managed group the policy does not grant"
	switch {
	case d == nil:
		why += "; the user is not in scope of the policy and was not provisioned by this tool, so it is left alone"
	case d.Protected:
		why += "; the user is protected by configuration, so it is left alone"
	case d.Suspended:
		why += "; the user is a leaver"
	default:
		why += "; the next apply removes it"
	}
	if inDrift {
		why += "; listed in the pull's drift table"
	}
	return why + ")"
}

// CSV renders the review for spreadsheets (formula-like cells quoted).
func CSV(rows []contract.AccessReview) ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write([]string{"email", "display_name", "highspot_status", "person_id", "trees", "accounts", "directory_status", "group", "managed", "grant", "rule", "reason", "last_changed_at", "last_change", "last_change_run_id"})
	for _, r := range rows {
		at := ""
		if r.LastChangedAt != nil {
			at = r.LastChangedAt.UTC().Format(time.RFC3339)
		}
		rec := []string{r.Email, r.DisplayName, r.HighspotStatus, r.PersonID, strings.Join(r.Trees, " "), strings.Join(r.Accounts, " "), r.DirectoryStatus,
			r.Group, fmt.Sprint(r.Managed), r.Grant, r.Rule, r.Reason, at, r.LastChange, r.LastChangeRunID}
		for i, v := range rec {
			if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
				rec[i] = "'" + v
			}
		}
		_ = w.Write(rec)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, fmt.Errorf("render review.csv: %w", err)
	}
	return buf.Bytes(), nil
}

// Meta is what identifies a review.
type Meta struct {
	RunID, PullRun, PlanRun string
	PullAt, CreatedAt       time.Time
	Users                   int
}

// HTML renders review.html: self-contained, no scripts, every value escaped.
func HTML(m Meta, rows []contract.AccessReview) string {
	e := html.EscapeString
	var b strings.Builder
	counts := map[string]int{}
	for _, r := range rows {
		if r.Group != "" {
			counts[r.Grant]++
		}
	}
	fmt.Fprintf(&b, `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Access review %s</title><style>
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em 2em;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f5f5f5}.drift{background:#fde2e2}.manual{background:#fff4d6}.note{color:#555;max-width:60em}
</style></head><body><h1>Access review: who has access to what in Highspot, and why</h1>`, e(m.RunID))
	fmt.Fprintf(&b, `<table><tr><th>run</th><td>%s</td></tr><tr><th>created</th><td>%s</td></tr><tr><th>Highspot state</th><td>pull of run %s, published %s</td></tr><tr><th>grants</th><td>%s</td></tr><tr><th>users</th><td>%d</td></tr><tr><th>group holdings</th><td>granted by policy %d, drift %d, manual %d</td></tr></table>`,
		e(m.RunID), m.CreatedAt.Format("2006-01-02 15:04:05 UTC"), e(m.PullRun), m.PullAt.UTC().Format("2006-01-02 15:04:05 UTC"),
		e(orNone(m.PlanRun, "no published plan: no group is granted by policy")), m.Users, counts[contract.GrantPolicy], counts[contract.GrantDrift], counts[contract.GrantManual])
	b.WriteString(`<p class="note">One row per group a Highspot user holds. "granted by" names the policy rule; a managed group the policy does not grant is drift (red); a group this tool does not manage is manual (yellow). "last changed" is the latest change this tool applied to the user (apply ledgers of up to 60 runs). review.csv beside this report holds the same rows.</p>`)
	b.WriteString(`<table><tr><th>email</th><th>name</th><th>Highspot</th><th>trees</th><th>accounts</th><th>directory status</th><th>group</th><th>granted by</th><th>last changed by the tool</th></tr>`)
	for _, r := range rows {
		cls := ""
		switch r.Grant {
		case contract.GrantDrift:
			cls = ` class="drift"`
		case contract.GrantManual:
			cls = ` class="manual"`
		}
		lc := "never (in the ledgers read)"
		if r.LastChangedAt != nil {
			lc = r.LastChangedAt.Format("2006-01-02 15:04") + " " + r.LastChange + " (run " + r.LastChangeRunID + ")"
		}
		fmt.Fprintf(&b, `<tr%s><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>`, cls,
			e(r.Email), e(r.DisplayName), e(r.HighspotStatus), e(strings.Join(r.Trees, ", ")), e(strings.Join(r.Accounts, ", ")), e(r.DirectoryStatus), e(r.Group), e(r.Reason), e(lc))
	}
	b.WriteString(`</table></body></html>`)
	return b.String()
}

func orNone(s, none string) string {
	if s == "" {
		return none
	}
	return "desired_users of the plan of run " + s
}
