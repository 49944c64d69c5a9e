package transform

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/internal/store"
)

// Explain tells, for a human, how the person(s) matching query (an email, a
// person_id, an account key or a DN) were resolved in the transform of runID
// ("" = the latest published transform; a run without one falls back to the
// latest transform before it): which accounts joined, by which rule
// and key, which account supplied each attribute, the review items that
// involve them and their effective groups with the granting paths.
func Explain(ctx context.Context, st store.Store, runID string, query string) (string, error) {
	var m *artifact.Manifest
	var err error
	if runID == "" {
		m, _, err = artifact.LatestManifest(ctx, st, contract.Transform, "")
	} else {
		m, _, err = artifact.ReadManifest(ctx, st, runID, contract.Transform)
		if errors.Is(err, artifact.ErrNotPublished) {
			// that run has no transform (yet): explain the latest one before it
			m, _, err = artifact.LatestManifest(ctx, st, contract.Transform, runID)
		}
	}
	if errors.Is(err, artifact.ErrNotPublished) {
		return "", exitcode.New(exitcode.Usage, "explain: no published transform in %s; run transform first", orLatest(runID))
	}
	if err != nil {
		return "", fmt.Errorf("explain: read transform manifest: %w", err)
	}
	q := strings.TrimSpace(query)
	ql := strings.ToLower(q)
	qdn := CanonicalDN(q)

	accounts := map[string]contract.AccountNormalized{}
	pids := map[string]bool{}
	links, err := artifact.ReadAll[contract.PersonLink](ctx, st, m, contract.PersonLinksSpec)
	if err != nil {
		return "", fmt.Errorf("explain: read person_links: %w", err)
	}
	for _, l := range links {
		if l.PersonID == q || l.AccountKey == q || strings.Contains(q, "=") && CanonicalDN(l.DN) == qdn {
			pids[l.PersonID] = true
		}
	}
	err = artifact.ReadTable(ctx, st, m, contract.AccountsNormalizedSpec, func(a contract.AccountNormalized) error {
		for _, e := range a.Emails {
			if e == ql {
				for _, l := range links {
					if l.AccountKey == a.AccountKey {
						pids[l.PersonID] = true
					}
				}
			}
		}
		accounts[a.AccountKey] = a
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("explain: read accounts_normalized: %w", err)
	}
	if len(pids) == 0 {
		return "", exitcode.New(exitcode.Usage, "explain: nothing in run %s matches %q; give an email, a person_id (p-...), an account key (<tree>/<source_id>) or a DN", m.RunID, query)
	}
	persons := map[string]contract.Person{}
	if err := artifact.ReadTable(ctx, st, m, contract.PersonsSpec, func(p contract.Person) error {
		if pids[p.PersonID] {
			persons[p.PersonID] = p
		}
		return nil
	}); err != nil {
		return "", fmt.Errorf("explain: read persons: %w", err)
	}
	wanted := map[string]bool{}
	for _, p := range persons {
		for _, k := range p.AccountKeys {
			wanted[k] = true
		}
	}
	groups := map[string][]contract.EffectiveMembership{}
	if err := artifact.ReadTable(ctx, st, m, contract.EffectiveMembershipsSpec, func(e contract.EffectiveMembership) error {
		if wanted[e.AccountKey] {
			groups[e.AccountKey] = append(groups[e.AccountKey], e)
		}
		return nil
	}); err != nil {
		return "", fmt.Errorf("explain: read effective_memberships: %w", err)
	}
	var reviews []contract.MatchReview
	if err := artifact.ReadTable(ctx, st, m, contract.MatchReviewSpec, func(r contract.MatchReview) error {
		for _, k := range r.AccountKeys {
			if wanted[k] {
				reviews = append(reviews, r)
				break
			}
		}
		return nil
	}); err != nil {
		return "", fmt.Errorf("explain: read match_review: %w", err)
	}
	linkOf := map[string]contract.PersonLink{}
	for _, l := range links {
		if wanted[l.AccountKey] {
			linkOf[l.AccountKey] = l
		}
	}
	ids := make([]string, 0, len(persons))
	for id := range persons {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var b strings.Builder
	fmt.Fprintf(&b, "query %q in transform of run %s: %d person(s)\n", query, m.RunID, len(ids))
	for _, id := range ids {
		p := persons[id]
		ExplainPerson(&b, p, accounts, linkOf, groups, reviews)
	}
	return b.String(), nil
}

func orLatest(runID string) string {
	if runID == "" {
		return "any run"
	}
	return "run " + runID
}

// ExplainPerson writes one person's story.
func ExplainPerson(b *strings.Builder, p contract.Person, accounts map[string]contract.AccountNormalized, links map[string]contract.PersonLink,
	groups map[string][]contract.EffectiveMembership, reviews []contract.MatchReview) {
	name := strings.TrimSpace(p.GivenName + " " + p.Surname)
	if name == "" {
		name = p.DisplayName
	}
	fmt.Fprintf(b, "\nperson %s: %s <%s>, %s", p.PersonID, name, p.PrimaryEmail, p.Status)
	if p.IsService {
		b.WriteString(", service account (not provisioned by default)")
	}
	fmt.Fprintf(b, "\n  %d account(s) in tree(s) %s; primary tree %s\n", len(p.AccountKeys), strings.Join(p.Trees, ", "), p.PrimaryTree)
	b.WriteString("  accounts:\n")
	for _, k := range p.AccountKeys {
		a := accounts[k]
		l := links[k]
		fmt.Fprintf(b, "    - %s  %s\n      login %s, %s, emails %s, employee id key %s\n", k, a.DN, orDash(a.Login), a.Status, orDash(strings.Join(a.Emails, " ")), orDash(a.EmployeeIDKey))
		fmt.Fprintf(b, "      joined by %s", describeRule(l.Rule))
		if l.Key != "" {
			fmt.Fprintf(b, " (key %s)", l.Key)
		}
		if l.Detail != "" {
			fmt.Fprintf(b, "; %s", l.Detail)
		}
		b.WriteString("\n")
		if a.IsService {
			fmt.Fprintf(b, "      flagged as service account: %s\n", a.ServiceReason)
		}
	}
	b.WriteString("  attributes (value <- account that supplied it):\n")
	attrs := make([]string, 0, len(p.SourceOf))
	for a := range p.SourceOf {
		attrs = append(attrs, a)
	}
	sort.Strings(attrs)
	for _, a := range attrs {
		fmt.Fprintf(b, "    %-16s %-32s <- %s\n", a, personValue(p, a), p.SourceOf[a])
	}
	n := 0
	for _, r := range reviews {
		if n == 0 {
			b.WriteString("  review items (merges NOT made):\n")
		}
		n++
		fmt.Fprintf(b, "    - %s %s: accounts %s\n      evidence %s\n", r.ReviewID, r.Reason, strings.Join(r.AccountKeys, ", "), r.Evidence)
	}
	b.WriteString("  effective groups:\n")
	anyGroup := false
	for _, k := range p.AccountKeys {
		for _, e := range groups[k] {
			anyGroup = true
			how := "direct"
			if !e.Direct {
				how = fmt.Sprintf("nested, depth %d", e.Depth)
			}
			fmt.Fprintf(b, "    %s via %s: %s (%s)\n", e.GroupName, k, strings.Join(e.Path, " -> "), how)
		}
	}
	if !anyGroup {
		b.WriteString("    (none)\n")
	}
}

func describeRule(rule string) string {
	switch rule {
	case RuleSingleton:
		return "nothing (a person of its own: no strong key shared with another account)"
	case RuleCarried:
		return "the previous run's link (carried person id)"
	case RuleForceLink:
		return "a manual force_link override"
	case RuleForceSplit:
		return "a manual force_split override (kept apart)"
	case "employee_id":
		return "employee id"
	case "email":
		return "email"
	}
	return rule
}

// personValue is the value of a persons.source_of key: a survivorship
// attribute of the field table (by its Label) or attributes.<name>.
func personValue(p contract.Person, attr string) string {
	if name, ok := strings.CutPrefix(attr, "attributes."); ok {
		return p.Attributes[name]
	}
	for _, f := range contract.Fields() {
		if f.Label == attr && f.Person != nil {
			return *f.Person(&p)
		}
	}
	return ""
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
