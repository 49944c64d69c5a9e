// Package transformconf owns the transform stage's transform: configuration
// section: match keys, per-tree settings, status/service/derive rules
// (declarative conditions), survivorship and link overrides, with their
// defaults and validation. internal/config embeds Config as
// Config.Transform; transform reads it. docs/configuration.md lists every
// key.
package transformconf

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/otds-highspot/otds-highspot/internal/config/section"
)

// Config is the transform: section: it configures normalization and cross-tree resolution.
// Owned by the transform stage; see docs/configuration.md.
type Config struct {
	// MatchKeys lists the strong match keys in priority order. Known keys:
	// employee_id (employee_id_key: "<scheme>:<id>"), email (every canonical
	// mail value, domain aliases applied), external_id (case-folded external
	// id, e.g. oTExternalID3 UPN), login_domain (login@<tree login_domain>).
	// Names are never a key. Default: [employee_id, email].
	MatchKeys []string `yaml:"match_keys"`
	// CarryLinks joins accounts that shared a person in the previous run
	// (lowest priority, same conflict checks as any key). Default true.
	CarryLinks *bool `yaml:"carry_links"`
	// NameVeto refuses a key match (sends it to review) when both the given
	// names and the surnames of the two sides are known and incompatible.
	// Default true.
	NameVeto *bool `yaml:"name_veto"`
	// MaxKeyAccounts: a key value carried by more accounts than this is
	// treated as shared (a team mailbox, a placeholder id) and sent to review
	// instead of merging. Default 8.
	MaxKeyAccounts int `yaml:"max_key_accounts"`
	// SamePartitionMerge allows two accounts of the same tree and partition to
	// be merged by a key (off by default: one person normally has one account
	// per partition, so a shared key there is more likely a shared mailbox).
	SamePartitionMerge bool `yaml:"same_partition_merge"`
	// Trees holds per-tree settings keyed by tree name.
	Trees map[string]Tree `yaml:"trees"`
	// Status rules: an account is disabled when any Disabled condition
	// matches, else locked when any Locked condition matches, else enabled.
	Status StatusRules `yaml:"status"`
	// Service flags non-person accounts.
	Service ServiceRules `yaml:"service"`
	// Derive maps a target attribute (region, business_unit, territory,
	// role, or any other name, which lands in attributes) to ordered rules;
	// the first rule that yields a value wins.
	Derive map[string][]DeriveRule `yaml:"derive"`
	// Survivorship picks each person attribute from one of its accounts.
	Survivorship Survivorship `yaml:"survivorship"`
	// Overrides are manual link decisions (a store file may add more).
	Overrides LinkOverrides `yaml:"overrides"`
}

// Tree is the per-tree part of the transform section.
type Tree struct {
	// EmailDomainAliases maps an acquired or legacy mail domain to the
	// canonical one (beta-gmbh.de: beta.example). Applies to this tree's mail.
	EmailDomainAliases map[string]string `yaml:"email_domain_aliases"`
	// EmployeeIDScheme qualifies employee ids ("<scheme>:<id>"). Ids compare
	// (as a match key, and as a conflict when they differ) only within one
	// scheme. Default "default": every tree without a scheme shares one
	// numbering; give subsidiaries with their own numbering their own scheme.
	EmployeeIDScheme string `yaml:"employee_id_scheme"`
	// PartitionSchemes overrides the scheme per partition of this tree.
	PartitionSchemes map[string]string `yaml:"partition_schemes"`
	// LoginDomain qualifies logins for the login_domain match key ("" = the
	// key is not produced for this tree).
	LoginDomain string `yaml:"login_domain"`
}

// Condition is one declarative test on an account. Fields combine with AND;
// an empty condition matches everything. Attribute names: login, mail,
// given_name, surname, display_name, employee_id, title, department,
// company, country, city, manager, external_id, disabled, locked,
// service_account, tree, partition, dn, or any extra attribute name.
type Condition struct {
	Attr     string      `yaml:"attr"`
	Equals   *string     `yaml:"equals"`    // case-insensitive, any value
	Regex    string      `yaml:"regex"`     // RE2, any value; use (?i) for case-insensitive
	In       []string    `yaml:"in"`        // case-insensitive, any value
	Present  *bool       `yaml:"present"`   // attribute has (or lacks) a non-empty value
	MemberOf string      `yaml:"member_of"` // effective group name (or "<tree>:<name>"), case-insensitive
	All      []Condition `yaml:"all"`
	Any      []Condition `yaml:"any"`
	Not      *Condition  `yaml:"not"`
}

// StatusRules derive enabled / disabled / locked.
type StatusRules struct {
	Disabled []Condition `yaml:"disabled"`
	Locked   []Condition `yaml:"locked"`
}

// ServiceRules flag service and other non-person accounts.
type ServiceRules struct {
	Rules []ServiceRule `yaml:"rules"`
	// Provision includes service accounts in provisioning (default false:
	// persons with is_service are excluded by the plan stage).
	Provision bool `yaml:"provision"`
}

// ServiceRule is one named service-account rule.
type ServiceRule struct {
	Name string    `yaml:"name"`
	When Condition `yaml:"when"`
}

// DeriveRule yields a value for a derived attribute when When matches:
// Value when set; otherwise the value of attribute From, mapped through Map
// when Map is set (unmapped values yield nothing unless Default is set).
type DeriveRule struct {
	When    Condition         `yaml:"when"`
	Value   string            `yaml:"value"`
	From    string            `yaml:"from"`
	Map     map[string]string `yaml:"map"`
	Default string            `yaml:"default"`
}

// Survivorship orders a person's accounts per attribute.
type Survivorship struct {
	// Order of criteria: status (enabled before locked before disabled),
	// tree (TreeOrder), modified (most recent first). Default all three.
	Order []string `yaml:"order"`
	// TreeOrder lists trees from most to least authoritative (default:
	// configuration order of trees).
	TreeOrder []string `yaml:"tree_order"`
	// Attributes overrides Order for single person attributes.
	Attributes map[string][]string `yaml:"attributes"`
}

// LinkOverrides are manual resolution decisions. Accounts are named by
// account key ("<tree>/<source_id>") or "dn:<tree>:<dn>".
type LinkOverrides struct {
	// ForceLink: each list becomes one person.
	ForceLink [][]string `yaml:"force_link"`
	// ForceSplit: the accounts of each list never share a person (a list of
	// one isolates that account).
	ForceSplit [][]string `yaml:"force_split"`
	// File is a store key of a YAML (force_link/force_split as here) or CSV
	// (action,account,account...) file read by the stage, "" = none.
	File string `yaml:"file"`
}

// Known match keys and survivorship criteria.
var (
	transformMatchKeys = []string{"employee_id", "email", "external_id", "login_domain"}
	survivorCriteria   = []string{"status", "tree", "modified"}
)

// CarryLinksEnabled reports CarryLinks with its default.
func (t *Config) CarryLinksEnabled() bool { return t.CarryLinks == nil || *t.CarryLinks }

// NameVetoEnabled reports NameVeto with its default.
func (t *Config) NameVetoEnabled() bool { return t.NameVeto == nil || *t.NameVeto }

// TreeSettings returns the per-tree settings (zero value when absent).
func (t *Config) TreeSettings(tree string) Tree { return t.Trees[tree] }

// EmployeeIDSchemeFor is the numbering scheme of a tree's partition.
func (t *Config) EmployeeIDSchemeFor(tree, partition string) string {
	tt := t.Trees[tree]
	if s := tt.PartitionSchemes[partition]; s != "" {
		return s
	}
	if tt.EmployeeIDScheme != "" {
		return tt.EmployeeIDScheme
	}
	return "default"
}

func tfStrptr(s string) *string { return &s }
func tfBoolptr(b bool) *bool    { return &b }

// ApplyDefaults fills every unset value with its default.
func (t *Config) ApplyDefaults() {
	if len(t.MatchKeys) == 0 {
		t.MatchKeys = []string{"employee_id", "email"}
	}
	if t.MaxKeyAccounts == 0 {
		t.MaxKeyAccounts = 8
	}
	if t.Status.Disabled == nil {
		t.Status.Disabled = []Condition{{Attr: "disabled", Equals: tfStrptr("true")}}
	}
	if t.Status.Locked == nil {
		t.Status.Locked = []Condition{{Attr: "locked", Equals: tfStrptr("true")}}
	}
	if t.Service.Rules == nil {
		t.Service.Rules = []ServiceRule{
			{Name: "service_account attribute", When: Condition{Attr: "service_account", Equals: tfStrptr("true")}},
			{Name: "no given name and no surname", When: Condition{All: []Condition{
				{Attr: "given_name", Present: tfBoolptr(false)},
				{Attr: "surname", Present: tfBoolptr(false)},
			}}},
			{Name: "service login prefix", When: Condition{Attr: "login", Regex: `(?i)^(svc|srv|sa|svc_|service)[-_.]`}},
		}
	}
	if len(t.Survivorship.Order) == 0 {
		t.Survivorship.Order = []string{"status", "tree", "modified"}
	}
}

// Validate checks the section under key k (transform) without I/O; trees
// are the configured tree names (per-tree settings must name one of them;
// not checked when empty).
func (t *Config) Validate(k string, trees []string) section.Errors {
	var errs section.Errors
	seen := map[string]bool{}
	for i, m := range t.MatchKeys {
		if !slices.Contains(transformMatchKeys, m) {
			errs = append(errs, section.Error{Key: fmt.Sprintf("%s.match_keys[%d]", k, i), Msg: fmt.Sprintf("unknown match key %q; use %s (names are never a key)", m, strings.Join(transformMatchKeys, ", "))})
		}
		if seen[m] {
			errs = append(errs, section.Error{Key: fmt.Sprintf("%s.match_keys[%d]", k, i), Msg: fmt.Sprintf("match key %q is listed twice", m)})
		}
		seen[m] = true
	}
	if t.MaxKeyAccounts < 2 {
		errs = append(errs, section.Error{Key: k + ".max_key_accounts", Msg: "must be >= 2"})
	}
	names := make([]string, 0, len(t.Trees))
	for n := range t.Trees {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if len(trees) > 0 {
			if !slices.Contains(trees, n) {
				errs = append(errs, section.Error{Key: k + ".trees." + n, Msg: fmt.Sprintf("tree %q is not configured under trees:; fix the name or remove the entry", n)})
			}
		}
		aliases := t.Trees[n].EmailDomainAliases
		froms := make([]string, 0, len(aliases))
		for from := range aliases {
			froms = append(froms, from)
		}
		sort.Strings(froms)
		for _, from := range froms {
			to := aliases[from]
			if from == "" || to == "" || strings.Contains(from, "@") || strings.Contains(to, "@") {
				errs = append(errs, section.Error{Key: k + ".trees." + n + ".email_domain_aliases", Msg: fmt.Sprintf("alias %q: %q must map a bare domain to a bare domain", from, to)})
			}
			if _, chained := aliases[to]; chained {
				errs = append(errs, section.Error{Key: k + ".trees." + n + ".email_domain_aliases", Msg: fmt.Sprintf("alias %q -> %q -> %q is a chain; map %q straight to the canonical domain", from, to, aliases[to], from)})
			}
		}
	}
	for i, c := range t.Status.Disabled {
		errs = append(errs, c.validate(fmt.Sprintf("%s.status.disabled[%d]", k, i))...)
	}
	for i, c := range t.Status.Locked {
		errs = append(errs, c.validate(fmt.Sprintf("%s.status.locked[%d]", k, i))...)
	}
	for i, r := range t.Service.Rules {
		errs = append(errs, r.When.validate(fmt.Sprintf("%s.service.rules[%d].when", k, i))...)
	}
	targets := make([]string, 0, len(t.Derive))
	for n := range t.Derive {
		targets = append(targets, n)
	}
	sort.Strings(targets)
	for _, n := range targets {
		for i, r := range t.Derive[n] {
			rk := fmt.Sprintf("%s.derive.%s[%d]", k, n, i)
			errs = append(errs, r.When.validate(rk+".when")...)
			if r.Value == "" && r.From == "" {
				errs = append(errs, section.Error{Key: rk, Msg: "set value or from"})
			}
		}
	}
	for i, o := range t.Survivorship.Order {
		if !slices.Contains(survivorCriteria, o) {
			errs = append(errs, section.Error{Key: fmt.Sprintf("%s.survivorship.order[%d]", k, i), Msg: fmt.Sprintf("unknown criterion %q; use %s", o, strings.Join(survivorCriteria, ", "))})
		}
	}
	for a, os := range t.Survivorship.Attributes {
		for i, o := range os {
			if !slices.Contains(survivorCriteria, o) {
				errs = append(errs, section.Error{Key: fmt.Sprintf("%s.survivorship.attributes.%s[%d]", k, a, i), Msg: fmt.Sprintf("unknown criterion %q; use %s", o, strings.Join(survivorCriteria, ", "))})
			}
		}
	}
	for i, l := range t.Overrides.ForceLink {
		if len(l) < 2 {
			errs = append(errs, section.Error{Key: fmt.Sprintf("%s.overrides.force_link[%d]", k, i), Msg: "a force_link needs at least two accounts"})
		}
	}
	return errs
}

func (c *Condition) validate(k string) section.Errors {
	var errs section.Errors
	if c.Regex != "" {
		if _, err := regexp.Compile(c.Regex); err != nil {
			errs = append(errs, section.Error{Key: k + ".regex", Msg: fmt.Sprintf("invalid regular expression: %v", err)})
		}
	}
	if (c.Equals != nil || c.Regex != "" || c.In != nil || c.Present != nil) && c.Attr == "" {
		errs = append(errs, section.Error{Key: k, Msg: "equals/regex/in/present need attr"})
	}
	for i := range c.All {
		errs = append(errs, c.All[i].validate(fmt.Sprintf("%s.all[%d]", k, i))...)
	}
	for i := range c.Any {
		errs = append(errs, c.Any[i].validate(fmt.Sprintf("%s.any[%d]", k, i))...)
	}
	if c.Not != nil {
		errs = append(errs, c.Not.validate(k+".not")...)
	}
	return errs
}
