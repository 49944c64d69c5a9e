package plan

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/otds-highspot/otds-highspot/internal/contract"
)

// Gate is one safety threshold evaluated against a plan.
type Gate struct {
	Op         string   `json:"op"`
	Tree       string   `json:"tree,omitempty"` // "" = the whole plan
	Count      int      `json:"count"`
	Base       int      `json:"base"`    // active baseline users (or the tree's in-scope persons)
	Percent    float64  `json:"percent"` // 100*Count/Base (0 when Base is 0)
	MaxCount   *int     `json:"max_count,omitempty"`
	MaxPercent *float64 `json:"max_percent,omitempty"`
	Tripped    bool     `json:"tripped"`         // over a limit
	Allow      int      `json:"allow,omitempty"` // --allow figure that applied (0 = none)
	Blocked    bool     `json:"blocked"`         // tripped and not overridden
}

// Limit describes the gate's limits in words.
func (g Gate) Limit() string {
	var l []string
	if g.MaxCount != nil {
		l = append(l, fmt.Sprintf("max %d", *g.MaxCount))
	}
	if g.MaxPercent != nil {
		l = append(l, fmt.Sprintf("max %g%% of %d", *g.MaxPercent, g.Base))
	}
	return strings.Join(l, " and ")
}

// Scope is "whole plan" or "tree X".
func (g Gate) Scope() string {
	if g.Tree == "" {
		return "whole plan"
	}
	return "tree " + g.Tree
}

func (g Gate) String() string {
	s := fmt.Sprintf("%s (%s): %d changes (%.2f%% of %d), limit %s", g.Op, g.Scope(), g.Count, g.Percent, g.Base, g.Limit())
	if g.Allow > 0 {
		s += fmt.Sprintf(", --allow %s=%d", g.Op, g.Allow)
	}
	return s
}

// ParseAllow parses --allow values "op=N" or "op@tree=N".
func ParseAllow(vals []string) (map[string]int, error) {
	out := map[string]int{}
	for _, v := range vals {
		k, n, ok := strings.Cut(v, "=")
		i, err := strconv.Atoi(strings.TrimSpace(n))
		if !ok || err != nil || i < 0 || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("--allow %q: want op=N (e.g. suspend_user=120) or op@tree=N", v)
		}
		out[strings.TrimSpace(k)] = i
	}
	if err := CheckAllow(out, nil); err != nil {
		return nil, err
	}
	return out, nil
}

// AllowOps lists the ops an --allow override may name, in apply order.
func AllowOps() []string {
	ops := make([]string, 0, len(opOrder))
	for op := range opOrder {
		ops = append(ops, op)
	}
	sort.Slice(ops, func(i, j int) bool { return opOrder[ops[i]] < opOrder[ops[j]] })
	return ops
}

// CheckAllow refuses overrides that would match no gate: an unknown op, or
// (when trees is not nil) an op@tree whose tree is not configured. The error
// lists the valid ones. An override that matches nothing would otherwise be
// recorded in the manifest as if it meant something.
func CheckAllow(allow map[string]int, trees []string) error {
	keys := make([]string, 0, len(allow))
	for k := range allow {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		op, tree, hasTree := strings.Cut(k, "@")
		if _, known := opOrder[op]; !known {
			return fmt.Errorf("--allow %s=%d: unknown op %q; valid ops: %s (optionally op@tree)", k, allow[k], op, strings.Join(AllowOps(), ", "))
		}
		if hasTree && (tree == "" || (trees != nil && !slices.Contains(trees, tree))) {
			return fmt.Errorf("--allow %s=%d: unknown tree %q; configured trees: %s", k, allow[k], tree, strings.Join(trees, ", "))
		}
	}
	return nil
}

// Gates evaluates every configured threshold against the plan. A threshold
// whose base is 0 (nothing in Highspot yet) checks only max_count. allow
// ("op" or "op@tree" -> N) overrides a tripped gate whose count is <= N.
func Gates(p *Plan, ev *Evaluation, base Baseline, st State, pol *Policy, allow map[string]int) []Gate {
	count := map[string]int{} // op or op@tree
	for i := range p.Changes {
		c := &p.Changes[i]
		count[c.Op]++
		count[c.Op+"@"+c.Tree]++
	}
	active := 0
	for i := range base.Users {
		if !base.Users[i].Suspended {
			active++
		}
	}
	treeBase := map[string]int{}
	for i := range ev.Wants {
		treeBase[ev.Wants[i].User.Tree]++
	}
	prevTree := map[string]int{}
	for i := range st.Previous {
		if !st.Previous[i].Suspended {
			prevTree[st.Previous[i].Tree]++
		}
	}
	for t, n := range prevTree {
		treeBase[t] = max(treeBase[t], n)
	}
	var gates []Gate
	for _, th := range pol.Conf.Thresholds {
		g := Gate{Op: th.Op, Tree: th.Tree, MaxCount: th.MaxCount, MaxPercent: th.MaxPercent}
		key := th.Op
		g.Base = active
		if th.Tree != "" {
			key = th.Op + "@" + th.Tree
			g.Base = treeBase[th.Tree]
		}
		g.Count = count[key]
		if g.Base > 0 {
			g.Percent = 100 * float64(g.Count) / float64(g.Base)
		}
		if th.MaxCount != nil && g.Count > *th.MaxCount {
			g.Tripped = true
		}
		if th.MaxPercent != nil && g.Base > 0 && g.Percent > *th.MaxPercent {
			g.Tripped = true
		}
		g.Blocked = g.Tripped
		if g.Tripped {
			n, ok := allow[key]
			if !ok {
				n, ok = allow[th.Op]
			}
			if ok {
				g.Allow = n
				g.Blocked = g.Count > n
			}
		}
		gates = append(gates, g)
	}
	sort.SliceStable(gates, func(i, j int) bool { return opOrder[gates[i].Op] < opOrder[gates[j].Op] })
	return gates
}

// Blocked returns the gates that block the plan.
func Blocked(gates []Gate) []Gate {
	var out []Gate
	for _, g := range gates {
		if g.Blocked {
			out = append(out, g)
		}
	}
	return out
}

// CountByOpTree counts changes per op and tree.
func CountByOpTree(cs []contract.Change) map[string]map[string]int {
	out := map[string]map[string]int{}
	for i := range cs {
		m := out[cs[i].Op]
		if m == nil {
			m = map[string]int{}
			out[cs[i].Op] = m
		}
		m[cs[i].Tree]++
	}
	return out
}
