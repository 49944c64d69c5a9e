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
	"github.com/otds-highspot/otds-highspot/internal/records"
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
	Users  []records.HighspotUser
	Groups []records.HighspotGroup
}

// BaselineFromDesired turns a previous plan's desired state into a baseline
// (the fallback when no pull exists: the last plan is assumed applied).
func BaselineFromDesired(runID string, prev []records.DesiredUser) Baseline {
	b := Baseline{Source: BaselinePrevious, RunID: runID, Users: make([]records.HighspotUser, 0, len(prev))}
	for i := range prev {
		d := &prev[i]
		b.Users = append(b.Users, records.HighspotUser{Email: d.Email, Name: d.Name, Surname: d.Surname,
			DisplayName: d.DisplayName, Suspended: d.Suspended, GroupNames: d.Groups})
	}
	return b
}

// State is what one plan carries to the next besides desired_users.
type State struct {
	// Previous is the previous plan's desired_users (nil on a first run).
	Previous []records.DesiredUser
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
	Desired     []records.DesiredUser // in-scope persons in input order, then carried leavers
	Changes     []records.Change      // in Seq order
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
	records.OpCreateGroup: -1, records.OpCreateUser: 0, records.OpUpdateUser: 1, records.OpReactivateUser: 2,
	records.OpAddMember: 3, records.OpRemoveMember: 4, records.OpSuspendUser: 5,
}

func phaseOf(op string) int32 {
	switch op {
	case records.OpAddMember, records.OpRemoveMember:
		return 2
	case records.OpSuspendUser:
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
func Diff(ev *Evaluation, base Baseline, st State, pol *Policy, now time.Time) *Plan {
	c := pol.Conf
	today := now.UTC().Format("2006-01-02")
	p := &Plan{LeaverSince: map[string]string{}, Untouched: map[string]int{}}

	// One index for both lookups: email -> baseline user and previous row.
	idx := make(map[string]slot, max(len(base.Users), len(st.Previous)))
	for i := range base.Users {
		idx[strings.ToLower(base.Users[i].Email)] = slot{base: int32(i), prev: -1}
	}
	for i := range st.Previous {
		e := st.Previous[i].Email
		sl, ok := idx[e]
		if !ok {
			sl.base = -1
		}
		sl.prev = int32(i)
		idx[e] = sl
	}
	prevOf := func(email string) *records.DesiredUser {
		if sl, ok := idx[email]; ok && sl.prev >= 0 {
			return &st.Previous[sl.prev]
		}
		return nil
	}
	groupID := make(map[string]string, len(base.Groups))
	for _, g := range base.Groups {
		groupID[strings.ToLower(g.Name)] = g.HighspotID
	}
	claimed := make([]bool, len(base.Users))
	onbCache := map[onbKey]*onbGrant{}
	created := map[string]bool{} // wanted emails with no baseline user
	missing := map[string]bool{}

	emit := func(ch records.Change) {
		ch.Phase = phaseOf(ch.Op)
		ch.ChangeID = ChangeID(ch.Op, ch.Email, ch.Group, ch.After)
		if ch.Group != "" {
			ch.GroupID = groupID[strings.ToLower(ch.Group)]
			if ch.GroupID == "" && base.Source == BaselinePull && ch.Op == records.OpAddMember {
				missing[ch.Group] = true
			}
		}
		p.Changes = append(p.Changes, ch)
	}
	// leaverDue decides the grace period: true when the suspension is due now.
	leaverDue := func(email, tree, reason string) bool {
		since := st.LeaverSince[email]
		if since == "" {
			since = today
		}
		d, err := time.Parse("2006-01-02", since)
		if err != nil {
			d, since = now, today
		}
		until := d.AddDate(0, 0, c.Leavers.GraceDays)
		if c.Leavers.GraceDays > 0 && now.Before(until) {
			p.LeaverSince[email] = since
			p.Leavers = append(p.Leavers, Leaver{Email: email, Tree: tree, Reason: reason, Since: since, PendingUntil: until.Format("2006-01-02")})
			return false
		}
		p.Leavers = append(p.Leavers, Leaver{Email: email, Tree: tree, Reason: reason, Since: since})
		return true
	}

	p.Desired = make([]records.DesiredUser, 0, len(ev.Wants))
	for wi := range ev.Wants {
		w := &ev.Wants[wi]
		u := w.User // copy; becomes the desired row
		bi := -1
		sl, ok := idx[u.Email]
		if ok && sl.base >= 0 && claimed[sl.base] {
			p.Duplicates = append(p.Duplicates, u.Email) // another person has this address
			continue
		}
		if ok && sl.base >= 0 {
			bi = int(sl.base)
		} else {
			for _, e := range w.Emails {
				if sl, ok := idx[strings.ToLower(e)]; ok && sl.base >= 0 && !claimed[sl.base] {
					bi = int(sl.base)
					break
				}
			}
		}
		if bi < 0 {
			if created[u.Email] {
				p.Duplicates = append(p.Duplicates, u.Email)
				continue
			}
			created[u.Email] = true
		}
		var b *records.HighspotUser
		if bi >= 0 {
			claimed[bi] = true
			b = &base.Users[bi]
			u.Email = strings.ToLower(b.Email)
		}
		var pv *records.DesiredUser
		if ok && sl.prev >= 0 && u.Email == w.User.Email {
			pv = &st.Previous[sl.prev]
		} else {
			pv = prevOf(u.Email)
			if pv == nil && u.Email != w.User.Email {
				pv = prevOf(w.User.Email)
			}
		}
		var haveList []string
		if b != nil {
			haveList = pol.canonList(b.GroupNames)
		}
		have := func(g string) bool { return containsStr(haveList, g) }
		// Onboarding: event, then which candidate groups are in.
		event := ""
		switch {
		case b == nil || b.Suspended:
			event = "join"
		case pv != nil && (pv.Role != u.Role || pv.Region != u.Region || !sameStrings(withoutOnboarding(pv), u.Groups)):
			event = "move"
		}
		var prevOnb []string
		if pv != nil {
			prevOnb = pv.Onboarding
		}
		// Onboarding candidates that are in: triggered by this event, or
		// already granted. Outcomes are interned by (rule set, candidates in).
		var newOnb []string
		var mask uint64
		for i, o := range w.Onboard {
			if i >= 64 {
				break
			}
			if _, dup := w.User.GroupRules[o.Group]; dup {
				continue
			}
			triggered := (event == "join" && o.Join) || (event == "move" && o.Move)
			if triggered || have(o.Group) || containsStr(prevOnb, o.Group) {
				mask |= 1 << i
				if !have(o.Group) && !containsStr(newOnb, o.Group) {
					newOnb = append(newOnb, o.Group)
				}
			}
		}
		if mask != 0 {
			key := onbKey{&w.Onboard[0], mask}
			f := onbCache[key]
			if f == nil {
				f = withOnboarding(w, mask)
				onbCache[key] = f
			}
			u.Groups, u.GroupRules, u.Onboarding = f.groups, f.rules, f.onboarding
		}

		if u.Protected {
			if b != nil {
				p.Untouched["protected"]++
				p.UntouchedUsers = append(p.UntouchedUsers, UntouchedUser{Email: b.Email, Reason: "protected", Groups: b.GroupNames})
			}
			p.Desired = append(p.Desired, u)
			continue
		}
		if w.Disabled && c.Leavers.OnDisabled() {
			if b == nil || b.Suspended {
				u.Suspended = true
				if b != nil || pv != nil {
					p.Desired = append(p.Desired, u)
				}
				continue
			}
			if leaverDue(u.Email, u.Tree, ReasonDisabled) {
				u.Suspended = true
				u.Groups, u.GroupRules, u.Onboarding = b.GroupNames, nil, nil
				emit(records.Change{Op: records.OpSuspendUser, PersonID: u.PersonID, Email: u.Email, Tree: u.Tree, HighspotID: b.HighspotID,
					Before: `{"suspended":false}`, After: `{"suspended":true}`, Rule: "leavers.suspend_when_disabled",
					Reason: "disabled in the directory"})
				p.Desired = append(p.Desired, u)
				continue
			}
			// within grace: stays active with its current access
		}
		want := profile{Name: u.Name, Surname: u.Surname, DisplayName: u.DisplayName}
		if b == nil {
			emit(records.Change{Op: records.OpCreateUser, PersonID: u.PersonID, Email: u.Email, Tree: u.Tree,
				After: want.JSON(), Rule: u.ScopeRule,
				Reason: fmt.Sprintf("joiner: in scope (rule %s) in tree %s with no Highspot user", u.ScopeRule, u.Tree)})
		} else {
			if b.Suspended {
				emit(records.Change{Op: records.OpReactivateUser, PersonID: u.PersonID, Email: u.Email, Tree: u.Tree, HighspotID: b.HighspotID,
					Before: `{"suspended":true}`, After: `{"suspended":false}`, Rule: u.ScopeRule,
					Reason: "active and in scope in the directory again"})
			}
			got := profile{Name: b.Name, Surname: b.Surname, DisplayName: b.DisplayName}
			if got != want {
				emit(records.Change{Op: records.OpUpdateUser, PersonID: u.PersonID, Email: u.Email, Tree: u.Tree, HighspotID: b.HighspotID,
					Before: got.JSON(), After: want.JSON(), Rule: "profile",
					Reason: "profile changed in the directory: " + profileDelta(got, want)})
			}
		}
		hi := ""
		if b != nil {
			hi = b.HighspotID
		}
		var added, removed []string
		for _, g := range u.Groups {
			if !have(g) {
				added = append(added, g)
				rule := u.GroupRules[g]
				reason := fmt.Sprintf("rule %s grants %s", rule, g)
				if containsStr(u.Onboarding, g) {
					reason = fmt.Sprintf("onboarding rule %s grants %s on %s", rule, g, event)
				}
				emit(records.Change{Op: records.OpAddMember, PersonID: u.PersonID, Email: u.Email, Tree: u.Tree, HighspotID: hi,
					Group: g, Before: `{"member":false}`, After: `{"member":true}`, Rule: rule, Reason: reason})
			}
		}
		if b != nil {
			for _, g := range haveList {
				if _, granted := u.GroupRules[g]; pol.Managed(g) && !granted {
					removed = append(removed, g)
					emit(records.Change{Op: records.OpRemoveMember, PersonID: u.PersonID, Email: u.Email, Tree: u.Tree, HighspotID: hi,
						Group: g, Before: `{"member":true}`, After: `{"member":false}`, Rule: "managed_groups",
						Reason: fmt.Sprintf("no rule grants %s any more (role %s, region %s)", g, u.Role, u.Region)})
				}
			}
		}
		switch {
		case b == nil || b.Suspended:
			p.Joiners = append(p.Joiners, Joiner{Email: u.Email, Tree: u.Tree, Role: u.Role, Region: u.Region,
				Groups: u.Groups, Onboarding: u.Onboarding, Reactivated: b != nil})
		case len(added)+len(removed) > 0:
			m := Mover{Email: u.Email, Tree: u.Tree, RoleAfter: u.Role, RegionAfter: u.Region,
				GroupsAfter: managedOnly(pol, u.Groups), GroupsBefore: managedOnly(pol, sortedCopy(haveList)),
				Added: added, Removed: removed, NewOnboarding: newOnb}
			if pv != nil {
				m.RoleBefore, m.RegionBefore = pv.Role, pv.Region
			} else {
				m.RoleBefore, m.RegionBefore = u.Role, u.Region
			}
			p.Movers = append(p.Movers, m)
		}
		p.Desired = append(p.Desired, u)
	}

	// Highspot users no in-scope person claimed: leavers, or left alone.
	unclaimed := 0
	for i := range base.Users {
		if !claimed[i] && !base.Users[i].Suspended {
			unclaimed++
		}
	}
	p.Desired = slices.Grow(p.Desired, unclaimed)
	for i := range base.Users {
		if claimed[i] {
			continue
		}
		b := &base.Users[i]
		email := strings.ToLower(b.Email)
		if b.Suspended {
			continue
		}
		if pol.protect[email] || ev.Protected[email] != "" {
			p.Untouched["protected"]++
			p.UntouchedUsers = append(p.UntouchedUsers, UntouchedUser{Email: b.Email, Reason: "protected", Groups: b.GroupNames})
			continue
		}
		pv := prevOf(email)
		if pv == nil || pv.Protected {
			p.Untouched["unmanaged"]++
			p.UntouchedUsers = append(p.UntouchedUsers, UntouchedUser{Email: b.Email, Reason: "unmanaged", Groups: b.GroupNames})
			continue
		}
		reason := ev.Excluded[email]
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
		keep := *pv
		keep.Groups = b.GroupNames
		if !enabled || !leaverDue(email, pv.Tree, reason) {
			keep.Suspended = false
			p.Desired = append(p.Desired, keep)
			continue
		}
		keep.Suspended = true
		keep.GroupRules, keep.Onboarding = nil, nil
		emit(records.Change{Op: records.OpSuspendUser, PersonID: pv.PersonID, Email: email, Tree: pv.Tree, HighspotID: b.HighspotID,
			Before: `{"suspended":false}`, After: `{"suspended":true}`, Rule: rule, Reason: text})
		p.Desired = append(p.Desired, keep)
	}
	for g := range missing {
		p.MissingGroups = append(p.MissingGroups, g)
	}
	sort.Strings(p.MissingGroups)
	if pol.CreateMissingGroups {
		for _, g := range p.MissingGroups {
			emit(records.Change{Op: records.OpCreateGroup, Group: g, Before: `{"exists":false}`, After: `{"exists":true}`,
				Rule:   "highspot.create_missing_groups",
				Reason: fmt.Sprintf("managed group %s is granted by the policy and does not exist in Highspot", g)})
		}
	}
	sortChanges(p.Changes)
	p.SHA256 = ChangesSHA256(p.Changes)
	return p
}

// sortChanges orders changes (phase, op, email, group) and numbers them.
func sortChanges(cs []records.Change) {
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
// records.ChangesSHA256, which apply uses on what it executes.
func ChangesSHA256(cs []records.Change) string { return records.ChangesSHA256(cs) }

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

func withoutOnboarding(d *records.DesiredUser) []string {
	if len(d.Onboarding) == 0 {
		return d.Groups
	}
	out := make([]string, 0, len(d.Groups))
	for _, g := range d.Groups {
		if !containsStr(d.Onboarding, g) {
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
