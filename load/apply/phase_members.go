package apply

import (
	"context"
	"fmt"

	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/load"
)

// Phases 2 and 3: memberships, then suspensions.

func (a *applier) phaseMemberships(ctx context.Context, changes []contract.Change) {
	// Resolve each group name once per run (a group this run created is
	// known already).
	names := map[string]bool{}
	a.mu.Lock()
	for _, c := range changes {
		if c.GroupID == "" && c.Group != "" && a.groups[c.Group] == nil {
			names[c.Group] = true
		}
	}
	a.mu.Unlock()
	var units []func(context.Context)
	for name := range names {
		units = append(units, func(ctx context.Context) {
			var g *load.Group
			res := a.caller.Call(ctx, "find group", func(ctx context.Context) error {
				var err error
				g, err = a.t.FindGroup(ctx, name)
				return err
			})
			ref := &groupRef{g: g}
			switch {
			case res.Err != nil && !a.settled(ctx, res):
				return
			case res.Err != nil:
				ref.err = fmt.Errorf("look up group %q: %s", name, failReason(res))
			case g == nil:
				// Group creation through the API is not evidenced (reference §4),
				// so the applier does not create managed groups: an admin creates
				// them once in Highspot (and shares the audience's spots with them).
				ref.err = fmt.Errorf("group %q does not exist in Highspot; create it there once (and share its spots), or set highspot.create_missing_groups: true and plan again, then re-run apply", name)
			}
			a.mu.Lock()
			a.groups[name] = ref
			a.mu.Unlock()
		})
	}
	a.runPool(ctx, units)
	if a.stopped(ctx) {
		return
	}
	units = units[:0]
	for _, c := range changes {
		units = append(units, func(ctx context.Context) { a.membership(ctx, c) })
	}
	a.runPool(ctx, units)
}

func (a *applier) membership(ctx context.Context, c contract.Change) {
	g := &load.Group{ID: c.GroupID, Name: c.Group}
	if c.GroupID == "" {
		a.mu.Lock()
		ref := a.groups[c.Group]
		a.mu.Unlock()
		switch {
		case c.Group == "":
			a.record(ctx, c, contract.StatusFailed, load.CallResult{}, "", "membership change names no group")
			return
		case ref == nil:
			return // resolution interrupted
		case ref.err != nil:
			a.record(ctx, c, contract.StatusFailed, load.CallResult{}, "", ref.err.Error())
			return
		}
		g = ref.g
	}
	u, res, ok := a.targetUser(ctx, c, c.Op == contract.OpRemoveMember, "its create failed or has not run")
	if !ok {
		return
	}
	lookups := res.Attempts
	res = a.caller.Call(ctx, c.Op, func(ctx context.Context) error {
		if c.Op == contract.OpAddMember {
			return a.t.AddMember(ctx, *g, *u)
		}
		return a.t.RemoveMember(ctx, *g, *u)
	})
	res.Attempts += lookups
	a.finish(ctx, c, res, u.ID)
}

func (a *applier) phaseSuspensions(ctx context.Context, changes []contract.Change) {
	units := make([]func(context.Context), 0, len(changes))
	for _, c := range changes {
		units = append(units, func(ctx context.Context) { a.userOp(ctx, c) })
	}
	a.runPool(ctx, units)
}
