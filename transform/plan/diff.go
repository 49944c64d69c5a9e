package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/transform/plan/policyconf"
)

// Baseline sources.
const (
	BaselinePull     = "pull"          // Highspot's actual state, read back by pull
	BaselinePrevious = "previous_plan" // no pull: the previous plan's desired state
	BaselineNone     = "none"          // first run: Highspot is assumed empty
)

// Baseline is Highspot's state the plan is computed against.
type Baseline struct {
	Source string // pull | previous_plan | none
	RunID  string // run that published it ("" for none)
	Users  []contract.HighspotUser
	Groups []contract.HighspotGroup
}

// BaselineFromDesired turns a previous plan's desired state into a baseline
// (the fallback when no pull exists: the last plan is assumed applied).
func BaselineFromDesired(runID string, prev []contract.DesiredUser) Baseline {
	b := Baseline{Source: BaselinePrevious, RunID: runID, Users: make([]contract.HighspotUser, 0, len(prev))}
	for i := range prev {
		d := &prev[i]
		b.Users = append(b.Users, contract.HighspotUser{Email: d.Email, Name: d.Name, Surname: d.Surname,
			DisplayName: d.DisplayName, Suspended: d.Suspended, GroupNames: d.Groups})
	}
	return b
}

// State is what one plan carries to the next besides desired_users.
type State struct {
	// Previous is the previous plan's desired_users (nil on a first run).
	Previous []contract.DesiredUser
	// LeaverSince maps a leaver's email to the day (YYYY-MM-DD) it was first
	// seen leaving; used for leavers.grace_days.
	LeaverSince map[string]string
}

// Joiner, Mover and Leaver are the report's views of the use cases.
type Joiner struct {
	Email, Tree, Role, Region string
	Groups, Onboarding        []string
	Reactivated               bool
}

// Mover is an existing user whose managed groups change.
type Mover struct {
	Email, Tree                   string
	RoleBefore, RoleAfter         string
	RegionBefore, RegionAfter     string
	GroupsBefore, GroupsAfter     []string
	Added, Removed, NewOnboarding []string
}

// Leaver is a user suspended now, or pending until its grace period ends.
type Leaver struct {
	Email, Tree, Reason string
	Since               string // first seen leaving (YYYY-MM-DD)
	PendingUntil        string // "" when suspended by this plan
}

// Plan is the result of Diff.
type Plan struct {
	Desired     []contract.DesiredUser // in-scope persons in input order, then carried leavers
	Changes     []contract.Change      // in Seq order
	LeaverSince map[string]string
	Joiners     []Joiner
	Movers      []Mover
	Leavers     []Leaver
	// Untouched counts Highspot users the plan leaves alone, by reason
	// (protected, unmanaged: not known to have been provisioned by this tool).
	Untouched map[string]int
	// UntouchedUsers names them (with the Highspot groups they hold).
	UntouchedUsers []UntouchedUser
	// MissingGroups are managed groups a change needs that the pull did not find in Highspot.
	MissingGroups []string
	// Duplicates are addresses of persons skipped because an earlier person
	// has the same address (resolve should have merged or split them).
	Duplicates []string
	SHA256     string
}

// UntouchedUser is one active Highspot user the plan leaves alone.
type UntouchedUser struct {
	Email  string   `json:"email"`
	Reason string   `json:"reason"` // protected | unmanaged
	Groups []string `json:"groups,omitempty"`
}

// Change order within the plan: phase, then op, then email, then group.
var opOrder = map[string]int{
	contract.OpCreateGroup: -1, contract.OpCreateUser: 0, contract.OpUpdateUser: 1, contract.OpReactivateUser: 2,
	contract.OpAddMember: 3, contract.OpRemoveMember: 4, contract.OpSuspendUser: 5,
}

func phaseOf(op string) int32 {
	switch op {
	case contract.OpAddMember, contract.OpRemoveMember:
		return 2
	case contract.OpSuspendUser:
		return 3
	}
	return 1
}

// ChangeID is the deterministic id of a change: sha256 of op, email, group
// and the after value, truncated to 16 bytes (32 hex digits).
func ChangeID(op, email, group, after string) string {
	h := sha256.New()
	for _, s := range []string{op, email, group, after} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// profile is the payload of create_user and update_user changes (apply reads
// it back with contract.ParseProfile).
type profile = contract.Profile

// Diff computes the change set that brings baseline to the desired state.
// It is pure: same inputs, same plan (ids, order and hash).
//
// Decisions (see docs): only managed groups are edited; protected users are
// never changed; Highspot users the directory does not know are suspended only
// when a previous plan managed them (hand-made admin users are safe); a
// disabled in-scope person is suspended whether or not we created them; a
// suspended user's memberships are left as they are; onboarding groups are
// added on the configured events and kept while their rule still matches.
//
// Each person is decided on its own (match, then onboarding, profile, access
// and leaver decisions, see decidePerson); the report's joiners and movers
// are read off each person's changes afterwards (see reportPerson).
func Diff(ev *Evaluation, base Baseline, st State, pol *Policy, now time.Time) *Plan {
	d := newDiffer(base, st, pol, now)
	d.p.Desired = make([]contract.DesiredUser, 0, len(ev.Wants))
	for wi := range ev.Wants {
		d.want(&ev.Wants[wi])
	}
	d.unclaimed(ev)
	return d.finish()
}

// differ is one Diff in progress: the baseline index (which claims Highspot
// users as persons match them), the interned onboarding outcomes and the
// plan being assembled.
type differ struct {
	pol      *Policy
	base     Baseline
	ix       *index
	clock    graceClock
	groupID  map[string]string
	onbCache map[onbKey]*onbGrant
	missing  map[string]bool
	p        *Plan
}

func newDiffer(base Baseline, st State, pol *Policy, now time.Time) *differ {
	d := &differ{pol: pol, base: base, ix: newIndex(base.Users, st.Previous),
		clock:   graceClock{now: now, days: pol.Conf.Leavers.GraceDays, since: st.LeaverSince},
		groupID: make(map[string]string, len(base.Groups)), onbCache: map[onbKey]*onbGrant{}, missing: map[string]bool{},
		p: &Plan{LeaverSince: map[string]string{}, Untouched: map[string]int{}}}
	for _, g := range base.Groups {
		d.groupID[strings.ToLower(g.Name)] = g.HighspotID
	}
	return d
}

// want decides one in-scope person and records the outcome.
func (d *differ) want(w *Want) {
	m, ok := d.ix.match(w)
	if !ok {
		d.p.Duplicates = append(d.p.Duplicates, w.User.Email) // another person has this address
		return
	}
	d.record(decidePerson(w, m, d.pol, d.clock, d.grant))
}

// grant is the interned onboarding outcome of w for the candidates in mask.
func (d *differ) grant(w *Want, mask uint64) *onbGrant {
	key := onbKey{&w.Onboard[0], mask}
	f := d.onbCache[key]
	if f == nil {
		f = withOnboarding(w, mask)
		d.onbCache[key] = f
	}
	return f
}

// unclaimed decides the Highspot users no in-scope person claimed: leavers,
// or left alone.
func (d *differ) unclaimed(ev *Evaluation) {
	n := 0
	for i := range d.base.Users {
		if !d.ix.claimed[i] && !d.base.Users[i].Suspended {
			n++
		}
	}
	d.p.Desired = slices.Grow(d.p.Desired, n)
	for i := range d.base.Users {
		b := &d.base.Users[i]
		if d.ix.claimed[i] || b.Suspended {
			continue
		}
		email := strings.ToLower(b.Email)
		protected := d.pol.protect[email] || ev.Protected[email] != ""
		d.record(decideUnclaimed(b, d.ix.prevOf(email), protected, ev.Excluded[email], d.pol.Conf, d.clock))
	}
}

// record adds one person's outcome to the plan: its changes (numbered and
// bound to Highspot group ids), its desired row, and its report entries.
func (d *differ) record(o personPlan) {
	p := d.p
	if o.leaver != nil {
		if o.leaver.PendingUntil != "" {
			p.LeaverSince[o.leaver.Email] = o.leaver.Since
		}
		p.Leavers = append(p.Leavers, *o.leaver)
	}
	if o.untouched != nil {
		p.Untouched[o.untouched.Reason]++
		p.UntouchedUsers = append(p.UntouchedUsers, *o.untouched)
	}
	for _, ch := range o.changes {
		d.emit(ch)
	}
	if j, m := reportPerson(&o, d.pol); j != nil {
		p.Joiners = append(p.Joiners, *j)
	} else if m != nil {
		p.Movers = append(p.Movers, *m)
	}
	if o.keep {
		p.Desired = append(p.Desired, o.desired)
	}
}

func (d *differ) emit(ch contract.Change) {
	ch.Phase = phaseOf(ch.Op)
	ch.ChangeID = ChangeID(ch.Op, ch.Email, ch.Group, ch.After)
	if ch.Group != "" {
		ch.GroupID = d.groupID[strings.ToLower(ch.Group)]
		if ch.GroupID == "" && d.base.Source == BaselinePull && ch.Op == contract.OpAddMember {
			d.missing[ch.Group] = true
		}
	}
	d.p.Changes = append(d.p.Changes, ch)
}

// finish adds the create_group changes, orders and hashes the changes.
func (d *differ) finish() *Plan {
	p := d.p
	for g := range d.missing {
		p.MissingGroups = append(p.MissingGroups, g)
	}
	sort.Strings(p.MissingGroups)
	if d.pol.CreateMissingGroups {
		for _, g := range p.MissingGroups {
			d.emit(contract.Change{Op: contract.OpCreateGroup, Group: g, Before: `{"exists":false}`, After: `{"exists":true}`,
				Rule:   "highspot.create_missing_groups",
				Reason: fmt.Sprintf("managed group %s is granted by the policy and does not exist in Highspot", g)})
		}
	}
	sortChanges(p.Changes)
	p.SHA256 = ChangesSHA256(p.Changes)
	return p
}

// personPlan is what the diff decides for one person or Highspot user: the
// changes (without phase, id, group id and seq: the differ adds them), the
// desired row and what the report needs besides the changes.
type personPlan struct {
	desired   contract.DesiredUser
	keep      bool // publish desired as a desired_users row
	changes   []contract.Change
	leaver    *Leaver
	untouched *UntouchedUser
	// For the report: the onboarding event, the groups the Highspot user
	// held (canonical spelling; nil without one), the onboarding groups this
	// plan adds, and the previous plan's row.
	event  string
	have   []string
	newOnb []string
	pv     *contract.DesiredUser
}

// decidePerson decides one in-scope person matched to m: onboarding, then
// (unless protected) the disabled-leaver, profile and access decisions.
// grant interns an onboarding outcome (see withOnboarding).
func decidePerson(w *Want, m match, pol *Policy, clock graceClock, grant func(*Want, uint64) *onbGrant) personPlan {
	c := pol.Conf
	o := personPlan{desired: w.User, keep: true, pv: m.pv}
	u := &o.desired
	u.Email = m.email
	b := m.b
	if b != nil {
		o.have = pol.canonList(b.GroupNames)
	}
	o.event = onboardingEvent(b, m.pv, &w.User)
	var prevOnb []string
	if m.pv != nil {
		prevOnb = m.pv.Onboarding
	}
	var mask uint64
	mask, o.newOnb = onboarding(w, o.event, o.have, prevOnb)
	if mask != 0 {
		f := grant(w, mask)
		u.Groups, u.GroupRules, u.Onboarding = f.groups, f.rules, f.onboarding
	}

	if u.Protected {
		if b != nil {
			o.untouched = &UntouchedUser{Email: b.Email, Reason: "protected", Groups: b.GroupNames}
		}
		return o
	}
	if w.Disabled && c.Leavers.OnDisabled() {
		if b == nil || b.Suspended {
			u.Suspended = true
			o.keep = b != nil || m.pv != nil
			return o
		}
		g := clock.decide(u.Email)
		o.leaver = &Leaver{Email: u.Email, Tree: u.Tree, Reason: ReasonDisabled, Since: g.since, PendingUntil: g.pendingUntil}
		if g.due() {
			u.Suspended = true
			u.Groups, u.GroupRules, u.Onboarding = b.GroupNames, nil, nil
			o.changes = append(o.changes, contract.Change{Op: contract.OpSuspendUser, PersonID: u.PersonID, Email: u.Email, Tree: u.Tree, HighspotID: b.HighspotID,
				Before: `{"suspended":false}`, After: `{"suspended":true}`, Rule: "leavers.suspend_when_disabled",
				Reason: "disabled in the directory"})
			return o
		}
		// within grace: stays active with its current access
	}
	o.changes = profileChanges(u, b, o.changes)
	o.changes = accessChanges(u, b, o.have, o.event, pol, o.changes)
	return o
}

// match is a person's Highspot user and previous desired row.
type match struct {
	email string                 // the desired user's address: the Highspot user's when matched
	b     *contract.HighspotUser // nil: no Highspot user
	pv    *contract.DesiredUser  // the previous plan's row, nil when none
}

// index finds baseline users and previous desired rows by address; it
// remembers which baseline users persons claimed and which addresses
// persons without one take, so that a second person with one address is a
// duplicate.
type index struct {
	slots   map[string]slot // lower-case email -> positions
	users   []contract.HighspotUser
	prev    []contract.DesiredUser
	claimed []bool
	created map[string]bool // wanted emails with no baseline user
}

func newIndex(users []contract.HighspotUser, prev []contract.DesiredUser) *index {
	x := &index{slots: make(map[string]slot, max(len(users), len(prev))), users: users, prev: prev,
		claimed: make([]bool, len(users)), created: map[string]bool{}}
	for i := range users {
		x.slots[strings.ToLower(users[i].Email)] = slot{base: int32(i), prev: -1}
	}
	for i := range prev {
		e := prev[i].Email
		sl, ok := x.slots[e]
		if !ok {
			sl.base = -1
		}
		sl.prev = int32(i)
		x.slots[e] = sl
	}
	return x
}

func (x *index) prevOf(email string) *contract.DesiredUser {
	if sl, ok := x.slots[email]; ok && sl.prev >= 0 {
		return &x.prev[sl.prev]
	}
	return nil
}

// match finds w's Highspot user (by its address, else by any address it
// has that no one claimed yet) and previous row, and claims the user. ok is
// false when an earlier person already has the address.
func (x *index) match(w *Want) (m match, ok bool) {
	email := w.User.Email
	bi := -1
	sl, found := x.slots[email]
	if found && sl.base >= 0 && x.claimed[sl.base] {
		return m, false
	}
	if found && sl.base >= 0 {
		bi = int(sl.base)
	} else {
		for _, e := range w.Emails {
			if s, ok := x.slots[strings.ToLower(e)]; ok && s.base >= 0 && !x.claimed[s.base] {
				bi = int(s.base)
				break
			}
		}
	}
	if bi < 0 {
		if x.created[email] {
			return m, false
		}
		x.created[email] = true
	}
	m.email = email
	if bi >= 0 {
		x.claimed[bi] = true
		m.b = &x.users[bi]
		m.email = strings.ToLower(m.b.Email)
	}
	if found && sl.prev >= 0 && m.email == email {
		m.pv = &x.prev[sl.prev]
	} else {
		m.pv = x.prevOf(m.email)
		if m.pv == nil && m.email != email {
			m.pv = x.prevOf(email)
		}
	}
	return m, true
}

// onboardingEvent is "join" for a person without an active Highspot user,
// "move" when role, region or rule-granted groups changed since the previous
// plan, else "".
func onboardingEvent(b *contract.HighspotUser, pv, u *contract.DesiredUser) string {
	switch {
	case b == nil || b.Suspended:
		return "join"
	case pv != nil && (pv.Role != u.Role || pv.Region != u.Region || !sameStrings(withoutOnboarding(pv), u.Groups)):
		return "move"
	}
	return ""
}

// onboarding picks the onboarding candidates of w that are in: triggered by
// event, already held in Highspot (have) or granted by the previous plan
// (prevOnb). mask has bit i for w.Onboard[i]; newOnb are the groups in that
// Highspot does not hold yet. Outcomes are interned by (rule set, mask).
func onboarding(w *Want, event string, have, prevOnb []string) (mask uint64, newOnb []string) {
	for i, o := range w.Onboard {
		if i >= 64 {
			break
		}
		if _, dup := w.User.GroupRules[o.Group]; dup {
			continue
		}
		held := slices.Contains(have, o.Group)
		triggered := (event == "join" && o.Join) || (event == "move" && o.Move)
		if triggered || held || slices.Contains(prevOnb, o.Group) {
			mask |= 1 << i
			if !held && !slices.Contains(newOnb, o.Group) {
				newOnb = append(newOnb, o.Group)
			}
		}
	}
	return mask, newOnb
}

// profileChanges appends the user changes u needs against its Highspot user
// b (nil: none): create_user, or reactivate_user and/or update_user.
func profileChanges(u *contract.DesiredUser, b *contract.HighspotUser, out []contract.Change) []contract.Change {
	want := profile{Name: u.Name, Surname: u.Surname, DisplayName: u.DisplayName}
	if b == nil {
		return append(out, contract.Change{Op: contract.OpCreateUser, PersonID: u.PersonID, Email: u.Email, Tree: u.Tree,
			After: want.JSON(), Rule: u.ScopeRule,
			Reason: fmt.Sprintf("joiner: in scope (rule %s) in tree %s with no Highspot user", u.ScopeRule, u.Tree)})
	}
	if b.Suspended {
		out = append(out, contract.Change{Op: contract.OpReactivateUser, PersonID: u.PersonID, Email: u.Email, Tree: u.Tree, HighspotID: b.HighspotID,
			Before: `{"suspended":true}`, After: `{"suspended":false}`, Rule: u.ScopeRule,
			Reason: "active and in scope in the directory again"})
	}
	if got := (profile{Name: b.Name, Surname: b.Surname, DisplayName: b.DisplayName}); got != want {
		out = append(out, contract.Change{Op: contract.OpUpdateUser, PersonID: u.PersonID, Email: u.Email, Tree: u.Tree, HighspotID: b.HighspotID,
			Before: got.JSON(), After: want.JSON(), Rule: "profile",
			Reason: "profile changed in the directory: " + profileDelta(got, want)})
	}
	return out
}

// accessChanges appends the membership changes u needs: add_member for each
// granted group Highspot does not hold (have), remove_member for each
// managed group it holds that no rule grants any more.
func accessChanges(u *contract.DesiredUser, b *contract.HighspotUser, have []string, event string, pol *Policy, out []contract.Change) []contract.Change {
	hi := ""
	if b != nil {
		hi = b.HighspotID
	}
	for _, g := range u.Groups {
		if slices.Contains(have, g) {
			continue
		}
		rule := u.GroupRules[g]
		reason := fmt.Sprintf("rule %s grants %s", rule, g)
		if slices.Contains(u.Onboarding, g) {
			reason = fmt.Sprintf("onboarding rule %s grants %s on %s", rule, g, event)
		}
		out = append(out, contract.Change{Op: contract.OpAddMember, PersonID: u.PersonID, Email: u.Email, Tree: u.Tree, HighspotID: hi,
			Group: g, Before: `{"member":false}`, After: `{"member":true}`, Rule: rule, Reason: reason})
	}
	if b == nil {
		return out
	}
	for _, g := range have {
		if _, granted := u.GroupRules[g]; pol.Managed(g) && !granted {
			out = append(out, contract.Change{Op: contract.OpRemoveMember, PersonID: u.PersonID, Email: u.Email, Tree: u.Tree, HighspotID: hi,
				Group: g, Before: `{"member":true}`, After: `{"member":false}`, Rule: "managed_groups",
				Reason: fmt.Sprintf("no rule grants %s any more (role %s, region %s)", g, u.Role, u.Region)})
		}
	}
	return out
}

// decideUnclaimed decides an active Highspot user no in-scope person
// claimed: left alone when protected or not provisioned by a previous plan
// (pv nil or protected), else a leaver (missing from the directory, or
// excluded: out of scope or a service account) suspended when its rule is
// on and its grace period is over. The previous row is carried meanwhile.
func decideUnclaimed(b *contract.HighspotUser, pv *contract.DesiredUser, protected bool, excluded string, c *policyconf.Policy, clock graceClock) personPlan {
	var o personPlan
	if protected {
		o.untouched = &UntouchedUser{Email: b.Email, Reason: "protected", Groups: b.GroupNames}
		return o
	}
	if pv == nil || pv.Protected {
		o.untouched = &UntouchedUser{Email: b.Email, Reason: "unmanaged", Groups: b.GroupNames}
		return o
	}
	email := strings.ToLower(b.Email)
	reason := excluded
	if reason == "" {
		reason = ReasonMissing
	}
	enabled := c.Leavers.OnMissing()
	rule := "leavers.suspend_when_missing"
	text := "no longer in the directory"
	if reason != ReasonMissing {
		enabled = c.Leavers.OnOutOfScope()
		rule = "leavers.suspend_when_out_of_scope"
		text = fmt.Sprintf("out of scope (rule %s no longer matches)", c.Scope.Name)
		if reason == ReasonService {
			text = "now a service account (service accounts get no Highspot user)"
		}
	}
	o.keep, o.pv = true, pv
	o.desired = *pv
	o.desired.Groups, o.desired.Suspended = b.GroupNames, false
	if !enabled {
		return o
	}
	g := clock.decide(email)
	o.leaver = &Leaver{Email: email, Tree: pv.Tree, Reason: reason, Since: g.since, PendingUntil: g.pendingUntil}
	if !g.due() {
		return o
	}
	o.desired.Suspended = true
	o.desired.GroupRules, o.desired.Onboarding = nil, nil
	o.changes = append(o.changes, contract.Change{Op: contract.OpSuspendUser, PersonID: pv.PersonID, Email: email, Tree: pv.Tree, HighspotID: b.HighspotID,
		Before: `{"suspended":false}`, After: `{"suspended":true}`, Rule: rule, Reason: text})
	return o
}

// graceClock decides leavers.grace_days: since maps a leaver's email to the
// day it was first seen leaving (the previous plan's leaver dates).
type graceClock struct {
	now   time.Time
	days  int
	since map[string]string
}

// grace is one leaver's grace decision.
type grace struct {
	since        string // first seen leaving (YYYY-MM-DD)
	pendingUntil string // "" when the suspension is due now
}

func (g grace) due() bool { return g.pendingUntil == "" }

// decide is the grace decision for email: due now, or pending until the
// grace period since it was first seen leaving (today when never) ends.
func (c graceClock) decide(email string) grace {
	today := c.now.UTC().Format("2006-01-02")
	since := c.since[email]
	if since == "" {
		since = today
	}
	d, err := time.Parse("2006-01-02", since)
	if err != nil {
		d, since = c.now, today
	}
	until := d.AddDate(0, 0, c.days)
	if c.days > 0 && c.now.Before(until) {
		return grace{since: since, pendingUntil: until.Format("2006-01-02")}
	}
	return grace{since: since}
}

// reportPerson reads a person's report entry off its changes: a joiner when
// it gets a Highspot user (create_user) or gets one back (reactivate_user),
// else a mover when its memberships change.
func reportPerson(o *personPlan, pol *Policy) (*Joiner, *Mover) {
	u := &o.desired
	var added, removed []string
	joined, reactivated := false, false
	for i := range o.changes {
		switch ch := &o.changes[i]; ch.Op {
		case contract.OpCreateUser:
			joined = true
		case contract.OpReactivateUser:
			joined, reactivated = true, true
		case contract.OpAddMember:
			added = append(added, ch.Group)
		case contract.OpRemoveMember:
			removed = append(removed, ch.Group)
		}
	}
	switch {
	case joined:
		return &Joiner{Email: u.Email, Tree: u.Tree, Role: u.Role, Region: u.Region,
			Groups: u.Groups, Onboarding: u.Onboarding, Reactivated: reactivated}, nil
	case len(added)+len(removed) > 0:
		m := &Mover{Email: u.Email, Tree: u.Tree, RoleAfter: u.Role, RegionAfter: u.Region,
			GroupsAfter: managedOnly(pol, u.Groups), GroupsBefore: managedOnly(pol, sortedCopy(o.have)),
			Added: added, Removed: removed, NewOnboarding: o.newOnb}
		if o.pv != nil {
			m.RoleBefore, m.RegionBefore = o.pv.Role, o.pv.Region
		} else {
			m.RoleBefore, m.RegionBefore = u.Role, u.Region
		}
		return nil, m
	}
	return nil, nil
}

// sortChanges orders changes (phase, op, email, group) and numbers them.
func sortChanges(cs []contract.Change) {
	sort.Slice(cs, func(i, j int) bool {
		a, b := &cs[i], &cs[j]
		if a.Phase != b.Phase {
			return a.Phase < b.Phase
		}
		if a.Op != b.Op {
			return opOrder[a.Op] < opOrder[b.Op]
		}
		if a.Email != b.Email {
			return a.Email < b.Email
		}
		return a.Group < b.Group
	})
	for i := range cs {
		cs[i].Seq = int64(i + 1)
	}
}

// ChangesSHA256 is the plan hash: sha256 over the canonical change list (one
// JSON object per change, in Seq order, newline-terminated). See
// contract.ChangesSHA256, which apply uses on what it executes.
func ChangesSHA256(cs []contract.Change) string { return contract.ChangesSHA256(cs) }

func profileDelta(a, b profile) string {
	var f []string
	if a.Name != b.Name {
		f = append(f, "name")
	}
	if a.Surname != b.Surname {
		f = append(f, "surname")
	}
	if a.DisplayName != b.DisplayName {
		f = append(f, "display_name")
	}
	return strings.Join(f, ", ")
}

func withoutOnboarding(d *contract.DesiredUser) []string {
	if len(d.Onboarding) == 0 {
		return d.Groups
	}
	out := make([]string, 0, len(d.Groups))
	for _, g := range d.Groups {
		if !slices.Contains(d.Onboarding, g) {
			out = append(out, g)
		}
	}
	return out
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

func managedOnly(pol *Policy, gs []string) []string {
	var out []string
	for _, g := range gs {
		if pol.Managed(g) {
			out = append(out, g)
		}
	}
	return out
}

// slot locates an email in the baseline users and the previous desired rows (-1: absent).
type slot struct{ base, prev int32 }

// onbKey identifies an onboarding outcome: the interned candidate list of a
// rule set and which candidates are in.
type onbKey struct {
	first *Onboard
	mask  uint64
}

type onbGrant struct {
	groups, onboarding []string
	rules              map[string]string
}

// withOnboarding adds the candidates in mask to the want's groups (new
// slices and map: the Evaluation is never written to).
func withOnboarding(w *Want, mask uint64) *onbGrant {
	f := &onbGrant{rules: maps.Clone(w.User.GroupRules), groups: append([]string(nil), w.User.Groups...)}
	if f.rules == nil {
		f.rules = map[string]string{}
	}
	for i, o := range w.Onboard {
		if i >= 64 || mask&(1<<i) == 0 {
			continue
		}
		if _, dup := f.rules[o.Group]; dup {
			continue
		}
		f.rules[o.Group] = o.Rule
		f.groups = append(f.groups, o.Group)
		f.onboarding = append(f.onboarding, o.Group)
	}
	sort.Strings(f.groups)
	sort.Strings(f.onboarding)
	return f
}
