package transform

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/transform/transformconf"
)

// Overrides are manual link decisions. Accounts are named by account key
// ("<tree>/<source_id>") or "dn:<tree>:<dn>".
type Overrides struct {
	ForceLink  [][]string `yaml:"force_link"`
	ForceSplit [][]string `yaml:"force_split"`
}

// ResolveInput is everything Resolve reads.
type ResolveInput struct {
	Accounts []contract.AccountNormalized
	Previous []contract.PersonLink // the previous run's links ("" = first run)
	// previous replaces Previous with what Resolve makes of it: the stage
	// reads the links straight into it.
	previous  *prevLinks
	Overrides Overrides
	// TreeOrder lists trees from most to least authoritative (survivorship).
	TreeOrder []string
	// GroupNames maps a group key to "<tree>:<name>" for Person.Groups.
	GroupNames map[string]string
	// Emit (required) receives each person with its links as soon as it is
	// assembled (in a deterministic order, on the goroutine that called
	// Resolve); an error from Emit stops Resolve.
	Emit func(p contract.Person, links []contract.PersonLink) error
	// held replaces Accounts with the part of each row Resolve reads (the
	// stage keeps only that); Resolve sorts it in place.
	held []heldAccount
	// groupNamesAt returns an account's effective groups as "<tree>:<name>"
	// (nil = a.Groups through GroupNames), told the account's position in
	// Accounts as passed in (before the sort); lets a caller drop Groups from
	// the rows it holds. It is called from several goroutines at once.
	groupNamesAt func(a *heldAccount, at int) []string
	// sourceOf (nil = make) returns an empty map for a person's SourceOf,
	// sized for about n entries: the stage hands back the maps of the
	// persons already written. It is called from several goroutines at once.
	sourceOf func(n int) map[string]string
}

// Resolution is what Resolve produces besides the persons and links it
// emits. Reviews are sorted.
type Resolution struct {
	Reviews  []contract.MatchReview
	Warnings []string
}

// Rule names recorded in PersonLink.Rule besides the match key names.
const (
	RuleSingleton  = "singleton"
	RuleCarried    = "carried"
	RuleForceLink  = "override:force-link"
	RuleForceSplit = "override:force-split"
)

type resolver struct {
	cfg      *transformconf.Config
	acc      []heldAccount
	orig     []int32 // acc[i] was in.Accounts[orig[i]] before the sort (nil = same)
	idx      map[string]int32
	parent   []int32
	members  [][]int32 // root -> members, until assemble moves them to memOff/memFlat
	memOff   []int32   // root -> its members: memFlat[memOff[root]:memOff[root+1]]
	memFlat  []int32
	names    map[int32]nameParts // computed lazily (name), only for the few accounts that meet another
	revAccs  map[string][]int32  // review id -> account indexes
	cannot   map[int32][]int32
	isolated []bool
	forced   []bool
	reviews  map[string]*contract.MatchReview
	warn     []string
}

func (r *resolver) name(i int32) nameParts {
	np, ok := r.names[i]
	if !ok {
		np = namesOf(r.acc[i].GivenName(), r.acc[i].Surname())
		r.names[i] = np
	}
	return np
}

// index maps account keys to indexes, built on first use (overrides only).
func (r *resolver) index() map[string]int32 {
	if r.idx == nil {
		r.idx = make(map[string]int32, len(r.acc))
		for i := range r.acc {
			r.idx[r.acc[i].AccountKey] = int32(i)
		}
	}
	return r.idx
}

// membersOf returns a root's members once assemble has made the clusters
// final.
func (r *resolver) membersOf(rt int32) []int32 { return r.memFlat[r.memOff[rt]:r.memOff[rt+1]] }

func (r *resolver) find(x int32) int32 {
	for r.parent[x] != x {
		r.parent[x] = r.parent[r.parent[x]]
		x = r.parent[x]
	}
	return x
}

func (r *resolver) union(a, b int32) {
	a, b = r.find(a), r.find(b)
	if a == b {
		return
	}
	if len(r.members[a]) < len(r.members[b]) || len(r.members[a]) == len(r.members[b]) && b < a {
		a, b = b, a
	}
	r.parent[b] = a
	if cap(r.members[a]) == 1 {
		r.members[a] = append(make([]int32, 0, 2+len(r.members[b])), r.members[a]...)
	}
	r.members[a] = append(r.members[a], r.members[b]...)
	r.members[b] = nil
}

// conflict explains why the clusters (roots) must not merge, "" when they may.
func (r *resolver) conflict(kind string, roots []int32) string {
	for i := 0; i < len(roots); i++ {
		for j := i + 1; j < len(roots); j++ {
			if why := r.pairConflict(kind, roots[i], roots[j]); why != "" {
				return why
			}
		}
	}
	return ""
}

func (r *resolver) pairConflict(kind string, ra, rb int32) string {
	ma, mb := r.members[ra], r.members[rb]
	// employee ids in one scheme: the two sides must share one when both have any
	ea, eb := schemeIDs(r.acc, ma), schemeIDs(r.acc, mb)
	for s, ida := range ea {
		idb, ok := eb[s]
		if !ok {
			continue
		}
		shared := false
		for id := range ida {
			if idb[id] {
				shared = true
				break
			}
		}
		if !shared {
			return "conflicting_employee_ids"
		}
	}
	svcA, svcB := allService(r.acc, ma), allService(r.acc, mb)
	if svcA != svcB {
		return "service_and_person"
	}
	for _, a := range ma {
		if r.isolated[a] && !r.forced[a] {
			return "force_split"
		}
		for _, b := range mb {
			if r.isolated[b] && !r.forced[b] {
				return "force_split"
			}
			for _, c := range r.cannot[a] {
				if c == b {
					return "force_split"
				}
			}
			x, y := &r.acc[a], &r.acc[b]
			if !r.cfg.SamePartitionMerge && x.Tree == y.Tree && x.Partition == y.Partition && !namesAgree(r.name(a), r.name(b)) {
				return "same_partition"
			}
			if r.cfg.NameVetoEnabled() && namesConflict(r.name(a), r.name(b), kind == "employee_id") {
				return "names_conflict"
			}
		}
	}
	return ""
}

func schemeIDs(acc []heldAccount, ms []int32) map[string]map[string]bool {
	var out map[string]map[string]bool
	for _, m := range ms {
		k := acc[m].EmployeeIDKey()
		if k == "" {
			continue
		}
		c := strings.IndexByte(k, ':')
		if out == nil {
			out = map[string]map[string]bool{}
		}
		if out[k[:c]] == nil {
			out[k[:c]] = map[string]bool{}
		}
		out[k[:c]][k] = true
	}
	return out
}

func allService(acc []heldAccount, ms []int32) bool {
	for _, m := range ms {
		if !acc[m].IsService {
			return false
		}
	}
	return true
}

// keysOf lists the values of one match key type for an account.
func (r *resolver) keysOf(kind string, a *heldAccount, prev *prevLinks) []string {
	if kind == "email" {
		return a.appendEmails(nil)
	}
	return r.appendKeys(nil, kind, a, prev)
}

// appendKeys appends the values of one match key type for an account to dst.
func (r *resolver) appendKeys(dst []string, kind string, a *heldAccount, prev *prevLinks) []string {
	switch kind {
	case "employee_id":
		if k := a.EmployeeIDKey(); k != "" {
			return append(dst, k)
		}
	case "email":
		return a.appendEmails(dst)
	case "external_id":
		// external ids are carried in attributes["external_id"] by Normalize
		if v := a.Attributes["external_id"]; v != "" {
			return append(dst, strings.ToLower(v))
		}
	case "login_domain":
		if d := r.cfg.TreeSettings(a.Tree).LoginDomain; d != "" && a.Login() != "" {
			l := strings.ToLower(a.Login())
			if !strings.Contains(l, "@") {
				l += "@" + strings.ToLower(d)
			}
			return append(dst, l)
		}
	case RuleCarried:
		if p := prev.of(a); p != "" {
			return append(dst, p)
		}
	}
	return dst
}

// keyHolder is one (key value, account) pair of a match key type. p0 and p1
// hold the value's first 16 bytes big-endian, so most comparisons in a sort
// need not read the string.
type keyHolder struct {
	p0, p1 uint64
	v      string
	i      int32
}

func newHolder(v string, i int32) keyHolder {
	var b [16]byte
	copy(b[:], v)
	return keyHolder{p0: binary.BigEndian.Uint64(b[:8]), p1: binary.BigEndian.Uint64(b[8:]), v: v, i: i}
}

// holdersOf lists every (value, account) pair of one key type sorted by
// value then account: runs of one value are its holders, in account order.
// The two halves are sorted concurrently and merged.
func (r *resolver) holdersOf(kind string, prev *prevLinks) []keyHolder {
	pairs := make([]keyHolder, 0, len(r.acc)+len(r.acc)/8)
	var buf []string
	for i := range r.acc {
		buf = r.appendKeys(buf[:0], kind, &r.acc[i], prev)
		for _, v := range buf {
			pairs = append(pairs, newHolder(v, int32(i)))
		}
	}
	return sortHolders(pairs)
}

func cmpHolder(a, b keyHolder) int {
	if a.p0 != b.p0 {
		if a.p0 < b.p0 {
			return -1
		}
		return 1
	}
	if a.p1 != b.p1 {
		if a.p1 < b.p1 {
			return -1
		}
		return 1
	}
	if c := strings.Compare(a.v, b.v); c != 0 {
		return c
	}
	return int(a.i) - int(b.i)
}

// sortHolders sorts pairs by value then account, the halves concurrently.
func sortHolders(pairs []keyHolder) []keyHolder {
	if len(pairs) < 1<<14 {
		slices.SortFunc(pairs, cmpHolder)
		return pairs
	}
	mid := len(pairs) / 2
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		slices.SortFunc(pairs[:mid], cmpHolder)
	}()
	slices.SortFunc(pairs[mid:], cmpHolder)
	wg.Wait()
	out := make([]keyHolder, 0, len(pairs))
	a, b := pairs[:mid], pairs[mid:]
	for len(a) > 0 && len(b) > 0 {
		if cmpHolder(a[0], b[0]) <= 0 {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	out = append(append(out, a...), b...)
	return out
}

// Resolve clusters accounts into persons by strong keys in priority order,
// never merging clusters whose keys conflict (those go to review), applies
// manual overrides, keeps person ids stable across runs and picks each person
// attribute by the survivorship policy. It is deterministic: the same input
// gives the same output regardless of input order. in.Accounts is sorted in
// place by account key.
func Resolve(cfg *transformconf.Config, in ResolveInput) (*Resolution, error) {
	if in.Emit == nil {
		return nil, fmt.Errorf("transform: resolve: ResolveInput.Emit is nil (nothing would receive the persons)")
	}
	acc := in.held // sorted in place: no second copy of a million rows
	if acc == nil {
		acc = holdAll(in.Accounts)
		if in.groupNamesAt == nil {
			in.groupNamesAt = func(_ *heldAccount, at int) []string { return groupKeyNames(in.Accounts[at].Groups, in.GroupNames) }
		}
	}
	orig := sortAccounts(acc)
	n := len(acc)
	r := &resolver{cfg: cfg, acc: acc, orig: orig, parent: make([]int32, n), members: make([][]int32, n),
		names: map[int32]nameParts{}, cannot: map[int32][]int32{}, isolated: make([]bool, n), forced: make([]bool, n),
		reviews: map[string]*contract.MatchReview{}, revAccs: map[string][]int32{}}
	self := make([]int32, n) // singleton member lists share one backing array (cap 1: union copies)
	for i := range acc {
		r.parent[i] = int32(i)
		self[i] = int32(i)
		r.members[i] = self[i : i+1 : i+1]
	}
	prev := in.previous
	if prev == nil {
		prev = newPrevLinks(nil, len(in.Previous))
		for _, l := range in.Previous {
			prev.add(nil, l.AccountKey, l.PersonID)
		}
	}
	in.Previous, in.previous = nil, nil // only prev is read from here on

	// overrides: splits are constraints, links are unions made before any key
	for _, list := range in.Overrides.ForceSplit {
		ids := r.lookup(list, "force_split")
		if len(ids) == 1 {
			r.isolated[ids[0]] = true
		}
		for _, a := range ids {
			for _, b := range ids {
				if a != b {
					r.cannot[a] = append(r.cannot[a], b)
				}
			}
		}
	}
	for _, list := range in.Overrides.ForceLink {
		ids := r.lookup(list, "force_link")
		for _, a := range ids {
			r.forced[a] = true
		}
		for i := 1; i < len(ids); i++ {
			r.union(ids[0], ids[i])
		}
	}

	kinds := append([]string(nil), cfg.MatchKeys...)
	if cfg.CarryLinksEnabled() && !prev.empty() {
		kinds = append(kinds, RuleCarried)
	}
	// each kind's holders are listed (read-only work) while the previous
	// kind merges
	holders := make([]chan []keyHolder, len(kinds))
	for i, kind := range kinds {
		holders[i] = make(chan []keyHolder, 1)
		if i < 2 {
			go func() { holders[i] <- r.holdersOf(kind, prev) }()
		}
	}
	for i, kind := range kinds {
		pairs := <-holders[i]
		if i+2 < len(kinds) {
			go func() { holders[i+2] <- r.holdersOf(kinds[i+2], prev) }()
		}
		r.mergeKind(kind, pairs)
	}
	r.weakReviews()

	res := &Resolution{Warnings: r.warn}
	err := r.assemble(in, prev, res)
	return res, err
}

// sortAccounts sorts accounts by key: (key, index) pairs are sorted, then
// the rows are permuted in place, each moved once (swapping the wide rows
// inside a sort would move each of them log n times).
// It returns each row's position before the sort (nil: already sorted).
func sortAccounts(acc []heldAccount) []int32 {
	keys := make([]keyHolder, len(acc))
	sorted := true
	for i := range acc {
		keys[i] = newHolder(acc[i].AccountKey, int32(i))
		if i > 0 && acc[i].AccountKey < acc[i-1].AccountKey {
			sorted = false
		}
	}
	if sorted {
		return nil
	}
	keys = sortHolders(keys)
	orig := make([]int32, len(keys))
	for j := range keys {
		orig[j] = keys[j].i
	}
	// keys[j].i is the row that belongs at j: follow each cycle once
	for j := range keys {
		if keys[j].i < 0 || int(keys[j].i) == j {
			continue
		}
		tmp := acc[j]
		k := j
		for {
			src := int(keys[k].i)
			keys[k].i = -1
			if src == j {
				acc[k] = tmp
				break
			}
			acc[k] = acc[src]
			k = src
		}
	}
	return orig
}

func (r *resolver) lookup(list []string, what string) []int32 {
	var out []int32
	for _, s := range list {
		s = clean(s)
		if i, ok := r.index()[s]; ok {
			out = append(out, i)
			continue
		}
		if strings.HasPrefix(s, "dn:") {
			rest := s[3:]
			if c := strings.IndexByte(rest, ':'); c > 0 {
				tree, dn := rest[:c], CanonicalDN(rest[c+1:])
				found := false
				for i := range r.acc {
					if r.acc[i].Tree == tree && CanonicalDN(r.acc[i].DN) == dn {
						out = append(out, int32(i))
						found = true
						break
					}
				}
				if found {
					continue
				}
			}
		}
		r.warn = append(r.warn, fmt.Sprintf("override %s names %q, which is not an account of this run (use <tree>/<source_id> or dn:<tree>:<dn>)", what, s))
	}
	return out
}

// mergeKind merges clusters that share a value of one key type (pairs are
// its holders, from holdersOf). Proposals
// that conflict on their own are reviewed and dropped; the rest are joined
// into tentative components, and a component that still conflicts as a whole
// (an account whose keys point at two different people) merges nothing.
func (r *resolver) mergeKind(kind string, pairs []keyHolder) {
	type proposal struct {
		value string
		roots []int32
	}
	var props []proposal
	var h []int32
	for lo := 0; lo < len(pairs); {
		v := pairs[lo].v
		hi := lo + 1
		for hi < len(pairs) && pairs[hi].v == v {
			hi++
		}
		h = h[:0]
		for _, p := range pairs[lo:hi] {
			h = append(h, p.i)
		}
		lo = hi
		if len(h) < 2 {
			continue
		}
		roots := r.rootsOf(h)
		if len(roots) < 2 {
			continue
		}
		if len(h) > r.cfg.MaxKeyAccounts {
			r.review("shared_key", kind, v, h, fmt.Sprintf("%d accounts carry this %s; a key shared that widely is not a person", len(h), kind))
			continue
		}
		if why := r.conflict(kind, roots); why != "" {
			r.review(why, kind, v, h, "")
			continue
		}
		props = append(props, proposal{v, roots})
	}
	// tentative components of roots
	tp := map[int32]int32{}
	var tfind func(int32) int32
	tfind = func(x int32) int32 {
		p, ok := tp[x]
		if !ok || p == x {
			return x
		}
		q := tfind(p)
		tp[x] = q
		return q
	}
	for _, p := range props {
		for _, x := range p.roots[1:] {
			a, b := tfind(p.roots[0]), tfind(x)
			if a != b {
				tp[b] = a
			}
		}
	}
	comps := map[int32][]int{}
	var order []int32
	for i, p := range props {
		c := tfind(p.roots[0])
		if _, ok := comps[c]; !ok {
			order = append(order, c)
		}
		comps[c] = append(comps[c], i)
	}
	for _, c := range order {
		ps := comps[c]
		seen := map[int32]bool{}
		var roots []int32
		var accs []int32
		for _, pi := range ps {
			for _, x := range props[pi].roots {
				if !seen[x] {
					seen[x] = true
					roots = append(roots, x)
					accs = append(accs, r.members[x]...)
				}
			}
		}
		if len(ps) > 1 {
			if len(accs) > 4*r.cfg.MaxKeyAccounts {
				r.review("ambiguous_keys", kind, props[ps[0]].value, accs, fmt.Sprintf("%d accounts chained by %s values; too many to be one person", len(accs), kind))
				continue
			}
			if why := r.conflict(kind, roots); why != "" {
				vals := make([]string, len(ps))
				for i, pi := range ps {
					vals[i] = props[pi].value
				}
				r.review("ambiguous_keys", kind, strings.Join(vals, " | "), accs, "the accounts' "+kind+" values link to people who conflict ("+why+"); nothing merged")
				continue
			}
		}
		for _, x := range roots[1:] {
			r.union(roots[0], x)
		}
	}
}

func (r *resolver) rootsOf(h []int32) []int32 {
	var roots []int32
	for _, a := range h {
		x := r.find(a)
		dup := false
		for _, y := range roots {
			if y == x {
				dup = true
				break
			}
		}
		if !dup {
			roots = append(roots, x)
		}
	}
	return roots
}

type evidenceAccount struct {
	AccountKey    string   `json:"account_key"`
	Tree          string   `json:"tree"`
	DN            string   `json:"dn"`
	Emails        []string `json:"emails,omitempty"`
	EmployeeIDKey string   `json:"employee_id_key,omitempty"`
	Name          string   `json:"name,omitempty"`
	Status        string   `json:"status"`
}

type evidence struct {
	Key      string            `json:"key"`
	Value    string            `json:"value"`
	Note     string            `json:"note,omitempty"`
	Accounts []evidenceAccount `json:"accounts"`
}

func (r *resolver) review(reason, kind, value string, accs []int32, note string) {
	if reason == "force_split" {
		return // a human already decided; person_links record it
	}
	keys := make([]string, 0, len(accs))
	ev := evidence{Key: kind, Value: value, Note: note}
	sorted := append([]int32(nil), accs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	for _, a := range sorted {
		x := &r.acc[a]
		keys = append(keys, x.AccountKey)
		ev.Accounts = append(ev.Accounts, evidenceAccount{AccountKey: x.AccountKey, Tree: x.Tree, DN: x.DN, Emails: x.emails(), EmployeeIDKey: x.EmployeeIDKey(),
			Name: strings.TrimSpace(x.GivenName() + " " + x.Surname()), Status: x.Status})
	}
	id := "r-" + shortHash(reason+"\x00"+kind+"\x00"+value+"\x00"+strings.Join(keys, "\x00"), 12)
	if _, ok := r.reviews[id]; ok {
		return
	}
	if ev.Note == "" {
		ev.Note = reasonText(reason)
	}
	js, _ := json.Marshal(ev)
	r.reviews[id] = &contract.MatchReview{ReviewID: id, AccountKeys: keys, Reason: reason, Evidence: string(js)}
	r.revAccs[id] = sorted
}

func reasonText(reason string) string {
	switch reason {
	case "conflicting_employee_ids":
		return "the accounts share this key but carry different employee ids in the same numbering scheme; not merged"
	case "names_conflict":
		return "the accounts share this key but both their given names and surnames differ; not merged"
	case "same_partition":
		return "two accounts of the same partition share this key (a shared mailbox or duplicate account?); not merged"
	case "service_and_person":
		return "a service account and a person account share this key; not merged"
	case "force_split":
		return "a force_split override keeps these accounts apart"
	case "weak_match_only":
		return "same employee id in different numbering schemes and matching names, no strong key; not merged (force_link if they are one person)"
	}
	return reason
}

// weakReviews reports accounts in different clusters whose raw employee ids
// are equal across different schemes and whose names agree: candidates a
// human may force-link, never merged automatically.
func (r *resolver) weakReviews() {
	var pairs []keyHolder
	for i := range r.acc {
		k := r.acc[i].EmployeeIDKey()
		if k == "" {
			continue
		}
		if pairs == nil {
			pairs = make([]keyHolder, 0, len(r.acc))
		}
		pairs = append(pairs, newHolder(k[strings.IndexByte(k, ':')+1:], int32(i)))
	}
	pairs = sortHolders(pairs)
	for lo := 0; lo < len(pairs); {
		id := pairs[lo].v
		hi := lo + 1
		for hi < len(pairs) && pairs[hi].v == id {
			hi++
		}
		run := pairs[lo:hi]
		lo = hi
		if len(run) < 2 || len(run) > r.cfg.MaxKeyAccounts {
			continue
		}
		h := make([]int32, len(run))
		for i, p := range run {
			h[i] = p.i
		}
		for i := 0; i < len(h); i++ {
			for j := i + 1; j < len(h); j++ {
				a, b := h[i], h[j]
				if r.find(a) == r.find(b) || r.acc[a].EmployeeIDKey() == r.acc[b].EmployeeIDKey() {
					continue
				}
				if namesAgree(r.name(a), r.name(b)) {
					r.review("weak_match_only", "employee_id", id, []int32{a, b}, "")
				}
			}
		}
	}
}

func shortHash(s string, n int) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:n]
}

// assemble assigns person ids, writes links and persons.
func (r *resolver) assemble(in ResolveInput, prev *prevLinks, res *Resolution) error {
	// roots in the order of their lowest member: scanning accounts in order,
	// a root is met first at its lowest member
	var roots []int32
	seenRoot := make([]bool, len(r.acc))
	for i := range r.acc {
		rt := r.find(int32(i))
		r.parent[i] = rt // fully compressed: find is read-only from here on
		if seenRoot[rt] {
			continue
		}
		seenRoot[rt] = true
		if ms := r.members[rt]; len(ms) > 1 {
			slices.Sort(ms)
		}
		roots = append(roots, rt)
	}
	seenRoot = nil
	// the clusters are final: their member lists go into one array (a
	// million slice headers less for the collector to walk while persons
	// are assembled)
	r.memOff = make([]int32, len(r.acc)+1)
	r.memFlat = make([]int32, 0, len(r.acc))
	for i, ms := range r.members {
		r.memOff[i] = int32(len(r.memFlat))
		r.memFlat = append(r.memFlat, ms...)
	}
	r.memOff[len(r.acc)] = int32(len(r.memFlat))
	r.members = nil

	// carried ids: greedy by (accounts previously in that person desc, id asc, cluster order)
	type cand struct {
		root  int32
		id    string
		count int
	}
	var cands []cand
	inherited := map[int32][]string{}
	pid := make([]string, len(r.acc)) // by root
	used := newIDSet(0)               // ids taken by carried persons
	if !prev.empty() {
		cands = make([]cand, 0, len(roots)) // most roots carry one id
		var ids []string
		var counts []int
		for _, rt := range roots {
			ids, counts = ids[:0], counts[:0]
			for _, m := range r.membersOf(rt) {
				p := prev.of(&r.acc[m])
				if p == "" {
					continue
				}
				found := false
				for k, id := range ids {
					if id == p {
						counts[k]++
						found = true
					}
				}
				if !found {
					ids = append(ids, p)
					counts = append(counts, 1)
				}
			}
			for k, id := range ids {
				cands = append(cands, cand{rt, id, counts[k]})
			}
			if len(ids) > 1 {
				ids := slices.Clone(ids)
				sort.Strings(ids)
				inherited[rt] = ids
			}
		}
		sort.Slice(cands, func(i, j int) bool {
			a, b := cands[i], cands[j]
			if a.count != b.count {
				return a.count > b.count
			}
			if a.id != b.id {
				return a.id < b.id
			}
			return r.membersOf(a.root)[0] < r.membersOf(b.root)[0]
		})
		used = newIDSet(len(cands))
		for _, c := range cands {
			if pid[c.root] != "" || used.has(c.id) {
				continue
			}
			pid[c.root] = c.id
			used.add(c.id)
		}
	}
	// new ids: seeds and their hashes on every core, then collisions in order
	kinds := r.cfg.MatchKeys
	// seed is "<key kind>:<lowest value>" of the highest-priority kind the
	// person has, else "account:<lowest account key>", appended to dst
	seed := func(dst []byte, rt int32, buf []string) ([]byte, []string) {
		for _, k := range kinds {
			best := ""
			for _, m := range r.membersOf(rt) {
				buf = r.appendKeys(buf[:0], k, &r.acc[m], nil)
				for _, v := range buf {
					if best == "" || v < best {
						best = v
					}
				}
			}
			if best != "" {
				return append(append(append(dst, k...), ':'), best...), buf
			}
		}
		return append(append(dst, "account:"...), r.acc[r.membersOf(rt)[0]].AccountKey...), buf
	}
	first := make([]string, len(roots))
	firstSum := make([]uint64, len(roots)) // first 8 bytes of first[x]'s hash: equal ids, equal sums
	parallelRange(len(roots), func(lo, hi int) {
		var buf []string
		var sb []byte
		var id [18]byte
		copy(id[:], "p-")
		for x := lo; x < hi; x++ {
			rt := roots[x]
			if pid[rt] != "" {
				continue
			}
			sb, buf = seed(sb[:0], rt, buf)
			sum := sha256.Sum256(sb)
			hex.Encode(id[2:], sum[:8]) // = "p-" + shortHash(seed, 16)
			first[x], firstSum[x] = string(id[:]), binary.BigEndian.Uint64(sum[:8])
		}
	})
	// Assigning in roots order, each root takes its first-choice id unless an
	// earlier root took it (or it is carried or a previous person's); then
	// "<seed>#n" for n = 1, 2, ... Roots whose first choice no other root
	// shares (and that is free) keep it outright; only the rest are walked in
	// order. Should a "#n" id be some root's first choice (a hash prefix
	// collision), the plain ordered walk over every root decides instead.
	fresh := make([]uint64, 0, len(roots))
	for x, rt := range roots {
		if pid[rt] == "" {
			fresh = append(fresh, firstSum[x])
		}
	}
	slices.Sort(fresh)
	shared := map[uint64]bool{}
	for i := 1; i < len(fresh); i++ {
		if fresh[i] == fresh[i-1] {
			shared[fresh[i]] = true
		}
	}
	isFirst := func(id string) bool {
		var b [8]byte
		if len(id) != 18 {
			return false
		}
		if _, err := hex.Decode(b[:], []byte(id[2:])); err != nil {
			return false
		}
		_, found := slices.BinarySearch(fresh, binary.BigEndian.Uint64(b[:]))
		return found
	}
	var buf []string
	walk := func(x int, rt int32, taken func(string) bool) (string, bool) {
		id := first[x]
		if !taken(id) {
			return id, true
		}
		var sb []byte
		sb, buf = seed(nil, rt, buf)
		for n := 1; taken(id); n++ {
			id = "p-" + shortHash(fmt.Sprintf("%s#%d", sb, n), 16)
		}
		return id, false
	}
	assigned := map[string]bool{}
	exact := true
	for x, rt := range roots {
		if pid[rt] != "" {
			continue
		}
		if !shared[firstSum[x]] && !used.has(first[x]) && !prev.ids.has(first[x]) {
			continue // keeps its first choice (set below)
		}
		id, isFirstChoice := walk(x, rt, func(id string) bool { return used.has(id) || prev.ids.has(id) || assigned[id] })
		if !isFirstChoice && isFirst(id) {
			exact = false
			break
		}
		assigned[id] = true
		pid[rt] = id
	}
	if exact {
		for x, rt := range roots {
			if pid[rt] == "" {
				pid[rt] = first[x]
			}
		}
	} else {
		for x, rt := range roots {
			if assigned[pid[rt]] {
				pid[rt] = ""
			}
			if pid[rt] != "" {
				continue
			}
			id, _ := walk(x, rt, func(id string) bool { return used.has(id) || prev.ids.has(id) })
			pid[rt] = id
			used.add(id)
		}
	}
	used, first, firstSum = idSet{}, nil, nil

	accPID := func(a int32) string { return pid[r.find(a)] }
	pc := r.newPersonCtx(in)
	err := r.assembleOrdered(roots, func(rt int32, sc *personScratch, links []contract.PersonLink) (contract.Person, []contract.PersonLink) {
		return r.person(rt, pid[rt], in, pc, sc), r.links(links, rt, pid[rt], inherited[rt], prev)
	}, in.Emit)
	if err != nil {
		return err
	}
	for _, rv := range r.reviews {
		seen := map[string]bool{}
		for _, a := range r.revAccs[rv.ReviewID] {
			if p := accPID(a); !seen[p] {
				seen[p] = true
				rv.PersonIDs = append(rv.PersonIDs, p)
			}
		}
		sort.Strings(rv.PersonIDs)
		res.Reviews = append(res.Reviews, *rv)
	}
	sort.Slice(res.Reviews, func(i, j int) bool { return res.Reviews[i].ReviewID < res.Reviews[j].ReviewID })
	return nil
}

// parallelRange runs fn over [0, n) split into one contiguous part per core.
func parallelRange(n int, fn func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), max(1, n/4096))
	if workers <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	step := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += step {
		hi := min(lo+step, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}

// assembleOrdered builds each root's person and links with build on every
// core, chunk by chunk, and hands them to emit on the calling goroutine in
// roots order (so output stays deterministic while emit overlaps the
// building of later chunks). A bounded number of chunks is in flight, and
// their buffers are reused once emitted: build appends a root's links to the
// links it is given, and gets its worker's scratch. build must only read the
// resolver; emit must not keep the person or the links slice (it may keep
// what the person points to).
func (r *resolver) assembleOrdered(roots []int32, build func(rt int32, sc *personScratch, links []contract.PersonLink) (contract.Person, []contract.PersonLink),
	emit func(contract.Person, []contract.PersonLink) error) error {
	type built struct {
		persons []contract.Person
		links   [][]contract.PersonLink
		flat    []contract.PersonLink // every links[i] is a part of it
	}
	const chunk = 1024
	workers := runtime.GOMAXPROCS(0)
	nchunks := (len(roots) + chunk - 1) / chunk
	if workers <= 1 || nchunks <= 1 {
		var sc personScratch
		var links []contract.PersonLink
		for _, rt := range roots {
			p, l := build(rt, &sc, links[:0])
			if err := emit(p, l); err != nil {
				return err
			}
			links = l
		}
		return nil
	}
	results := make([]chan *built, nchunks)
	for i := range results {
		results[i] = make(chan *built, 1)
	}
	slots := make(chan struct{}, 2*workers) // chunks built but not yet emitted
	free := make(chan *built, 2*workers+1)  // emitted chunks, for reuse
	jobs := make(chan int)
	done := make(chan struct{})
	defer close(done)
	go func() {
		defer close(jobs)
		for c := 0; c < nchunks; c++ {
			select {
			case slots <- struct{}{}:
			case <-done:
				return
			}
			select {
			case jobs <- c:
			case <-done:
				return
			}
		}
	}()
	for w := 0; w < workers; w++ {
		go func() {
			var sc personScratch
			for c := range jobs {
				part := roots[c*chunk : min((c+1)*chunk, len(roots))]
				var b *built
				select {
				case b = <-free:
				default:
					b = &built{persons: make([]contract.Person, chunk), links: make([][]contract.PersonLink, chunk), flat: make([]contract.PersonLink, 0, chunk+chunk/4)}
				}
				b.persons, b.links, b.flat = b.persons[:len(part)], b.links[:len(part)], b.flat[:0]
				for i, rt := range part {
					lo := len(b.flat)
					b.persons[i], b.flat = build(rt, &sc, b.flat)
					b.links[i] = b.flat[lo:len(b.flat):len(b.flat)]
				}
				// a links[i] made before flat grew still points at the
				// old array, which stays valid: nothing writes it again
				results[c] <- b
			}
		}()
	}
	for c := 0; c < nchunks; c++ {
		b := <-results[c]
		for i := range b.persons {
			if err := emit(b.persons[i], b.links[i]); err != nil {
				return err
			}
		}
		clear(b.persons) // not kept alive by the free list
		select {
		case free <- b:
		default:
		}
		<-slots
	}
	return nil
}

// links explains each account's membership: its highest-priority key shared
// with another account of the person, else the carried id, else the override.
// The links are appended to out.
func (r *resolver) links(out []contract.PersonLink, rt int32, id string, inherited []string, prev *prevLinks) []contract.PersonLink {
	ms := r.membersOf(rt)
	kinds := r.cfg.MatchKeys
	var count []map[string]int
	if len(ms) > 1 {
		for _, k := range kinds {
			c := map[string]int{}
			for _, m := range ms {
				for _, v := range r.keysOf(k, &r.acc[m], nil) {
					c[v]++
				}
			}
			count = append(count, c)
		}
	}
	for _, m := range ms {
		a := &r.acc[m]
		l := contract.PersonLink{AccountKey: a.AccountKey, Tree: a.Tree, DN: a.DN, PersonID: id}
		if len(ms) == 1 {
			l.Rule = RuleSingleton
			if r.isolated[m] || len(r.cannot[m]) > 0 {
				l.Rule = RuleForceSplit
			}
		} else {
		kindLoop:
			for ki, k := range kinds {
				for _, v := range r.keysOf(k, a, nil) {
					if count[ki][v] > 1 {
						l.Rule, l.Key = k, v
						break kindLoop
					}
				}
			}
			if l.Rule == "" && r.forced[m] {
				l.Rule = RuleForceLink
			}
			if p := prev.of(a); l.Rule == "" && p != "" {
				l.Rule, l.Key = RuleCarried, p
			}
			if l.Rule == "" {
				l.Rule = RuleForceLink
			}
		}
		var det []string
		if p := prev.of(a); p != "" {
			if p == id {
				det = append(det, "person id carried from the previous run")
			} else {
				det = append(det, "previously "+p)
			}
		}
		if len(inherited) > 1 {
			det = append(det, fmt.Sprintf("cluster inherited %s; kept %s (most accounts, then lowest id)", strings.Join(inherited, ", "), id))
		}
		if len(r.cannot[m]) > 0 {
			det = append(det, "force_split constraint applies")
		}
		l.Detail = strings.Join(det, "; ")
		out = append(out, l)
	}
	return out
}

var statusRank = map[string]int{StatusEnabled: 0, StatusLocked: 1, StatusDisabled: 2}

func (r *resolver) ranker(order []string, treeRank map[string]int) func(a, b int32) bool {
	return func(ia, ib int32) bool {
		a, b := &r.acc[ia], &r.acc[ib]
		for _, c := range order {
			switch c {
			case "status":
				if sa, sb := statusRank[a.Status], statusRank[b.Status]; sa != sb {
					return sa < sb
				}
			case "tree":
				ta, oka := treeRank[a.Tree]
				tb, okb := treeRank[b.Tree]
				if !oka {
					ta = len(treeRank)
				}
				if !okb {
					tb = len(treeRank)
				}
				if ta != tb {
					return ta < tb
				}
			case "modified":
				ma, mb := a.Modified, b.Modified // the zero time when none
				if !ma.Equal(mb) {
					return ma.After(mb)
				}
			}
		}
		return a.AccountKey < b.AccountKey
	}
}

// personAttr is one survivorship attribute: a field of contract.Fields with
// a normalized and a person column, named by its Label.
type personAttr struct {
	name string
	get  func(*contract.AccountNormalized) string
	set  *contract.Field
}

// personAttrs lists the survivorship attributes of the field table.
func personAttrs() []personAttr {
	var out []personAttr
	fs := contract.Fields()
	for i := range fs {
		if f := &fs[i]; f.Person != nil && f.Norm != nil && f.Label != "" {
			out = append(out, personAttr{name: f.Label, get: f.NormValue, set: f})
		}
	}
	return out
}

type personCtx struct {
	attrs    []personAttr
	treeRank map[string]int
	less     func(a, b int32) bool
	attrLess map[string]func(a, b int32) bool
}

func (r *resolver) newPersonCtx(in ResolveInput) *personCtx {
	treeOrder := in.TreeOrder
	if len(r.cfg.Survivorship.TreeOrder) > 0 {
		treeOrder = r.cfg.Survivorship.TreeOrder
	}
	pc := &personCtx{attrs: personAttrs(), treeRank: map[string]int{}, attrLess: map[string]func(a, b int32) bool{}}
	for i, t := range treeOrder {
		if _, ok := pc.treeRank[t]; !ok {
			pc.treeRank[t] = i
		}
	}
	pc.less = r.ranker(r.cfg.Survivorship.Order, pc.treeRank)
	for a, o := range r.cfg.Survivorship.Attributes {
		pc.attrLess[a] = r.ranker(o, pc.treeRank)
	}
	return pc
}

func (r *resolver) groupNames(in ResolveInput, m int32) []string {
	at := int(m)
	if r.orig != nil {
		at = int(r.orig[m])
	}
	return in.groupNamesAt(&r.acc[m], at)
}

// groupKeyNames names group keys as "<tree>:<name>" through names (a key
// without a name stays as is).
func groupKeyNames(keys []string, names map[string]string) []string {
	if len(keys) == 0 {
		return nil
	}
	out := make([]string, len(keys))
	for i, g := range keys {
		if n, ok := names[g]; ok {
			out[i] = n
		} else {
			out[i] = g
		}
	}
	return out
}

// holdAll keeps the part of each of accounts that Resolve reads.
func holdAll(accounts []contract.AccountNormalized) []heldAccount {
	k := newKeeper(1 << 16)
	out := make([]heldAccount, len(accounts))
	for i := range accounts {
		out[i] = k.hold(&accounts[i], nil, -1)
	}
	return out
}

// personScratch is one assembling goroutine's reusable buffers for person.
type personScratch struct {
	full  []contract.AccountNormalized // the members' held parts as rows
	ms    []int32
	order []int32
	times []time.Time // ModifiedAt values: one array for many persons (never rewritten)
	strs  []string    // Emails of persons: likewise
	buf   []string
	attrs map[string]string // attribute name -> "attributes."+name
}

// timeOf returns a pointer to a copy of t, carved from a shared array.
func (sc *personScratch) timeOf(t time.Time) *time.Time {
	if len(sc.times) == cap(sc.times) {
		sc.times = make([]time.Time, 0, 256)
	}
	sc.times = append(sc.times, t)
	return &sc.times[len(sc.times)-1]
}

// emailsOf returns a's Emails (nil when the row's was nil), carved from a
// shared array.
func (sc *personScratch) emailsOf(a *heldAccount) []string {
	if !a.emailsSet {
		return nil
	}
	if cap(sc.strs)-len(sc.strs) < 4 {
		sc.strs = make([]string, 0, 256)
	}
	lo := len(sc.strs)
	sc.strs = a.appendEmails(sc.strs) // past len: no handed-out part is written
	return sc.strs[lo:len(sc.strs):len(sc.strs)]
}

// attrKey is "attributes."+name, one copy per name.
func (sc *personScratch) attrKey(name string) string {
	if k, ok := sc.attrs[name]; ok {
		return k
	}
	k := "attributes." + name
	if sc.attrs == nil {
		sc.attrs = map[string]string{}
	}
	if len(sc.attrs) < 1024 {
		sc.attrs[name] = k
	}
	return k
}

func (r *resolver) person(rt int32, id string, in ResolveInput, pc *personCtx, sc *personScratch) contract.Person {
	ms := r.membersOf(rt)
	var sourceOf map[string]string
	if in.sourceOf != nil {
		sourceOf = in.sourceOf(len(pc.attrs))
	} else {
		sourceOf = make(map[string]string, len(pc.attrs))
	}
	p := contract.Person{PersonID: id, SourceOf: sourceOf, IsService: allService(r.acc, ms)}
	if len(ms) > 1 {
		sc.ms = append(sc.ms[:0], ms...)
		ms = sc.ms
		sort.Slice(ms, func(i, j int) bool { return pc.less(ms[i], ms[j]) })
	}
	p.PrimaryTree = r.acc[ms[0]].Tree
	// the field table reads rows: the members' held parts as rows (fill
	// always sets the same fields, so a reused row holds nothing stale)
	if cap(sc.full) < len(ms) {
		sc.full = make([]contract.AccountNormalized, len(ms))
	}
	full := sc.full[:len(ms)]
	for i, m := range ms {
		r.acc[m].fill(&full[i])
	}
	row := func(m int32) *contract.AccountNormalized { return &full[slices.Index(ms, m)] } // order is a permutation of ms
	pick := func(name string, get func(*contract.AccountNormalized) string) (string, string) {
		order := ms
		if less, ok := pc.attrLess[name]; ok && len(ms) > 1 {
			sc.order = append(sc.order[:0], ms...)
			order = sc.order
			sort.Slice(order, func(i, j int) bool { return less(order[i], order[j]) })
		}
		for _, m := range order {
			if v := get(row(m)); v != "" {
				return v, r.acc[m].AccountKey
			}
		}
		return "", ""
	}
	for _, pa := range pc.attrs {
		if v, src := pick(pa.name, pa.get); v != "" {
			*pa.set.Person(&p) = v
			p.SourceOf[pa.name] = src
		}
	}
	if len(ms) == 1 {
		a := &r.acc[ms[0]]
		if len(a.Attributes) > 0 {
			p.Attributes = a.Attributes // nothing writes a held account's map: shared, not copied
			for k := range a.Attributes {
				p.SourceOf[sc.attrKey(k)] = a.AccountKey
			}
		}
		p.Emails = sc.emailsOf(a)
		two := []string{a.Tree, a.AccountKey} // one allocation for both
		p.Trees, p.AccountKeys = two[0:1:1], two[1:2:2]
		p.Groups = uniqueSorted(r.groupNames(in, ms[0]))
		if a.HasModified {
			p.ModifiedAt = sc.timeOf(a.Modified)
		}
		return p
	}
	attrNames := map[string]bool{}
	emails := map[string]bool{}
	trees := map[string]bool{}
	groups := map[string]bool{}
	var latest *heldAccount
	for _, m := range ms {
		a := &r.acc[m]
		for k := range a.Attributes {
			attrNames[k] = true
		}
		sc.buf = a.appendEmails(sc.buf[:0])
		for _, e := range sc.buf {
			emails[e] = true
		}
		trees[a.Tree] = true
		for _, g := range r.groupNames(in, m) {
			groups[g] = true
		}
		p.AccountKeys = append(p.AccountKeys, a.AccountKey)
		if a.HasModified && (latest == nil || a.Modified.After(latest.Modified)) {
			latest = a
		}
	}
	if latest != nil {
		p.ModifiedAt = sc.timeOf(latest.Modified)
	}
	for _, k := range slices.Sorted(maps.Keys(attrNames)) {
		k := k
		if v, src := pick("attributes."+k, func(a *contract.AccountNormalized) string { return a.Attributes[k] }); v != "" {
			if p.Attributes == nil {
				p.Attributes = map[string]string{}
			}
			p.Attributes[k] = v
			p.SourceOf["attributes."+k] = src
		}
	}
	p.Emails = slices.Sorted(maps.Keys(emails))
	p.Trees = slices.Sorted(maps.Keys(trees))
	p.Groups = slices.Sorted(maps.Keys(groups))
	sort.Strings(p.AccountKeys)
	return p
}

// uniqueSorted sorts s in place and drops repeats.
func uniqueSorted(s []string) []string {
	if len(s) < 2 {
		return s
	}
	sort.Strings(s)
	out := s[:1]
	for _, x := range s[1:] {
		if x != out[len(out)-1] {
			out = append(out, x)
		}
	}
	return out
}
