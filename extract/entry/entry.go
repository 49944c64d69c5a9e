// Package entry owns turning one directory entry (a DN and its raw attribute
// values, from LDAP or LDIF) into the raw extract rows, the same way for every
// source: the tree's attribute mapping, the partition (the RDN directly below
// ou=IdentityProviders, from the parsed DN), oTObjectGUID as UUID text,
// GeneralizedTime timestamps, DN normalization for comparisons, and the
// per-entry reject rules (bad DN, bad UTF-8, missing required attributes).
package entry

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"

	"github.com/otds-highspot/otds-highspot/extract/extractconf"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/internal/validate"
)

// Reject codes.
const (
	CodeBadDN          = "bad_dn"
	CodeBadUTF8        = "bad_utf8"
	CodeMissing        = "missing_attribute"
	CodeDuplicateDN    = "duplicate_dn"
	CodeDanglingMember = "dangling_member"
	// CodeBadEmail: a mail value is not an address by the grammar of
	// validate.Email; the value is dropped, the entry is still published.
	CodeBadEmail = "bad_email"
	// CodeControlChars: a text value held control characters; the value is
	// published cleaned by validate.CleanText.
	CodeControlChars = "control_characters"
	// CodeValueTooLarge / CodeTooManyValues: a value longer than
	// trees[].limits.max_value_bytes, or the values of one attribute beyond
	// max_values_per_attribute, are dropped; the entry is still published.
	CodeValueTooLarge = "value_too_large"
	CodeTooManyValues = "too_many_values"
)

// LimitError is a read that hit one of the tree's limits whose overflow
// cannot be dropped safely (members of a group, pages of a listing).
type LimitError struct {
	Tree, What, Key string
	Limit           int
}

// ExitCode is exit 4 (source_gate): the data is outside what the tree's
// limits allow, so a retry reads the same; a human looks at the tree.
func (e *LimitError) ExitCode() int { return exitcode.SourceGate }

func (e *LimitError) Error() string {
	return fmt.Sprintf("tree %s: %s, above trees[].limits.%s (%d); the read is not published; raise the limit if the data is real",
		e.Tree, e.What, e.Key, e.Limit)
}

// Getter returns the raw values of an attribute (name matched
// case-insensitively by the source); nil when absent.
type Getter func(attr string) [][]byte

// ParseDN parses a DN (RFC 4514, escapes such as "R&D\, Europe" or "\2C").
func ParseDN(s string) (*ldap.DN, error) { return ldap.ParseDN(s) }

// NormDN parses dn once and returns its Norm and its Partition. Plain DNs
// (valid UTF-8, no escapes, quotes, '+', '#', ';', '<', '>' or NUL: nearly all
// of a directory) take a fast path that gives the same results as
// ParseDN + Norm + Partition without building a *ldap.DN; others go through
// ParseDN.
func NormDN(dn string) (norm, partition string, err error) {
	if n, p, ok := normPlain(dn); ok {
		return n, p, nil
	}
	parsed, err := ParseDN(dn)
	if err != nil {
		return "", "", err
	}
	return Norm(parsed), Partition(parsed), nil
}

type plainRDN struct{ typ, val string } // both stripped of surrounding ' '

// AppendNormDN appends the Norm of dn (what NormDN returns as norm) to dst.
// Plain DNs take the fast path and allocate nothing once dst has room; the
// extract stage uses it to hash member DNs without building a string each.
func AppendNormDN(dst []byte, dn string) ([]byte, error) {
	if out, _, ok := appendNormPlain(dst, dn); ok {
		return out, nil
	}
	parsed, err := ParseDN(dn)
	if err != nil {
		return dst, err
	}
	return append(dst, Norm(parsed)...), nil
}

// DNCache computes Norms of DNs that mostly share their parent (all but
// the first RDN), as the entries and member values of a directory export do:
// it keeps the Norm of the last parent seen, so a DN costs one comparison of
// its parent's text and the folding of its first RDN. Results are exactly
// NormDN's (FuzzDNCache). The zero value is ready; a DNCache is used by one
// goroutine at a time.
type DNCache struct {
	rest     string // the parent text last seen ("" = none)
	plain    bool   // rest takes the fast path; the fields below are valid
	norm     []byte // Norm of rest
	part     string // Partition of rest found at an RDN index >= 1 ...
	found    bool   // ... when found
	firstIdP bool   // rest's first RDN is ou=IdentityProviders
}

// AppendNorm appends the Norm of dn to dst and returns dn's Partition, as
// NormDN does (dst is returned unchanged with the error).
func (c *DNCache) AppendNorm(dst []byte, dn string) ([]byte, string, error) {
	if i := strings.IndexByte(dn, ','); i > 0 && i < len(dn)-1 {
		if rest := dn[i+1:]; rest != c.rest {
			c.set(rest)
		}
		if c.plain {
			// the first RDN alone: any escape, quote or '+' in it (a ','
			// escaped inside it included) sends dn to the full path
			first := dn[:i]
			if out, _, ok := appendNormPlain(dst, first); ok {
				out = append(out, 0)
				out = append(out, c.norm...)
				part := c.part
				if !c.found && c.firstIdP {
					part = strings.Trim(first[strings.IndexByte(first, '=')+1:], " ")
				}
				return out, part, nil
			}
		}
	}
	if out, part, ok := appendNormPlain(dst, dn); ok {
		return out, part, nil
	}
	parsed, err := ParseDN(dn)
	if err != nil {
		return dst, "", err
	}
	return append(dst, Norm(parsed)...), Partition(parsed), nil
}

// set makes rest the cached parent (plain false when it does not take the
// fast path: its DNs take the full one).
func (c *DNCache) set(rest string) {
	c.rest, c.plain, c.part, c.found, c.firstIdP = rest, false, "", false, false
	norm, part, ok := appendNormPlain(c.norm[:0], rest)
	if !ok {
		return
	}
	c.plain, c.norm, c.part = true, norm, part
	// Partition searches the RDNs from the root down to index 1: rest's
	// index 0 (dn's index 1) is searched by dn but not by rest.
	c.found = partitionFound(rest)
	first := rest
	if j := strings.IndexByte(rest, ','); j >= 0 {
		first = rest[:j]
	}
	eq := strings.IndexByte(first, '=')
	c.firstIdP = strings.EqualFold(strings.Trim(first[:eq], " "), "ou") && strings.EqualFold(strings.Trim(first[eq+1:], " "), "IdentityProviders")
}

// partitionFound reports whether appendNormPlain's partition search over
// the plain DN dn finds an ou=IdentityProviders RDN at an index >= 1.
func partitionFound(dn string) bool {
	comps := strings.Split(dn, ",")
	for i := len(comps) - 1; i > 0; i-- {
		eq := strings.IndexByte(comps[i], '=')
		if strings.EqualFold(strings.Trim(comps[i][:eq], " "), "ou") && strings.EqualFold(strings.Trim(comps[i][eq+1:], " "), "IdentityProviders") {
			return true
		}
	}
	return false
}

// normPlain is the fast path of NormDN; ok is false when dn needs ParseDN.
func normPlain(dn string) (norm, partition string, ok bool) {
	b, partition, ok := appendNormPlain(make([]byte, 0, len(dn)), dn)
	if !ok {
		return "", "", false
	}
	return string(b), partition, true
}

// appendNormPlain appends the fast-path Norm of dn to dst; ok is false (and
// dst returned unchanged) when dn needs ParseDN.
func appendNormPlain(dst []byte, dn string) (out []byte, partition string, ok bool) {
	if strings.TrimSpace(dn) == "" {
		return dst, "", false
	}
	var stack [12]plainRDN
	rdns := stack[:0]
	ascii := true
	for start, i := 0, 0; i <= len(dn); i++ {
		if i < len(dn) {
			c := dn[i]
			switch c {
			case '\\', '"', '+', '#', ';', '<', '>', 0:
				return dst, "", false
			}
			if c >= 0x80 {
				ascii = false
			}
			if c != ',' {
				continue
			}
		}
		comp := dn[start:i]
		start = i + 1
		eq := strings.IndexByte(comp, '=')
		if eq < 0 {
			return dst, "", false
		}
		r := plainRDN{typ: strings.Trim(comp[:eq], " "), val: strings.Trim(comp[eq+1:], " ")}
		if r.typ == "" {
			return dst, "", false
		}
		rdns = append(rdns, r)
	}
	if !ascii && !utf8.ValidString(dn) {
		return dst, "", false
	}
	for i, r := range rdns {
		if i > 0 {
			dst = append(dst, 0)
		}
		dst = appendFolded(dst, strings.TrimSpace(r.typ), ascii)
		dst = append(dst, 1)
		dst = appendFolded(dst, strings.TrimSpace(r.val), ascii)
	}
	for i := len(rdns) - 1; i > 0; i-- {
		if strings.EqualFold(rdns[i].typ, "ou") && strings.EqualFold(rdns[i].val, "IdentityProviders") {
			partition = rdns[i-1].val
			break
		}
	}
	return dst, partition, true
}

// appendFolded appends strings.ToLower(s), without allocating for ASCII.
func appendFolded(dst []byte, s string, ascii bool) []byte {
	if !ascii {
		return append(dst, strings.ToLower(s)...)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// Partition returns the value of the RDN directly below ou=IdentityProviders,
// or "" when the DN is not under it.
func Partition(dn *ldap.DN) string {
	for i := len(dn.RDNs) - 1; i > 0; i-- {
		r := dn.RDNs[i]
		if len(r.Attributes) == 1 && strings.EqualFold(r.Attributes[0].Type, "ou") &&
			strings.EqualFold(r.Attributes[0].Value, "IdentityProviders") {
			child := dn.RDNs[i-1]
			if len(child.Attributes) > 0 {
				return child.Attributes[0].Value
			}
			return ""
		}
	}
	return ""
}

// Norm returns a canonical form of a parsed DN for equality and hashing:
// attribute types and values case-folded, surrounding spaces trimmed,
// multi-valued RDNs sorted. Two DNs that differ only in escaping, spacing
// or case (as directory matching rules for cn/ou/dc are case-insensitive)
// have the same Norm.
func Norm(dn *ldap.DN) string {
	var b strings.Builder
	for i, r := range dn.RDNs {
		if i > 0 {
			b.WriteByte(0)
		}
		parts := make([]string, len(r.Attributes))
		for j, a := range r.Attributes {
			parts[j] = strings.ToLower(strings.TrimSpace(a.Type)) + "\x01" + strings.ToLower(strings.TrimSpace(a.Value))
		}
		if len(parts) > 1 {
			sortStrings(parts)
		}
		for j, p := range parts {
			if j > 0 {
				b.WriteByte(2)
			}
			b.WriteString(p)
		}
	}
	return b.String()
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// GUID turns an oTObjectGUID value into canonical UUID text: 16 raw bytes
// (LDAP binary), base64 of 16 bytes (REST, LDIF text) or UUID text. The bytes
// are taken in order (no AD mixed-endian swap). "" when empty or unrecognized.
func GUID(raw []byte) string {
	switch {
	case len(raw) == 0:
		return ""
	case len(raw) == 16:
		return UUIDText(raw)
	}
	s := strings.TrimSpace(string(raw))
	if len(s) == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-' {
		if b, err := hex.DecodeString(strings.ReplaceAll(s, "-", "")); err == nil && len(b) == 16 {
			return UUIDText(b)
		}
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) == 16 {
		return UUIDText(b)
	}
	return ""
}

// UUIDText is the canonical 8-4-4-4-12 hex text of a 16-byte UUID, in byte
// order (as the directory stores it).
func UUIDText(b []byte) string {
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	hex.Encode(out[9:13], b[4:6])
	hex.Encode(out[14:18], b[6:8])
	hex.Encode(out[19:23], b[8:10])
	hex.Encode(out[24:36], b[10:16])
	out[8], out[13], out[18], out[23] = '-', '-', '-', '-'
	return string(out[:])
}

// ParseTime parses LDAP GeneralizedTime (20250110120000Z, with optional
// fraction and offset) or RFC 3339 (REST), returned in UTC.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{"20060102150405Z0700", "20060102150405.999999999Z0700", "200601021504Z0700", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("not a GeneralizedTime or RFC 3339 time: %q", s)
}

// Mapper maps entries of one tree; it is used by one goroutine at a time.
type Mapper struct {
	dns        DNCache // Head's Norms of entry DNs
	normBuf    []byte
	acc        contract.Account // Account's row while it is built
	tree       *extractconf.Tree
	a          attrNames
	required   map[string]bool
	extra      []string
	extraAttrs []string // the source attribute of each of extra
	accFields  []accField
	names      []string // Attributes
}

// attrNames are the source attributes of the fields every entry reads
// outside the account columns.
type attrNames struct {
	UUID, GUID, Modified, Created, Member, GroupName, Description, DisplayName string
}

// NewMapper builds the mapper for tree (defaults already applied). The
// account columns and the attributes to request come from contract.Fields.
func NewMapper(tree *extractconf.Tree) *Mapper {
	at := tree.Attributes
	m := &Mapper{tree: tree, required: map[string]bool{}, extra: tree.ExtraNames(),
		a: attrNames{UUID: at["uuid"], GUID: at["guid"], Modified: at["modified"], Created: at["created"],
			Member: at["member"], GroupName: at["group_name"], Description: at["description"], DisplayName: at["display_name"]}}
	for _, r := range tree.RequiredAttributes {
		m.required[r] = true
	}
	for _, e := range m.extra {
		m.extraAttrs = append(m.extraAttrs, tree.ExtraAttributes[e])
	}
	for _, f := range contract.AccountFields() {
		m.accFields = append(m.accFields, accField{f: f, logical: f.Name, attr: at[f.Name], required: m.required[f.Name]})
	}
	m.names = []string{"objectClass"}
	for _, f := range contract.Fields() {
		if f.Attr != "" {
			m.names = append(m.names, at[f.Name])
		}
	}
	for _, e := range m.extra {
		m.names = append(m.names, tree.ExtraAttributes[e])
	}
	seen := map[string]bool{}
	out := m.names[:0]
	for _, n := range m.names {
		k := strings.ToLower(n)
		if !seen[k] {
			seen[k] = true
			out = append(out, n)
		}
	}
	m.names = out
	return m
}

// Tree is the mapped tree's config.
func (m *Mapper) Tree() *extractconf.Tree { return m.tree }

// Attributes lists every source attribute to request (mapped, extra and
// operational), de-duplicated, in a stable order.
func (m *Mapper) Attributes() []string { return append([]string(nil), m.names...) }

// Header is the part of an entry every row carries.
type Header struct {
	DN        string
	Norm      string // Norm of the parsed DN
	Partition string
	SourceID  string
}

// reject builds a reject row.
func (m *Mapper) reject(h Header, kind, code, reason, detail string) *contract.Reject {
	if len(detail) > 200 {
		detail = detail[:200] + "..."
	}
	if !utf8.ValidString(detail) {
		detail = strings.ToValidUTF8(detail, "\uFFFD")
	}
	dn := h.DN
	if !utf8.ValidString(dn) {
		dn = strings.ToValidUTF8(dn, "\uFFFD")
	}
	return &contract.Reject{Tree: m.tree.Name, Partition: h.Partition, DN: dn, SourceID: h.SourceID,
		Kind: kind, Code: code, Reason: reason, Detail: detail}
}

// Head parses the DN and reads the source id. A nil reject means the entry
// can be mapped; included is false when the entry's partition is not one this
// tree publishes (the caller skips it silently).
func (m *Mapper) Head(dn string, get Getter, kind string) (h Header, included bool, rej *contract.Reject) {
	h.DN = dn
	if !utf8.ValidString(dn) {
		return h, true, m.reject(h, kind, CodeBadUTF8, "the DN is not valid UTF-8", dn)
	}
	var partition string
	var err error
	m.normBuf, partition, err = m.dns.AppendNorm(m.normBuf[:0], dn)
	if err != nil {
		return h, true, m.reject(h, kind, CodeBadDN, "the DN does not parse: "+err.Error(), dn)
	}
	h.Norm, h.Partition = string(m.normBuf), partition
	if !m.tree.IncludesPartition(h.Partition) {
		return h, false, nil
	}
	id := first(get(m.a.UUID))
	h.SourceID = string(id)
	if !utf8.Valid(id) {
		h.SourceID = ""
		return h, true, m.reject(h, kind, CodeBadUTF8, "the source id is not valid UTF-8", m.a.UUID)
	}
	if strings.TrimSpace(h.SourceID) == "" {
		return h, true, m.reject(h, kind, CodeMissing, "the entry has no stable id ("+m.a.UUID+"); it cannot be tracked across runs", m.a.UUID)
	}
	return h, true, nil
}

func first(v [][]byte) []byte {
	if len(v) == 0 {
		return nil
	}
	return v[0]
}

// strs converts raw values to strings; ok is false at the first invalid UTF-8 value.
func strs(v [][]byte) ([]string, bool) {
	if len(v) == 0 {
		return nil, true
	}
	out := make([]string, len(v))
	for i, b := range v {
		if !utf8.Valid(b) {
			return nil, false
		}
		out[i] = string(b)
	}
	return out, true
}

// times returns timeOf of the modified and created values, both in one
// allocation.
func times(modified, created [][]byte) (*time.Time, *time.Time) {
	m, mok := timeOf(modified)
	c, cok := timeOf(created)
	if !mok && !cok {
		return nil, nil
	}
	pair := &[2]time.Time{m, c}
	var mp, cp *time.Time
	if mok {
		mp = &pair[0]
	}
	if cok {
		cp = &pair[1]
	}
	return mp, cp
}

// timeOf parses the first value with ParseTime; ok is false when there is
// none or it does not parse.
func timeOf(v [][]byte) (time.Time, bool) {
	b := first(v)
	if len(b) == 0 {
		return time.Time{}, false
	}
	if t, ok := parseGeneralized(b); ok {
		return t, true
	}
	t, err := ParseTime(string(b))
	return t, err == nil
}

// parseGeneralized is ParseTime's result for the common GeneralizedTime
// form "YYYYMMDDHHMMSSZ" without time.Parse and the string it needs; ok is
// false for any other value (and any out-of-range field), which then goes
// through ParseTime.
func parseGeneralized(b []byte) (time.Time, bool) {
	if len(b) != 15 || b[14] != 'Z' {
		return time.Time{}, false
	}
	var n [14]int
	for i := range n {
		c := b[i]
		if c < '0' || c > '9' {
			return time.Time{}, false
		}
		n[i] = int(c - '0')
	}
	year := n[0]*1000 + n[1]*100 + n[2]*10 + n[3]
	month := time.Month(n[4]*10 + n[5])
	day := n[6]*10 + n[7]
	hour, minute, sec := n[8]*10+n[9], n[10]*10+n[11], n[12]*10+n[13]
	if month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(year, month, day, hour, minute, sec, 0, time.UTC)
	if t.Day() != day || t.Month() != month {
		return time.Time{}, false // day past the end of the month
	}
	return t.UTC(), true
}

// accField is one account column of the field table and its source attribute.
type accField struct {
	f             *contract.Field
	logical, attr string
	required      bool
}

func hasValueBytes(v [][]byte) bool {
	for _, b := range v {
		if len(bytes.TrimSpace(b)) > 0 {
			return true
		}
	}
	return false
}

// Account maps a user entry whose Head passed. The values of all list
// columns are copied into one string and one []string (two allocations per
// entry instead of two per attribute); getter values need not outlive the call.
// notes are the value-level rejects of an account that is still published:
// a mail value that is not an address (dropped, CodeBadEmail) and a text
// value with control characters (cleaned, CodeControlChars); nil when none.
func (m *Mapper) Account(h Header, get Getter) (acc contract.Account, notes []contract.Reject, rej *contract.Reject) {
	// m.acc, not a local: the field table's accessors take its address,
	// which moved every account to the heap (twice)
	defer func() { m.acc = contract.Account{} }() // keep no values
	if rej = m.account(h, get); rej != nil {
		return m.acc, nil, rej
	}
	notes = m.checkAccount(h, &m.acc)
	return m.acc, notes, nil
}

// checkAccount applies the value rules of package validate to a mapped
// account in place and returns a reject row per value dropped or cleaned.
func (m *Mapper) checkAccount(h Header, acc *contract.Account) []contract.Reject {
	var notes []contract.Reject
	for _, f := range m.accFields {
		vals := f.f.RawValues(acc)
		if vals == nil {
			continue
		}
		vals, notes = m.limitValues(h, "account", f.attr, f.logical, vals, notes)
		switch f.f.Values {
		case contract.ValuesEmail:
			vals = without(vals, func(v string) bool {
				if strings.TrimSpace(v) == "" {
					return false // an empty value is no address; the null-rate rules count it
				}
				_, problem := validate.Email(v)
				if problem != "" {
					notes = append(notes, *m.reject(h, "account", CodeBadEmail,
						"attribute "+f.attr+" (mail): the value "+problem+"; it is not published (see docs/operations.md, validation)", strconv.Quote(v)))
				}
				return problem != ""
			})
		case contract.ValuesDN:
			// DNs: parsed and matched, never sent to Highspot as text
		default:
			notes = m.cleanValues(h, "account", f.attr, f.logical, vals, notes)
		}
		f.f.SetRaw(acc, vals)
	}
	for _, name := range m.extra {
		if v, ok := acc.Extra[name]; ok {
			v, notes = m.limitValues(h, "account", m.tree.ExtraAttributes[name], name, v, notes)
			acc.Extra[name] = v
			notes = m.cleanValues(h, "account", m.tree.ExtraAttributes[name], name, v, notes)
		}
	}
	return notes
}

// limitValues drops the values beyond trees[].limits: longer than
// max_value_bytes, or past the first max_values_per_attribute; one reject
// row per value too large and one per attribute with too many.
func (m *Mapper) limitValues(h Header, kind, attr, logical string, vals []string, notes []contract.Reject) ([]string, []contract.Reject) {
	l := m.tree.Limits
	if l.MaxValuesPerAttribute > 0 && len(vals) > l.MaxValuesPerAttribute {
		notes = append(notes, *m.reject(h, kind, CodeTooManyValues, fmt.Sprintf("attribute %s (%s): %d values, above trees[].limits.max_values_per_attribute (%d); the values past the limit are not published",
			attr, logical, len(vals), l.MaxValuesPerAttribute), attr))
		vals = vals[:l.MaxValuesPerAttribute:l.MaxValuesPerAttribute]
	}
	if l.MaxValueBytes <= 0 {
		return vals, notes
	}
	vals = without(vals, func(v string) bool {
		if len(v) <= l.MaxValueBytes {
			return false
		}
		notes = append(notes, *m.reject(h, kind, CodeValueTooLarge, fmt.Sprintf("attribute %s (%s): a value of %d bytes, above trees[].limits.max_value_bytes (%d); it is not published",
			attr, logical, len(v), l.MaxValueBytes), v))
		return true
	})
	return vals, notes
}

// without returns vals minus the values drop reports: vals itself when none
// is dropped (no copy on the common path), nil when every value is.
func without(vals []string, drop func(v string) bool) []string {
	var keep []string
	for j, v := range vals {
		if drop(v) {
			if keep == nil {
				keep = append(make([]string, 0, len(vals)), vals[:j]...)
			}
			continue
		}
		if keep != nil {
			keep = append(keep, v)
		}
	}
	switch {
	case keep == nil:
		return vals
	case len(keep) == 0:
		return nil
	}
	return keep
}

// cleanValues cleans vals in place (validate.CleanText), adding a note per
// value changed.
func (m *Mapper) cleanValues(h Header, kind, attr, logical string, vals []string, notes []contract.Reject) []contract.Reject {
	for j, v := range vals {
		if c, changed := validate.CleanText(v); changed {
			vals[j] = c
			notes = append(notes, *m.reject(h, kind, CodeControlChars,
				"attribute "+attr+" ("+logical+"): control characters removed; the cleaned value is published (see docs/operations.md, validation)", strconv.Quote(v)))
		}
	}
	return notes
}

// account maps a user entry into m.acc.
func (m *Mapper) account(h Header, get Getter) *contract.Reject {
	a := m.a
	acc := &m.acc
	*acc = contract.Account{Tree: m.tree.Name, Partition: h.Partition, DN: h.DN, SourceID: h.SourceID,
		ObjectGUID: GUID(first(get(a.GUID)))}
	acc.ModifiedAt, acc.CreatedAt = times(get(a.Modified), get(a.Created))
	// The values of the account columns and of the extra attributes are
	// copied into one string and one []string; the extras' checks come
	// after the columns' and the timestamps', as they always did.
	nf := len(m.accFields)
	var rawBuf [32][][]byte
	raw := rawBuf[:0]
	if nf+len(m.extra) > len(rawBuf) {
		raw = make([][][]byte, 0, nf+len(m.extra))
	}
	raw = raw[:nf+len(m.extra)]
	total, count := 0, 0
	for i, f := range m.accFields {
		v := get(f.attr)
		for _, b := range v {
			if !utf8.Valid(b) {
				return m.reject(h, "account", CodeBadUTF8, "attribute "+f.attr+" ("+f.logical+") holds a value that is not valid UTF-8", f.attr)
			}
			total += len(b)
		}
		if f.required && !hasValueBytes(v) {
			return m.reject(h, "account", CodeMissing, "required attribute "+f.attr+" ("+f.logical+") is missing or empty", f.attr)
		}
		raw[i] = v
		count += len(v)
	}
	for j, attr := range m.extraAttrs {
		v := get(attr)
		for _, b := range v {
			total += len(b)
		}
		raw[nf+j] = v
		count += len(v)
	}
	var sb strings.Builder
	sb.Grow(total)
	for _, v := range raw {
		for _, b := range v {
			sb.Write(b)
		}
	}
	all := sb.String()
	backing := make([]string, count)
	var extraBuf [8][]string
	extras := extraBuf[:0]
	if len(m.extra) > len(extraBuf) {
		extras = make([][]string, 0, len(m.extra))
	}
	extras = extras[:len(m.extra)]
	pos, k := 0, 0
	for i, v := range raw {
		if len(v) == 0 {
			continue
		}
		dst := backing[k : k+len(v) : k+len(v)]
		for j, b := range v {
			dst[j] = all[pos : pos+len(b)]
			pos += len(b)
		}
		k += len(v)
		if i < nf {
			m.accFields[i].f.SetRaw(acc, dst)
		} else {
			extras[i-nf] = dst
		}
	}
	for _, r := range []struct{ logical, attr, val string }{{"guid", a.GUID, acc.ObjectGUID}} {
		if m.required[r.logical] && r.val == "" {
			return m.reject(h, "account", CodeMissing, "required attribute "+r.attr+" ("+r.logical+") is missing or not a GUID", r.attr)
		}
	}
	if m.required["modified"] && acc.ModifiedAt == nil || m.required["created"] && acc.CreatedAt == nil {
		return m.reject(h, "account", CodeMissing, "a required timestamp (modified/created) is missing or does not parse", a.Modified+","+a.Created)
	}
	if len(m.extra) > 0 {
		if acc.Extra == nil {
			acc.Extra = make(map[string][]string, len(m.extra))
		}
		for j, name := range m.extra {
			attr, v := m.extraAttrs[j], raw[nf+j]
			for _, b := range v {
				if !utf8.Valid(b) {
					return m.reject(h, "account", CodeBadUTF8, "attribute "+attr+" ("+name+") holds a value that is not valid UTF-8", attr)
				}
			}
			if m.required[name] && !hasValueBytes(v) {
				return m.reject(h, "account", CodeMissing, "required attribute "+attr+" ("+name+") is missing or empty", attr)
			}
			if len(v) > 0 {
				acc.Extra[name] = extras[j]
			}
		}
	}
	return nil
}

func hasValue(v []string) bool {
	for _, s := range v {
		if strings.TrimSpace(s) != "" {
			return true
		}
	}
	return false
}

// Group maps a group entry whose Head passed; members are the raw member
// DN values (as read, in order).
// notes are the value-level rejects of a group that is still published
// (text values cleaned of control characters, CodeControlChars).
func (m *Mapper) Group(h Header, get Getter) (g contract.Group, members []string, notes []contract.Reject, rej *contract.Reject) {
	g, raw, rej := m.group(h, get)
	if rej != nil {
		return g, nil, nil, rej
	}
	members, _ = strs(raw)
	return g, members, m.checkGroup(h, &g), nil
}

// checkGroup cleans the group's text values of control characters.
func (m *Mapper) checkGroup(h Header, g *contract.Group) []contract.Reject {
	var notes []contract.Reject
	name := []string{g.Name}
	notes = m.cleanValues(h, "group", m.a.GroupName, "name", name, notes)
	g.Name = name[0]
	g.DisplayName, notes = m.limitValues(h, "group", m.a.DisplayName, "display_name", g.DisplayName, notes)
	g.Description, notes = m.limitValues(h, "group", m.a.Description, "description", g.Description, notes)
	notes = m.cleanValues(h, "group", m.a.DisplayName, "display_name", g.DisplayName, notes)
	return m.cleanValues(h, "group", m.a.Description, "description", g.Description, notes)
}

// MemberLimit is the error for a group with n members when n is above
// trees[].limits.max_members_per_group; nil otherwise.
func (m *Mapper) MemberLimit(dn string, n int64) error {
	if l := m.tree.Limits.MaxMembersPerGroup; l > 0 && n > int64(l) {
		return &LimitError{Tree: m.tree.Name, What: fmt.Sprintf("group %q has more than %d members", dn, l), Key: "max_members_per_group", Limit: l}
	}
	return nil
}

// PageLimit is the error for page number page of a listing when it is above
// trees[].limits.max_pages; nil otherwise.
func (m *Mapper) PageLimit(listing string, page int) error {
	if l := m.tree.Limits.MaxPages; l > 0 && page > l {
		return &LimitError{Tree: m.tree.Name, What: fmt.Sprintf("%s did not end after %d pages", listing, l), Key: "max_pages", Limit: l}
	}
	return nil
}

// group is Group with the member values raw (validated as UTF-8, not copied).
func (m *Mapper) group(h Header, get Getter) (contract.Group, [][]byte, *contract.Reject) {
	a := m.a
	g := contract.Group{Tree: m.tree.Name, Partition: h.Partition, DN: h.DN, SourceID: h.SourceID,
		ObjectGUID: GUID(first(get(a.GUID)))}
	g.ModifiedAt, g.CreatedAt = times(get(a.Modified), get(a.Created))
	name, ok := strs(get(a.GroupName))
	if !ok {
		return g, nil, m.reject(h, "group", CodeBadUTF8, "attribute "+a.GroupName+" holds a value that is not valid UTF-8", a.GroupName)
	}
	if !hasValue(name) {
		return g, nil, m.reject(h, "group", CodeMissing, "the group has no name ("+a.GroupName+")", a.GroupName)
	}
	g.Name = name[0]
	if l := m.tree.Limits.MaxValueBytes; l > 0 && len(g.Name) > l {
		return g, nil, m.reject(h, "group", CodeValueTooLarge, fmt.Sprintf("the group name (%s) has %d bytes, above trees[].limits.max_value_bytes (%d)", a.GroupName, len(g.Name), l), g.Name)
	}
	if g.DisplayName, ok = strs(get(a.DisplayName)); !ok {
		return g, nil, m.reject(h, "group", CodeBadUTF8, "attribute "+a.DisplayName+" holds a value that is not valid UTF-8", a.DisplayName)
	}
	if g.Description, ok = strs(get(a.Description)); !ok {
		return g, nil, m.reject(h, "group", CodeBadUTF8, "attribute "+a.Description+" holds a value that is not valid UTF-8", a.Description)
	}
	members := get(a.Member)
	for _, b := range members {
		if !utf8.Valid(b) {
			return g, nil, m.reject(h, "group", CodeBadUTF8, "a member value ("+a.Member+") is not valid UTF-8", a.Member)
		}
	}
	g.MemberCount = int64(len(members))
	return g, members, nil
}

// IsUser / IsGroup report the entry's kind from its objectClass values.
func IsUser(objectClasses [][]byte, userClass string) bool { return hasClass(objectClasses, userClass) }

// IsGroup reports whether objectClasses contains groupClass.
func IsGroup(objectClasses [][]byte, groupClass string) bool {
	return hasClass(objectClasses, groupClass)
}

func hasClass(ocs [][]byte, c string) bool {
	for _, o := range ocs {
		if strings.EqualFold(strings.TrimSpace(string(o)), c) {
			return true
		}
	}
	return false
}

// Sink is the part of extract.Sink that Emit needs (extract.Sink satisfies it).
type Sink interface {
	Account(contract.Account) error
	Group(contract.Group) error
	Member(groupDN, groupSourceID, partition, memberDN, memberSourceID string) error
	Reject(contract.Reject) error
}

// NormSink is implemented by sinks that index entries by DN: Emit then hands
// over the Norm it has already computed, so each DN is parsed once.
type NormSink interface {
	AccountNorm(a contract.Account, norm string) error
	GroupNorm(g contract.Group, norm string) error
}

// Emit maps one entry of kind "account" or "group" and hands the row (or its
// reject) and, for groups, each member value to sink. Shared by sources that
// read LDAP-shaped entries (ldap, ldif).
func Emit(m *Mapper, dn, kind string, get Getter, sink Sink) error {
	h, included, rej := m.Head(dn, get, kind)
	if !included {
		return nil
	}
	if rej != nil {
		return sink.Reject(*rej)
	}
	if kind == "account" {
		acc, notes, rej := m.Account(h, get)
		if rej != nil {
			return sink.Reject(*rej)
		}
		for _, n := range notes {
			if err := sink.Reject(n); err != nil {
				return err
			}
		}
		if ns, ok := sink.(NormSink); ok {
			return ns.AccountNorm(acc, h.Norm)
		}
		return sink.Account(acc)
	}
	if err := m.MemberLimit(h.DN, int64(len(get(m.a.Member)))); err != nil {
		return err
	}
	g, members, rej := m.group(h, get)
	if rej != nil {
		return sink.Reject(*rej)
	}
	for _, n := range m.checkGroup(h, &g) {
		if err := sink.Reject(n); err != nil {
			return err
		}
	}
	var err error
	if ns, ok := sink.(NormSink); ok {
		err = ns.GroupNorm(g, h.Norm)
	} else {
		err = sink.Group(g)
	}
	if err != nil {
		return err
	}
	// the member values are copied into one string per memberChunkBytes
	// (one allocation per chunk, not per member)
	for i := 0; i < len(members); {
		j, n := i, 0
		for j < len(members) && (j == i || n+len(members[j]) <= memberChunkBytes) {
			n += len(members[j])
			j++
		}
		var sb strings.Builder
		sb.Grow(n)
		for _, b := range members[i:j] {
			sb.Write(b)
		}
		all, pos := sb.String(), 0
		for _, b := range members[i:j] {
			mdn := all[pos : pos+len(b)]
			pos += len(b)
			if err := sink.Member(h.DN, h.SourceID, h.Partition, mdn, ""); err != nil {
				return err
			}
		}
		i = j
	}
	return nil
}

// memberChunkBytes bounds the member values Emit copies into one string.
const memberChunkBytes = 64 << 10
