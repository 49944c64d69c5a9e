// Package pull owns stage pull: a snapshot of Highspot (highspot_users,
// highspot_groups; every page paced and retried by a load.Caller) and its
// drift from the directory and the desired state (drift, drift.md).
package pull

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/config"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/load"
)

// Drift kinds.
const (
	DriftUnknownUser       = "unknown_user"
	DriftSuspension        = "suspension_mismatch"
	DriftManualMembership  = "manual_membership"
	DriftMissingMembership = "missing_membership"
)

// PullOptions tunes RunPull.
type PullOptions struct {
	// ManagedGroups overrides policy.managed_groups when set.
	ManagedGroups []string
	// Apply paces and retries the list calls (rate, attempts, backoff); zero = config/defaults.
	Apply load.ApplyOptions
	// MaxListPages is the page budget of each listing (<= 0:
	// DefaultMaxListPages); a listing that needs more fails with ErrListLoop.
	MaxListPages int
	Now          func() time.Time
}

// PullResult is what RunPull published.
type PullResult struct {
	Users, Groups int
	Unverified    int
	Suspended     int
	Drift         []contract.Drift
	DriftByKind   map[string]int
	DirectoryRun  string // run id of the persons compared ("" = none found)
	DesiredRun    string // run id of the desired state compared ("" = none found)
	// Requests counts the HTTP requests of the listings (pages, retries
	// included): about (users + groups)/100 for REST; Retries the retries.
	Requests, Retries int64
	Ref               artifact.Ref
	Manifest          *artifact.Manifest
}

// Snapshot is Highspot's state as read by one pull.
type Snapshot struct {
	Users  []load.User
	Groups []load.Group
	Stats  ListStats
}

// ListStats is what a pull's listings cost.
type ListStats struct {
	Requests int64 // HTTP requests sent (pages, retries included)
	Retries  int64
}

// lister pages through Highspot's groups and users. Each page is paced and
// retried on its own (RetryPage: the applier's retry policy, Retry-After
// honoured), so one failed page never restarts a listing; a listing that
// fails anyway (a page out of attempts, or a server that never ends it:
// ErrListLoop) fails the pull. Every HTTP request is counted.
type lister struct {
	ctx    context.Context
	target load.Target
	caller *load.Caller
}

// newLister prepares the listings of one pull; maxPages is the page budget
// of each listing (<= 0: DefaultMaxListPages).
func newLister(ctx context.Context, target load.Target, opts load.ApplyOptions, maxPages int, log logrus.FieldLogger) *lister {
	opts.SetDefaults()
	a := load.NewCaller(opts, nil, nil, log)
	a.PacePerRequest(target)
	ctx = load.WithListPolicy(ctx, maxPages, func(ctx context.Context, what string, fn func(context.Context) error) error {
		res := a.Call(ctx, what, fn)
		if res.Err != nil && res.Attempts > 1 {
			return fmt.Errorf("%s (after %d attempts): %w", what, res.Attempts, res.Err)
		}
		return res.Err
	})
	return &lister{ctx: ctx, target: target, caller: a}
}

func (l *lister) stats() ListStats {
	return ListStats{Requests: l.caller.Requests(), Retries: l.caller.Retries()}
}

// groups passes every group to fn; users every user (verified and
// unverified). An error of fn stops the listing and is returned as is.
func (l *lister) groups(fn func(load.Group) error) error {
	return l.list("list groups", func(ctx context.Context, stop func(error) error) error {
		return l.target.ListGroups(ctx, func(g load.Group) error { return stop(fn(g)) })
	})
}

func (l *lister) users(fn func(load.User) error) error {
	return l.list("list users", func(ctx context.Context, stop func(error) error) error {
		return l.target.ListUsers(ctx, func(u load.User) error { return stop(fn(u)) })
	})
}

func (l *lister) list(what string, walk func(ctx context.Context, stop func(error) error) error) error {
	var fnErr error
	stop := func(err error) error {
		if err != nil {
			fnErr = err
		}
		return err
	}
	// The whole listing is tried once: its pages are retried one by one.
	res := l.caller.CallN(l.ctx, what, 1, func(ctx context.Context) error { return walk(ctx, stop) })
	if fnErr != nil {
		return fnErr
	}
	if res.Err != nil {
		return pullErr(what, res)
	}
	return nil
}

// ReadSnapshot lists every group and every user (verified and unverified)
// through target into memory (RunPull streams them instead); no partial
// list is returned.
func ReadSnapshot(ctx context.Context, target load.Target, opts load.ApplyOptions, maxPages int, log logrus.FieldLogger) (*Snapshot, error) {
	l := newLister(ctx, target, opts, maxPages, log)
	snap := &Snapshot{}
	if err := l.groups(func(g load.Group) error { snap.Groups = append(snap.Groups, g); return nil }); err != nil {
		return nil, err
	}
	if err := l.users(func(u load.User) error { snap.Users = append(snap.Users, u); return nil }); err != nil {
		return nil, err
	}
	snap.Stats = l.stats()
	return snap, nil
}

func pullErr(what string, res load.CallResult) error {
	err := fmt.Errorf("pull: %s: %w", what, res.Err)
	if res.Class.HTTPStatus == http.StatusUnauthorized || res.Class.HTTPStatus == http.StatusForbidden {
		return exitcode.Wrap(exitcode.Auth, fmt.Errorf("%w; Highspot refused the credentials or the permission: check the highspot credentials and the API user's rights, then re-run pull", err))
	}
	if res.Class.Retryable || errors.Is(res.Err, load.ErrBreakerOpen) {
		return exitcode.Wrap(exitcode.Transient, fmt.Errorf("%w; Highspot is failing, re-run pull later", err))
	}
	return err
}

// RunPull snapshots Highspot into highspot_users and highspot_groups (stage
// "pull"), compares it with the directory (this run's transform persons, else
// the latest) and the latest desired state (this run's plan, else the latest
// earlier one), and publishes the drift table and drift.md.
//
// Users are written as their pages arrive; pull keeps of each only what
// drift needs (driftIndex), and reads of the persons and desired users only
// the columns drift compares, streaming them past that index. So its memory
// follows the number of Highspot users (about 200 bytes each), not the
// directory. The listing itself is a full one (the API has no
// changed-since filter): users/100 page requests (docs/highspot.md).
func RunPull(ctx context.Context, env artifact.Env, cfg *config.Config, target load.Target, opts PullOptions) (*PullResult, error) {
	log := env.Log
	if log == nil {
		log = logrus.New()
	}
	log = log.WithFields(logrus.Fields{"run_id": env.RunID, "stage": string(contract.Pull)})
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	managed := opts.ManagedGroups
	ao := opts.Apply
	if cfg != nil {
		if len(managed) == 0 {
			managed = cfg.Policy.ManagedGroups
		}
		ao = load.MergeOptions(load.OptionsFromConfig(cfg.Apply), ao)
	}
	at := now().UTC()

	stage := artifact.NewStage(env, contract.Pull)
	committed := false
	defer func() {
		if !committed {
			stage.Abort()
		}
	}()
	res := &PullResult{DriftByKind: map[string]int{}}
	isManaged := map[string]bool{}
	for _, g := range managed {
		isManaged[strings.ToLower(g)] = true
	}
	l := newLister(ctx, target, ao, opts.MaxListPages, log)
	var groups []load.Group
	if err := l.groups(func(g load.Group) error { groups = append(groups, g); return nil }); err != nil {
		return nil, err
	}
	gw, err := artifact.OpenTable[contract.HighspotGroup](stage, contract.HighspotGroupsSpec)
	if err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	groupName := map[string]string{}
	for _, g := range groups {
		groupName[g.ID] = g.Name
		if err := gw.Write(contract.HighspotGroup{HighspotID: g.ID, Name: g.Name, Description: g.Description,
			MemberCount: g.MemberCount, Managed: isManaged[strings.ToLower(g.Name)], PulledAt: at}); err != nil {
			return nil, fmt.Errorf("pull: write highspot_groups: %w", err)
		}
	}
	uw, err := artifact.OpenTable[contract.HighspotUser](stage, contract.HighspotUsersSpec)
	if err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	ix := newDriftIndex(managed)
	err = l.users(func(u load.User) error {
		row := contract.HighspotUser{HighspotID: u.ID, Email: strings.ToLower(strings.TrimSpace(u.Email)), Name: u.Name,
			Surname: u.Surname, DisplayName: u.DisplayName, Suspended: u.Suspended, Verified: u.Verified,
			GroupIDs: u.GroupIDs, PulledAt: at}
		if len(u.GroupIDs) > 0 {
			row.GroupNames = make([]string, 0, len(u.GroupIDs))
		}
		for _, id := range u.GroupIDs {
			n, ok := groupName[id]
			if !ok {
				n = id // a group the API user cannot see: keep the id
			}
			row.GroupNames = append(row.GroupNames, n)
		}
		sort.Strings(row.GroupNames)
		if !u.Verified {
			res.Unverified++
		}
		if u.Suspended {
			res.Suspended++
		}
		res.Users++
		if err := uw.Write(row); err != nil {
			return fmt.Errorf("pull: write highspot_users: %w", err)
		}
		ix.addUser(row)
		return nil
	})
	if err != nil {
		return nil, err
	}
	res.Groups = len(groups)
	st := l.stats()
	res.Requests, res.Retries = st.Requests, st.Retries

	// Compare with the directory and the desired state, when published.
	if m, ref, err := findManifest(ctx, env, contract.Transform, true); err != nil {
		return nil, err
	} else if m != nil {
		err := artifact.ReadTable(ctx, env.Store, m, contract.PersonsSpec, func(p driftPerson) error { ix.addPerson(p); return nil })
		if err != nil {
			return nil, fmt.Errorf("pull: read persons of run %s: %w", ref.RunID, err)
		}
		stage.AddInput(ref)
		res.DirectoryRun = ref.RunID
	}
	if m, ref, err := findManifest(ctx, env, contract.Plan, true); err != nil {
		return nil, err
	} else if m != nil {
		err := artifact.ReadTable(ctx, env.Store, m, contract.DesiredUsersSpec, func(d driftDesired) error { ix.addDesired(d); return nil })
		if err != nil {
			return nil, fmt.Errorf("pull: read desired_users of run %s: %w", ref.RunID, err)
		}
		stage.AddInput(ref)
		res.DesiredRun = ref.RunID
	}
	res.Drift = ix.drift(res.DirectoryRun != "", res.DesiredRun != "")
	ix = nil
	dw, err := artifact.OpenTable[contract.Drift](stage, contract.DriftSpec)
	if err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	for _, d := range res.Drift {
		res.DriftByKind[d.Kind]++
		if err := dw.Write(d); err != nil {
			return nil, fmt.Errorf("pull: write drift: %w", err)
		}
	}
	if _, err := stage.PutBlob(ctx, "drift.md", []byte(DriftReport(res))); err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	contract.PutSummary(stage.SetSummary, contract.PullSummary{Users: res.Users, Groups: res.Groups,
		Unverified: res.Unverified, Suspended: res.Suspended, Drift: res.DriftByKind,
		DirectoryRun: res.DirectoryRun, DesiredRun: res.DesiredRun, ManagedGroups: managed,
		Requests: res.Requests, Retries: res.Retries})
	ref, m, err := stage.Commit(ctx)
	if err != nil {
		return nil, fmt.Errorf("pull: commit: %w", err)
	}
	committed = true
	res.Ref, res.Manifest = ref, m
	log.WithFields(logrus.Fields{"users": res.Users, "groups": res.Groups, "drift": len(res.Drift), "requests": res.Requests}).Debug("pull: published")
	return res, nil
}

// findManifest returns this run's manifest of stage, else (when fallback) the
// latest earlier published one; nil when there is none.
func findManifest(ctx context.Context, env artifact.Env, stage contract.Stage, fallback bool) (*artifact.Manifest, artifact.Ref, error) {
	m, ref, err := artifact.ReadManifest(ctx, env.Store, env.RunID, stage)
	if err == nil && m.Status == artifact.StatusPublished {
		return m, ref, nil
	}
	if err != nil && !errors.Is(err, artifact.ErrNotPublished) {
		return nil, artifact.Ref{}, fmt.Errorf("pull: read %s manifest: %w", stage, err)
	}
	if !fallback {
		return nil, artifact.Ref{}, nil
	}
	m, ref, err = artifact.LatestManifest(ctx, env.Store, stage, env.RunID)
	if errors.Is(err, artifact.ErrNotPublished) {
		return nil, artifact.Ref{}, nil
	}
	if err != nil {
		return nil, artifact.Ref{}, fmt.Errorf("pull: find the latest %s manifest: %w", stage, err)
	}
	return m, ref, nil
}

// ComputeDrift compares Highspot users with the directory's persons and the
// desired state (pure). Membership drift is reported for managed groups
// only, and only when a desired state is known; unknown users and
// suspension mismatches only when persons are known.
func ComputeDrift(hs []contract.HighspotUser, persons []contract.Person, desired []contract.DesiredUser, managed []string, havePersons, haveDesired bool) []contract.Drift {
	ix := newDriftIndex(managed)
	for _, u := range hs {
		ix.addUser(u)
	}
	for i := range persons {
		ix.addPerson(driftPerson{PersonID: persons[i].PersonID, PrimaryEmail: persons[i].PrimaryEmail, Emails: persons[i].Emails, Status: persons[i].Status})
	}
	for i := range desired {
		ix.addDesired(driftDesired{PersonID: desired[i].PersonID, Email: desired[i].Email, Groups: desired[i].Groups})
	}
	return ix.drift(havePersons, haveDesired)
}

// driftPerson is the part of a contract.Person drift reads (pull reads only
// these columns of the persons table).
type driftPerson struct {
	PersonID     string   `parquet:"person_id"`
	PrimaryEmail string   `parquet:"primary_email"`
	Emails       []string `parquet:"emails"`
	Status       string   `parquet:"status"`
}

// driftDesired is the part of a contract.DesiredUser drift reads.
type driftDesired struct {
	PersonID string   `parquet:"person_id"`
	Email    string   `parquet:"email"`
	Groups   []string `parquet:"groups"`
}

// driftIndex holds what drift needs of each Highspot user and nothing of
// the directory beyond the persons and desired users those users' emails
// match: persons and desired users are streamed through it, so pull's
// memory follows the Highspot tenant, not the directory.
type driftIndex struct {
	managedName []string          // managed group (as spelled in the policy) by index
	managedIdx  map[string]uint16 // lower-cased managed group -> index
	managedOf   map[string]int32  // group name as spelled -> index (-1: not managed), spares a ToLower per lookup
	users       []driftUser
	slotOf      map[string]int32 // case-folded email -> slot number
	slots       [][]driftSlot    // by slot number, in chunks of slotChunk (growing never copies them)
	nslots      int32
	statuses    map[string]string // interned person statuses
}

// slotChunk is the number of driftSlots per chunk of driftIndex.slots.
const slotChunk = 4096

// maxManagedOf bounds driftIndex.managedOf (a desired state may spell many
// groups; the names are few in practice).
const maxManagedOf = 4096

// driftUser is one Highspot user: its id, email, suspension and the managed
// groups it is in (indexes, in the order of its sorted group names).
type driftUser struct {
	id, email string
	suspended bool
	slot      int32
	in        []uint16
}

// driftSlot is what one email matched: the last person and the last desired
// user with it (as a map by email would keep).
type driftSlot struct {
	personID, status string
	person           bool
	desiredID        string
	desired          bool
	want             []uint16 // managed groups the desired user is granted, in its order
}

func newDriftIndex(managed []string) *driftIndex {
	ix := &driftIndex{managedIdx: map[string]uint16{}, managedOf: map[string]int32{}, slotOf: map[string]int32{}, statuses: map[string]string{}}
	for _, g := range managed {
		lg := strings.ToLower(g)
		if i, ok := ix.managedIdx[lg]; ok {
			ix.managedName[i] = g // the last spelling names it, as before
			continue
		}
		ix.managedIdx[lg] = uint16(len(ix.managedName))
		ix.managedName = append(ix.managedName, g)
	}
	return ix
}

// managed returns the index of group g (matched case-insensitively) among
// the managed groups.
func (ix *driftIndex) managed(g string) (uint16, bool) {
	if i, ok := ix.managedOf[g]; ok {
		return uint16(i), i >= 0
	}
	i, ok := ix.managedIdx[strings.ToLower(g)]
	if len(ix.managedOf) < maxManagedOf {
		v := int32(-1)
		if ok {
			v = int32(i)
		}
		ix.managedOf[strings.Clone(g)] = v
	}
	return i, ok
}

// slot returns slot number i.
func (ix *driftIndex) slot(i int32) *driftSlot { return &ix.slots[i/slotChunk][i%slotChunk] }

// addUser records a Highspot user (Email case-folded, GroupNames sorted).
func (ix *driftIndex) addUser(u contract.HighspotUser) {
	slot, ok := ix.slotOf[u.Email]
	if !ok {
		slot = ix.nslots
		if slot%slotChunk == 0 {
			ix.slots = append(ix.slots, make([]driftSlot, slotChunk))
		}
		ix.nslots++
		ix.slotOf[u.Email] = slot
	}
	du := driftUser{id: u.HighspotID, email: u.Email, suspended: u.Suspended, slot: slot}
	for _, g := range u.GroupNames {
		if i, ok := ix.managed(g); ok {
			du.in = append(du.in, i)
		}
	}
	ix.users = append(ix.users, du)
}

// addPerson matches a person's emails against the Highspot users'.
func (ix *driftIndex) addPerson(p driftPerson) {
	match := func(e string) {
		if e = strings.ToLower(strings.TrimSpace(e)); e == "" {
			return
		}
		if i, ok := ix.slotOf[e]; ok {
			st, ok := ix.statuses[p.Status]
			if !ok {
				st = strings.Clone(p.Status)
				ix.statuses[st] = st
			}
			s := ix.slot(i)
			s.person, s.personID, s.status = true, p.PersonID, st
		}
	}
	match(p.PrimaryEmail)
	for _, e := range p.Emails {
		match(e)
	}
}

// addDesired matches a desired user's email against the Highspot users'.
func (ix *driftIndex) addDesired(d driftDesired) {
	i, ok := ix.slotOf[strings.ToLower(d.Email)]
	if !ok {
		return
	}
	s := ix.slot(i)
	s.desired, s.desiredID, s.want = true, d.PersonID, s.want[:0]
	for _, g := range d.Groups {
		if gi, ok := ix.managed(g); ok {
			s.want = append(s.want, gi)
		}
	}
}

// drift lists the drift of every Highspot user, sorted by kind, email and
// group.
func (ix *driftIndex) drift(havePersons, haveDesired bool) []contract.Drift {
	var out []contract.Drift
	for _, u := range ix.users {
		s := ix.slot(u.slot)
		pid := ""
		if s.person {
			pid = s.personID
		}
		if havePersons {
			switch {
			case !s.person:
				out = append(out, contract.Drift{Kind: DriftUnknownUser, Email: u.email, HighspotID: u.id,
					Detail: "Highspot user with no person in the directory (created by hand, or left the directory)"})
			case s.status == "enabled" && u.suspended:
				out = append(out, contract.Drift{Kind: DriftSuspension, Email: u.email, HighspotID: u.id, PersonID: pid,
					Detail: "directory: enabled; Highspot: suspended"})
			case s.status != "enabled" && s.status != "" && !u.suspended:
				out = append(out, contract.Drift{Kind: DriftSuspension, Email: u.email, HighspotID: u.id, PersonID: pid,
					Detail: fmt.Sprintf("directory: %s; Highspot: active", s.status)})
			}
		}
		if !haveDesired || len(ix.managedName) == 0 {
			continue
		}
		var want []uint16
		if s.desired {
			pid, want = s.desiredID, s.want
		}
		for _, g := range u.in {
			if !slices.Contains(want, g) {
				detail := "member of a managed group the policy does not grant (added by hand)"
				if !s.desired {
					detail = "member of a managed group but not in the desired state (added by hand)"
				}
				out = append(out, contract.Drift{Kind: DriftManualMembership, Email: u.email, HighspotID: u.id,
					PersonID: pid, Group: ix.managedName[g], Detail: detail})
			}
		}
		if s.desired && !u.suspended {
			for _, g := range want {
				if !slices.Contains(u.in, g) {
					out = append(out, contract.Drift{Kind: DriftMissingMembership, Email: u.email, HighspotID: u.id,
						PersonID: pid, Group: ix.managedName[g], Detail: "the policy grants this managed group but the user is not in it (removed by hand, or not applied yet)"})
				}
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		if out[i].Email != out[j].Email {
			return out[i].Email < out[j].Email
		}
		return out[i].Group < out[j].Group
	})
	return out
}

// DriftReport renders drift.md.
func DriftReport(r *PullResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Highspot drift\n\n")
	fmt.Fprintf(&b, "Highspot: %d users (%d unverified, %d suspended), %d groups.\n\n", r.Users, r.Unverified, r.Suspended, r.Groups)
	if r.DirectoryRun == "" {
		b.WriteString("No published directory (transform) was found: unknown users and suspension mismatches were not checked.\n\n")
	} else {
		fmt.Fprintf(&b, "Directory: persons of run %s.\n\n", r.DirectoryRun)
	}
	if r.DesiredRun == "" {
		b.WriteString("No published desired state (plan) was found: managed-group memberships were not checked.\n\n")
	} else {
		fmt.Fprintf(&b, "Desired state: plan of run %s.\n\n", r.DesiredRun)
	}
	if len(r.Drift) == 0 {
		b.WriteString("No drift found.\n")
		return b.String()
	}
	b.WriteString("| kind | count |\n|---|---|\n")
	kinds := make([]string, 0, len(r.DriftByKind))
	for k := range r.DriftByKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Fprintf(&b, "| %s | %d |\n", k, r.DriftByKind[k])
	}
	const maxRows = 500
	b.WriteString("\n| kind | email | group | detail |\n|---|---|---|---|\n")
	for i, d := range r.Drift {
		if i == maxRows {
			fmt.Fprintf(&b, "\n… %d more rows in the drift table.\n", len(r.Drift)-maxRows)
			break
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", d.Kind, mdEscape(d.Email), mdEscape(d.Group), mdEscape(d.Detail))
	}
	return b.String()
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
