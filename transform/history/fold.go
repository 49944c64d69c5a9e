package history

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// The fold below is Next, streamed: the previous table is read row by row
// (it is sorted by person_id, then valid_from, as Next and fold write it),
// each row is written out as soon as its person is decided, and only the
// current run is held in memory, compacted (see current). An unchanged
// person's open row is carried as read; only changed persons get a new row.

// errUnsorted means a previous table is not sorted by person_id.
var errUnsorted = errors.New("previous history is not sorted by person_id")

// attrOrder lists AttributeKeys' indexes in key order (the order Hash
// writes attributes in).
var attrOrder = func() []int {
	ix := make([]int, len(AttributeKeys))
	for i := range ix {
		ix[i] = i
	}
	sort.Slice(ix, func(a, b int) bool { return AttributeKeys[ix[a]] < AttributeKeys[ix[b]] })
	return ix
}()

var attrIndex = func() map[string]int {
	m := make(map[string]int, len(AttributeKeys))
	for i, k := range AttributeKeys {
		m[k] = i
	}
	return m
}()

const nAttrs = 9 // len(AttributeKeys)

// person is one current person, compacted: attribute values (trimmed; 0 is
// empty) and the normalized group list are ids into current's tables.
type person struct {
	id, email, status string
	attrs             [nAttrs]uint32
	groups            uint32
	seq               int32
	hash              [32]byte // hex, as Hash returns it
}

// current is one run's persons for the fold, sorted by person id (the first
// of a repeated id kept, persons without one dropped) once sorted is called.
type current struct {
	vals   []string // value id -> value (id 0: "")
	valIx  map[string]uint32
	sets   [][]string // group list id -> sorted, de-duplicated, non-empty groups
	setIx  map[string]uint32
	people []person
	h      hash.Hash
	buf    []byte
}

func newCurrent() *current {
	return &current{vals: []string{""}, valIx: map[string]uint32{"": 0}, sets: [][]string{{}}, setIx: map[string]uint32{"": 0}, h: sha256.New()}
}

func (c *current) val(v string) uint32 {
	v = strings.TrimSpace(v)
	if id, ok := c.valIx[v]; ok {
		return id
	}
	v = strings.Clone(v)
	id := uint32(len(c.vals))
	c.vals = append(c.vals, v)
	c.valIx[v] = id
	return id
}

// groupSet interns a group list in its normalized form (sorted,
// de-duplicated, without empty names).
func (c *current) groupSet(gs []string) uint32 {
	norm := gs
	if !slices.IsSorted(gs) || slices.Contains(gs, "") || len(slices.Compact(slices.Clone(gs))) != len(gs) {
		norm = make([]string, 0, len(gs))
		for _, g := range gs {
			if g != "" {
				norm = append(norm, g)
			}
		}
		sort.Strings(norm)
		norm = slices.Compact(norm)
	}
	key := strings.Join(norm, "\x00")
	if id, ok := c.setIx[key]; ok {
		return id
	}
	id := uint32(len(c.sets))
	cp := make([]string, len(norm))
	for i, g := range norm {
		cp[i] = strings.Clone(g)
	}
	c.sets = append(c.sets, cp)
	c.setIx[key] = id
	return id
}

// add appends a person; vals are the attribute values in AttributeKeys
// order, groups its access (any order). Persons without an id are skipped,
// as Next does.
func (c *current) add(id, email, status string, vals *[nAttrs]string, groups uint32) {
	if id == "" {
		return
	}
	p := person{id: id, email: email, status: status, groups: groups, seq: int32(len(c.people))}
	for i, v := range vals {
		p.attrs[i] = c.val(v)
	}
	c.hashOf(&p)
	c.people = append(c.people, p)
}

// addRow appends the person of persons row `row` without its access: the
// last attribute (access_source), the groups and the hash are set by
// complete once the run's plan is known. Persons without an id are skipped.
func (c *current) addRow(id, email, status string, vals *[nAttrs]string, row int) {
	if id == "" {
		return
	}
	p := person{id: id, email: email, status: status, seq: int32(row)}
	for i, v := range vals[:nAttrs-1] {
		p.attrs[i] = c.val(v)
	}
	c.people = append(c.people, p)
}

// complete sets every person's access source and groups, hashes them,
// and drops repeated ids (the first row kept). The persons must be in
// order (see order).
func (c *current) complete(source string, groupsOf func(p *person) uint32) {
	src := c.val(source)
	for i := range c.people {
		p := &c.people[i]
		p.attrs[nAttrs-1] = src
		p.groups = groupsOf(p)
	}
	// One SHA-256 per person: on every core.
	workers := min(runtime.GOMAXPROCS(0), 8)
	if len(c.people) < 4096 {
		workers = 1
	}
	chunk := (len(c.people) + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := 0; lo < len(c.people); lo += chunk {
		wg.Add(1)
		go func(people []person) {
			defer wg.Done()
			h, b := sha256.New(), make([]byte, 0, 256)
			for i := range people {
				b = c.hashWith(&people[i], h, b)
			}
		}(c.people[lo:min(lo+chunk, len(c.people))])
	}
	wg.Wait()
	c.people = slices.CompactFunc(c.people, func(a, b person) bool { return a.id == b.id })
}

// addSnapshot adds a Snapshot (its attribute keys must be AttributeKeys).
func (c *current) addSnapshot(s Snapshot) error {
	var vals [nAttrs]string
	for k, v := range s.Attributes {
		i, ok := attrIndex[k]
		if !ok {
			return fmt.Errorf("history: attribute %q is not tracked (AttributeKeys)", k)
		}
		vals[i] = v
	}
	c.add(s.PersonID, s.Email, s.Status, &vals, c.groupSet(s.Groups))
	return nil
}

// hashOf sets p.hash to Hash of p's snapshot.
func (c *current) hashOf(p *person) {
	c.buf = c.hashWith(p, c.h, c.buf)
}

// hashWith is hashOf with its own hash and buffer (it only reads c), so
// that persons can be hashed on several goroutines; it returns the buffer.
func (c *current) hashWith(p *person, h hash.Hash, b []byte) []byte {
	b = b[:0]
	put := func(v string) {
		b = binary.LittleEndian.AppendUint64(b, uint64(len(v)))
		b = append(b, v...)
	}
	put("v1")
	put(p.email)
	put(p.status)
	put("attributes")
	for _, i := range attrOrder {
		if p.attrs[i] != 0 {
			put(AttributeKeys[i])
			put(c.vals[p.attrs[i]])
		}
	}
	put("groups")
	for _, g := range c.sets[p.groups] {
		put(g)
	}
	h.Reset()
	h.Write(b)
	var sum [sha256.Size]byte
	hex.Encode(p.hash[:], h.Sum(sum[:0])[:16])
	return b
}

// sorted orders the persons by id and drops repeated ids (the first added
// is kept).
func (c *current) sorted() {
	c.order()
	c.people = slices.CompactFunc(c.people, func(a, b person) bool { return a.id == b.id })
}

// order sorts the persons by id, then by the order they were added.
//
// A person is large to move and its id is behind a pointer, so the sort is
// of small keys: 8 bytes of the id (after the bytes every id shares, such
// as "p-"), big-endian, which order as the ids do unless equal, and the
// person's index; equal prefixes compare the ids and then seq. The people
// are then moved once each, into their place.
func (c *current) order() {
	ps := c.people
	if len(ps) < 2 {
		return
	}
	skip := len(ps[0].id) // bytes at the start of every id
	for i := 1; i < len(ps) && skip > 0; i++ {
		id := ps[i].id
		n := 0
		for n < skip && n < len(id) && id[n] == ps[0].id[n] {
			n++
		}
		skip = n
	}
	type key struct {
		pfx uint64
		i   int32
	}
	keys := make([]key, len(ps))
	for i := range ps {
		var k uint64
		id := ps[i].id
		for j := skip; j < skip+8; j++ {
			k <<= 8
			if j < len(id) {
				k |= uint64(id[j])
			}
		}
		keys[i] = key{k, int32(i)}
	}
	slices.SortFunc(keys, func(a, b key) int {
		if a.pfx != b.pfx {
			return cmp.Compare(a.pfx, b.pfx)
		}
		pa, pb := &ps[a.i], &ps[b.i]
		if c := strings.Compare(pa.id, pb.id); c != 0 {
			return c
		}
		return cmp.Compare(pa.seq, pb.seq)
	})
	// In place, cycle by cycle (a second slice of people would be as large
	// as the first): position p takes the person at keys[p].i.
	for start := range keys {
		if keys[start].i < 0 {
			continue // placed
		}
		held := ps[start]
		for p := start; ; {
			from := int(keys[p].i)
			keys[p].i = -1
			if from == start {
				ps[p] = held
				break
			}
			ps[p] = ps[from]
			p = from
		}
	}
}

// row is the new history row of p (as Next writes it).
func (c *current) row(p *person, runID string, at time.Time) Row {
	attrs := map[string]string{}
	for i, id := range p.attrs {
		if id != 0 {
			attrs[AttributeKeys[i]] = c.vals[id]
		}
	}
	set := c.sets[p.groups]
	return Row{PersonID: p.id, Email: p.email, Status: p.status, Attributes: attrs,
		Groups: append(make([]string, 0, len(set)), set...), Hash: string(p.hash[:]), ValidFrom: at, OpenedRunID: runID}
}

// foldCounts are what a fold wrote.
type foldCounts struct {
	rows, open, opened, closed int
}

// fold advances a history by one run exactly as Next does, streaming: prev
// yields the previous table's rows (sorted by person_id, then valid_from;
// otherwise fold stops with errUnsorted), emit receives the new table's
// rows in order. cur must be sorted.
func fold(prev func(yield func(Row) error) error, cur *current, runID string, at time.Time, emit func(Row) error) (foldCounts, error) {
	at = at.UTC().Truncate(time.Microsecond) // what Parquet keeps
	var n foldCounts
	out := func(r Row) error {
		n.rows++
		if r.ValidTo == nil {
			n.open++
		}
		return emit(r)
	}
	next := 0 // next current person not yet written
	// newUpTo writes the new rows of current persons with ids below id.
	newUpTo := func(id string, all bool) error {
		for ; next < len(cur.people) && (all || cur.people[next].id < id); next++ {
			n.opened++
			if err := out(cur.row(&cur.people[next], runID, at)); err != nil {
				return err
			}
		}
		return nil
	}
	var group, rows []Row // reused from person to person
	flush := func() error {
		if len(group) == 0 {
			return nil
		}
		id := group[0].PersonID
		if err := newUpTo(id, false); err != nil {
			return err
		}
		var p *person
		if next < len(cur.people) && cur.people[next].id == id {
			p = &cur.people[next]
			next++
		}
		wasOpen := func(t time.Time) bool {
			for _, r := range group {
				if r.ValidTo == nil && r.ValidFrom.Equal(t) {
					return true
				}
			}
			return false
		}
		rows = rows[:0]
		hasOpen := false
		for _, r := range group {
			switch {
			case r.ValidTo != nil:
			case !r.ValidFrom.Before(at): // folded already (or a later run): leave it
				hasOpen = true
			case p != nil && string(p.hash[:]) == r.Hash:
				hasOpen = true
			default:
				to := at
				r.ValidTo = &to
			}
			rows = append(rows, r)
		}
		for _, r := range rows {
			if r.ValidTo != nil && wasOpen(r.ValidFrom) {
				n.closed++
			}
		}
		if p != nil && !hasOpen {
			// (a person with an open row at `at` has hasOpen set)
			rows = append(rows, cur.row(p, runID, at))
			n.opened++
		}
		slices.SortStableFunc(rows, func(a, b Row) int { return a.ValidFrom.Compare(b.ValidFrom) })
		for _, r := range rows {
			if err := out(r); err != nil {
				return err
			}
		}
		group = group[:0]
		return nil
	}
	err := prev(func(r Row) error {
		if len(group) > 0 && r.PersonID != group[0].PersonID {
			if r.PersonID < group[0].PersonID {
				return errUnsorted
			}
			if err := flush(); err != nil {
				return err
			}
		}
		group = append(group, r)
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err == nil {
		err = newUpTo("", true)
	}
	return n, err
}

// sortRows orders a history table as Next does (person_id, then
// valid_from; stable).
func sortRows(rows []Row) {
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].PersonID != rows[j].PersonID {
			return rows[i].PersonID < rows[j].PersonID
		}
		return rows[i].ValidFrom.Before(rows[j].ValidFrom)
	})
}

// rowsOf yields rows from a slice.
func rowsOf(rows []Row) func(func(Row) error) error {
	return func(yield func(Row) error) error {
		for _, r := range rows {
			if err := yield(r); err != nil {
				return err
			}
		}
		return nil
	}
}
