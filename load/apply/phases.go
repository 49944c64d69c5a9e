package apply

import (
	"context"
	"sort"
	"sync"

	"github.com/sirupsen/logrus"

	"github.com/otds-highspot/otds-highspot/internal/contract"
)

// phaseOf is the apply phase of an op (1 groups and users, 2 memberships, 3
// suspensions), derived from the op so a plan cannot reorder suspensions
// before creates.
func phaseOf(op string) int {
	switch op {
	case contract.OpCreateGroup, contract.OpCreateUser, contract.OpUpdateUser, contract.OpReactivateUser:
		return 1
	case contract.OpAddMember, contract.OpRemoveMember:
		return 2
	case contract.OpSuspendUser:
		return 3
	}
	return 0
}

// orderChanges groups changes into the three phases, each in seq order, and
// drops repeated change ids. Unknown ops go to phase 1 and fail there.
func orderChanges(changes []contract.Change) [3][]contract.Change {
	var out [3][]contract.Change
	seen := map[string]bool{}
	for _, c := range changes {
		if seen[c.ChangeID] {
			continue
		}
		seen[c.ChangeID] = true
		p := phaseOf(c.Op)
		if p == 0 {
			p = 1
		}
		out[p-1] = append(out[p-1], c)
	}
	for i := range out {
		sort.SliceStable(out[i], func(a, b int) bool {
			if out[i][a].Seq != out[i][b].Seq {
				return out[i][a].Seq < out[i][b].Seq
			}
			return out[i][a].ChangeID < out[i][b].ChangeID
		})
	}
	return out
}

// runPool runs units with Concurrency workers, stopping dispatch when the
// run must stop.
func (a *applier) runPool(ctx context.Context, units []func(ctx context.Context)) {
	work := make(chan func(context.Context))
	var wg sync.WaitGroup
	for range min(a.opts.Concurrency, max(len(units), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range work {
				u(ctx)
			}
		}()
	}
	for _, u := range units {
		if a.stopped(ctx) {
			break
		}
		work <- u
	}
	close(work)
	wg.Wait()
}

func (a *applier) runPhase(ctx context.Context, phase int, changes []contract.Change) error {
	a.log.WithFields(logrus.Fields{"phase": phase, "changes": len(changes)}).Info("apply: phase started")
	switch phase {
	case 1:
		a.phaseUsers(ctx, changes)
	case 2:
		a.phaseMemberships(ctx, changes)
	case 3:
		a.phaseSuspensions(ctx, changes)
	}
	return nil
}
