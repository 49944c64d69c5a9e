package ldif

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/go-ldap/ldap/v3"
	"github.com/sirupsen/logrus"

	"github.com/otds-highspot/otds-highspot/extract"
	"github.com/otds-highspot/otds-highspot/internal/config"
	"github.com/otds-highspot/otds-highspot/internal/records"
)

// Opener opens the LDIF export at path (a local file or a store object).
type Opener func(ctx context.Context, path string) (io.ReadCloser, error)

// Source reads one tree from an LDIF export, streamed.
type Source struct {
	tree   config.Tree
	open   Opener
	log    logrus.FieldLogger
	mapper *Mapper
	base   *ldap.DN
}

// New returns the ldif source of tree (config defaults applied). open is
// given tree.LDIF.Path.
func New(tree config.Tree, open func(ctx context.Context, path string) (io.ReadCloser, error), log logrus.FieldLogger) (extract.Source, error) {
	if open == nil {
		return nil, fmt.Errorf("tree %s: ldif source needs an open function", tree.Name)
	}
	baseDN := tree.LDIF.BaseDN
	if baseDN == "" {
		baseDN = config.DefaultBaseDN
	}
	base, err := ldap.ParseDN(baseDN)
	if err != nil {
		return nil, fmt.Errorf("tree %s: ldif.base_dn %q does not parse: %w", tree.Name, baseDN, err)
	}
	if tree.LDIF.UserObjectClass == "" {
		tree.LDIF.UserObjectClass = config.DefaultUserClass
	}
	if tree.LDIF.GroupObjectClass == "" {
		tree.LDIF.GroupObjectClass = config.DefaultGroupClass
	}
	return &Source{tree: tree, open: open, log: log.WithField("tree", tree.Name), mapper: NewMapper(tree), base: base}, nil
}

// Counts of what one Read saw, for the log.
type counts struct{ accounts, groups, members, rejects, skipped int }

// Read streams the export and emits accounts, groups, member values and
// rejects. It returns nil only when the whole file was read.
func (s *Source) Read(ctx context.Context, sink extract.Sink) error {
	rc, err := s.open(ctx, s.tree.LDIF.Path)
	if err != nil {
		return fmt.Errorf("tree %s: open ldif %q: %w", s.tree.Name, s.tree.LDIF.Path, err)
	}
	defer rc.Close()
	r := NewReader(rc)
	var c counts
	for n := 0; ; n++ {
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("tree %s: read ldif %q: %w", s.tree.Name, s.tree.LDIF.Path, err)
			}
		}
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var rerr *RecordError
		if errors.As(err, &rerr) {
			if err := s.rejectRecord(rerr, sink, &c); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("tree %s: read ldif %q: %w", s.tree.Name, s.tree.LDIF.Path, err)
		}
		if err := s.entry(e, sink, &c); err != nil {
			return fmt.Errorf("tree %s: %w", s.tree.Name, err)
		}
	}
	s.log.WithFields(logrus.Fields{"accounts": c.accounts, "groups": c.groups, "member_values": c.members, "rejects": c.rejects, "skipped": c.skipped}).Info("ldif read complete")
	return nil
}

// kind classifies an entry: "account", "group" or "" (not in scope).
func (s *Source) kind(e *Entry) string {
	switch {
	case e.HasObjectClass(s.tree.LDIF.UserObjectClass):
		return "account"
	case e.HasObjectClass(s.tree.LDIF.GroupObjectClass):
		return "group"
	}
	return ""
}

// Scope says where a DN lies: its partition and whether the tree publishes it.
func Scope(tree *config.Tree, base *ldap.DN, dn *ldap.DN) (partition string, in bool) {
	if base != nil && !base.AncestorOfFold(dn) {
		return "", false
	}
	p, ok := PartitionOf(dn)
	if !ok {
		return "", false
	}
	return p, tree.IncludesPartition(p)
}

// PartitionOf returns the value of the RDN directly below
// ou=IdentityProviders, the OTDS partition of an entry.
func PartitionOf(dn *ldap.DN) (string, bool) {
	for i := len(dn.RDNs) - 1; i > 0; i-- {
		r := dn.RDNs[i]
		if len(r.Attributes) == 1 && strings.EqualFold(r.Attributes[0].Type, "ou") && strings.EqualFold(r.Attributes[0].Value, "IdentityProviders") {
			p := dn.RDNs[i-1]
			if len(p.Attributes) == 0 {
				return "", false
			}
			return p.Attributes[0].Value, true
		}
	}
	return "", false
}

func (s *Source) entry(e *Entry, sink extract.Sink, c *counts) error {
	kind := s.kind(e)
	if kind == "" {
		c.skipped++
		return nil
	}
	dn, err := ldap.ParseDN(e.DN)
	if err != nil {
		c.rejects++
		return sink.Reject(records.Reject{Tree: s.tree.Name, DN: e.DN, SourceID: first(e.Get(s.mapper.a.UUID)), Kind: kind, Code: "bad_dn",
			Reason: fmt.Sprintf("the DN does not parse (%v); fix the entry in the source", err), Detail: fmt.Sprintf("ldif line %d", e.Line)})
	}
	partition, in := Scope(&s.tree, s.base, dn)
	if !in {
		c.skipped++
		return nil
	}
	if kind == "account" {
		acc, rej := s.mapper.Account(partition, e.DN, e)
		if rej != nil {
			c.rejects++
			return sink.Reject(*rej)
		}
		c.accounts++
		return sink.Account(acc)
	}
	g, members, rej := s.mapper.Group(partition, e.DN, e)
	if rej != nil {
		c.rejects++
		return sink.Reject(*rej)
	}
	c.groups++
	if err := sink.Group(g); err != nil {
		return err
	}
	for _, m := range members {
		c.members++
		if err := sink.Member(g.DN, g.SourceID, partition, m, ""); err != nil {
			return err
		}
	}
	return nil
}

// rejectRecord reports a malformed record when it could be in scope: entries
// whose object class shows they are not users or groups, and entries outside
// the tree's partitions, are skipped silently.
func (s *Source) rejectRecord(rerr *RecordError, sink extract.Sink, c *counts) error {
	kind := "entry"
	partition := ""
	id := ""
	if rerr.Entry != nil {
		if len(rerr.Entry.Get("objectClass")) > 0 {
			kind = s.kind(rerr.Entry)
			if kind == "" {
				c.skipped++
				return nil
			}
		}
		id = first(rerr.Entry.Get(s.mapper.a.UUID))
	}
	if rerr.DN != "" {
		if dn, err := ldap.ParseDN(rerr.DN); err == nil {
			p, in := Scope(&s.tree, s.base, dn)
			if !in {
				c.skipped++
				return nil
			}
			partition = p
		}
	}
	c.rejects++
	s.log.WithFields(logrus.Fields{"line": rerr.Line, "code": rerr.Code}).Warn("ldif record rejected")
	return sink.Reject(records.Reject{Tree: s.tree.Name, Partition: partition, DN: rerr.DN, SourceID: id, Kind: kind, Code: rerr.Code,
		Reason: rerr.Reason, Detail: fmt.Sprintf("ldif line %d", rerr.Line)})
}
