package config

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/otds-highspot/otds-highspot/internal/config/section"
	"github.com/otds-highspot/otds-highspot/internal/contract"
)

// Extract holds settings shared by every tree's extract.
// Owned by the extract stage; see docs/configuration.md.
type Extract struct {
	// Concurrency bounds how many trees are read at once.
	Concurrency int `yaml:"concurrency"`
	// Strict turns rejected (malformed) entries into a failed tree.
	Strict bool `yaml:"strict"`
}

func (e *Extract) applyDefaults() {
	if e.Concurrency == 0 {
		e.Concurrency = 4
	}
}

func (e *Extract) validate(k string) Errors {
	if e.Concurrency < 0 {
		return Errors{{Key: k + ".concurrency", Msg: "must be >= 1"}}
	}
	return nil
}

// Defaults of the OTDS directory layout.
const (
	DefaultBaseDN      = "ou=IdentityProviders,dc=identity,dc=opentext,dc=net"
	DefaultUserClass   = "oTPerson"
	DefaultGroupClass  = "oTGroup"
	DefaultPageSize    = 500
	DefaultLDAPTimeout = 60 * time.Second
	DefaultMaxDrop     = 10.0
)

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

	LDAP LDAPSource `yaml:"ldap"`
	Rest RestSource `yaml:"rest"` // internal/config/trees_sources.go
	LDIF LDIFSource `yaml:"ldif"` // internal/config/trees_sources.go

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

// LDAPSource configures the ldap source.
type LDAPSource struct {
	// URL is ldap://host:port (plain or StartTLS) or ldaps://host:port.
	URL      string `yaml:"url"`
	StartTLS bool   `yaml:"start_tls"`
	// CAFile is a PEM bundle of CAs trusted for the server certificate
	// (default: the system pool).
	CAFile string `yaml:"ca_file"`
	// ServerName overrides the name checked against the certificate (default:
	// the URL's host).
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify turns certificate verification off. Explicit only;
	// logged as a warning on every run.
	InsecureSkipVerify bool      `yaml:"insecure_skip_verify"`
	BindDN             string    `yaml:"bind_dn"`
	BindPassword       SecretRef `yaml:"bind_password"`
	// BaseDN is searched (subtree); default ou=IdentityProviders,dc=identity,dc=opentext,dc=net.
	BaseDN string `yaml:"base_dn"`
	// UserObjectClass / GroupObjectClass build the search filters
	// (objectClass=<value>), escaped; defaults oTPerson / oTGroup.
	UserObjectClass  string `yaml:"user_object_class"`
	GroupObjectClass string `yaml:"group_object_class"`
	// UserFilter / GroupFilter are optional extra LDAP filters ANDed with the
	// object class, e.g. "(!(oTType=TenantAdminUser))".
	UserFilter  string `yaml:"user_filter"`
	GroupFilter string `yaml:"group_filter"`
	// PageSize of the paged-results control; default 500.
	PageSize int `yaml:"page_size"`
	// Timeout bounds each request (bind, each page); default 60s.
	Timeout time.Duration `yaml:"timeout"`
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

func (l *Limits) validate(k string) Errors {
	var errs Errors
	for _, f := range []struct {
		key string
		v   int
	}{{"max_value_bytes", l.MaxValueBytes}, {"max_values_per_attribute", l.MaxValuesPerAttribute},
		{"max_members_per_group", l.MaxMembersPerGroup}, {"max_pages", l.MaxPages}} {
		if f.v < 0 {
			errs = append(errs, Error{Key: k + "." + f.key, Msg: "must be >= 1 (or absent for the default)"})
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

func (t *Tree) applyDefaults() {
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
		t.LDAP.applyDefaults()
	}
	t.Rest.applyDefaults()
	t.LDIF.applyDefaults()
}

func (l *LDAPSource) applyDefaults() {
	if l.BaseDN == "" {
		l.BaseDN = DefaultBaseDN
	}
	if l.UserObjectClass == "" {
		l.UserObjectClass = DefaultUserClass
	}
	if l.GroupObjectClass == "" {
		l.GroupObjectClass = DefaultGroupClass
	}
	if l.PageSize == 0 {
		l.PageSize = DefaultPageSize
	}
	if l.Timeout == 0 {
		l.Timeout = DefaultLDAPTimeout
	}
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

func (t *Tree) validate(k string) Errors {
	var errs Errors
	if !validName(t.Name) {
		errs = append(errs, Error{Key: k + ".name", Msg: fmt.Sprintf("tree name %q must be 1-64 characters of a-z, 0-9, - or _", t.Name)})
	}
	switch t.Source {
	case "ldap":
		errs = append(errs, t.LDAP.validate(k+".ldap")...)
	case "otds-rest":
		errs = append(errs, t.Rest.validate(k+".rest")...)
	case "ldif":
		errs = append(errs, t.LDIF.validate(k+".ldif")...)
		if strings.TrimSpace(t.LDIF.Path) == "" {
			errs = append(errs, Error{Key: k + ".ldif.path", Msg: "an ldif tree needs the export to read: a local path, store:<key> or fixtures:<path>"})
		}
	default:
		errs = append(errs, Error{Key: k + ".source", Msg: fmt.Sprintf("unknown source %q; use ldap, otds-rest or ldif", t.Source)})
	}
	errs = append(errs, t.Limits.validate(k+".limits")...)
	for i, p := range t.Partitions {
		if strings.TrimSpace(p) == "" {
			errs = append(errs, Error{Key: fmt.Sprintf("%s.partitions[%d]", k, i), Msg: "empty partition name; remove it or name a partition (e.g. \"Acme Corp\")"})
		}
		if !t.IncludesPartition(p) {
			errs = append(errs, Error{Key: fmt.Sprintf("%s.partitions[%d]", k, i), Msg: fmt.Sprintf("partition %q is also in exclude_partitions; remove it from one list", p)})
		}
	}
	defaults := DefaultAttributes()
	for name, src := range t.Attributes {
		if _, ok := defaults[name]; !ok {
			errs = append(errs, Error{Key: k + ".attributes." + name, Msg: fmt.Sprintf("unknown logical attribute %q; use one of %s, or map it under extra_attributes", name, strings.Join(sortedKeys(defaults), ", "))})
			continue
		}
		if !validAttrName(src) {
			errs = append(errs, Error{Key: k + ".attributes." + name, Msg: fmt.Sprintf("%q is not an attribute name; use letters, digits and '-' (e.g. oTExtraAttr1)", src)})
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
			errs = append(errs, Error{Key: k + ".extra_attributes." + name, Msg: "logical name must be 1-64 characters of a-z, 0-9, - or _ (e.g. territory)"})
		case defaults[name] != "":
			errs = append(errs, Error{Key: k + ".extra_attributes." + name, Msg: fmt.Sprintf("%q is a built-in logical name; map it under attributes: instead", name)})
		case !validAttrName(src):
			errs = append(errs, Error{Key: k + ".extra_attributes." + name, Msg: fmt.Sprintf("%q is not an attribute name; use letters, digits and '-' (e.g. oTExtraAttr1)", src)})
		}
	}
	isKnown := func(n string) bool { _, extra := t.ExtraAttributes[n]; return known[n] || extra }
	for i, r := range t.RequiredAttributes {
		if !isKnown(r) {
			errs = append(errs, Error{Key: fmt.Sprintf("%s.required_attributes[%d]", k, i), Msg: fmt.Sprintf("unknown logical attribute %q; use one of %s or a name under extra_attributes", r, strings.Join(accountLogicalNames(), ", "))})
		}
	}
	h := t.Health
	if h.MinAccounts < 0 {
		errs = append(errs, Error{Key: k + ".health.min_accounts", Msg: "must be >= 1"})
	}
	if d := h.MaxDrop(); d < 0 || d > 100 {
		errs = append(errs, Error{Key: k + ".health.max_drop_percent", Msg: fmt.Sprintf("%g is not a percentage; use 0-100 (100 disables the gate)", d)})
	}
	for _, n := range sortedKeys(h.NullRate) {
		v := h.NullRate[n]
		if !isKnown(n) {
			errs = append(errs, Error{Key: k + ".health.null_rate." + n, Msg: fmt.Sprintf("unknown logical attribute %q; use a name under attributes or extra_attributes", n)})
		}
		if v < 0 || v > 1 {
			errs = append(errs, Error{Key: k + ".health.null_rate." + n, Msg: fmt.Sprintf("%g is not a share; use 0..1 (0.2 = at most 20%% of accounts without a value)", v)})
		}
	}
	return errs
}

func (l *LDAPSource) validate(k string) Errors {
	var errs Errors
	u, err := url.Parse(l.URL)
	switch {
	case l.URL == "":
		errs = append(errs, Error{Key: k + ".url", Msg: "required for source ldap: ldaps://host:636 or ldap://host:389 (with start_tls: true)"})
	case err != nil || u.Host == "":
		errs = append(errs, Error{Key: k + ".url", Msg: fmt.Sprintf("%q is not an LDAP URL; use ldaps://host:port or ldap://host:port", l.URL)})
	case u.Scheme != "ldap" && u.Scheme != "ldaps":
		errs = append(errs, Error{Key: k + ".url", Msg: fmt.Sprintf("scheme %q is not supported; use ldap:// or ldaps://", u.Scheme)})
	case u.Scheme == "ldaps" && l.StartTLS:
		errs = append(errs, Error{Key: k + ".start_tls", Msg: "start_tls applies to ldap:// only; ldaps:// is already TLS, remove start_tls"})
	}
	if l.BindDN != "" {
		if _, err := ldap.ParseDN(l.BindDN); err != nil {
			errs = append(errs, Error{Key: k + ".bind_dn", Msg: fmt.Sprintf("does not parse as a DN: %v", err)})
		}
		errs = append(errs, l.BindPassword.Validate(k+".bind_password", true)...)
	} else if !l.BindPassword.IsZero() {
		errs = append(errs, Error{Key: k + ".bind_dn", Msg: "bind_password is set but bind_dn is empty; set the DN to bind as"})
	}
	if _, err := ldap.ParseDN(l.BaseDN); err != nil {
		errs = append(errs, Error{Key: k + ".base_dn", Msg: fmt.Sprintf("does not parse as a DN: %v", err)})
	}
	for _, f := range []struct{ key, v string }{{"user_filter", l.UserFilter}, {"group_filter", l.GroupFilter}} {
		if f.v == "" {
			continue
		}
		if _, err := ldap.CompileFilter(f.v); err != nil {
			errs = append(errs, Error{Key: k + "." + f.key, Msg: fmt.Sprintf("not a valid LDAP filter: %v; write it in parentheses, e.g. (!(oTType=TenantAdminUser))", err)})
		}
	}
	for _, f := range []struct{ key, v string }{{"user_object_class", l.UserObjectClass}, {"group_object_class", l.GroupObjectClass}} {
		if !validAttrName(f.v) {
			errs = append(errs, Error{Key: k + "." + f.key, Msg: fmt.Sprintf("%q is not an object class name", f.v)})
		}
	}
	if l.PageSize < 1 || l.PageSize > 100000 {
		errs = append(errs, Error{Key: k + ".page_size", Msg: fmt.Sprintf("%d is out of range; use 1-100000 (default 500)", l.PageSize)})
	}
	if l.Timeout < 0 {
		errs = append(errs, Error{Key: k + ".timeout", Msg: "must be positive, e.g. 60s"})
	}
	if l.CAFile != "" && l.InsecureSkipVerify {
		errs = append(errs, Error{Key: k + ".insecure_skip_verify", Msg: "ca_file is set, so verification can work; remove insecure_skip_verify"})
	}
	return errs
}

func validAttrName(s string) bool { return section.ValidAttrName(s) }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

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
