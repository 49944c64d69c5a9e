package plan

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"html"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/otds-highspot/otds-highspot/internal/contract"
)

// opsInOrder lists ops in apply order.
var opsInOrder = []string{"create_group", "create_user", "update_user", "reactivate_user", "add_member", "remove_member", "suspend_user"}

// reportLimit caps per-person lists in the reports (the tables hold all rows).
const reportLimit = 200

func treesOf(s *Summary) []string {
	set := map[string]bool{}
	for _, m := range s.ByOpTree {
		for t := range m {
			set[t] = true
		}
	}
	for t := range s.HeadcountByTree {
		set[t] = true
	}
	return slices.Sorted(maps.Keys(set))
}

func treeLabel(t string) string {
	if t == "" {
		return "(none)"
	}
	return t
}

// mdEscaper is built once (a Replacer is safe for concurrent use): built
// per call, every call built its lookup table again (51 MB allocated at
// 200k day 2).
var mdEscaper = strings.NewReplacer("|", "\\|", "\n", " ", "<", "&lt;", ">", "&gt;")

func mdEsc(s string) string { return mdEscaper.Replace(s) }

// RenderMarkdown renders plan.md: the approval document in Markdown (status
// first, provenance, the command to run, every change with its rule and
// reason up to changeRowLimit per op; changes.csv holds them all).
func RenderMarkdown(s *Summary, changes []contract.Change) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Plan %s: %s\n\n", s.RunID, statusWord(s))
	if s.Status == "blocked" {
		fmt.Fprintf(&b, "**BLOCKED** by %d safety gate(s); nothing will be applied:\n\n", len(s.Blocked))
		for _, g := range s.Blocked {
			fmt.Fprintf(&b, "- %s\n", mdEsc(g))
		}
		fmt.Fprintf(&b, "\nIf the change is intended, re-plan with an override (a new run id, approved and applied on its own):\n\n    %s\n\n", overrideCommand(s))
	} else {
		b.WriteString("Ready to apply. To approve and apply exactly this plan:\n\n")
		fmt.Fprintf(&b, "    %s\n    %s\n\n", approveCommand(s), applyCommand(s))
	}
	b.WriteString("| | |\n|---|---|\n")
	for _, kv := range provenance(s) {
		fmt.Fprintf(&b, "| %s | %s |\n", kv[0], mdEsc(kv[1]))
	}
	fmt.Fprintf(&b, "\n- persons: %d, in scope: %d (without email: %d), active headcount: %d, changes: %d\n", s.Persons, s.InScope, s.NoEmail, s.Headcount, s.Changes)
	fmt.Fprintf(&b, "- match-review items waiting for a human: %d\n", s.MatchReview)
	if s.Duplicates > 0 {
		fmt.Fprintf(&b, "- persons skipped because an earlier person has the same email: %d\n", s.Duplicates)
	}
	fmt.Fprintf(&b, "- Highspot users left untouched: protected %d, not managed by this tool %d (%d of them hold a managed group: listed below)\n", s.Untouched["protected"], s.Untouched["unmanaged"], s.UntouchedManagedTotal)
	if len(s.MissingGroups) > 0 {
		todo := "create them first, or set highspot.create_missing_groups: true"
		if s.ByOp["create_group"] > 0 {
			todo = "this plan creates them: create_group"
		}
		fmt.Fprintf(&b, "- managed groups not found in Highspot (%s): %s\n", todo, mdEsc(strings.Join(s.MissingGroups, ", ")))
	}

	b.WriteString("\n## Safety gates\n\n" + gateHelp + "\n\n| op | scope | changes | of (base) | percent | limit | status |\n|---|---|---:|---:|---:|---|---|\n")
	for _, g := range s.Gates {
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %.2f%% | %s | %s |\n", g.Op, mdEsc(g.Scope()), g.Count, g.Base, g.Percent, mdEsc(g.Limit()), gateStatus(g))
	}

	trees := treesOf(s)
	b.WriteString("\n## Changes by op and tree\n\n| op |")
	for _, t := range trees {
		fmt.Fprintf(&b, " %s |", mdEsc(treeLabel(t)))
	}
	b.WriteString(" total |\n|---|")
	for range trees {
		b.WriteString("---:|")
	}
	b.WriteString("---:|\n")
	for _, op := range opsInOrder {
		fmt.Fprintf(&b, "| %s |", op)
		for _, t := range trees {
			fmt.Fprintf(&b, " %d |", s.ByOpTree[op][t])
		}
		fmt.Fprintf(&b, " %d |\n", s.ByOp[op])
	}

	fmt.Fprintf(&b, "\n## Every change (%d; all of them in changes.csv beside this report)\n", len(changes))
	for _, g := range groupChanges(changes) {
		fmt.Fprintf(&b, "\n### %s · %s (%d)\n\n| # | email | group | rule | reason |\n|---:|---|---|---|---|\n", g.op, treeLabel(g.tree), len(g.changes))
		for i, c := range g.changes {
			if i == changeRowLimit {
				fmt.Fprintf(&b, "| | … %d more in changes.csv | | | |\n", len(g.changes)-i)
				break
			}
			fmt.Fprintf(&b, "| %d | %s | %s | %s | %s |\n", c.Seq, mdEsc(c.Email), mdEsc(c.Group), mdEsc(c.Rule), mdEsc(c.Reason))
		}
	}

	b.WriteString("\n## Headcount\n\n| tree | active |\n|---|---:|\n")
	for _, t := range slices.Sorted(maps.Keys(s.HeadcountByTree)) {
		fmt.Fprintf(&b, "| %s | %d |\n", mdEsc(treeLabel(t)), s.HeadcountByTree[t])
	}
	b.WriteString("\n| role | active |\n|---|---:|\n")
	for _, r := range slices.Sorted(maps.Keys(s.HeadcountByRole)) {
		fmt.Fprintf(&b, "| %s | %d |\n", mdEsc(r), s.HeadcountByRole[r])
	}
	if len(s.Trend) > 1 {
		b.WriteString("\n| run | headcount | changes |\n|---|---:|---:|\n")
		for _, p := range s.Trend {
			fmt.Fprintf(&b, "| %s | %d | %d |\n", p.RunID, p.Headcount, p.Changes)
		}
	}

	fmt.Fprintf(&b, "\n## Joiners (%d)\n\n| email | tree | role | region | groups | onboarding |\n|---|---|---|---|---|---|\n", len(s.Joiners))
	for i, j := range s.Joiners {
		if i == reportLimit {
			fmt.Fprintf(&b, "| … %d more (see the changes table) | | | | | |\n", len(s.Joiners)-i)
			break
		}
		email := j.Email
		if j.Reactivated {
			email += " (reactivated)"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", mdEsc(email), mdEsc(j.Tree), mdEsc(j.Role), mdEsc(j.Region), mdEsc(strings.Join(j.Groups, ", ")), mdEsc(strings.Join(j.Onboarding, ", ")))
	}
	fmt.Fprintf(&b, "\n## Movers (%d)\n\n| email | tree | role | region | added | removed | groups before | groups after |\n|---|---|---|---|---|---|---|---|\n", len(s.Movers))
	for i, m := range s.Movers {
		if i == reportLimit {
			fmt.Fprintf(&b, "| … %d more | | | | | | | |\n", len(s.Movers)-i)
			break
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", mdEsc(m.Email), mdEsc(m.Tree), mdEsc(arrow(m.RoleBefore, m.RoleAfter)), mdEsc(arrow(m.RegionBefore, m.RegionAfter)),
			mdEsc(strings.Join(m.Added, ", ")), mdEsc(strings.Join(m.Removed, ", ")), mdEsc(strings.Join(m.GroupsBefore, ", ")), mdEsc(strings.Join(m.GroupsAfter, ", ")))
	}
	fmt.Fprintf(&b, "\n## Leavers (%d)\n\n| email | tree | reason | since | status |\n|---|---|---|---|---|\n", len(s.Leavers))
	for i, l := range s.Leavers {
		if i == reportLimit {
			fmt.Fprintf(&b, "| … %d more | | | | |\n", len(s.Leavers)-i)
			break
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", mdEsc(l.Email), mdEsc(l.Tree), l.Reason, l.Since, leaverStatus(l))
	}
	fmt.Fprintf(&b, "\n## Untouched, but holding a managed group (%d)\n\nActive Highspot users this plan does not change although they hold a group the policy manages: protected by configuration, or never provisioned by this tool.\n\n| email | why untouched | managed groups held |\n|---|---|---|\n", s.UntouchedManagedTotal)
	for _, u := range s.UntouchedManaged {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", mdEsc(u.Email), u.Reason, mdEsc(strings.Join(u.Groups, ", ")))
	}
	fmt.Fprintf(&b, "\n## Drift in the baseline pull (%d)\n\nWhat Highspot held that the tool did not put there, or lacked that it did (the pull's drift table).\n\n| kind | email | group | detail |\n|---|---|---|---|\n", s.DriftTotal)
	for _, d := range s.Drift {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", d.Kind, mdEsc(d.Email), mdEsc(d.Group), mdEsc(d.Detail))
	}
	if s.DriftTotal > len(s.Drift) {
		fmt.Fprintf(&b, "\n… %d more in the drift table of pull %s.\n", s.DriftTotal-len(s.Drift), s.Baseline.RunID)
	}
	return b.String()
}

// openChangesLimit: plans with at most this many changes show them expanded.
const openChangesLimit = 50

// changeRowLimit caps the rows shown per op and tree (changes.csv holds all).
const changeRowLimit = 500

const gateHelp = "A gate counts the plan's changes of one op (in the whole plan or one tree) and compares them with its limit. " +
	"\"of (base)\" is what a percentage limit is taken of: the active users in the baseline (for a tree: the tree's in-scope persons, or its active baseline users if more)."

func statusWord(s *Summary) string {
	if s.Status == "blocked" {
		return "BLOCKED"
	}
	return "ready to apply"
}

func gateStatus(g Gate) string {
	switch {
	case g.Blocked:
		return "BLOCKED"
	case g.Tripped:
		return fmt.Sprintf("overridden (--allow %d)", g.Allow)
	}
	return "ok"
}

func leaverStatus(l Leaver) string {
	if l.PendingUntil != "" {
		return "grace period until " + l.PendingUntil
	}
	return "suspended by this plan"
}

func applyCommand(s *Summary) string {
	return fmt.Sprintf("otds-highspot --run-id %s apply --plan-sha256 %s", s.RunID, s.PlanSHA256)
}

func approveCommand(s *Summary) string {
	return fmt.Sprintf("otds-highspot --run-id %s plan approve --sha256 %s --by NAME --comment \"...\"", s.RunID, s.PlanSHA256)
}

func overrideCommand(s *Summary) string {
	var allow []string
	for _, g := range s.Gates {
		if g.Blocked {
			a := "--allow " + g.Op
			if g.Tree != "" {
				a += "@" + g.Tree
			}
			allow = append(allow, fmt.Sprintf("%s=%d", a, g.Count))
		}
	}
	if len(allow) == 0 {
		allow = []string{"--allow op=N"}
	}
	src := s.RunID
	if s.FromRun != "" {
		src = s.FromRun
	}
	return fmt.Sprintf("otds-highspot plan --from-run %s %s", src, strings.Join(allow, " "))
}

// provenance is the plan's identity: what an approver signs.
func provenance(s *Summary) [][2]string {
	base := s.Baseline.Source
	if s.Baseline.RunID != "" {
		base += " of run " + s.Baseline.RunID
	}
	if !s.Baseline.At.IsZero() {
		base += ", published " + s.Baseline.At.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	if s.Baseline.SHA256 != "" {
		base += ", manifest sha256 " + s.Baseline.SHA256
	}
	base += " (" + s.Baseline.Why + ")"
	rows := [][2]string{
		{"status", statusWord(s)},
		{"run id", s.RunID},
		{"created", s.CreatedAt.UTC().Format("2006-01-02 15:04:05 UTC")},
		{"program version", orDash(s.ProgramVersion)},
		{"config sha256", orDash(s.ConfigHash)},
		{"baseline", base},
		{"plan sha256", s.PlanSHA256 + " (binds the run id, the baseline and the change list)"},
	}
	if s.FromRun != "" {
		rows = append(rows, [2]string{"replay of", "the stored snapshots of run " + s.FromRun + " with the current policy"})
	}
	for _, k := range slices.Sorted(maps.Keys(s.Allow)) {
		rows = append(rows, [2]string{"override", fmt.Sprintf("--allow %s=%d", k, s.Allow[k])})
	}
	return rows
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

type changeGroup struct {
	op, tree string
	changes  []contract.Change
}

// groupChanges groups changes by op (apply order) and tree, keeping Seq order.
func groupChanges(cs []contract.Change) []changeGroup {
	idx := map[[2]string]int{}
	var out []changeGroup
	for _, c := range cs {
		k := [2]string{c.Op, c.Tree}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, changeGroup{op: c.Op, tree: c.Tree})
		}
		out[i].changes = append(out[i].changes, c)
	}
	rank := map[string]int{}
	for i, op := range opsInOrder {
		rank[op] = i
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].op != out[j].op {
			return rank[out[i].op] < rank[out[j].op]
		}
		return out[i].tree < out[j].tree
	})
	return out
}

// ChangesCSV renders every change for spreadsheets (changes.csv). Cells that
// a spreadsheet would run as a formula are prefixed with a quote.
func ChangesCSV(cs []contract.Change) ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write([]string{"seq", "op", "tree", "email", "group", "rule", "reason", "before", "after", "person_id", "highspot_id", "change_id"})
	for _, c := range cs {
		_ = w.Write(csvSafe([]string{strconv.FormatInt(c.Seq, 10), c.Op, c.Tree, c.Email, c.Group, c.Rule, c.Reason, c.Before, c.After, c.PersonID, c.HighspotID, c.ChangeID}))
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, fmt.Errorf("render changes.csv: %w", err)
	}
	return buf.Bytes(), nil
}

func csvSafe(row []string) []string {
	for i, v := range row {
		if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
			row[i] = "'" + v
		}
	}
	return row
}

func arrow(before, after string) string {
	if before == after {
		return after
	}
	return before + " → " + after
}

// bar is one bar of a chart.
type bar struct {
	label string
	value int
	alert bool
}

// svgBars renders a horizontal bar chart as inline SVG (no external assets).
func svgBars(title string, bars []bar) string {
	if len(bars) == 0 {
		return ""
	}
	maxV := 1
	for _, b := range bars {
		maxV = max(maxV, b.value)
	}
	const rowH, labelW, barW = 22, 220, 360
	h := rowH*len(bars) + 30
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" role="img" width="%d" height="%d" viewBox="0 0 %d %d"><title>%s</title>`,
		labelW+barW+80, h, labelW+barW+80, h, html.EscapeString(title))
	fmt.Fprintf(&b, `<text x="0" y="16" class="t">%s</text>`, html.EscapeString(title))
	for i, br := range bars {
		y := 26 + i*rowH
		w := br.value * barW / maxV
		if br.value > 0 && w < 2 {
			w = 2
		}
		cls := "b"
		if br.alert {
			cls = "b alert"
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" class="l">%s</text><rect x="%d" y="%d" width="%d" height="%d" class="%s"/><text x="%d" y="%d" class="v">%d</text>`,
			labelW-6, y+14, html.EscapeString(br.label), labelW, y+2, w, rowH-6, cls, labelW+w+4, y+14, br.value)
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// RenderHTML renders plan.html, the approval document: status first, the
// plan's provenance, the exact commands, every change with its rule and
// reason (details/summary per op and tree: searchable with the browser's find,
// no JavaScript), drift and untouched users by name, and charts only where
// they add to the tables. Self-contained (inline CSS and SVG, no scripts, no
// network assets); every value is escaped.
func RenderHTML(s *Summary, changes []contract.Change) string {
	e := html.EscapeString
	var b strings.Builder
	b.WriteString(`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">`)
	fmt.Fprintf(&b, `<title>Plan %s: %s</title><style>
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em 2em;color:#222;max-width:78em}h1{font-size:1.5em;margin:.2em 0 .6em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}th{background:#f5f5f5}
td.n{text-align:right}.status{padding:.7em 1em;border-radius:4px;margin-bottom:1em;font-size:1.1em}
.blocked{background:#fde2e2;border:2px solid #c00}.ready{background:#e3f4e3;border:2px solid #070}.ok{color:#070}.bad{color:#c00;font-weight:bold}
pre.cmd{background:#f3f3f3;border:1px solid #ccc;padding:.5em .8em;white-space:pre-wrap;word-break:break-all}
table.meta th{width:11em}details{margin:.3em 0}summary{cursor:pointer;font-weight:600}details details{margin-left:1.5em}
.note{color:#555;max-width:60em}
svg .b{fill:#4a78c2}svg .alert{fill:#c33}svg .l,svg .v{font:12px sans-serif;fill:#222}svg .t{font:bold 13px sans-serif}code{background:#f3f3f3}
</style></head><body>`, e(s.RunID), e(statusWord(s)))
	fmt.Fprintf(&b, `<h1>Plan %s</h1>`, e(s.RunID))
	if s.Status == "blocked" {
		fmt.Fprintf(&b, `<div class="status blocked"><b>BLOCKED</b>: nothing will be applied. %d safety gate(s) tripped:<ul>`, len(s.Blocked))
		for _, g := range s.Blocked {
			fmt.Fprintf(&b, `<li>%s</li>`, e(g))
		}
		fmt.Fprintf(&b, `</ul>If the change is intended, re-plan this run's snapshots with an override. It is published under a new run id, which is reviewed, approved and applied on its own:<pre class="cmd">%s</pre></div>`, e(overrideCommand(s)))
	} else {
		fmt.Fprintf(&b, `<div class="status ready"><b>READY TO APPLY</b>: %d change(s). To approve and apply exactly this plan (the sha256 binds this run, its baseline and its changes):<pre class="cmd">%s
%s</pre></div>`, s.Changes, e(approveCommand(s)), e(applyCommand(s)))
	}
	b.WriteString(`<table class="meta">`)
	for _, kv := range provenance(s) {
		fmt.Fprintf(&b, `<tr><th>%s</th><td>%s</td></tr>`, e(kv[0]), e(kv[1]))
	}
	b.WriteString(`</table><ul>`)
	fmt.Fprintf(&b, `<li>persons %d, in scope %d (without email %d), active headcount %d, changes %d</li><li>match-review items waiting for a human: %d</li><li>Highspot users left untouched: protected %d, not managed by this tool %d; %d of them hold a managed group (listed below)</li>`,
		s.Persons, s.InScope, s.NoEmail, s.Headcount, s.Changes, s.MatchReview, s.Untouched["protected"], s.Untouched["unmanaged"], s.UntouchedManagedTotal)
	if s.Duplicates > 0 {
		fmt.Fprintf(&b, `<li>persons skipped because an earlier person has the same email: %d</li>`, s.Duplicates)
	}
	if len(s.MissingGroups) > 0 {
		fmt.Fprintf(&b, `<li class="bad">managed groups not found in Highspot: %s</li>`, e(strings.Join(s.MissingGroups, ", ")))
	}
	b.WriteString(`</ul>`)

	// Changes by op and tree: the table; a chart only when several trees change.
	trees := treesOf(s)
	b.WriteString(`<h2>Changes by op and tree</h2>`)
	if s.Changes == 0 {
		b.WriteString(`<p class="ok">No changes: Highspot already matches the policy.</p>`)
	}
	b.WriteString(`<table><tr><th>op</th>`)
	for _, t := range trees {
		fmt.Fprintf(&b, `<th>%s</th>`, e(treeLabel(t)))
	}
	b.WriteString(`<th>total</th></tr>`)
	for _, op := range opsInOrder {
		if s.ByOp[op] == 0 {
			continue
		}
		fmt.Fprintf(&b, `<tr><td>%s</td>`, op)
		for _, t := range trees {
			fmt.Fprintf(&b, `<td class="n">%d</td>`, s.ByOpTree[op][t])
		}
		fmt.Fprintf(&b, `<td class="n">%d</td></tr>`, s.ByOp[op])
	}
	b.WriteString(`</table>`)
	var byTree []bar
	for _, t := range trees {
		n, alert := 0, false
		for _, op := range opsInOrder {
			n += s.ByOpTree[op][t]
			alert = alert || (s.ByOpTree[op][t] > 0 && (op == "suspend_user" || op == "remove_member"))
		}
		if n > 0 {
			byTree = append(byTree, bar{label: treeLabel(t), value: n, alert: alert})
		}
	}
	if len(byTree) > 1 {
		b.WriteString(svgBars("changes per tree (red: the tree loses access)", byTree))
	}

	b.WriteString(`<h2>Safety gates</h2><p class="note">` + e(gateHelp) + `</p><table><tr><th>op</th><th>scope</th><th>changes</th><th>of (base)</th><th>percent</th><th>limit</th><th>status</th></tr>`)
	for _, g := range s.Gates {
		status := `<span class="ok">ok</span>`
		switch {
		case g.Blocked:
			status = `<span class="bad">BLOCKED</span>`
		case g.Tripped:
			status = fmt.Sprintf("overridden (--allow %d)", g.Allow)
		}
		fmt.Fprintf(&b, `<tr><td>%s</td><td>%s</td><td class="n">%d</td><td class="n">%d</td><td class="n">%.2f%%</td><td>%s</td><td>%s</td></tr>`,
			e(g.Op), e(g.Scope()), g.Count, g.Base, g.Percent, e(g.Limit()), status)
	}
	b.WriteString(`</table>`)

	// Every change.
	fmt.Fprintf(&b, `<h2 id="changes">Every change (%d)</h2><p class="note">Grouped by op and tree, each change with the policy rule that causes it and why (a plan of more than 50 changes starts folded: open a group). The browser's find (Ctrl+F) searches closed groups too. <code>changes.csv</code> beside this report holds every change for spreadsheets.</p>`, len(changes))
	groups := groupChanges(changes)
	// A small plan is shown open, so the printed document carries every change.
	open := ""
	if len(changes) <= openChangesLimit {
		open = " open"
	}
	for gi := 0; gi < len(groups); {
		op := groups[gi].op
		n := 0
		gj := gi
		for ; gj < len(groups) && groups[gj].op == op; gj++ {
			n += len(groups[gj].changes)
		}
		fmt.Fprintf(&b, `<details%s><summary>%s (%d)</summary>`, open, e(op), n)
		for _, g := range groups[gi:gj] {
			fmt.Fprintf(&b, `<details%s><summary>%s · %s (%d)</summary><table><tr><th>#</th><th>email</th><th>group</th><th>rule</th><th>reason</th></tr>`, open, e(op), e(treeLabel(g.tree)), len(g.changes))
			for i, c := range g.changes {
				if i == changeRowLimit {
					fmt.Fprintf(&b, `<tr><td></td><td colspan="4">… %d more in changes.csv</td></tr>`, len(g.changes)-i)
					break
				}
				fmt.Fprintf(&b, `<tr><td class="n">%d</td><td>%s</td><td>%s</td><td><code>%s</code></td><td>%s</td></tr>`, c.Seq, e(c.Email), e(c.Group), e(c.Rule), e(c.Reason))
			}
			b.WriteString(`</table></details>`)
		}
		b.WriteString(`</details>`)
		gi = gj
	}

	list := func(id, title string, n int, note string, head []string, shown int, rows func(i int) []string) {
		fmt.Fprintf(&b, `<h2 id="%s">%s (%d)</h2>`, id, e(title), n)
		if note != "" {
			fmt.Fprintf(&b, `<p class="note">%s</p>`, e(note))
		}
		if n == 0 {
			return
		}
		b.WriteString(`<table><tr>`)
		for _, h := range head {
			fmt.Fprintf(&b, `<th>%s</th>`, e(h))
		}
		b.WriteString(`</tr>`)
		for i := 0; i < shown && i < reportLimit; i++ {
			b.WriteString(`<tr>`)
			for _, c := range rows(i) {
				fmt.Fprintf(&b, `<td>%s</td>`, e(c))
			}
			b.WriteString(`</tr>`)
		}
		b.WriteString(`</table>`)
		if n > min(shown, reportLimit) {
			fmt.Fprintf(&b, `<p>… %d more in the tables of this run.</p>`, n-min(shown, reportLimit))
		}
	}
	list("joiners", "Joiners", len(s.Joiners), "", []string{"email", "tree", "role", "region", "groups", "onboarding"}, len(s.Joiners), func(i int) []string {
		j := s.Joiners[i]
		email := j.Email
		if j.Reactivated {
			email += " (reactivated)"
		}
		return []string{email, j.Tree, j.Role, j.Region, strings.Join(j.Groups, ", "), strings.Join(j.Onboarding, ", ")}
	})
	list("movers", "Movers", len(s.Movers), "", []string{"email", "tree", "role", "region", "added", "removed", "groups before", "groups after"}, len(s.Movers), func(i int) []string {
		m := s.Movers[i]
		return []string{m.Email, m.Tree, arrow(m.RoleBefore, m.RoleAfter), arrow(m.RegionBefore, m.RegionAfter),
			strings.Join(m.Added, ", "), strings.Join(m.Removed, ", "), strings.Join(m.GroupsBefore, ", "), strings.Join(m.GroupsAfter, ", ")}
	})
	list("leavers", "Leavers", len(s.Leavers), "", []string{"email", "tree", "reason", "since", "status"}, len(s.Leavers), func(i int) []string {
		l := s.Leavers[i]
		return []string{l.Email, l.Tree, l.Reason, l.Since, leaverStatus(l)}
	})
	list("untouched", "Untouched, but holding a managed group", s.UntouchedManagedTotal,
		"Active Highspot users this plan does not change although they hold a group the policy manages: protected by configuration, or never provisioned by this tool (manual accounts). Review whether they should keep it.",
		[]string{"email", "why untouched", "managed groups held"}, len(s.UntouchedManaged), func(i int) []string {
			u := s.UntouchedManaged[i]
			return []string{u.Email, u.Reason, strings.Join(u.Groups, ", ")}
		})
	list("drift", "Drift in the baseline pull", s.DriftTotal,
		"What Highspot held that this tool did not put there, or lacked that it did (the drift table of the pull this plan is based on).",
		[]string{"kind", "email", "group", "detail"}, len(s.Drift), func(i int) []string {
			d := s.Drift[i]
			return []string{d.Kind, d.Email, d.Group, d.Detail}
		})

	b.WriteString(`<h2>Headcount</h2><table><tr><th>tree</th><th>active</th></tr>`)
	for _, t := range slices.Sorted(maps.Keys(s.HeadcountByTree)) {
		fmt.Fprintf(&b, `<tr><td>%s</td><td class="n">%d</td></tr>`, e(treeLabel(t)), s.HeadcountByTree[t])
	}
	b.WriteString(`</table><table><tr><th>role</th><th>active</th></tr>`)
	for _, r := range slices.Sorted(maps.Keys(s.HeadcountByRole)) {
		fmt.Fprintf(&b, `<tr><td>%s</td><td class="n">%d</td></tr>`, e(r), s.HeadcountByRole[r])
	}
	b.WriteString(`</table>`)
	// The trend is a chart only when it has a shape: three or more stored
	// plans whose headcounts differ.
	if len(s.Trend) > 1 {
		varies := false
		var tb []bar
		for _, p := range s.Trend {
			tb = append(tb, bar{label: p.RunID, value: p.Headcount})
			varies = varies || p.Headcount != s.Trend[0].Headcount
		}
		if len(s.Trend) >= 3 && varies {
			b.WriteString(svgBars(fmt.Sprintf("active headcount over the last %d plans", len(s.Trend)), tb))
		}
		b.WriteString(`<table><tr><th>run</th><th>headcount</th><th>changes</th></tr>`)
		for _, p := range s.Trend {
			fmt.Fprintf(&b, `<tr><td>%s</td><td class="n">%d</td><td class="n">%d</td></tr>`, e(p.RunID), p.Headcount, p.Changes)
		}
		b.WriteString(`</table>`)
	}
	b.WriteString(`</body></html>`)
	return b.String()
}

// RenderText renders the terminal summary for `plan show`.
func RenderText(s *Summary, reportURL string) string {
	var b strings.Builder
	status := "ready to apply"
	if s.Status == "blocked" {
		status = "BLOCKED"
	}
	fmt.Fprintf(&b, "plan %s: %s\n  sha256    %s\n  baseline  %s %s (%s)\n", s.RunID, status, s.PlanSHA256, s.Baseline.Source, s.Baseline.RunID, s.Baseline.Why)
	if s.FromRun != "" {
		fmt.Fprintf(&b, "  replay of %s\n", s.FromRun)
	}
	fmt.Fprintf(&b, "  persons   %d, in scope %d, headcount %d, match review %d\n  changes   %d\n", s.Persons, s.InScope, s.Headcount, s.MatchReview, s.Changes)
	trees := treesOf(s)
	for _, op := range opsInOrder {
		if s.ByOp[op] == 0 {
			continue
		}
		var per []string
		for _, t := range trees {
			if n := s.ByOpTree[op][t]; n > 0 {
				per = append(per, fmt.Sprintf("%s %d", treeLabel(t), n))
			}
		}
		fmt.Fprintf(&b, "    %-16s %6d  (%s)\n", op, s.ByOp[op], strings.Join(per, ", "))
	}
	fmt.Fprintf(&b, "  joiners %d, movers %d, leavers %d; untouched: protected %d, unmanaged %d\n",
		len(s.Joiners), len(s.Movers), len(s.Leavers), s.Untouched["protected"], s.Untouched["unmanaged"])
	for _, g := range s.Blocked {
		fmt.Fprintf(&b, "  BLOCKED   %s\n", g)
	}
	for _, k := range slices.Sorted(maps.Keys(s.Allow)) {
		fmt.Fprintf(&b, "  override  --allow %s=%d\n", k, s.Allow[k])
	}
	if len(s.MissingGroups) > 0 {
		fmt.Fprintf(&b, "  missing Highspot groups: %s\n", strings.Join(s.MissingGroups, ", "))
	}
	if reportURL != "" {
		fmt.Fprintf(&b, "  report    %s\n", reportURL)
	}
	return b.String()
}
