// Package transform owns stage 2 of the pipeline: pure functions that turn
// the raw extract records of every tree into normalized accounts
// (normalize.go), effective group memberships with their granting paths
// (groups.go) and resolved persons across subsidiaries (resolve.go), plus the
// stage that reads the extract tables and publishes the five transform tables
// (stage.go) and the `explain` story (explain.go). Only stage.go does I/O.
package transform

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/validate"
	"github.com/otds-highspot/otds-highspot/transform/transformconf"
)

// Status values.
const (
	StatusEnabled  = "enabled"
	StatusDisabled = "disabled"
	StatusLocked   = "locked"
)

// Normalizer holds the compiled normalization rules of one configuration.
// It is immutable after New and safe for concurrent use.
type Normalizer struct {
	cfg      *transformconf.Config
	aliases  map[string]map[string]string // tree -> from domain -> to domain (lower-case)
	disabled []*cond
	locked   []*cond
	service  []namedCond
	derive   []deriveTarget
	// externalIDKey keeps the external id (attributes.external_id) for the
	// external_id match key.
	externalIDKey bool
	// first are the fields of contract.Fields normalized as their first
	// cleaned value (NormFirst).
	first []*contract.Field
}

type namedCond struct {
	name string
	c    *cond
}

type deriveTarget struct {
	name  string
	field *contract.Field // the table's derived field of that name; nil: attributes.<name>
	rules []deriveRule
}

type deriveRule struct {
	when *cond
	r    transformconf.DeriveRule
	from *contract.Field   // the table's field named r.From, if any
	m    map[string]string // case-folded keys
}

// cond is a compiled transformconf.Condition.
type cond struct {
	attr     string
	field    *contract.Field // the table's field named attr, if any
	equals   *string
	re       *regexp.Regexp
	in       map[string]bool
	present  *bool
	memberOf string
	all, any []*cond
	not      *cond
}

func compileCond(c transformconf.Condition) (*cond, error) {
	out := &cond{attr: c.Attr, present: c.Present, memberOf: strings.ToLower(clean(c.MemberOf))}
	if c.Attr != "" {
		out.field, _ = contract.FieldByName(c.Attr)
	}
	if c.Equals != nil {
		e := strings.ToLower(clean(*c.Equals))
		out.equals = &e
	}
	if c.Regex != "" {
		re, err := regexp.Compile(c.Regex)
		if err != nil {
			return nil, fmt.Errorf("regex %q: %w", c.Regex, err)
		}
		out.re = re
	}
	if c.In != nil {
		out.in = map[string]bool{}
		for _, v := range c.In {
			out.in[strings.ToLower(clean(v))] = true
		}
	}
	for _, s := range c.All {
		cc, err := compileCond(s)
		if err != nil {
			return nil, err
		}
		out.all = append(out.all, cc)
	}
	for _, s := range c.Any {
		cc, err := compileCond(s)
		if err != nil {
			return nil, err
		}
		out.any = append(out.any, cc)
	}
	if c.Not != nil {
		cc, err := compileCond(*c.Not)
		if err != nil {
			return nil, err
		}
		out.not = cc
	}
	return out, nil
}

// view is what conditions see: cleaned attribute values (looked up lazily,
// no per-account map) and effective groups.
type view struct {
	a    *contract.Account
	out  *contract.AccountNormalized
	refs []GroupRef
	one  [1]string
}

func (v *view) single(s string) []string {
	if s == "" {
		return nil
	}
	v.one[0] = s
	return v.one[:]
}

// get returns the values of a named attribute (f: the table's field of that
// name, nil when none): the normalized value of a normalized field, the
// cleaned raw values of another account field, else the extra attribute.
// The slice is valid until the next call.
func (v *view) get(name string, f *contract.Field) []string {
	o := v.out
	switch name {
	case "tree":
		return v.single(o.Tree)
	case "partition":
		return v.single(o.Partition)
	case "dn":
		return v.single(o.DN)
	case "mail":
		return o.Emails
	}
	if f != nil {
		switch {
		case f.Normalize == contract.NormFirst || f.Normalize == contract.NormCustom:
			return v.single(f.NormValue(o))
		case f.Kind == contract.KindAccount && f.Values != contract.ValuesDN:
			return cleanAll(f.RawValues(v.a))
		}
	}
	return cleanAll(v.a.Extra[name])
}

func (v *view) memberOf(name string) bool {
	ascii := isASCII(name)
	for _, r := range v.refs {
		if strings.EqualFold(r.Name, name) {
			return true
		}
		if len(name) == len(r.Tree)+1+len(r.Name) && qualifiedFold(r.Tree, r.Name, name, ascii) {
			return true
		}
	}
	return false
}

// qualifiedFold is strings.EqualFold(tree+":"+group, name) for name of the
// same length; ascii tells that name is ASCII, when the two halves are
// compared in place instead of joined (of equal length, a string
// fold-equal to an ASCII one is ASCII too, so its ':' is at the same byte).
func qualifiedFold(tree, group, name string, ascii bool) bool {
	if !ascii {
		return strings.EqualFold(tree+":"+group, name)
	}
	return name[len(tree)] == ':' && strings.EqualFold(name[:len(tree)], tree) && strings.EqualFold(name[len(tree)+1:], group)
}

func (c *cond) match(v *view) bool {
	if c.attr != "" {
		vals := v.get(c.attr, c.field)
		if c.present != nil && (len(vals) > 0) != *c.present {
			return false
		}
		if c.equals != nil && !anyVal(vals, func(s string) bool { return strings.ToLower(s) == *c.equals }) {
			return false
		}
		if c.re != nil && !anyVal(vals, c.re.MatchString) {
			return false
		}
		if c.in != nil && !anyVal(vals, func(s string) bool { return c.in[strings.ToLower(s)] }) {
			return false
		}
	}
	if c.memberOf != "" && !v.memberOf(c.memberOf) {
		return false
	}
	for _, s := range c.all {
		if !s.match(v) {
			return false
		}
	}
	if len(c.any) > 0 {
		ok := false
		for _, s := range c.any {
			if s.match(v) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if c.not != nil && c.not.match(v) {
		return false
	}
	return true
}

func anyVal(vals []string, f func(string) bool) bool {
	for _, s := range vals {
		if f(s) {
			return true
		}
	}
	return false
}

// NewNormalizer compiles the transform configuration. cfg must have had its
// defaults applied (config.Parse does that).
func NewNormalizer(cfg *transformconf.Config) (*Normalizer, error) {
	n := &Normalizer{cfg: cfg, aliases: map[string]map[string]string{}}
	fs := contract.Fields()
	for i := range fs {
		if fs[i].Normalize == contract.NormFirst {
			n.first = append(n.first, &fs[i])
		}
	}
	for _, k := range cfg.MatchKeys {
		if k == "external_id" {
			n.externalIDKey = true
		}
	}
	for tree, tt := range cfg.Trees {
		if len(tt.EmailDomainAliases) == 0 {
			continue
		}
		m := map[string]string{}
		for from, to := range tt.EmailDomainAliases {
			m[strings.ToLower(clean(from))] = strings.ToLower(clean(to))
		}
		n.aliases[tree] = m
	}
	var err error
	comp := func(cs []transformconf.Condition, what string) []*cond {
		var out []*cond
		for i, c := range cs {
			cc, e := compileCond(c)
			if e != nil && err == nil {
				err = fmt.Errorf("transform: compile %s[%d]: %w (fix the transform section of the config)", what, i, e)
			}
			out = append(out, cc)
		}
		return out
	}
	n.disabled = comp(cfg.Status.Disabled, "status.disabled")
	n.locked = comp(cfg.Status.Locked, "status.locked")
	for i, r := range cfg.Service.Rules {
		cc := comp([]transformconf.Condition{r.When}, fmt.Sprintf("service.rules[%d].when", i))
		name := r.Name
		if name == "" {
			name = fmt.Sprintf("service rule %d", i)
		}
		n.service = append(n.service, namedCond{name: name, c: cc[0]})
	}
	targets := make([]string, 0, len(cfg.Derive))
	for t := range cfg.Derive {
		targets = append(targets, t)
	}
	sort.Strings(targets)
	for _, t := range targets {
		dt := deriveTarget{name: t}
		if f, ok := contract.FieldByName(t); ok && f.Normalize == contract.NormDerived {
			dt.field = f
		}
		for i, r := range cfg.Derive[t] {
			cc := comp([]transformconf.Condition{r.When}, fmt.Sprintf("derive.%s[%d].when", t, i))
			dr := deriveRule{when: cc[0], r: r}
			dr.from, _ = contract.FieldByName(r.From)
			if r.Map != nil {
				dr.m = map[string]string{}
				for k, v := range r.Map {
					dr.m[strings.ToLower(clean(k))] = v
				}
			}
			dt.rules = append(dt.rules, dr)
		}
		n.derive = append(n.derive, dt)
	}
	if err != nil {
		return nil, err
	}
	return n, nil
}

// clean trims and NFC-normalizes one string, after the control-character
// rule of validate.CleanText (extract applies it too and records what it
// cleaned; this keeps older snapshots from carrying such values further).
func clean(s string) string {
	if printableASCII(s) {
		// no control character, nothing to normalize: only spaces can be
		// trimmed (what the general path below returns, in one pass)
		return strings.Trim(s, " ")
	}
	return cleanGeneral(s)
}

// cleanGeneral is clean without its printable-ASCII shortcut.
func cleanGeneral(s string) string {
	if c, changed := validate.CleanText(s); changed {
		s = c
	}
	s = strings.TrimSpace(s)
	if !isASCII(s) {
		s = strings.TrimSpace(norm.NFC.String(s))
	}
	return s
}

// cleanName also collapses runs of inner whitespace.
func cleanName(s string) string {
	if plainASCII(s) {
		return s // what the general path below returns unchanged, in one pass
	}
	s = clean(s)
	if strings.Contains(s, "  ") || strings.ContainsAny(s, "\t\n\r") {
		s = strings.Join(strings.Fields(s), " ")
	}
	return s
}

// plainASCII: s is ASCII without DEL, without leading or trailing white space, without
// two spaces in a row and without tab, newline, vertical tab, form feed or
// carriage return (cleanName leaves such a string as it is).
func plainASCII(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x7f { // non-ASCII or DEL
			return false
		}
		if c > ' ' {
			continue
		}
		if c != ' ' || i == 0 || i == len(s)-1 || s[i-1] == ' ' {
			return false
		}
	}
	return true
}

// dropSpace removes all white space (strings.Join(strings.Fields(s), "")),
// returning s itself when it is ASCII without any.
func dropSpace(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x80 || c == ' ' || c >= '\t' && c <= '\r' {
			return strings.Join(strings.Fields(s), "")
		}
	}
	return s
}

// lowerJoin is strings.ToLower(a + b + c) in one allocation for ASCII.
func lowerJoin(a, b, c string) string {
	if !isASCII(a) || !isASCII(b) || !isASCII(c) {
		return strings.ToLower(a + b + c)
	}
	var sb strings.Builder
	sb.Grow(len(a) + len(b) + len(c))
	for _, s := range [3]string{a, b, c} {
		for i := 0; i < len(s); i++ {
			ch := s[i]
			if ch >= 'A' && ch <= 'Z' {
				ch += 'a' - 'A'
			}
			sb.WriteByte(ch)
		}
	}
	return sb.String()
}

// printableASCII reports whether every byte of s is printable ASCII or a
// space (0x20-0x7e).
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func cleanAll(vals []string) []string {
	var out []string
	for _, v := range vals {
		if c := clean(v); c != "" {
			out = append(out, c)
		}
	}
	return out
}

func first(vals []string) string {
	for _, v := range vals {
		if c := cleanName(v); c != "" {
			return c
		}
	}
	return ""
}

// CanonicalEmail case-folds and trims a mail value and applies the tree's
// domain aliases; "" when the value is not an address by the grammar of
// validate.Email (extract has already written a bad_email reject for it)
// or when an alias makes it one no longer.
func (n *Normalizer) CanonicalEmail(tree, mail string) string {
	m, problem := validate.Email(mail)
	if problem != "" {
		return ""
	}
	if to, ok := n.aliases[tree][m[strings.LastIndexByte(m, '@')+1:]]; ok {
		m = m[:strings.LastIndexByte(m, '@')+1] + to
		if validate.EmailProblem(m) != "" {
			return ""
		}
	}
	return m
}

// EmployeeIDKey qualifies a trimmed employee id by the partition's scheme.
// Ids compare case-insensitively and without inner whitespace.
func (n *Normalizer) EmployeeIDKey(tree, partition, id string) string {
	id = clean(id)
	if id == "" {
		return ""
	}
	id = strings.ToUpper(dropSpace(id))
	return n.cfg.EmployeeIDSchemeFor(tree, partition) + ":" + id
}

// AccountKey is the run-unique key of an account: "<tree>/<source_id>".
func AccountKey(tree, sourceID string) string { return tree + "/" + sourceID }

// GroupKey is the run-unique key of a group: "<tree>/<source_id>".
func GroupKey(tree, sourceID string) string { return tree + "/" + sourceID }

// normalizeGroups turns one raw account into its normalized row, written in
// place into *out (no copy of the wide row). groups are the account's
// effective groups (from the membership graph), used by member_of conditions
// and copied (keys, sorted) into Groups, whose storage keys supplies
// (len(groups) strings, or nil when there are none).
func (n *Normalizer) normalizeGroups(out *contract.AccountNormalized, a *contract.Account, groups []GroupRef, key string, keys []string) {
	*out = contract.AccountNormalized{
		AccountKey: key,
		Tree:       clean(a.Tree),
		Partition:  clean(a.Partition),
		DN:         clean(a.DN),
		SourceID:   clean(a.SourceID),
		ManagerDN:  firstClean(a.Manager),
		ModifiedAt: utcPtr(a.ModifiedAt),
	}
	for _, f := range n.first {
		f.SetNorm(out, first(f.RawValues(a)))
	}
	out.EmployeeID = dropSpace(out.EmployeeID)
	if out.Login != "" {
		p := out.Partition
		if p == "" {
			p = out.Tree
		}
		out.LoginQualified = lowerJoin(out.Login, "@", p)
	}
	for _, m := range a.Mail {
		c := n.CanonicalEmail(out.Tree, m)
		if c == "" || slices.Contains(out.Emails, c) {
			continue
		}
		if out.PrimaryEmail == "" {
			out.PrimaryEmail = c
		}
		out.Emails = append(out.Emails, c)
	}
	sort.Strings(out.Emails)
	if out.EmployeeID != "" {
		out.EmployeeIDKey = n.EmployeeIDKey(out.Tree, out.Partition, out.EmployeeID)
	}
	if out.GivenName == "" || out.Surname == "" {
		if g, s, ok := parseDisplayName(out.DisplayName); ok {
			if out.GivenName == "" {
				out.GivenName = g
			}
			if out.Surname == "" {
				out.Surname = s
			}
		}
	}
	v := view{a: a, out: out, refs: groups}
	n.derived(out, &v)
	if n.externalIDKey {
		if x := firstClean(a.ExternalID); x != "" {
			setDerived(out, nil, "external_id", strings.ToLower(x))
		}
	}
	if len(groups) > 0 {
		for i, r := range groups {
			keys[i] = r.Key // refs are sorted by key
		}
		out.Groups = keys
	}
}

func firstClean(vals []string) string {
	for _, v := range vals {
		if c := clean(v); c != "" {
			return c
		}
	}
	return ""
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// parseDisplayName splits "Surname, Given" (one comma, both parts non-empty).
func parseDisplayName(d string) (given, surname string, ok bool) {
	if strings.Count(d, ",") != 1 {
		return "", "", false
	}
	i := strings.IndexByte(d, ',')
	s, g := cleanName(d[:i]), cleanName(d[i+1:])
	if s == "" || g == "" {
		return "", "", false
	}
	return g, s, true
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// derived sets status, service flag and derived attributes.
func (n *Normalizer) derived(out *contract.AccountNormalized, v *view) {
	out.Status = StatusEnabled
	for _, c := range n.locked {
		if c.match(v) {
			out.Status = StatusLocked
			break
		}
	}
	for _, c := range n.disabled {
		if c.match(v) {
			out.Status = StatusDisabled
			break
		}
	}
	out.IsService, out.ServiceReason = false, ""
	for _, s := range n.service {
		if s.c.match(v) {
			out.IsService, out.ServiceReason = true, s.name
			break
		}
	}
	for _, t := range n.derive {
		val := ""
		for _, r := range t.rules {
			if val = r.apply(v); val != "" {
				break
			}
		}
		setDerived(out, t.field, t.name, val)
	}
}

func (r deriveRule) apply(v *view) string {
	if !r.when.match(v) {
		return ""
	}
	if r.r.Value != "" {
		return r.r.Value
	}
	vals := v.get(r.r.From, r.from)
	if len(vals) == 0 {
		return ""
	}
	if r.m == nil {
		return vals[0]
	}
	if m, ok := r.m[strings.ToLower(vals[0])]; ok {
		return m
	}
	return r.r.Default
}

// setDerived stores a derived value: in the column of the table's derived
// field f, or (f nil) in attributes.<name> when not empty.
func setDerived(out *contract.AccountNormalized, f *contract.Field, name, val string) {
	if f != nil {
		f.SetNorm(out, val)
		return
	}
	if val == "" {
		return
	}
	if out.Attributes == nil {
		out.Attributes = map[string]string{}
	}
	out.Attributes[name] = val
}

// Denormalize maps a normalized account back to the raw shape the normalizer
// reads, so that normalizing Denormalize(normalized(x), x) can be compared
// with normalizing x (the gofmt-style idempotence property).
// orig supplies the raw attributes a normalized row does not hold (flags,
// city, external ids, extra attributes).
func Denormalize(an contract.AccountNormalized, orig contract.Account) contract.Account {
	a := contract.Account{
		Tree: an.Tree, Partition: an.Partition, DN: an.DN, SourceID: an.SourceID,
		ObjectGUID:     orig.ObjectGUID,
		ModifiedAt:     an.ModifiedAt,
		CreatedAt:      orig.CreatedAt,
		Login:          nonEmpty(an.Login),
		GivenName:      nonEmpty(an.GivenName),
		Surname:        nonEmpty(an.Surname),
		DisplayName:    nonEmpty(an.DisplayName),
		EmployeeID:     nonEmpty(an.EmployeeID),
		Title:          nonEmpty(an.Title),
		Department:     nonEmpty(an.Department),
		Company:        nonEmpty(an.Company),
		Country:        nonEmpty(an.Country),
		Manager:        nonEmpty(an.ManagerDN),
		City:           orig.City,
		ExternalID:     orig.ExternalID,
		Disabled:       orig.Disabled,
		Locked:         orig.Locked,
		ServiceAccount: orig.ServiceAccount,
		MemberOf:       orig.MemberOf,
		Extra:          orig.Extra,
	}
	if an.PrimaryEmail != "" {
		a.Mail = append(a.Mail, an.PrimaryEmail)
	}
	for _, e := range an.Emails {
		if e != an.PrimaryEmail {
			a.Mail = append(a.Mail, e)
		}
	}
	return a
}
