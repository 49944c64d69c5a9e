// Package ldiftest owns test helpers shared by the ldif and otdsrest source
// tests: an in-memory extract.Sink that keeps every row, and the comparison
// form of a tree's rows used by the source-equivalence tests.
package ldiftest

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/otds-highspot/otds-highspot/extract/entry"
	"github.com/otds-highspot/otds-highspot/internal/contract"
)

// Member is one Sink.Member call.
type Member struct {
	GroupDN, GroupSourceID, Partition, MemberDN, MemberSourceID string
}

// Sink keeps every row in memory (tests only). Safe for concurrent use.
type Sink struct {
	mu       sync.Mutex
	Accounts []contract.Account
	Groups   []contract.Group
	Members  []Member
	Rejects  []contract.Reject
}

func (s *Sink) Account(a contract.Account) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Accounts = append(s.Accounts, a)
	return nil
}

func (s *Sink) Group(g contract.Group) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Groups = append(s.Groups, g)
	return nil
}

func (s *Sink) Member(groupDN, groupSourceID, partition, memberDN, memberSourceID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Members = append(s.Members, Member{groupDN, groupSourceID, partition, memberDN, memberSourceID})
	return nil
}

func (s *Sink) Reject(r contract.Reject) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Rejects = append(s.Rejects, r)
	return nil
}

// FindAccount returns the account with first login value login in
// partition, or nil.
func (s *Sink) FindAccount(partition, login string) *contract.Account {
	for i := range s.Accounts {
		a := &s.Accounts[i]
		if a.Partition == partition && len(a.Login) > 0 && a.Login[0] == login {
			return a
		}
	}
	return nil
}

// FindGroup returns the group named name in partition, or nil.
func (s *Sink) FindGroup(partition, name string) *contract.Group {
	for i := range s.Groups {
		if g := &s.Groups[i]; g.Partition == partition && g.Name == name {
			return g
		}
	}
	return nil
}

// Rows is the comparison form of one source's rows, used to show that two
// sources read the same data. What is normalized and why:
//   - DNs are compared parsed (attribute types and values case-folded,
//     escapes undone): LDAP servers re-escape (R&D\, -> R&D\2C).
//   - member_of values become the group's source id: LDAP/LDIF carry group
//     DNs, OTDS REST carries pseudo-DNs oTGroup=<uuid>,...; a value that
//     names no group read becomes "dangling:<dn>".
//   - disabled / locked become true/false (any value equal-fold "true"):
//     REST always sends accountDisabled/accountLockedOut ("false" when not
//     set) and lower-cases them, LDAP sends the stored value or nothing.
//   - group members are resolved to (source id, kind); member values that
//     point nowhere are listed in Dangling (REST cannot return them: OTDS
//     keeps no member that does not exist), and member_count counts only
//     resolved members.
//
// Every other field is compared as read.
type Rows struct {
	Accounts    []string
	Groups      []string
	Memberships []string
	Dangling    []string
	Rejects     []string
}

// CanonDN is the comparison form of a DN (entry.Norm; "" when it does not
// parse).
func CanonDN(s string) string {
	dn, err := entry.ParseDN(s)
	if err != nil {
		return ""
	}
	return strings.NewReplacer("\x00", ",", "\x01", "=", "\x02", "+").Replace(entry.Norm(dn))
}

func truthy(vs []string) bool {
	for _, v := range vs {
		if strings.EqualFold(strings.TrimSpace(v), "true") {
			return true
		}
	}
	return false
}

func ts(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// Canonical returns the comparison form of the rows in s.
func Canonical(s *Sink) Rows {
	byDN := map[string]string{}   // canonical DN -> source id
	kindOf := map[string]string{} // source id -> user|group
	groupByDN := map[string]string{}
	for _, a := range s.Accounts {
		byDN[CanonDN(a.DN)] = a.SourceID
		kindOf[a.SourceID] = "user"
	}
	for _, g := range s.Groups {
		byDN[CanonDN(g.DN)] = g.SourceID
		groupByDN[CanonDN(g.DN)] = g.SourceID
		kindOf[g.SourceID] = "group"
	}
	var out Rows
	dangling := map[string]int64{}
	for _, m := range s.Members {
		id, label := m.MemberSourceID, m.MemberSourceID
		if id == "" {
			id, label = byDN[CanonDN(m.MemberDN)], CanonDN(m.MemberDN)
		}
		k, ok := kindOf[id]
		if !ok {
			out.Dangling = append(out.Dangling, m.GroupSourceID+" -> "+label)
			dangling[m.GroupSourceID]++
			continue
		}
		out.Memberships = append(out.Memberships, fmt.Sprintf("%s|%s -> %s (%s)", m.Partition, m.GroupSourceID, id, k))
	}
	for _, a := range s.Accounts {
		c := a
		c.DN = CanonDN(a.DN)
		c.MemberOf = nil
		for _, v := range a.MemberOf {
			c.MemberOf = append(c.MemberOf, memberOfID(v, groupByDN))
		}
		sort.Strings(c.MemberOf)
		c.Disabled = []string{fmt.Sprint(truthy(a.Disabled))}
		c.Locked = []string{fmt.Sprint(truthy(a.Locked))}
		c.ModifiedAt, c.CreatedAt = nil, nil
		out.Accounts = append(out.Accounts, fmt.Sprintf("%+v modified=%s created=%s", c, ts(a.ModifiedAt), ts(a.CreatedAt)))
	}
	for _, g := range s.Groups {
		c := g
		c.DN = CanonDN(g.DN)
		c.MemberCount = g.MemberCount - dangling[g.SourceID]
		c.ModifiedAt, c.CreatedAt = nil, nil
		out.Groups = append(out.Groups, fmt.Sprintf("%+v modified=%s created=%s", c, ts(g.ModifiedAt), ts(g.CreatedAt)))
	}
	for _, r := range s.Rejects {
		out.Rejects = append(out.Rejects, fmt.Sprintf("%s|%s|%s|%s", r.Partition, CanonDN(r.DN), r.Kind, r.Code))
	}
	for _, l := range [][]string{out.Accounts, out.Groups, out.Memberships, out.Dangling, out.Rejects} {
		sort.Strings(l)
	}
	return out
}

// memberOfID maps an oTMemberOf value (group DN or REST pseudo-DN
// oTGroup=<uuid>,...) to the group's source id.
func memberOfID(v string, groupByDN map[string]string) string {
	dn, err := ldap.ParseDN(v)
	if err != nil {
		return "unparsable:" + v
	}
	if len(dn.RDNs) > 0 && len(dn.RDNs[0].Attributes) == 1 && strings.EqualFold(dn.RDNs[0].Attributes[0].Type, "oTGroup") {
		return dn.RDNs[0].Attributes[0].Value
	}
	if id, ok := groupByDN[CanonDN(v)]; ok {
		return id
	}
	return "dangling:" + CanonDN(v)
}
