// Package extractconf owns the extract stage's configuration: the extract:
// section (Config) and each entry of trees: (Tree: name, source, partitions,
// attribute mapping, required attributes, health gates, limits), with their
// defaults and validation. A tree embeds its source's own section
// (extract/ldap/ldapconf, extract/otdsrest/restconf, extract/ldif/ldifconf).
// internal/config assembles them (Config.Extract, Config.Trees) and checks
// what spans trees (unique names). docs/configuration.md lists every key.
package extractconf

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/otds-highspot/otds-highspot/extract/ldap/ldapconf"
	"github.com/otds-highspot/otds-highspot/extract/ldif/ldifconf"
	"github.com/otds-highspot/otds-highspot/extract/otdsrest/restconf"
	"github.com/otds-highspot/otds-highspot/internal/config/section"
	"github.com/otds-highspot/otds-highspot/internal/contract"
)

// Config is the extract: section: settings shared by every tree's extract.
// Owned by the extract stage; see docs/configuration.md.
type Config struct {
	// Concurrency bounds how many trees are read at once.
	Concurrency int `yaml:"concurrency"`
	// Strict turns rejected (malformed) entries into a failed tree.
	Strict bool `yaml:"strict"`
}

// ApplyDefaults fills every unset value with its default.
func (e *Config) ApplyDefaults() {
	if e.Concurrency == 0 {
		e.Concurrency = 4
	}
}

// Validate checks the section under key k (extract) without I/O.
func (e *Config) Validate(k string) section.Errors {
	if e.Concurrency < 0 {
		return section.Errors{{Key: k + ".concurrency", Msg: "must be >= 1"}}
	}
	return nil
}

// DefaultMaxDrop is the default of trees[].health.max_drop_percent.
const DefaultMaxDrop = 10.0

// Tree is one source of OTDS identities: one LDAP server and base, one OTDS
// REST server, or one LDIF file. A tree may hold several partitions; the
// partitions/exclude_partitions lists select which of them this tree
// publishes, so several trees can read the same server or file, each keeping
// one subsidiary's partition:
//
//	trees:
//	  - name: acme
//	    source: ldap
//	    partitions: ["Acme Corp"]
//	    ldap: {url: ldaps://otds:41636, bind_dn: ..., bind_password: {env: OTDS_PW}}
//	  - name: beta
//	    source: ldap
//	    partitions: ["Beta GmbH"]
//	    ldap: {url: ldaps://otds:41636, bind_dn: ..., bind_password: {env: OTDS_PW}}
type Tree struct {
	Name   string `yaml:"name"`
	Source string `yaml:"source"` // ldap | otds-rest | ldif

	// Each source owns its section: struct, defaults, Validate and docs live
	// beside the source (extract/<source>/<source>conf).
	LDAP ldapconf.Config `yaml:"ldap"`
	Rest restconf.Config `yaml:"rest"`
	LDIF ldifconf.Config `yaml:"ldif"`

	// Partitions is the include list of partition names (the RDN value directly
	// below ou=IdentityProviders, REST userPartitionID); empty = every partition.
	// Compared case-insensitively.
	Partitions []string `yaml:"partitions"`
	// ExcludePartitions are skipped even when included; default [otds.admin].
	// Set to [] explicitly to read the system partition too.
	ExcludePartitions []string `yaml:"exclude_partitions"`

	// Attributes maps the logical account/group fields to source attribute names.
	Attributes Attributes `yaml:"attributes"`
	// ExtraAttributes maps additional logical names (territory, business_unit,
	// ...) to source attributes; they land in the accounts table's extra column.
	ExtraAttributes map[string]string `yaml:"extra_attributes"`
	// RequiredAttributes are logical names an account must carry (non-empty);
	// accounts without them are rejected (code missing_attribute).
	RequiredAttributes []string `yaml:"required_attributes"`
	// Health configures the source-health gates of this tree.
	Health Health `yaml:"health"`
	// Limits caps what one entry and one listing may hold, so the shape of
	// directory data cannot make a read unbounded.
	Limits Limits `yaml:"limits"`

	excludeSet bool
}

// Attributes maps logical names to source attribute names. The names are
// the fields of contract.Fields that have an OTDS attribute; a name left out
// (or empty) takes the table's default.
type Attributes map[string]string

// DefaultAttributes are the OTDS attribute names (from contract.Fields).
func DefaultAttributes() Attributes {
	a := Attributes{}
	for _, f := range contract.Fields() {
		if f.Attr != "" {
			a[f.Name] = f.Attr
		}
	}
	return a
}

// accountLogicalNames are the logical names that are account columns (and so
// may be required or have a null-rate limit), besides extra attributes.
func accountLogicalNames() []string {
	return contract.FieldNames(func(f *contract.Field) bool { return f.Checked })
}

// Health configures a tree's source-health gates. A tripped gate blocks the
// tree's publication and exits 4.
// Limits are the explicit caps of a tree's read (defaults in applyDefaults).
type Limits struct {
	// MaxValueBytes: a longer attribute value is dropped (reject
	// value_too_large); the entry is still published.
	MaxValueBytes int `yaml:"max_value_bytes"`
	// MaxValuesPerAttribute: values beyond this many in one attribute (other
	// than the group member attribute) are dropped (reject too_many_values).
	MaxValuesPerAttribute int `yaml:"max_values_per_attribute"`
	// MaxMembersPerGroup: a group with more members fails the read (dropping
	// members would silently remove access).
	MaxMembersPerGroup int `yaml:"max_members_per_group"`
	// MaxPages: a listing (LDAP paged search of one base, OTDS REST users,
	// groups or members of one group) of more pages fails the read.
	MaxPages int `yaml:"max_pages"`
}

// Default limits.
const (
	DefaultMaxValueBytes         = 1 << 20
	DefaultMaxValuesPerAttribute = 10000
	DefaultMaxMembersPerGroup    = 1000000
	DefaultMaxPages              = 100000
)

func (l *Limits) applyDefaults() {
	for _, f := range []struct {
		p *int
		d int
	}{{&l.MaxValueBytes, DefaultMaxValueBytes}, {&l.MaxValuesPerAttribute, DefaultMaxValuesPerAttribute},
		{&l.MaxMembersPerGroup, DefaultMaxMembersPerGroup}, {&l.MaxPages, DefaultMaxPages}} {
		if *f.p == 0 {
			*f.p = f.d
		}
	}
}

func (l *Limits) validate(k string) section.Errors {
	var errs section.Errors
	for _, f := range []struct {
		key string
		v   int
	}{{"max_value_bytes", l.MaxValueBytes}, {"max_values_per_attribute", l.MaxValuesPerAttribute},
		{"max_members_per_group", l.MaxMembersPerGroup}, {"max_pages", l.MaxPages}} {
		if f.v < 0 {
			errs = append(errs, section.Error{Key: k + "." + f.key, Msg: "must be >= 1 (or absent for the default)"})
		}
	}
	return errs
}

type Health struct {
	// MinAccounts: fewer accounts than this trips the gate; default 1 (an
	// empty read never publishes regardless).
	MinAccounts int `yaml:"min_accounts"`
	// MaxDropPercent: more than this percentage fewer accounts than the tree's
	// previous published snapshot trips the gate; default 10. 100 disables it.
	MaxDropPercent *float64 `yaml:"max_drop_percent"`
	// NullRate limits, per logical attribute, the share (0..1) of accounts
	// without a value, e.g. {mail: 0.2}.
	NullRate map[string]float64 `yaml:"null_rate"`
}

// MaxDrop is the effective max drop percentage.
func (h Health) MaxDrop() float64 {
	if h.MaxDropPercent == nil {
		return DefaultMaxDrop
	}
	return *h.MaxDropPercent
}

// UnmarshalYAML notes whether exclude_partitions was given (so [] means
// "exclude nothing" while absent means the default). The typed pass keeps the
// decoder's strictness (unknown keys stay errors).
func (t *Tree) UnmarshalYAML(unmarshal func(any) error) error {
	type plain Tree
	var p plain
	if err := unmarshal(&p); err != nil {
		return err
	}
	var keys map[string]any
	if err := unmarshal(&keys); err != nil {
		return err
	}
	*t = Tree(p)
	_, t.excludeSet = keys["exclude_partitions"]
	return nil
}

// ApplyDefaults fills every unset value of the tree (and of its sources'
// sections) with its default.
func (t *Tree) ApplyDefaults() {
	if t.ExcludePartitions == nil && !t.excludeSet {
		t.ExcludePartitions = []string{"otds.admin"}
	}
	if t.Attributes == nil {
		t.Attributes = Attributes{}
	}
	for name, def := range DefaultAttributes() {
		if _, set := t.Attributes[name]; !set || t.Attributes[name] == "" {
			t.Attributes[name] = def
		}
	}
	if t.Health.MinAccounts == 0 {
		t.Health.MinAccounts = 1
	}
	t.Limits.applyDefaults()
	if t.Source == "ldap" {
		t.LDAP.ApplyDefaults()
	}
	t.Rest.ApplyDefaults()
	t.LDIF.ApplyDefaults()
}

// IncludesPartition reports whether this tree publishes partition p (include
// list, then exclude list; case-insensitive).
func (t *Tree) IncludesPartition(p string) bool {
	for _, x := range t.ExcludePartitions {
		if strings.EqualFold(strings.TrimSpace(x), strings.TrimSpace(p)) {
			return false
		}
	}
	if len(t.Partitions) == 0 {
		return true
	}
	for _, x := range t.Partitions {
		if strings.EqualFold(strings.TrimSpace(x), strings.TrimSpace(p)) {
			return true
		}
	}
	return false
}

// ExtraNames returns the extra attribute logical names, sorted.
func (t *Tree) ExtraNames() []string {
	out := make([]string, 0, len(t.ExtraAttributes))
	for k := range t.ExtraAttributes {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Validate checks the tree under key k (e.g. trees[0]) without I/O: its
// own keys and its source's section.
func (t *Tree) Validate(k string) section.Errors {
	var errs section.Errors
	if !validName(t.Name) {
		errs = append(errs, section.Error{Key: k + ".name", Msg: fmt.Sprintf("tree name %q must be 1-64 characters of a-z, 0-9, - or _", t.Name)})
	}
	switch t.Source {
	case "ldap":
		errs = append(errs, t.LDAP.Validate(k+".ldap")...)
	case "otds-rest":
		errs = append(errs, t.Rest.Validate(k+".rest")...)
	case "ldif":
		errs = append(errs, t.LDIF.Validate(k+".ldif")...)
		if strings.TrimSpace(t.LDIF.Path) == "" {
			errs = append(errs, section.Error{Key: k + ".ldif.path", Msg: "an ldif tree needs the export to read: a local path, store:<key> or fixtures:<path>"})
		}
	default:
		errs = append(errs, section.Error{Key: k + ".source", Msg: fmt.Sprintf("unknown source %q; use ldap, otds-rest or ldif", t.Source)})
	}
	errs = append(errs, t.Limits.validate(k+".limits")...)
	for i, p := range t.Partitions {
		if strings.TrimSpace(p) == "" {
			errs = append(errs, section.Error{Key: fmt.Sprintf("%s.partitions[%d]", k, i), Msg: "empty partition name; remove it or name a partition (e.g. \"Acme Corp\")"})
		}
		if !t.IncludesPartition(p) {
			errs = append(errs, section.Error{Key: fmt.Sprintf("%s.partitions[%d]", k, i), Msg: fmt.Sprintf("partition %q is also in exclude_partitions; remove it from one list", p)})
		}
	}
	defaults := DefaultAttributes()
	for name, src := range t.Attributes {
		if _, ok := defaults[name]; !ok {
			errs = append(errs, section.Error{Key: k + ".attributes." + name, Msg: fmt.Sprintf("unknown logical attribute %q; use one of %s, or map it under extra_attributes", name, strings.Join(slices.Sorted(maps.Keys(defaults)), ", "))})
			continue
		}
		if !validAttrName(src) {
			errs = append(errs, section.Error{Key: k + ".attributes." + name, Msg: fmt.Sprintf("%q is not an attribute name; use letters, digits and '-' (e.g. oTExtraAttr1)", src)})
		}
	}
	known := map[string]bool{}
	for _, n := range accountLogicalNames() {
		known[n] = true
	}
	for _, name := range t.ExtraNames() {
		src := t.ExtraAttributes[name]
		switch {
		case !validName(name):
			errs = append(errs, section.Error{Key: k + ".extra_attributes." + name, Msg: "logical name must be 1-64 characters of a-z, 0-9, - or _ (e.g. territory)"})
		case defaults[name] != "":
			errs = append(errs, section.Error{Key: k + ".extra_attributes." + name, Msg: fmt.Sprintf("%q is a built-in logical name; map it under attributes: instead", name)})
		case !validAttrName(src):
			errs = append(errs, section.Error{Key: k + ".extra_attributes." + name, Msg: fmt.Sprintf("%q is not an attribute name; use letters, digits and '-' (e.g. oTExtraAttr1)", src)})
		}
	}
	isKnown := func(n string) bool { _, extra := t.ExtraAttributes[n]; return known[n] || extra }
	for i, r := range t.RequiredAttributes {
		if !isKnown(r) {
			errs = append(errs, section.Error{Key: fmt.Sprintf("%s.required_attributes[%d]", k, i), Msg: fmt.Sprintf("unknown logical attribute %q; use one of %s or a name under extra_attributes", r, strings.Join(accountLogicalNames(), ", "))})
		}
	}
	h := t.Health
	if h.MinAccounts < 0 {
		errs = append(errs, section.Error{Key: k + ".health.min_accounts", Msg: "must be >= 1"})
	}
	if d := h.MaxDrop(); d < 0 || d > 100 {
		errs = append(errs, section.Error{Key: k + ".health.max_drop_percent", Msg: fmt.Sprintf("%g is not a percentage; use 0-100 (100 disables the gate)", d)})
	}
	for _, n := range slices.Sorted(maps.Keys(h.NullRate)) {
		v := h.NullRate[n]
		if !isKnown(n) {
			errs = append(errs, section.Error{Key: k + ".health.null_rate." + n, Msg: fmt.Sprintf("unknown logical attribute %q; use a name under attributes or extra_attributes", n)})
		}
		if v < 0 || v > 1 {
			errs = append(errs, section.Error{Key: k + ".health.null_rate." + n, Msg: fmt.Sprintf("%g is not a share; use 0..1 (0.2 = at most 20%% of accounts without a value)", v)})
		}
	}
	return errs
}

func validAttrName(s string) bool { return section.ValidAttrName(s) }

func validName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
