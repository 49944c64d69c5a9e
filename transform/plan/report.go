package plan

import (
	"fmt"
	"html"
	"sort"
	"strings"
)

// opsInOrder lists ops in apply order.
var opsInOrder = []string{"create_group", "create_user", "update_user", "reactivate_user", "add_member", "remove_member", "suspend_user"}

// reportLimit caps per-person lists in the reports (the tables hold all rows).
const reportLimit = 200

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

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
	return sortedKeys(set)
}

func treeLabel(t string) string {
	if t == "" {
		return "(none)"
	}
	return t
}

func mdEsc(s string) string {
	r := strings.NewReplacer("|", "\\|", "\n", " ", "<", "&lt;", ">", "&gt;")
	return r.Replace(s)
}

// RenderMarkdown renders plan.md.
func RenderMarkdown(s *Summary) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Plan %s\n\n", s.RunID)
	if s.Status == "blocked" {
		fmt.Fprintf(&b, "**BLOCKED** by %d safety gate(s); nothing will be applied. If the change is intended: `otds-highspot plan --from-run %s --allow op=N`, then apply the new run id.\n\n", len(s.Blocked), s.RunID)
	}
	fmt.Fprintf(&b, "- plan sha256: `%s`\n- baseline: **%s** %s: %s\n", s.PlanSHA256, s.Baseline.Source, s.Baseline.RunID, mdEsc(s.Baseline.Why))
	if s.FromRun != "" {
		fmt.Fprintf(&b, "- replay of the stored snapshots of run %s with the current policy\n", s.FromRun)
	}
	fmt.Fprintf(&b, "- persons: %d, in scope: %d (without email: %d), active headcount: %d, changes: %d\n", s.Persons, s.InScope, s.NoEmail, s.Headcount, s.Changes)
	fmt.Fprintf(&b, "- match-review items waiting for a human: %d\n", s.MatchReview)
	if s.Duplicates > 0 {
		fmt.Fprintf(&b, "- persons skipped because an earlier person has the same email: %d\n", s.Duplicates)
	}
	fmt.Fprintf(&b, "- Highspot users left untouched: protected %d, not managed by this tool %d\n", s.Untouched["protected"], s.Untouched["unmanaged"])
	if len(s.MissingGroups) > 0 {
		todo := "create them first, or set highspot.create_missing_groups: true"
		if s.ByOp["create_group"] > 0 {
			todo = "this plan creates them: create_group"
		}
		fmt.Fprintf(&b, "- managed groups not found in Highspot (%s): %s\n", todo, mdEsc(strings.Join(s.MissingGroups, ", ")))
	}
	if len(s.Allow) > 0 {
		fmt.Fprintf(&b, "- overrides (--allow): %v\n", s.Allow)
	}

	b.WriteString("\n## Safety gates\n\n| op | scope | count | base | percent | limit | status |\n|---|---|---:|---:|---:|---|---|\n")
	for _, g := range s.Gates {
		status := "ok"
		switch {
		case g.Blocked:
			status = "**BLOCKED**"
		case g.Tripped:
			status = fmt.Sprintf("overridden (--allow %d)", g.Allow)
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %.2f%% | %s | %s |\n", g.Op, mdEsc(g.Scope()), g.Count, g.Base, g.Percent, mdEsc(g.Limit()), status)
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

	b.WriteString("\n## Headcount\n\n| tree | active |\n|---|---:|\n")
	for _, t := range sortedKeys(s.HeadcountByTree) {
		fmt.Fprintf(&b, "| %s | %d |\n", mdEsc(treeLabel(t)), s.HeadcountByTree[t])
	}
	b.WriteString("\n| role | active |\n|---|---:|\n")
	for _, r := range sortedKeys(s.HeadcountByRole) {
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
		status := "suspended by this plan"
		if l.PendingUntil != "" {
			status = "grace period until " + l.PendingUntil
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", mdEsc(l.Email), mdEsc(l.Tree), l.Reason, l.Since, status)
	}
	return b.String()
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

// RenderHTML renders plan.html: self-contained (inline CSS and SVG, no
// scripts, no network assets); every value is escaped.
func RenderHTML(s *Summary) string {
	e := html.EscapeString
	var b strings.Builder
	b.WriteString(`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">`)
	fmt.Fprintf(&b, `<title>Plan %s</title><style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
td.n{text-align:right}.blocked{background:#fde2e2;border:1px solid #c00;padding:.6em}.ok{color:#070}.bad{color:#c00;font-weight:bold}
svg .b{fill:#4a78c2}svg .alert{fill:#c33}svg .l,svg .v{font:12px sans-serif;fill:#222}svg .t{font:bold 13px sans-serif}code{background:#f3f3f3}
</style></head><body>`, e(s.RunID))
	fmt.Fprintf(&b, `<h1>Plan %s</h1>`, e(s.RunID))
	if s.Status == "blocked" {
		fmt.Fprintf(&b, `<div class="blocked"><b>BLOCKED</b> by %d safety gate(s):<ul>`, len(s.Blocked))
		for _, g := range s.Blocked {
			fmt.Fprintf(&b, `<li>%s</li>`, e(g))
		}
		fmt.Fprintf(&b, `</ul>If the change is intended: <code>otds-highspot plan --from-run %s --allow op=N</code>, then apply the new run id.</div>`, e(s.RunID))
	}
	fmt.Fprintf(&b, `<ul><li>plan sha256: <code>%s</code></li><li>baseline: <b>%s</b> %s: %s</li>`, e(s.PlanSHA256), e(s.Baseline.Source), e(s.Baseline.RunID), e(s.Baseline.Why))
	if s.FromRun != "" {
		fmt.Fprintf(&b, `<li>replay of run %s with the current policy</li>`, e(s.FromRun))
	}
	fmt.Fprintf(&b, `<li>persons %d, in scope %d (without email %d), active headcount %d, changes %d</li><li>match-review items waiting for a human: %d</li><li>Highspot users left untouched: protected %d, not managed by this tool %d</li>`,
		s.Persons, s.InScope, s.NoEmail, s.Headcount, s.Changes, s.MatchReview, s.Untouched["protected"], s.Untouched["unmanaged"])
	if len(s.MissingGroups) > 0 {
		fmt.Fprintf(&b, `<li class="bad">managed groups not found in Highspot: %s</li>`, e(strings.Join(s.MissingGroups, ", ")))
	}
	for _, k := range sortedKeys(s.Allow) {
		fmt.Fprintf(&b, `<li>override --allow %s=%d</li>`, e(k), s.Allow[k])
	}
	b.WriteString(`</ul>`)

	// Charts.
	trees := treesOf(s)
	var ops []bar
	for _, op := range opsInOrder {
		for _, t := range trees {
			if n := s.ByOpTree[op][t]; n > 0 {
				ops = append(ops, bar{label: op + " · " + treeLabel(t), value: n, alert: op == "suspend_user" || op == "remove_member"})
			}
		}
	}
	b.WriteString(`<h2>Changes by op and tree</h2>`)
	if len(ops) == 0 {
		b.WriteString(`<p class="ok">No changes: Highspot already matches the policy.</p>`)
	}
	b.WriteString(svgBars("changes by op · tree", ops))
	b.WriteString(`<table><tr><th>op</th>`)
	for _, t := range trees {
		fmt.Fprintf(&b, `<th>%s</th>`, e(treeLabel(t)))
	}
	b.WriteString(`<th>total</th></tr>`)
	for _, op := range opsInOrder {
		fmt.Fprintf(&b, `<tr><td>%s</td>`, op)
		for _, t := range trees {
			fmt.Fprintf(&b, `<td class="n">%d</td>`, s.ByOpTree[op][t])
		}
		fmt.Fprintf(&b, `<td class="n">%d</td></tr>`, s.ByOp[op])
	}
	b.WriteString(`</table>`)

	b.WriteString(`<h2>Safety gates</h2><table><tr><th>op</th><th>scope</th><th>count</th><th>base</th><th>percent</th><th>limit</th><th>status</th></tr>`)
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

	b.WriteString(`<h2>Headcount</h2>`)
	var hb, rb, tb []bar
	for _, t := range sortedKeys(s.HeadcountByTree) {
		hb = append(hb, bar{label: treeLabel(t), value: s.HeadcountByTree[t]})
	}
	for _, r := range sortedKeys(s.HeadcountByRole) {
		rb = append(rb, bar{label: r, value: s.HeadcountByRole[r]})
	}
	for _, p := range s.Trend {
		tb = append(tb, bar{label: p.RunID, value: p.Headcount})
	}
	b.WriteString(svgBars("active headcount by tree", hb))
	b.WriteString(svgBars("active headcount by role", rb))
	if len(tb) > 1 {
		b.WriteString(svgBars("headcount trend across stored plans", tb))
	}

	list := func(title string, n int, head []string, rows func(i int) []string) {
		fmt.Fprintf(&b, `<h2>%s (%d)</h2>`, e(title), n)
		if n == 0 {
			return
		}
		b.WriteString(`<table><tr>`)
		for _, h := range head {
			fmt.Fprintf(&b, `<th>%s</th>`, e(h))
		}
		b.WriteString(`</tr>`)
		for i := 0; i < n && i < reportLimit; i++ {
			b.WriteString(`<tr>`)
			for _, c := range rows(i) {
				fmt.Fprintf(&b, `<td>%s</td>`, e(c))
			}
			b.WriteString(`</tr>`)
		}
		b.WriteString(`</table>`)
		if n > reportLimit {
			fmt.Fprintf(&b, `<p>… %d more in the changes table.</p>`, n-reportLimit)
		}
	}
	list("Joiners", len(s.Joiners), []string{"email", "tree", "role", "region", "groups", "onboarding"}, func(i int) []string {
		j := s.Joiners[i]
		email := j.Email
		if j.Reactivated {
			email += " (reactivated)"
		}
		return []string{email, j.Tree, j.Role, j.Region, strings.Join(j.Groups, ", "), strings.Join(j.Onboarding, ", ")}
	})
	list("Movers", len(s.Movers), []string{"email", "tree", "role", "region", "added", "removed", "groups before", "groups after"}, func(i int) []string {
		m := s.Movers[i]
		return []string{m.Email, m.Tree, arrow(m.RoleBefore, m.RoleAfter), arrow(m.RegionBefore, m.RegionAfter),
			strings.Join(m.Added, ", "), strings.Join(m.Removed, ", "), strings.Join(m.GroupsBefore, ", "), strings.Join(m.GroupsAfter, ", ")}
	})
	list("Leavers", len(s.Leavers), []string{"email", "tree", "reason", "since", "status"}, func(i int) []string {
		l := s.Leavers[i]
		status := "suspended by this plan"
		if l.PendingUntil != "" {
			status = "grace period until " + l.PendingUntil
		}
		return []string{l.Email, l.Tree, l.Reason, l.Since, status}
	})
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
	for _, k := range sortedKeys(s.Allow) {
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
