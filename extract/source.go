// Package extract owns stage 1: reading OTDS directory trees (LDAP, OTDS REST,
// LDIF) into the raw tables accounts, groups, memberships and rejects, one
// published snapshot per tree, guarded by source-health gates.
package extract

import (
	"context"

	"github.com/otds-highspot/otds-highspot/internal/contract"
)

// Sink receives a tree's rows as the source reads them. Every method may be
// called many times; rows are written as they arrive (memory bounded by the
// source's page size).
type Sink interface {
	Account(contract.Account) error
	Group(contract.Group) error
	// Member reports one direct membership value as read: the group and the
	// member's DN (LDAP/LDIF) or the member's uuid (REST, memberDN empty).
	// The stage resolves members to source ids and kinds after the read.
	Member(groupDN, groupSourceID, partition, memberDN, memberSourceID string) error
	Reject(contract.Reject) error
}

// Source reads one tree. Read returns nil only when the whole tree was read:
// a failed bind, a dropped connection, a size- or time-limit result or a
// cancelled context must return an error, so that nothing is published.
type Source interface {
	Read(ctx context.Context, sink Sink) error
}
