package history

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/contract"
)

// AccessHighspot is the access_source of access_history rows: what Highspot
// held (the pull, advanced by the changes apply made after it), not what the
// policy intended.
const AccessHighspot = "highspot"

// Highspot user states in access_history.status.
const (
	StatusActive    = "active"
	StatusSuspended = "suspended"
)

// Actual is what Highspot held after a run's apply, one snapshot per Highspot
// user: the pull's users and groups, advanced by the applied ledger rows
// (oldest first) of the applies that ran after that pull. A user is keyed by
// the directory person with that email (personOf), else "highspot:<email>".
// A protected user keeps exactly the groups Highspot holds, a user holding a
// managed group without entitlement shows it, and a suspended user has status
// "suspended".
func Actual(users []contract.HighspotUser, ledger []contract.LoadResult, personOf map[string]string) []Snapshot {
	byEmail := map[string]*Snapshot{}
	var order []string
	get := func(email string) *Snapshot {
		email = strings.ToLower(strings.TrimSpace(email))
		s := byEmail[email]
		if s == nil {
			id := personOf[email]
			if id == "" {
				id = "highspot:" + email
			}
			s = &Snapshot{PersonID: id, Email: email, Status: StatusActive, Attributes: map[string]string{"access_source": AccessHighspot}}
			byEmail[email] = s
			order = append(order, email)
		}
		return s
	}
	for _, u := range users {
		s := get(u.Email)
		if u.Suspended {
			s.Status = StatusSuspended
		}
		s.Groups = append(s.Groups, u.GroupNames...)
	}
	rows := slices.Clone(ledger)
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].At.Before(rows[j].At) })
	for _, l := range rows {
		if l.Status != contract.StatusApplied || l.Email == "" {
			continue
		}
		s := get(l.Email)
		switch l.Op {
		case contract.OpCreateUser, contract.OpReactivateUser:
			s.Status = StatusActive
		case contract.OpSuspendUser:
			s.Status = StatusSuspended
		case contract.OpAddMember:
			if !slices.Contains(s.Groups, l.Group) {
				s.Groups = append(s.Groups, l.Group)
			}
		case contract.OpRemoveMember:
			s.Groups = slices.DeleteFunc(s.Groups, func(g string) bool { return g == l.Group })
		}
	}
	out := make([]Snapshot, 0, len(order))
	for _, e := range order {
		out = append(out, *byEmail[e])
	}
	return out
}

// ActiveOn is AccessOn restricted to users active in Highspot at t (a
// suspended user holds no access, whatever groups it keeps).
func ActiveOn(h []contract.IdentityHistory, t time.Time) []contract.IdentityHistory {
	var out []contract.IdentityHistory
	for _, r := range AccessOn(h, t) {
		if r.Status == StatusActive {
			out = append(out, r)
		}
	}
	return out
}

// actualSnapshots is Actual for runID: the latest pull at or before it and
// the published apply ledgers (apply, apply.attempt-*) of the runs from that
// pull's run up to runID. ok is false when no pull exists yet.
func actualSnapshots(ctx context.Context, env artifact.Env, runID string, runs []artifact.RunInfo, personOf map[string]string) (snaps []Snapshot, refs []artifact.Ref, ok bool, err error) {
	in, err := readActual(ctx, env, runID, runs)
	if err != nil || !in.ok {
		return nil, nil, false, err
	}
	return Actual(in.users, in.ledger, personOf), in.refs, true, nil
}

// actualInput is what Actual reads for a run: the pull's users and the
// ledgers applied after it.
type actualInput struct {
	users  []contract.HighspotUser
	ledger []contract.LoadResult
	refs   []artifact.Ref
	ok     bool // false: no pull exists yet
}

// emails are the addresses Actual looks up in personOf (normalized as it
// normalizes them).
func (in *actualInput) emails() map[string]struct{} {
	out := make(map[string]struct{}, len(in.users))
	for _, u := range in.users {
		out[strings.ToLower(strings.TrimSpace(u.Email))] = struct{}{}
	}
	for _, l := range in.ledger {
		if l.Status == contract.StatusApplied && l.Email != "" {
			out[strings.ToLower(strings.TrimSpace(l.Email))] = struct{}{}
		}
	}
	return out
}

// readActual reads runID's latest pull at or before it and the published
// apply ledgers (apply, apply.attempt-*) of the runs from that pull's run up
// to runID.
func readActual(ctx context.Context, env artifact.Env, runID string, runs []artifact.RunInfo) (actualInput, error) {
	st := env.Store
	pm, pref, err := artifact.ReadManifest(ctx, st, runID, contract.Pull)
	if errors.Is(err, artifact.ErrNotPublished) {
		pm, pref, err = artifact.LatestManifest(ctx, st, contract.Pull, runID)
	}
	if errors.Is(err, artifact.ErrNotPublished) {
		return actualInput{}, nil
	}
	if err != nil {
		return actualInput{}, fmt.Errorf("history: find the pull of run %s: %w", runID, err)
	}
	in := actualInput{refs: []artifact.Ref{pref}, ok: true}
	in.users, err = artifact.ReadAll[contract.HighspotUser](ctx, st, pm, contract.HighspotUsersSpec, artifact.WithTempDir(env.TempDir))
	if err != nil {
		return actualInput{}, fmt.Errorf("history: read highspot_users of pull %s: %w", pref.RunID, err)
	}
	for _, ri := range runs {
		if ri.RunID < pref.RunID || ri.RunID > runID {
			continue
		}
		for _, s := range ri.Stages {
			if s.Stage != contract.Apply && !strings.HasPrefix(string(s.Stage), contract.ApplyAttemptPrefix) {
				continue
			}
			am, aref, err := artifact.ReadManifest(ctx, st, ri.RunID, s.Stage)
			if err != nil {
				return actualInput{}, fmt.Errorf("history: read %s of run %s: %w", s.Stage, ri.RunID, err)
			}
			lr, err := artifact.ReadAll[contract.LoadResult](ctx, st, am, contract.LoadResultsSpec, artifact.WithTempDir(env.TempDir))
			if err != nil {
				return actualInput{}, fmt.Errorf("history: read the ledger of run %s: %w", ri.RunID, err)
			}
			in.refs = append(in.refs, aref)
			in.ledger = append(in.ledger, lr...)
		}
	}
	return in, nil
}
