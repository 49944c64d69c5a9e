package history

import (
	"strings"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/contract"
)

// Handoff carries a run's persons and published desired_users from the plan
// stage to Run in the same process, so that Run does not decode the persons
// and desired_users tables again. The plan feeds it (AddPerson for every
// person it reads, then Planned once its plan is published); Run uses it only
// when it was fed from exactly the transform and plan manifests Run reads
// itself, and reads the tables otherwise.
type Handoff struct {
	cur       *current
	broken    bool // a person without an id (Run then reads the table, as it orders such persons)
	transform artifact.Ref
	plan      artifact.Ref
	desired   map[string]uint32
}

// NewHandoff returns an empty Handoff.
func NewHandoff() *Handoff {
	return &Handoff{cur: newCurrent()}
}

// AddPerson records the tracked columns of one person of the run's
// transform, in table order.
func (h *Handoff) AddPerson(p *contract.Person) {
	if h == nil || h.broken {
		return
	}
	if p.PersonID == "" {
		h.broken = true
		return
	}
	email := strings.ToLower(strings.TrimSpace(p.PrimaryEmail))
	vals := [nAttrs]string{p.Role, p.Region, p.BusinessUnit, p.Territory, p.Title, p.Department, p.Company, p.Country, AccessPlan}
	h.cur.addPending(p.PersonID, email, p.Status, &vals)
}

// Planned records the published plan (its manifest ref, and the transform
// ref it read the persons from) and its desired_users, as published.
func (h *Handoff) Planned(transform, plan artifact.Ref, desired []contract.DesiredUser) {
	if h == nil {
		return
	}
	h.transform, h.plan = transform, plan
	h.desired = make(map[string]uint32, len(desired))
	for i := range desired {
		d := &desired[i]
		if _, dup := h.desired[d.PersonID]; !dup {
			h.desired[d.PersonID] = h.cur.groupSet(d.Groups)
		}
	}
}

// take returns the current the handoff holds for a run whose transform and
// published plan are tref and pref (nil when it was not fed from those),
// and personOf for the addresses in lookup, as currentOf builds them. The
// handoff is spent.
func (h *Handoff) take(tref, pref artifact.Ref, lookup map[string]struct{}) (*current, map[string]string) {
	if h == nil || h.broken || h.desired == nil || h.transform.Key != tref.Key || h.transform.SHA256 != tref.SHA256 ||
		h.plan.Key != pref.Key || h.plan.SHA256 != pref.SHA256 {
		return nil, nil
	}
	cur, desired := h.cur, h.desired
	*h = Handoff{broken: true}
	personOf := make(map[string]string, len(lookup))
	for i := range cur.people {
		p := &cur.people[i]
		p.groups = desired[p.id] // 0 (no groups) when the plan left the person out
		cur.hashOf(p)
		if _, want := lookup[p.email]; want && p.email != "" {
			if _, dup := personOf[p.email]; !dup {
				personOf[p.email] = p.id
			}
		}
	}
	cur.sorted()
	return cur, personOf
}
