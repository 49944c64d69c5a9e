package apply

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/internal/retry"
	"github.com/otds-highspot/otds-highspot/load"
)

// Phase 1: groups, then creates and updates (batched upserts; a create is
// never duplicated), then reactivations.

// profile is the user profile a create or update sends, read from the
// change's After (contract.Profile, as the plan writes it).
func profile(c contract.Change) (load.UserInput, error) {
	in := load.UserInput{Email: strings.TrimSpace(c.Email)}
	p, err := contract.ParseProfile(c.After)
	if err != nil {
		return in, fmt.Errorf("change %s: %w", c.ChangeID, err)
	}
	in.Name, in.Surname, in.DisplayName = p.Name, p.Surname, p.DisplayName
	if in.Email == "" {
		in.Email = p.Email
	}
	return in, nil
}

type upsertItem struct {
	c     contract.Change
	in    load.UserInput
	asUpd bool // a create whose email exists already
	id    string
}

func (a *applier) phaseUsers(ctx context.Context, changes []contract.Change) {
	var creates, updates []*upsertItem
	var singles, groups []contract.Change
	for _, c := range changes {
		switch c.Op {
		case contract.OpCreateUser, contract.OpUpdateUser:
			in, err := profile(c)
			if err != nil {
				a.record(ctx, c, contract.StatusFailed, load.CallResult{}, "", err.Error())
				continue
			}
			if in.Email == "" {
				a.record(ctx, c, contract.StatusFailed, load.CallResult{}, "", "no email: Highspot matches users by email; fix the person's mail in the directory")
				continue
			}
			it := &upsertItem{c: c, in: in, id: c.HighspotID}
			if c.Op == contract.OpCreateUser {
				creates = append(creates, it)
			} else {
				updates = append(updates, it)
			}
		case contract.OpReactivateUser:
			singles = append(singles, c)
		case contract.OpCreateGroup:
			groups = append(groups, c)
		default:
			a.record(ctx, c, contract.StatusFailed, load.CallResult{}, "", fmt.Sprintf("unknown op %q; the plan was written by a newer program version", c.Op))
		}
	}

	if len(groups) > 0 {
		units := make([]func(context.Context), 0, len(groups))
		for _, c := range groups {
			units = append(units, func(ctx context.Context) { a.createGroup(ctx, c) })
		}
		a.runPool(ctx, units)
		if a.stopped(ctx) {
			return
		}
	}

	// A create is never duplicated: find who exists already (list=all) and
	// send those as updates.
	creates = a.existing(ctx, creates)
	if a.stopped(ctx) {
		return
	}
	// Tell the target what the lookups found, so it need not look again.
	for _, it := range creates {
		it.in.ID, it.in.Absent = it.id, !it.asUpd
	}
	for _, it := range updates {
		it.in.ID = it.id
	}
	items := append(creates, updates...)
	size := a.t.MaxBatch()
	if a.opts.BatchSize > 0 && a.opts.BatchSize < size {
		size = a.opts.BatchSize
	}
	size = max(size, 1)
	var units []func(context.Context)
	for i := 0; i < len(items); i += size {
		batch := items[i:min(i+size, len(items))]
		units = append(units, func(ctx context.Context) { a.upsert(ctx, batch) })
	}
	for _, c := range singles {
		units = append(units, func(ctx context.Context) { a.userOp(ctx, c) })
	}
	a.runPool(ctx, units)
}

// existing looks up every create's email and returns the creates, marked
// asUpd when the user exists. Creates whose lookup failed permanently are
// recorded as failed and dropped.
func (a *applier) existing(ctx context.Context, creates []*upsertItem) []*upsertItem {
	if len(creates) == 0 {
		return nil
	}
	if known := a.opts.KnownUsers; known != nil {
		var found, rest []*upsertItem
		for _, it := range creates {
			id, ok := known[strings.ToLower(it.in.Email)]
			if !ok {
				rest = append(rest, it)
				continue
			}
			if id != "" {
				it.asUpd, it.id = true, id
			}
			found = append(found, it)
		}
		if len(rest) == 0 {
			return found
		}
		found = append(found, a.lookupExisting(ctx, rest)...)
		sort.Slice(found, func(i, j int) bool { return found[i].c.Seq < found[j].c.Seq })
		return found
	}
	return a.lookupExisting(ctx, creates)
}

// lookupExisting asks the target about every create: one listing above
// LookupListThreshold creates, else a lookup each.
func (a *applier) lookupExisting(ctx context.Context, creates []*upsertItem) []*upsertItem {
	if len(creates) > a.opts.LookupListThreshold {
		index := map[string]load.User{}
		res := a.caller.Call(ctx, "list users", func(ctx context.Context) error {
			clear(index)
			return a.t.ListUsers(ctx, func(u load.User) error {
				index[strings.ToLower(u.Email)] = u
				return nil
			})
		})
		if res.Err != nil {
			if a.settled(ctx, res) {
				a.setFatal(exitcode.Wrap(exitcode.Transient, fmt.Errorf("apply: list Highspot users to avoid duplicate creates: %w (re-run apply to resume)", res.Err)))
			}
			return nil
		}
		for _, it := range creates {
			if u, ok := index[strings.ToLower(it.in.Email)]; ok {
				it.asUpd, it.id = true, u.ID
			}
		}
		return creates
	}
	var mu sync.Mutex
	var kept []*upsertItem
	units := make([]func(context.Context), 0, len(creates))
	for _, it := range creates {
		units = append(units, func(ctx context.Context) {
			var u *load.User
			res := a.caller.Call(ctx, "find user", func(ctx context.Context) error {
				var err error
				u, err = a.t.FindUserByEmail(ctx, it.in.Email)
				return err
			})
			if res.Err != nil {
				if a.settled(ctx, res) {
					a.record(ctx, it.c, contract.StatusFailed, res, "", "look up by email before create: "+failReason(res))
				}
				return
			}
			if u != nil {
				it.asUpd, it.id = true, u.ID
			}
			mu.Lock()
			kept = append(kept, it)
			mu.Unlock()
		})
	}
	a.runPool(ctx, units)
	sort.Slice(kept, func(i, j int) bool { return kept[i].c.Seq < kept[j].c.Seq })
	return kept
}

// upsert sends one batch through UpsertUsers. Per-entry results count even
// when the call as a whole failed (a target that sends one request per user
// returns the results it got before the failure), so only entries without a
// final result are sent again: an upsert by email, never a blind create (the
// target looks the emails up again). The attempt budget counts rounds that
// settled nothing; a round with progress resets it.
func (a *applier) upsert(ctx context.Context, batch []*upsertItem) {
	pending := batch
	calls, fruitless := 0, 0
	for len(pending) > 0 {
		inputs := make([]load.UserInput, len(pending))
		for i, it := range pending {
			inputs[i] = it.in
		}
		var results []load.UpsertResult
		res := a.caller.CallN(ctx, "upsert users", 1, func(ctx context.Context) error {
			var err error
			results, err = a.t.UpsertUsers(ctx, inputs)
			return err
		})
		calls += res.Attempts
		if res.Err != nil && !a.settled(ctx, res) {
			return // breaker, cancel or fatal: unrecorded entries stay pending
		}
		byEmail := make(map[string]load.UpsertResult, len(results))
		for _, r := range results {
			if r.Email != "" {
				byEmail[strings.ToLower(r.Email)] = r
			}
		}
		var again []*upsertItem
		var againClass load.ErrorClass
		progress := false
		for i, it := range pending {
			r, ok := byEmail[strings.ToLower(it.in.Email)]
			if !ok && res.Err == nil && i < len(results) && results[i].Email == "" {
				r, ok = results[i], true
			}
			done := load.CallResult{Attempts: calls, Class: res.Class, Err: res.Err}
			switch {
			case ok && r.Err == nil:
				progress = true
				id := r.ID
				if id == "" {
					id = it.id
				}
				a.mu.Lock()
				a.ids[strings.ToLower(it.in.Email)] = id
				if it.asUpd && it.c.Op == contract.OpCreateUser {
					a.sum.CreatesAsUpdates++
				}
				a.mu.Unlock()
				a.record(ctx, it.c, contract.StatusApplied, load.CallResult{Attempts: calls}, id, "")
			case ok:
				c := a.opts.Classify(r.Err)
				done.Class, done.Err = c, r.Err
				if c.Retryable {
					again, againClass = append(again, it), c
					continue
				}
				progress = true
				a.record(ctx, it.c, contract.StatusFailed, done, "", failReason(done))
			case res.Err == nil:
				progress = true
				a.record(ctx, it.c, contract.StatusFailed, done, "", "Highspot returned no result for this entry of the batch; re-run apply to retry it")
			case res.Class.Retryable:
				if res.Class.HTTPStatus == 0 || res.Class.HTTPStatus >= 500 {
					// The request may have landed: what the lookup said
					// before is stale, let the target look again.
					it.in.Absent = false
				}
				again, againClass = append(again, it), res.Class
			default:
				progress = true
				a.record(ctx, it.c, contract.StatusFailed, done, "", failReason(done))
			}
		}
		if progress {
			fruitless = 0
		} else {
			fruitless++
		}
		if len(again) > 0 && fruitless >= a.opts.MaxAttempts {
			for _, it := range again {
				done := load.CallResult{Attempts: calls, Class: againClass, Err: res.Err}
				if done.Err == nil {
					done.Err = errors.New("entry kept failing")
				}
				a.record(ctx, it.c, contract.StatusFailed, done, "", failReason(done))
			}
			return
		}
		pending = again
		if len(pending) > 0 {
			d := a.caller.Backoff(max(fruitless, 1), againClass)
			if againClass.RetryAfter > 0 || againClass.HTTPStatus == http.StatusTooManyRequests {
				a.caller.Pause(d)
			}
			a.caller.CountRetry()
			if err := retry.Sleep(ctx, d); err != nil {
				return
			}
		}
	}
}

// userID finds the Highspot id of a change's user: the plan's id, one learnt
// in this run (creates, ledger), or a lookup. nil User when absent.
func (a *applier) user(ctx context.Context, c contract.Change) (*load.User, load.CallResult) {
	if c.HighspotID != "" {
		return &load.User{ID: c.HighspotID, Email: c.Email}, load.CallResult{}
	}
	a.mu.Lock()
	id, ok := a.ids[strings.ToLower(c.Email)]
	a.mu.Unlock()
	if ok && id != "" {
		return &load.User{ID: id, Email: c.Email}, load.CallResult{}
	}
	if id := a.opts.KnownUsers[strings.ToLower(c.Email)]; id != "" {
		return &load.User{ID: id, Email: c.Email}, load.CallResult{}
	}
	var u *load.User
	res := a.caller.Call(ctx, "find user", func(ctx context.Context) error {
		var err error
		u, err = a.t.FindUserByEmail(ctx, c.Email)
		return err
	})
	if res.Err == nil && u != nil {
		a.mu.Lock()
		a.ids[strings.ToLower(c.Email)] = u.ID
		a.mu.Unlock()
	}
	return u, res
}

// targetUser finds the user a change acts on. When the lookup fails or the
// user is absent it records the outcome and returns ok=false: an absent user
// is nothing to do for an op that removes access (skipAbsent), and a
// permanent failure otherwise (why says what that likely means).
func (a *applier) targetUser(ctx context.Context, c contract.Change, skipAbsent bool, why string) (*load.User, load.CallResult, bool) {
	u, res := a.user(ctx, c)
	switch {
	case res.Err != nil:
		if a.settled(ctx, res) {
			a.record(ctx, c, contract.StatusFailed, res, "", "look up user: "+failReason(res))
		}
		return nil, res, false
	case u == nil && skipAbsent:
		a.record(ctx, c, contract.StatusSkipped, res, "", "")
		return nil, res, false
	case u == nil:
		a.record(ctx, c, contract.StatusFailed, res, "", fmt.Sprintf("user %s does not exist in Highspot (%s)", c.Email, why))
		return nil, res, false
	}
	return u, res, true
}

// userOp applies reactivate_user and suspend_user.
func (a *applier) userOp(ctx context.Context, c contract.Change) {
	u, res, ok := a.targetUser(ctx, c, c.Op == contract.OpSuspendUser, "list=all")
	if !ok {
		return
	}
	lookups := res.Attempts
	res = a.caller.Call(ctx, c.Op, func(ctx context.Context) error {
		if c.Op == contract.OpSuspendUser {
			return a.t.SuspendUser(ctx, *u)
		}
		return a.t.ReactivateUser(ctx, *u)
	})
	res.Attempts += lookups
	a.finish(ctx, c, res, u.ID)
}

// finish records the outcome of a single write. A 404 (remove, suspend) or
// 409 (add) after an ambiguous earlier attempt means the earlier attempt
// landed: the desired state holds.
func (a *applier) finish(ctx context.Context, c contract.Change, res load.CallResult, id string) {
	if res.Err == nil {
		a.record(ctx, c, contract.StatusApplied, res, id, "")
		return
	}
	if !a.settled(ctx, res) {
		return
	}
	st := res.Class.HTTPStatus
	if (st == http.StatusConflict && c.Op == contract.OpAddMember) ||
		(res.Ambiguous && st == http.StatusNotFound && (c.Op == contract.OpRemoveMember || c.Op == contract.OpSuspendUser)) {
		a.record(ctx, c, contract.StatusApplied, res, id, "")
		return
	}
	a.record(ctx, c, contract.StatusFailed, res, id, failReason(res))
}

// GroupCreator is implemented by Targets that can create groups (both
// Highspot clients: REST POST /groups, SCIM POST /Groups); the applier uses
// it for create_group changes (highspot.create_missing_groups).
type GroupCreator interface {
	CreateGroup(ctx context.Context, name, description string) (*load.Group, error)
}

// createGroup applies a create_group change: a lookup first (the group may
// exist: created by hand since the plan, or by an earlier attempt whose
// answer was lost), then the create; a 409 on create is settled by looking
// again. The group is remembered for the membership phase.
func (a *applier) createGroup(ctx context.Context, c contract.Change) {
	gc, ok := a.t.(GroupCreator)
	if !ok {
		a.record(ctx, c, contract.StatusFailed, load.CallResult{}, "", fmt.Sprintf("this Highspot target cannot create groups; create group %q there once, then re-run apply", c.Group))
		return
	}
	var g *load.Group
	find := func(ctx context.Context) error {
		var err error
		g, err = a.t.FindGroup(ctx, c.Group)
		return err
	}
	res := a.caller.Call(ctx, "find group", find)
	attempts := res.Attempts
	if res.Err == nil && g == nil {
		res = a.caller.Call(ctx, c.Op, func(ctx context.Context) error {
			var err error
			g, err = gc.CreateGroup(ctx, c.Group, "")
			return err
		})
		attempts += res.Attempts
		if res.Err != nil && a.settled(ctx, res) && res.Class.HTTPStatus == http.StatusConflict {
			res = a.caller.Call(ctx, "find group", find)
			attempts += res.Attempts
			if res.Err == nil && g == nil {
				res.Err = fmt.Errorf("create group %q answered 409 but no group of that name is listed", c.Group)
			}
		}
	}
	res.Attempts = attempts
	if res.Err != nil {
		if a.settled(ctx, res) {
			a.record(ctx, c, contract.StatusFailed, res, "", "create group: "+failReason(res))
		}
		return
	}
	a.mu.Lock()
	a.groups[c.Group] = &groupRef{g: g}
	a.mu.Unlock()
	a.record(ctx, c, contract.StatusApplied, res, g.ID, "")
}
