package ldif

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/otds-highspot/otds-highspot/internal/config"
	"github.com/otds-highspot/otds-highspot/internal/records"
)

// Attrs is a directory entry seen as attribute name -> raw values; Get is
// case-insensitive and returns nil when the attribute is absent. *Entry
// implements it; the OTDS REST source wraps its JSON attributes.
type Attrs interface {
	Get(name string) []string
}

// Mapper turns entries into rows with a tree's attribute mapping (logical
// name -> source attribute, config.Attributes plus extra_attributes). It is
// the one entry -> row function of the LDIF and REST sources.
type Mapper struct {
	tree     string
	a        config.Attributes
	extra    map[string]string
	extraNms []string
	required []string
	text     []string // mapped text attributes checked for UTF-8
}

// NewMapper builds the mapper of tree t (defaults applied by config).
func NewMapper(t config.Tree) *Mapper {
	m := &Mapper{tree: t.Name, a: t.Attributes, extra: t.ExtraAttributes, extraNms: t.ExtraNames(), required: t.RequiredAttributes}
	for name, src := range t.Attributes.Map() {
		if name != "guid" && src != "" {
			m.text = append(m.text, src)
		}
	}
	for _, src := range t.ExtraAttributes {
		m.text = append(m.text, src)
	}
	return m
}

// Attributes is the tree's mapping.
func (m *Mapper) Attributes() config.Attributes { return m.a }

// checkUTF8 returns the first mapped attribute with a value that is not UTF-8.
func (m *Mapper) checkUTF8(e Attrs) (attr, value string, bad bool) {
	for _, src := range m.text {
		for _, v := range e.Get(src) {
			if !utf8.ValidString(v) {
				return src, v, true
			}
		}
	}
	return "", "", false
}

func (m *Mapper) reject(kind, partition, dn, id, code, reason, detail string) *records.Reject {
	return &records.Reject{Tree: m.tree, Partition: partition, DN: dn, SourceID: id, Kind: kind, Code: code, Reason: reason, Detail: truncate(detail, 200)}
}

// common maps the id, GUID and timestamps shared by accounts and groups.
func (m *Mapper) common(kind, partition, dn string, e Attrs) (id, guid string, mod, cre *time.Time, rej *records.Reject) {
	id = first(e.Get(m.a.UUID))
	if strings.TrimSpace(id) == "" {
		return "", "", nil, nil, m.reject(kind, partition, dn, "", "missing_attribute", "the entry has no stable id ("+m.a.UUID+"); it cannot be tracked across runs", m.a.UUID)
	}
	if a, v, bad := m.checkUTF8(e); bad {
		return "", "", nil, nil, m.reject(kind, partition, dn, id, "bad_utf8", "attribute "+a+" holds a value that is not valid UTF-8", a+"="+fmt.Sprintf("%q", v))
	}
	if g := e.Get(m.a.GUID); len(g) > 0 {
		s, err := GUIDText(g[0])
		if err != nil {
			return "", "", nil, nil, m.reject(kind, partition, dn, id, "bad_value", fmt.Sprintf("%s: %v", m.a.GUID, err), m.a.GUID+"="+fmt.Sprintf("%q", g[0]))
		}
		guid = s
	}
	for _, f := range []struct {
		attr string
		dst  **time.Time
	}{{m.a.Modified, &mod}, {m.a.Created, &cre}} {
		v := first(e.Get(f.attr))
		if v == "" {
			continue
		}
		t, err := ParseTime(v)
		if err != nil {
			return "", "", nil, nil, m.reject(kind, partition, dn, id, "bad_value", fmt.Sprintf("%s: %v", f.attr, err), f.attr+"="+v)
		}
		*f.dst = &t
	}
	return id, guid, mod, cre, nil
}

// Account maps a user entry. A non-nil Reject means the entry is not a row.
func (m *Mapper) Account(partition, dn string, e Attrs) (records.Account, *records.Reject) {
	id, guid, mod, cre, rej := m.common("account", partition, dn, e)
	if rej != nil {
		return records.Account{}, rej
	}
	a := m.a
	acc := records.Account{
		Tree: m.tree, Partition: partition, DN: dn, SourceID: id, ObjectGUID: guid, ModifiedAt: mod, CreatedAt: cre,
		Login: e.Get(a.Login), Mail: e.Get(a.Mail), GivenName: e.Get(a.GivenName), Surname: e.Get(a.Surname),
		DisplayName: e.Get(a.DisplayName), EmployeeID: e.Get(a.EmployeeID), Title: e.Get(a.Title),
		Department: e.Get(a.Department), Company: e.Get(a.Company), Country: e.Get(a.Country), City: e.Get(a.City),
		Manager: e.Get(a.Manager), ExternalID: e.Get(a.ExternalID), Disabled: e.Get(a.Disabled),
		Locked: e.Get(a.Locked), ServiceAccount: e.Get(a.ServiceAccount), MemberOf: e.Get(a.MemberOf),
	}
	for _, name := range m.extraNms {
		if v := e.Get(m.extra[name]); len(v) > 0 {
			if acc.Extra == nil {
				acc.Extra = map[string][]string{}
			}
			acc.Extra[name] = v
		}
	}
	for _, r := range m.required {
		if !hasValue(logical(acc, r)) {
			return records.Account{}, m.reject("account", partition, dn, id, "missing_attribute", "required attribute "+r+" is empty or absent", r)
		}
	}
	return acc, nil
}

// Group maps a group entry and returns its member values (the mapping's
// member attribute, oTMember by default) as read. MemberCount is the number
// of member values.
func (m *Mapper) Group(partition, dn string, e Attrs) (records.Group, []string, *records.Reject) {
	id, guid, mod, cre, rej := m.common("group", partition, dn, e)
	if rej != nil {
		return records.Group{}, nil, rej
	}
	members := e.Get(m.a.Member)
	g := records.Group{
		Tree: m.tree, Partition: partition, DN: dn, SourceID: id, ObjectGUID: guid,
		Name: first(e.Get(m.a.GroupName)), DisplayName: e.Get(m.a.DisplayName), Description: e.Get(m.a.Description),
		ModifiedAt: mod, CreatedAt: cre, MemberCount: int64(len(members)),
	}
	if g.Name == "" {
		return records.Group{}, nil, m.reject("group", partition, dn, id, "missing_attribute", "the group has no name ("+m.a.GroupName+")", m.a.GroupName)
	}
	return g, members, nil
}

// logical returns the values of logical name n on an account.
func logical(a records.Account, n string) []string {
	switch n {
	case "login":
		return a.Login
	case "mail":
		return a.Mail
	case "given_name":
		return a.GivenName
	case "surname":
		return a.Surname
	case "display_name":
		return a.DisplayName
	case "employee_id":
		return a.EmployeeID
	case "title":
		return a.Title
	case "department":
		return a.Department
	case "company":
		return a.Company
	case "country":
		return a.Country
	case "city":
		return a.City
	case "manager":
		return a.Manager
	case "external_id":
		return a.ExternalID
	case "disabled":
		return a.Disabled
	case "locked":
		return a.Locked
	case "service_account":
		return a.ServiceAccount
	case "member_of":
		return a.MemberOf
	case "guid":
		if a.ObjectGUID != "" {
			return []string{a.ObjectGUID}
		}
		return nil
	case "modified":
		if a.ModifiedAt != nil {
			return []string{"x"}
		}
		return nil
	case "created":
		if a.CreatedAt != nil {
			return []string{"x"}
		}
		return nil
	}
	return a.Extra[n]
}

func hasValue(vs []string) bool {
	for _, v := range vs {
		if strings.TrimSpace(v) != "" {
			return true
		}
	}
	return false
}

func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// GUIDText turns an oTObjectGUID value into canonical UUID text: 16 raw
// bytes (LDAP/LDIF binary), base64 of 16 bytes (REST) or UUID text. The bytes
// are taken in order (no AD mixed-endian swap).
func GUIDText(v string) (string, error) {
	var b []byte
	switch {
	case len(v) == 16:
		b = []byte(v)
	case len(v) == 24 && strings.HasSuffix(v, "=="):
		d, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(d) != 16 {
			return "", fmt.Errorf("not a 16-byte GUID (base64)")
		}
		b = d
	case len(v) == 36 && v[8] == '-' && v[13] == '-' && v[18] == '-' && v[23] == '-':
		d, err := hex.DecodeString(strings.ReplaceAll(v, "-", ""))
		if err != nil {
			return "", fmt.Errorf("not a GUID (UUID text with non-hex digits)")
		}
		b = d
	default:
		return "", fmt.Errorf("not a GUID: want 16 bytes, base64 of 16 bytes or UUID text, got %d bytes", len(v))
	}
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32], nil
}

// ParseTime parses an LDAP GeneralizedTime (20220901070000Z, with optional
// fraction and offset) or an RFC 3339 time (OTDS REST), returned in UTC.
func ParseTime(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if strings.Contains(v, "-") && strings.Contains(v, "T") {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return time.Time{}, fmt.Errorf("not an RFC 3339 time: %q", v)
		}
		return t.UTC(), nil
	}
	for _, layout := range []string{"20060102150405Z0700", "20060102150405.999999999Z0700", "200601021504Z0700", "2006010215Z0700"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("not a GeneralizedTime: %q", v)
}
