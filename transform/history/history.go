// Package history owns the identity_history table: a slowly changing
// dimension (SCD type 2) of every person's attribute set and access, derived
// only from published snapshots (transform's persons and, when the run has a
// published plan, plan's desired_users), so it can always be rebuilt.
//
// Each run publishes the whole table (every version of every person, closed
// and open) under stage "history", so the newest run's table alone answers
// "who had which access on date X":
//
//	SELECT * FROM identity_history
//	WHERE run_id = <latest run> AND valid_from <= X AND (valid_to IS NULL OR valid_to > X)
//
// Next is the pure core; Run does the I/O. Run folds a run into the
// previous tables streamed (fold, fold.go): rows are read, advanced and
// written one by one, and only the run's persons are held, compacted.
package history

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/contract"
)

// Access sources recorded in the "access_source" attribute.
const (
	// AccessPlan: groups are the Highspot groups the run's published plan
	// wanted (desired_users); a person the plan left out has no access.
	AccessPlan = "plan"
	// AccessDirectory: the run has no published plan; groups are the person's
	// effective directory groups ("<tree>:<name>").
	AccessDirectory = "directory"
)

// AttributeKeys are the attributes tracked in IdentityHistory.Attributes (email
// and status have their own columns). "access_source" is always set.
var AttributeKeys = []string{"role", "region", "business_unit", "territory", "title", "department", "company", "country", "access_source"}

// Snapshot is one person's tracked state in one run.
type Snapshot struct {
	PersonID   string
	Email      string
	Status     string
	Attributes map[string]string // keys from AttributeKeys; empty values are dropped
	Groups     []string          // access, any order (sorted and de-duplicated by Next)
}

// FromPerson builds a person's snapshot. desired is the plan's desired user
// for the person (nil when the plan left the person out) and planned says
// whether the run has a published plan at all: with a plan, access is the
// desired Highspot groups; without one, the effective directory groups.
func FromPerson(p contract.Person, desired *contract.DesiredUser, planned bool) Snapshot {
	s := Snapshot{
		PersonID: p.PersonID,
		Email:    strings.ToLower(strings.TrimSpace(p.PrimaryEmail)),
		Status:   p.Status,
		Attributes: map[string]string{
			"role":          p.Role,
			"region":        p.Region,
			"business_unit": p.BusinessUnit,
			"territory":     p.Territory,
			"title":         p.Title,
			"department":    p.Department,
			"company":       p.Company,
			"country":       p.Country,
		},
	}
	switch {
	case planned:
		s.Attributes["access_source"] = AccessPlan
		if desired != nil {
			s.Groups = slices.Clone(desired.Groups)
		}
	default:
		s.Attributes["access_source"] = AccessDirectory
		s.Groups = slices.Clone(p.Groups)
	}
	return s
}

// normalize sorts and de-duplicates groups and drops empty attributes, so
// that equal states always hash equal.
func (s Snapshot) normalize() Snapshot {
	attrs := make(map[string]string, len(s.Attributes))
	for k, v := range s.Attributes {
		if v = strings.TrimSpace(v); v != "" {
			attrs[k] = v
		}
	}
	s.Attributes = attrs
	g := make([]string, 0, len(s.Groups))
	for _, x := range s.Groups {
		if x != "" {
			g = append(g, x)
		}
	}
	sort.Strings(g)
	s.Groups = slices.Compact(g)
	return s
}

// Hash is the hex sha256 (first 32 digits) of a snapshot's canonical form:
// email, status, sorted attributes and sorted groups, each length-prefixed so
// no two different states can encode the same.
func Hash(s Snapshot) string {
	s = s.normalize()
	h := sha256.New()
	put := func(v string) {
		var n [8]byte
		l := uint64(len(v))
		for i := range n {
			n[i] = byte(l >> (8 * i))
		}
		h.Write(n[:])
		h.Write([]byte(v))
	}
	put("v1")
	put(s.Email)
	put(s.Status)
	keys := make([]string, 0, len(s.Attributes))
	for k := range s.Attributes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	put("attributes")
	for _, k := range keys {
		put(k)
		put(s.Attributes[k])
	}
	put("groups")
	for _, g := range s.Groups {
		put(g)
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// Next folds one run into the history. prev is the whole table as of the
// previous run (closed and open rows); current is every person in this run;
// at is when this run's snapshot was taken (see RunTime). It returns the
// whole new table, sorted by person_id then valid_from:
//
//   - closed rows are kept as they are;
//   - an open row whose person is unchanged stays open (same run_id);
//   - an open row whose person changed is closed at `at` and a new row opens;
//   - an open row whose person vanished (a leaver) is closed at `at`;
//   - a person with no open row (a joiner, or a returner) gets a new row.
//
// A person listed twice in current counts once (the first). Open rows whose
// valid_from is not before `at` (the run was already folded) are kept as they
// are, so folding the same run twice changes nothing.
func Next(prev []contract.IdentityHistory, current []Snapshot, runID string, at time.Time) []contract.IdentityHistory {
	at = at.UTC().Truncate(time.Microsecond) // what Parquet keeps
	cur := make(map[string]Snapshot, len(current))
	order := make([]string, 0, len(current))
	for _, s := range current {
		if s.PersonID == "" {
			continue
		}
		if _, dup := cur[s.PersonID]; dup {
			continue
		}
		cur[s.PersonID] = s.normalize()
		order = append(order, s.PersonID)
	}

	out := make([]contract.IdentityHistory, 0, len(prev)+len(current))
	hasOpen := map[string]bool{}
	for _, r := range prev {
		if r.ValidTo != nil {
			out = append(out, r)
			continue
		}
		if !r.ValidFrom.Before(at) {
			out = append(out, r) // folded already (or a later run): leave it
			hasOpen[r.PersonID] = true
			continue
		}
		s, present := cur[r.PersonID]
		if present && Hash(s) == r.Hash {
			out = append(out, r)
			hasOpen[r.PersonID] = true
			continue
		}
		closed := r
		to := at
		closed.ValidTo = &to
		out = append(out, closed)
	}
	for _, id := range order {
		if hasOpen[id] {
			continue
		}
		s := cur[id]
		out = append(out, contract.IdentityHistory{
			PersonID:    s.PersonID,
			Email:       s.Email,
			Status:      s.Status,
			Attributes:  s.Attributes,
			Groups:      s.Groups,
			Hash:        Hash(s),
			ValidFrom:   at,
			OpenedRunID: runID,
		})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].PersonID != out[j].PersonID {
			return out[i].PersonID < out[j].PersonID
		}
		return out[i].ValidFrom.Before(out[j].ValidFrom)
	})
	return out
}

// AccessOn answers "who had which access at t" from a history table: the
// rows valid at t (valid_from <= t < valid_to, or still open).
func AccessOn(h []contract.IdentityHistory, t time.Time) []contract.IdentityHistory {
	var out []contract.IdentityHistory
	for _, r := range h {
		if !r.ValidFrom.After(t) && (r.ValidTo == nil || r.ValidTo.After(t)) {
			out = append(out, r)
		}
	}
	return out
}

// RunTime is when a run's snapshot was taken: the timestamp in a run id of
// the form 20261125T235959Z-..., else midnight UTC of its leading date. ok is
// false when the run id has neither.
func RunTime(runID string) (t time.Time, ok bool) {
	if len(runID) >= 16 {
		if t, err := time.Parse("20060102T150405Z", runID[:16]); err == nil {
			return t.UTC(), true
		}
	}
	if len(runID) >= 8 {
		if t, err := time.Parse("20060102", runID[:8]); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// Row is the stored form of an identity_history row.
type Row = contract.IdentityHistory
