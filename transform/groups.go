package transform

import (
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/otds-highspot/otds-highspot/internal/contract"
)

// GroupRef is one effective group of an account, with the path that granted it.
type GroupRef struct {
	Key    string   // "<tree>/<source_id>"
	Tree   string   // the group's tree
	Name   string   // cn
	DN     string   // as read
	Direct bool     // the account is a direct member
	Depth  int32    // 0 = direct
	Path   []string // group names from the direct group up to Name, capped as MaxPathNames says (shared, do not modify)
}

// GraphStats reports what the membership graph found.
type GraphStats struct {
	Groups           int        `json:"groups"`
	DirectMembers    int64      `json:"direct_memberships"`
	CrossTree        int64      `json:"cross_tree_memberships"`
	CrossPartition   int64      `json:"cross_partition_memberships"`
	Dangling         int64      `json:"dangling_members"`
	Cycles           [][]string `json:"cycles,omitempty"` // each cycle: "<tree>:<group name>" members, sorted
	EffectiveMaxSize int        `json:"max_ancestors"`
}

type groupNode struct {
	key, tree, name, dn string
	parents             []int32 // groups that contain this group
}

type ancestor struct {
	g     int32
	depth int32
	path  []string
}

type pendingMember struct {
	tree, srcID, dn, kind string
	group                 int32
}

// GraphBuilder collects groups, accounts and direct memberships and builds a
// Graph. Add every group and account before the memberships that name them.
type GraphBuilder struct {
	groups   []groupNode
	groupIdx map[string]int32 // group key -> idx
	groupDN  map[string]int32 // tree + "\x00" + canonical DN -> idx
	accIdx   *keyIndex        // account key -> idx (over accKeys)
	accKeys  []string
	accDNs   []string
	direct   [][]int32 // account idx -> direct group idxs
	pending  []pendingMember
	stats    GraphStats
	edges    map[[2]int32]bool
	buf      []byte // lookup key scratch (map lookups by string(buf) do not allocate)
	batch    membershipScratch
}

// membershipScratch is AddMemberships' per-batch scratch.
type membershipScratch struct {
	trees, srcs []string // cleaned Tree and MemberSourceID of each row
	text        []byte   // the account keys looked up, one after another
	ends        []int32
	hs          []uint64
	acc         []int32 // each row's account (-1 = none)
}

// key builds "<tree>/<id>" in the scratch buffer; valid until the next call.
func (b *GraphBuilder) key(tree, id string) []byte {
	b.buf = append(append(append(b.buf[:0], tree...), '/'), id...)
	return b.buf
}

// NewGraphBuilder starts an empty graph.
func NewGraphBuilder() *GraphBuilder {
	return &GraphBuilder{groupIdx: map[string]int32{}, groupDN: map[string]int32{}, accIdx: newKeyIndex(0), edges: map[[2]int32]bool{}}
}

// reserve sizes the builder for about n accounts (call before adding any):
// the account map and lists do not grow step by step.
func (b *GraphBuilder) reserve(n int) {
	if len(b.accKeys) > 0 || n <= 0 {
		return
	}
	b.accIdx = newKeyIndex(n)
	b.accKeys = make([]string, 0, n)
	b.accDNs = make([]string, 0, n)
	b.direct = make([][]int32, 0, n)
}

// AddGroup registers a group.
func (b *GraphBuilder) AddGroup(g contract.Group) {
	tree := clean(g.Tree)
	k := GroupKey(tree, clean(g.SourceID))
	if _, ok := b.groupIdx[k]; ok {
		return
	}
	i := int32(len(b.groups))
	b.groups = append(b.groups, groupNode{key: k, tree: tree, name: cleanName(g.Name), dn: g.DN})
	b.groupIdx[k] = i
	b.groupDN[tree+"\x00"+CanonicalDN(g.DN)] = i
}

// AddAccount registers an account and returns its index.
func (b *GraphBuilder) AddAccount(tree, sourceID, dn string) int32 {
	tree, sourceID = clean(tree), clean(sourceID)
	if i, ok := b.accIdx.getBytes(b.accKeys, b.key(tree, sourceID)); ok {
		return i
	}
	k := AccountKey(tree, sourceID)
	i := int32(len(b.accKeys))
	b.accKeys = append(b.accKeys, k)
	b.accIdx.add(b.accKeys, i)
	b.accDNs = append(b.accDNs, dn)
	b.direct = append(b.direct, nil)
	return i
}

// AddMembership records one direct membership.
func (b *GraphBuilder) AddMembership(m contract.Membership) {
	tree, src := clean(m.Tree), clean(m.MemberSourceID)
	ai := int32(-1)
	if src != "" && m.MemberKind != "group" {
		ai, _ = b.accIdx.getBytes(b.accKeys, b.key(tree, src))
	}
	b.addMembership(&m, tree, src, ai)
}

// AddMemberships records direct memberships (AddMembership of each row, in
// order). The accounts of the whole batch are looked up first, their
// lookups overlapping: with a million accounts each lookup is a few cache
// misses, and memberships come group by group, so account by account they
// follow no order.
func (b *GraphBuilder) AddMemberships(rows []contract.Membership) {
	sc := &b.batch
	sc.trees, sc.srcs = sc.trees[:0], sc.srcs[:0]
	sc.text, sc.ends = sc.text[:0], sc.ends[:0]
	for i := range rows {
		m := &rows[i]
		tree, src := clean(m.Tree), clean(m.MemberSourceID)
		sc.trees, sc.srcs = append(sc.trees, tree), append(sc.srcs, src)
		if src != "" && m.MemberKind != "group" {
			sc.text = append(append(append(sc.text, tree...), '/'), src...)
		}
		sc.ends = append(sc.ends, int32(len(sc.text)))
	}
	sc.hs = slices.Grow(sc.hs[:0], len(rows))[:len(rows)]
	sc.acc = slices.Grow(sc.acc[:0], len(rows))[:len(rows)]
	b.accIdx.lookupAll(b.accKeys, sc.text, sc.ends, sc.hs, sc.acc)
	for i := range rows {
		b.addMembership(&rows[i], sc.trees[i], sc.srcs[i], sc.acc[i])
	}
	clear(sc.trees) // not kept alive: they point into the batch's text
	clear(sc.srcs)
}

// addMembership records m, whose cleaned tree and member source id are
// tree and src, and whose member is account ai (-1 = none found by key).
func (b *GraphBuilder) addMembership(m *contract.Membership, tree, src string, ai int32) {
	gi, ok := b.groupIdx[string(b.key(tree, clean(m.GroupSourceID)))]
	if !ok {
		gi, ok = b.groupDN[tree+"\x00"+CanonicalDN(m.GroupDN)]
	}
	if !ok {
		b.stats.Dangling++
		return
	}
	b.stats.DirectMembers++
	if m.MemberPartition != "" && m.MemberPartition != m.Partition {
		b.stats.CrossPartition++
	}
	if ai >= 0 {
		b.addDirect(ai, gi)
		return
	}
	if src != "" && m.MemberKind != "user" {
		if ci, ok := b.groupIdx[string(b.key(tree, src))]; ok {
			b.addNest(ci, gi)
			return
		}
	}
	if m.MemberKind == "group" {
		if ci, ok := b.groupDN[tree+"\x00"+CanonicalDN(m.MemberDN)]; ok {
			b.addNest(ci, gi)
			return
		}
	}
	// Not in the group's tree by id: another tree, or only a DN. Resolved in Build.
	b.pending = append(b.pending, pendingMember{tree: tree, srcID: src, dn: m.MemberDN, kind: m.MemberKind, group: gi})
}

func (b *GraphBuilder) addDirect(ai, gi int32) {
	for _, g := range b.direct[ai] {
		if g == gi {
			return
		}
	}
	b.direct[ai] = append(b.direct[ai], gi)
}

func (b *GraphBuilder) addNest(child, parent int32) {
	e := [2]int32{child, parent}
	if b.edges[e] {
		return
	}
	b.edges[e] = true
	b.groups[child].parents = append(b.groups[child].parents, parent)
}

// resolvePending resolves members not found by id in the group's own tree:
// by source id in another tree (unique only), then by DN in the group's tree,
// then by DN in exactly one other tree.
func (b *GraphBuilder) resolvePending() {
	if len(b.pending) == 0 {
		return
	}
	accBySrc := map[string]int32{}
	accByDN := map[string]int32{} // tree \x00 dn
	accDNAny := map[string]int32{}
	for i, k := range b.accKeys {
		slash := strings.IndexByte(k, '/')
		tree, src := k[:slash], k[slash+1:]
		if _, dup := accBySrc[src]; dup {
			accBySrc[src] = -1
		} else {
			accBySrc[src] = int32(i)
		}
		cd := CanonicalDN(b.accDNs[i])
		accByDN[tree+"\x00"+cd] = int32(i)
		if _, dup := accDNAny[cd]; dup {
			accDNAny[cd] = -1
		} else {
			accDNAny[cd] = int32(i)
		}
	}
	grpBySrc := map[string]int32{}
	grpDNAny := map[string]int32{}
	for i, g := range b.groups {
		src := g.key[strings.IndexByte(g.key, '/')+1:]
		if _, dup := grpBySrc[src]; dup {
			grpBySrc[src] = -1
		} else {
			grpBySrc[src] = int32(i)
		}
		cd := CanonicalDN(g.dn)
		if _, dup := grpDNAny[cd]; dup {
			grpDNAny[cd] = -1
		} else {
			grpDNAny[cd] = int32(i)
		}
	}
	for _, p := range b.pending {
		cd := CanonicalDN(p.dn)
		if p.kind != "group" {
			ai, ok := int32(-1), false
			if p.srcID != "" {
				ai, ok = accBySrc[p.srcID]
			}
			if (!ok || ai < 0) && p.dn != "" {
				ai, ok = accByDN[p.tree+"\x00"+cd]
				if !ok {
					ai, ok = accDNAny[cd]
				}
			}
			if ok && ai >= 0 {
				if !strings.HasPrefix(b.accKeys[ai], p.tree+"/") {
					b.stats.CrossTree++
				}
				b.addDirect(ai, p.group)
				continue
			}
		}
		if p.kind != "user" {
			gi, ok := int32(-1), false
			if p.srcID != "" {
				gi, ok = grpBySrc[p.srcID]
			}
			if (!ok || gi < 0) && p.dn != "" {
				gi, ok = grpDNAny[cd]
			}
			if ok && gi >= 0 {
				if b.groups[gi].tree != p.tree {
					b.stats.CrossTree++
				}
				b.addNest(gi, p.group)
				continue
			}
		}
		b.stats.Dangling++
	}
	b.pending = nil
}

// Graph is the built membership graph: group closure computed once over the
// (small) group graph, accounts expanded on demand.
type Graph struct {
	groups []groupNode
	anc    [][]ancestor // group idx -> ancestors (BFS order: shortest path first)
	self   [][]string   // group idx -> []string{name} (shared path of direct rows)
	rank   []int32      // group idx -> position in key order
	qual   []string     // group idx -> "<tree>:<name>"
	// qualRank: group idx -> position of its qual among the distinct quals
	// in order (groups with one qual share a rank); qualByRank inverts it.
	qualRank   []int32
	qualByRank []string
	accIdx     *keyIndex
	accKeys    []string
	accDNs     []string // as read
	// direct groups of account i (sorted by key): dirFlat[dirOff[i]:dirOff[i+1]]
	// (one array for every account, not a slice each: less for the
	// collector to walk while the stage holds the graph)
	dirOff  []int32
	dirFlat []int32
	Stats   GraphStats
}

// Build resolves pending members, computes every group's ancestors (BFS over
// parent edges: cycles cannot loop, the shortest path wins) and detects
// cycles. Work is O(groups × ancestors) for the closure, then O(direct
// memberships × ancestors) to expand accounts: no per-pair repetition.
func (b *GraphBuilder) Build() *Graph {
	b.resolvePending()
	g := &Graph{groups: b.groups, accIdx: b.accIdx, accKeys: b.accKeys, accDNs: b.accDNs, Stats: b.stats}
	g.Stats.Groups = len(b.groups)
	g.anc = make([][]ancestor, len(b.groups))
	g.self = make([][]string, len(b.groups))
	g.rank = make([]int32, len(b.groups))
	g.qual = make([]string, len(b.groups))
	byKey := make([]int32, len(b.groups))
	for i := range byKey {
		byKey[i] = int32(i)
		g.qual[i] = b.groups[i].tree + ":" + b.groups[i].name
	}
	sort.Slice(byKey, func(i, j int) bool { return b.groups[byKey[i]].key < b.groups[byKey[j]].key })
	for r, gi := range byKey {
		g.rank[gi] = int32(r)
	}
	byQual := slices.Clone(byKey)
	slices.SortFunc(byQual, func(a, b int32) int { return strings.Compare(g.qual[a], g.qual[b]) })
	g.qualRank = make([]int32, len(b.groups))
	for _, gi := range byQual {
		if n := len(g.qualByRank); n == 0 || g.qualByRank[n-1] != g.qual[gi] {
			g.qualByRank = append(g.qualByRank, g.qual[gi])
		}
		g.qualRank[gi] = int32(len(g.qualByRank) - 1)
	}
	// Ancestors (with paths) are kept only for groups an account is a direct
	// member of: the others are walked for the statistic and dropped, so
	// memory follows the memberships, not groups × ancestors.
	used := make([]bool, len(b.groups))
	for _, d := range b.direct {
		for _, gi := range d {
			used[gi] = true
		}
	}
	w := &bfs{}
	for i := range b.groups {
		g.self[i] = []string{b.groups[i].name}
		g.walk(w, int32(i))
		if n := len(w.order) - 1; n > g.Stats.EffectiveMaxSize {
			g.Stats.EffectiveMaxSize = n
		}
		if used[i] {
			w.heads = map[int32][]string{}
			g.anc[i] = g.ancestors(w)
		}
	}
	g.Stats.Cycles = g.cycles()
	total := 0
	for _, d := range b.direct {
		total += len(d)
	}
	g.dirOff = make([]int32, len(b.direct)+1)
	g.dirFlat = make([]int32, 0, total)
	for i, d := range b.direct {
		slices.SortFunc(d, func(x, y int32) int { return int(g.rank[x] - g.rank[y]) }) // rank is key order
		g.dirFlat = append(g.dirFlat, d...)
		g.dirOff[i+1] = int32(len(g.dirFlat))
	}
	b.direct, b.edges = nil, nil
	return g
}

// MaxPathNames caps the names a GroupRef.Path (and the path column of
// effective_memberships) holds: a longer path keeps its first PathHead
// names, one marker element "... N more groups ..." and its last
// MaxPathNames-PathHead-1 names. Depth always gives the full length. The cap
// keeps memory linear in the number of memberships however deep groups nest.
const (
	MaxPathNames = 32
	PathHead     = 16
)

// bfs is the reusable state of one breadth-first walk up the parent edges.
type bfs struct {
	seen  []uint32 // group idx -> stamp of the walk that saw it
	stamp uint32
	order []int32 // groups in visit order; order[0] is the start
	prev  []int32 // index into order of the child the group was reached from
	depth []int32
	head  []int32 // index into order of the depth-(PathHead-1) group on the path, -1 when shallower
	heads map[int32][]string
	ps    []int32
}

// walk visits every ancestor of start (BFS, parents in key order: the
// shortest path wins, ties go to the smaller key; cycles cannot loop).
func (g *Graph) walk(w *bfs, start int32) {
	if w.seen == nil {
		w.seen = make([]uint32, len(g.groups))
	}
	w.stamp++
	w.seen[start] = w.stamp
	w.order = append(w.order[:0], start)
	w.prev = append(w.prev[:0], -1)
	w.depth = append(w.depth[:0], 0)
	w.head = append(w.head[:0], -1)
	if PathHead == 1 {
		w.head[0] = 0
	}
	for q := 0; q < len(w.order); q++ {
		w.ps = append(w.ps[:0], g.groups[w.order[q]].parents...)
		if len(w.ps) > 1 {
			slices.SortFunc(w.ps, func(a, b int32) int { return int(g.rank[a] - g.rank[b]) })
		}
		for _, p := range w.ps {
			if w.seen[p] == w.stamp {
				continue
			}
			w.seen[p] = w.stamp
			d := w.depth[q] + 1
			h := w.head[q]
			if d == PathHead-1 {
				h = int32(len(w.order))
			}
			w.order = append(w.order, p)
			w.prev = append(w.prev, int32(q))
			w.depth = append(w.depth, d)
			w.head = append(w.head, h)
		}
	}
}

// pathInto fills dst with the last len(dst) names of the path from order[0]
// to order[i] (walking back from i).
func (g *Graph) pathInto(w *bfs, i int32, dst []string) {
	for k := len(dst) - 1; k >= 0; k-- {
		dst[k] = g.groups[w.order[i]].name
		i = w.prev[i]
	}
}

// ancestors returns the ancestors of the walk w just made, with their paths
// (capped as MaxPathNames says).
func (g *Graph) ancestors(w *bfs) []ancestor {
	out := make([]ancestor, 0, len(w.order)-1)
	for i := 1; i < len(w.order); i++ {
		d := w.depth[i]
		n := int(d) + 1
		var path []string
		if n <= MaxPathNames {
			path = make([]string, n)
			g.pathInto(w, int32(i), path)
		} else {
			h := w.head[i]
			head, ok := w.heads[h]
			if !ok {
				head = make([]string, PathHead)
				g.pathInto(w, h, head)
				w.heads[h] = head
			}
			tail := MaxPathNames - PathHead - 1
			path = make([]string, MaxPathNames)
			copy(path, head)
			path[PathHead] = "... " + strconv.Itoa(n-PathHead-tail) + " more groups ..."
			g.pathInto(w, int32(i), path[PathHead+1:])
		}
		out = append(out, ancestor{g: w.order[i], depth: d, path: path})
	}
	return out
}

// cycles finds strongly connected components of more than one group (or a
// group that contains itself) with Tarjan's algorithm, iteratively.
func (g *Graph) cycles() [][]string {
	n := len(g.groups)
	index := make([]int32, n)
	low := make([]int32, n)
	on := make([]bool, n)
	for i := range index {
		index[i] = -1
	}
	var stack []int32
	var out [][]string
	next := int32(0)
	type frame struct {
		v  int32
		ei int
	}
	for s := 0; s < n; s++ {
		if index[s] >= 0 {
			continue
		}
		call := []frame{{int32(s), 0}}
		index[s], low[s] = next, next
		next++
		stack = append(stack, int32(s))
		on[s] = true
		for len(call) > 0 {
			f := &call[len(call)-1]
			ps := g.groups[f.v].parents
			if f.ei < len(ps) {
				w := ps[f.ei]
				f.ei++
				if index[w] < 0 {
					index[w], low[w] = next, next
					next++
					stack = append(stack, w)
					on[w] = true
					call = append(call, frame{w, 0})
				} else if on[w] && index[w] < low[f.v] {
					low[f.v] = index[w]
				}
				continue
			}
			v := f.v
			call = call[:len(call)-1]
			if len(call) > 0 {
				u := call[len(call)-1].v
				if low[v] < low[u] {
					low[u] = low[v]
				}
			}
			if low[v] == index[v] {
				var comp []int32
				for {
					w := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					on[w] = false
					comp = append(comp, w)
					if w == v {
						break
					}
				}
				self := false
				for _, p := range g.groups[v].parents {
					if p == v {
						self = true
					}
				}
				if len(comp) > 1 || self {
					names := make([]string, len(comp))
					for i, c := range comp {
						names[i] = g.groups[c].tree + ":" + g.groups[c].name
					}
					sort.Strings(names)
					out = append(out, names)
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return strings.Join(out[i], "\x00") < strings.Join(out[j], "\x00") })
	return out
}

// Effective returns the effective groups of an account (nil when it has
// none or is unknown), sorted by group key.
func (g *Graph) Effective(accountKey string) []GroupRef {
	ai, ok := g.accIdx.get(g.accKeys, accountKey)
	if !ok {
		return nil
	}
	return g.effective(ai)
}

// directOf returns the direct groups of account ai, sorted by key (shared,
// do not modify).
func (g *Graph) directOf(ai int32) []int32 { return g.dirFlat[g.dirOff[ai]:g.dirOff[ai+1]] }

func (g *Graph) effective(ai int32) []GroupRef {
	if len(g.directOf(ai)) == 0 {
		return nil
	}
	return g.appendEffective(nil, ai)
}

// appendEffective appends account ai's effective groups, sorted by group
// key, to dst.
func (g *Graph) appendEffective(dst []GroupRef, ai int32) []GroupRef {
	d := g.directOf(ai)
	if len(d) == 0 {
		return dst
	}
	type hit struct {
		gi     int32
		depth  int32
		path   []string
		direct bool
	}
	n := len(d)
	for _, gi := range d {
		n += len(g.anc[gi])
	}
	var buf [48]hit
	hits := buf[:0]
	if n > len(buf) {
		hits = make([]hit, 0, n)
	}
	// few hits (the usual case): linear search; many (deep nesting): a map,
	// so an account under a chain of thousands of groups is not quadratic
	var at map[int32]int
	if n > 64 {
		at = make(map[int32]int, n)
	}
	find := func(gi int32) int {
		if at != nil {
			if i, ok := at[gi]; ok {
				return i
			}
			return -1
		}
		for i := range hits {
			if hits[i].gi == gi {
				return i
			}
		}
		return -1
	}
	for _, gi := range d {
		if at != nil {
			at[gi] = len(hits)
		}
		hits = append(hits, hit{gi: gi, path: g.self[gi], direct: true})
	}
	for _, gi := range d {
		for _, a := range g.anc[gi] {
			if i := find(a.g); i >= 0 {
				h := &hits[i]
				if !h.direct && (h.depth > a.depth || h.depth == a.depth && pathLess(a.path, h.path)) {
					h.depth, h.path = a.depth, a.path
				}
				continue
			}
			if at != nil {
				at[a.g] = len(hits)
			}
			hits = append(hits, hit{gi: a.g, depth: a.depth, path: a.path})
		}
	}
	if len(hits) > 64 {
		slices.SortFunc(hits, func(a, b hit) int { return int(g.rank[a.gi] - g.rank[b.gi]) })
	} else {
		// insertion sort by key rank: few hits, and ranks are distinct
		for i := 1; i < len(hits); i++ {
			for j := i; j > 0 && g.rank[hits[j].gi] < g.rank[hits[j-1].gi]; j-- {
				hits[j], hits[j-1] = hits[j-1], hits[j]
			}
		}
	}
	dst = slices.Grow(dst, len(hits))
	for _, h := range hits {
		nd := &g.groups[h.gi]
		dst = append(dst, GroupRef{Key: nd.key, Tree: nd.tree, Name: nd.name, DN: nd.dn, Direct: h.direct, Depth: h.depth, Path: h.path})
	}
	return dst
}

// accountIndex finds an account's index, trying hint (its expected
// registration position, -1 = none) before the key map.
func (g *Graph) accountIndex(key string, hint int) (int32, bool) {
	if hint >= 0 && hint < len(g.accKeys) && g.accKeys[hint] == key {
		return int32(hint), true
	}
	return g.accIdx.get(g.accKeys, key)
}

// dropKeyIndex frees the index of account keys once every lookup by key is
// done: after it an account is found by key only at its hint, by index
// always.
func (g *Graph) dropKeyIndex() { g.accIdx = nil }

// EffectiveNames returns the "<tree>:<name>" of every effective group of an
// account, sorted and without repeats, without building paths.
func (g *Graph) EffectiveNames(accountKey string) []string {
	return g.effectiveNames(accountKey, -1)
}

// effectiveNames is EffectiveNames trying the account's expected position
// (hint, -1 = none) before the key map.
func (g *Graph) effectiveNames(accountKey string, hint int) []string {
	ai, ok := g.accountIndex(accountKey, hint)
	if !ok {
		return nil
	}
	return g.effectiveNamesOf(ai)
}

// effectiveNamesOf is EffectiveNames of the account at index ai.
func (g *Graph) effectiveNamesOf(ai int32) []string {
	d := g.directOf(ai)
	if len(d) == 0 {
		return nil
	}
	var buf [64]int32
	ranks := buf[:0]
	n := len(d)
	for _, gi := range d {
		n += len(g.anc[gi])
	}
	var seen map[int32]bool
	if n > 64 {
		seen = make(map[int32]bool, n)
	}
	add := func(x int32) {
		if seen != nil {
			if !seen[x] {
				seen[x] = true
				ranks = append(ranks, x)
			}
			return
		}
		for _, y := range ranks {
			if y == x {
				return
			}
		}
		ranks = append(ranks, x)
	}
	for _, gi := range d {
		add(g.qualRank[gi])
		for _, a := range g.anc[gi] {
			add(g.qualRank[a.g])
		}
	}
	slices.Sort(ranks)
	out := make([]string, len(ranks))
	for i, x := range ranks {
		out[i] = g.qualByRank[x]
	}
	return out
}

func pathLess(a, b []string) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return len(a) < len(b)
}

// Memberships turns an account's effective groups into rows.
func Memberships(accountKey, tree string, refs []GroupRef) []contract.EffectiveMembership {
	out := make([]contract.EffectiveMembership, len(refs))
	for i, r := range refs {
		out[i] = contract.EffectiveMembership{AccountKey: accountKey, Tree: tree, GroupKey: r.Key, GroupDN: r.DN, GroupName: r.Name, Direct: r.Direct, Depth: r.Depth, Path: r.Path}
	}
	return out
}

// CanonicalDN makes DNs comparable: attribute types and values lower-cased,
// escapes decoded (so `R&D\, Europe` equals `R&D\2C Europe`), spaces around
// separators dropped. RDNs are joined with "," and values re-escaped minimally.
func CanonicalDN(dn string) string {
	dn = clean(dn)
	if dn == "" {
		return ""
	}
	var rdns []string
	var cur strings.Builder
	flush := func() {
		rdns = append(rdns, canonRDN(cur.String()))
		cur.Reset()
	}
	for i := 0; i < len(dn); i++ {
		c := dn[i]
		switch {
		case c == '\\' && i+1 < len(dn):
			var v byte
			if i+2 < len(dn) && isHex(dn[i+1]) && isHex(dn[i+2]) {
				u, _ := strconv.ParseUint(dn[i+1:i+3], 16, 8)
				v = byte(u)
				i += 2
			} else {
				v = dn[i+1]
				i++
			}
			if strings.IndexByte(",+\"\\<>;= #", v) >= 0 {
				cur.WriteByte('\\')
			}
			cur.WriteByte(v)
		case c == ',' || c == ';':
			flush()
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	return strings.ToLower(strings.Join(rdns, ","))
}

// canonRDN trims type and value; escaped characters stay escaped (as "\c").
func canonRDN(r string) string {
	eq := strings.IndexByte(r, '=')
	if eq < 0 {
		return strings.TrimSpace(r)
	}
	t := strings.TrimSpace(r[:eq])
	v := strings.TrimSpace(r[eq+1:])
	return t + "=" + v
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
