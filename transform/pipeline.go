package transform

import (
	"sync"

	"github.com/otds-highspot/otds-highspot/internal/config"
	"github.com/otds-highspot/otds-highspot/internal/records"
)

// Input is one run's raw records of every tree plus the previous run's links.
type Input struct {
	Accounts    []records.Account
	Groups      []records.Group
	Memberships []records.Membership
	Previous    []records.PersonLink
	Overrides   Overrides
	// TreeOrder: most authoritative tree first (default survivorship order).
	TreeOrder []string
}

// Output is everything the transform stage publishes.
type Output struct {
	Accounts    []records.AccountNormalized
	Memberships []records.EffectiveMembership
	*Resolution
	Graph GraphStats
}

// Transform runs the whole pure pipeline in memory: graph, normalize,
// effective memberships, resolve. The stage streams the same steps.
func Transform(cfg *config.Transform, in Input) (*Output, error) {
	n, err := NewNormalizer(cfg)
	if err != nil {
		return nil, err
	}
	b := NewGraphBuilder()
	for _, g := range in.Groups {
		b.AddGroup(g)
	}
	for _, a := range in.Accounts {
		b.AddAccount(a.Tree, a.SourceID, a.DN)
	}
	for _, m := range in.Memberships {
		b.AddMembership(m)
	}
	g := b.Build()
	out := &Output{Graph: g.Stats}
	for _, a := range in.Accounts {
		key := AccountKey(clean(a.Tree), clean(a.SourceID))
		refs := g.Effective(key)
		out.Accounts = append(out.Accounts, n.Normalize(a, refs))
		out.Memberships = append(out.Memberships, Memberships(key, clean(a.Tree), refs)...)
	}
	sorted := append([]records.AccountNormalized(nil), out.Accounts...)
	out.Resolution, err = Resolve(cfg, ResolveInput{Accounts: sorted, Previous: in.Previous, Overrides: mergeOverrides(cfg, in.Overrides), TreeOrder: in.TreeOrder, GroupNames: g.GroupNames()})
	return out, err
}

// mergeOverrides adds the config's overrides to those read from a file.
func mergeOverrides(cfg *config.Transform, o Overrides) Overrides {
	return Overrides{
		ForceLink:  append(append([][]string(nil), cfg.Overrides.ForceLink...), o.ForceLink...),
		ForceSplit: append(append([][]string(nil), cfg.Overrides.ForceSplit...), o.ForceSplit...),
	}
}

// GroupNames maps every group key to "<tree>:<name>".
func (g *Graph) GroupNames() map[string]string {
	m := make(map[string]string, len(g.groups))
	for _, n := range g.groups {
		m[n.key] = n.tree + ":" + n.name
	}
	return m
}

// NormalizeBatch normalizes accounts[i] into out[i] and expands its
// effective groups into refs[i] on up to workers goroutines (the Normalizer
// and the built Graph are read-only, so this is safe). out and refs must be
// as long as accounts.
func NormalizeBatch(n *Normalizer, g *Graph, accounts []records.Account, out []records.AccountNormalized, refs [][]GroupRef, workers int) {
	if workers < 1 {
		workers = 1
	}
	if workers > len(accounts) {
		workers = len(accounts)
	}
	one := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			a := &accounts[i]
			key := AccountKey(clean(a.Tree), clean(a.SourceID))
			refs[i] = g.Effective(key)
			out[i] = n.normalize(a, refs[i], key)
		}
	}
	if workers <= 1 {
		one(0, len(accounts))
		return
	}
	var wg sync.WaitGroup
	step := (len(accounts) + workers - 1) / workers
	for lo := 0; lo < len(accounts); lo += step {
		hi := min(lo+step, len(accounts))
		wg.Add(1)
		go func() {
			defer wg.Done()
			one(lo, hi)
		}()
	}
	wg.Wait()
}
