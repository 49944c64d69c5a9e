package transform

import (
	"sync"

	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/transform/transformconf"
)

// mergeOverrides adds the config's overrides to those read from a file.
func mergeOverrides(cfg *transformconf.Config, o Overrides) Overrides {
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
func NormalizeBatch(n *Normalizer, g *Graph, accounts []contract.Account, out []contract.AccountNormalized, refs [][]GroupRef, workers int) {
	normalizeBatch(n, g, accounts, out, refs, workers, -1, nil)
}

// batchScratch is reused from one normalizeBatch call to the next: each
// worker's slab of GroupRefs. refs handed out by a call are valid until the
// next call with the same scratch.
type batchScratch struct {
	refs [][]GroupRef
}

// normalizeBatch is NormalizeBatch for callers that registered the accounts
// with the graph in the same order they normalize them: accounts[i] is
// expected at graph position offset+i (-1 = unknown; a wrong guess only costs
// a map lookup). With sc, refs are carved from per-worker slabs reused
// between calls instead of allocated per account.
func normalizeBatch(n *Normalizer, g *Graph, accounts []contract.Account, out []contract.AccountNormalized, refs [][]GroupRef, workers, offset int, sc *batchScratch) {
	if workers < 1 {
		workers = 1
	}
	if workers > len(accounts) {
		workers = len(accounts)
	}
	if workers == 0 {
		return
	}
	if sc == nil {
		sc = &batchScratch{}
	}
	for len(sc.refs) < workers {
		sc.refs = append(sc.refs, nil)
	}
	one := func(w, lo, hi int) {
		slab := sc.refs[w][:0]
		keys := make([]string, hi-lo)
		nkeys := 0
		for i := lo; i < hi; i++ {
			a := &accounts[i]
			keys[i-lo] = AccountKey(clean(a.Tree), clean(a.SourceID))
			hint := -1
			if offset >= 0 {
				hint = offset + i
			}
			refs[i] = nil
			if ai, ok := g.accountIndex(keys[i-lo], hint); ok {
				start := len(slab)
				slab = g.appendEffective(slab, ai)
				if len(slab) > start {
					refs[i] = slab[start:len(slab):len(slab)]
				}
			}
			nkeys += len(refs[i])
		}
		sc.refs[w] = slab
		// every account's Groups carved from one allocation
		groups := make([]string, nkeys)
		for i := lo; i < hi; i++ {
			n.normalizeGroups(&out[i], &accounts[i], refs[i], keys[i-lo], groups[:len(refs[i]):len(refs[i])])
			groups = groups[len(refs[i]):]
		}
	}
	if workers <= 1 {
		one(0, 0, len(accounts))
		return
	}
	var wg sync.WaitGroup
	step := (len(accounts) + workers - 1) / workers
	for w, lo := 0, 0; lo < len(accounts); w, lo = w+1, lo+step {
		hi := min(lo+step, len(accounts))
		wg.Add(1)
		go func() {
			defer wg.Done()
			one(w, lo, hi)
		}()
	}
	wg.Wait()
}
