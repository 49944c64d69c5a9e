package history

import (
	"errors"
	"fmt"
	"math/rand"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/contract"
)

// genRun is a run of persons drawn from a small pool, so that runs share
// persons, some change and some repeat; values carry the blanks and
// duplicates normalize must handle.
func genRun(rng *rand.Rand, pool int) []Snapshot {
	vals := []string{"", " ", "amer", " emea", "apac ", "x"}
	groups := []string{"", "Sales", "Sales", "EMEA", "b", "a"}
	var out []Snapshot
	for i := 0; i < pool; i++ {
		if rng.Intn(5) == 0 {
			continue // absent this run
		}
		s := Snapshot{PersonID: fmt.Sprintf("p%03d", rng.Intn(pool)), Email: fmt.Sprintf("u%d@x", rng.Intn(3)), Status: []string{"enabled", "disabled", ""}[rng.Intn(3)],
			Attributes: map[string]string{}}
		if rng.Intn(8) == 0 {
			s.PersonID = "" // skipped by Next
		}
		for _, k := range AttributeKeys {
			if rng.Intn(3) == 0 {
				s.Attributes[k] = vals[rng.Intn(len(vals))]
			}
		}
		for j := rng.Intn(4); j > 0; j-- {
			s.Groups = append(s.Groups, groups[rng.Intn(len(groups))])
		}
		out = append(out, s)
	}
	return out
}

func curOf(t *testing.T, snaps []Snapshot) *current {
	t.Helper()
	c := newCurrent()
	for _, s := range snaps {
		if err := c.addSnapshot(s); err != nil {
			t.Fatal(err)
		}
	}
	c.sorted()
	return c
}

func TestHashOfMatchesHash(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for run := 0; run < 20; run++ {
		for _, s := range genRun(rng, 30) {
			c := newCurrent()
			if err := c.addSnapshot(s); err != nil {
				t.Fatal(err)
			}
			if s.PersonID == "" {
				continue
			}
			if got, want := string(c.people[0].hash[:]), Hash(s); got != want {
				t.Fatalf("%+v: got hash %s, want %s", s, got, want)
			}
		}
	}
}

// TestFoldIsNext checks that the streamed fold writes exactly the table
// Next builds (rows, order, counts), over runs that fold persons joining,
// changing, leaving and returning, and over a run folded twice.
func TestFoldIsNext(t *testing.T) {
	for seed := int64(1); seed <= 30; seed++ {
		rng := rand.New(rand.NewSource(seed))
		var h []Row
		day := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
		for run := 0; run < 6; run++ {
			snaps := genRun(rng, 40)
			at := day.AddDate(0, 0, run)
			if run == 4 {
				at = day.AddDate(0, 0, 3) // the previous run again
			}
			runID := fmt.Sprintf("r%d", run)
			want := Next(h, snaps, runID, at)
			var got []Row
			n, err := fold(rowsOf(h), curOf(t, snaps), runID, at, func(r Row) error { got = append(got, r); return nil })
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("seed %d run %d: got %d rows, want %d (Next); first difference:\n%s", seed, run, len(got), len(want), firstDiff(got, want))
			}
			opened, closed := diffCounts(h, want, runID)
			if n.rows != len(want) || n.open != countOpen(want) || n.opened != opened || n.closed != closed {
				t.Fatalf("seed %d run %d: got counts %+v, want rows %d open %d opened %d closed %d", seed, run, n, len(want), countOpen(want), opened, closed)
			}
			h = want
		}
	}
}

func firstDiff(got, want []Row) string {
	for i := 0; i < len(got) && i < len(want); i++ {
		if !reflect.DeepEqual(got[i], want[i]) {
			return fmt.Sprintf("row %d:\n  got  %+v\n  want %+v", i, got[i], want[i])
		}
	}
	return "(one is a prefix of the other)"
}

func TestFoldRefusesUnsortedHistory(t *testing.T) {
	day := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	prev := []Row{{PersonID: "p2", ValidFrom: day}, {PersonID: "p1", ValidFrom: day}}
	_, err := fold(rowsOf(prev), newCurrent(), "r", day.AddDate(0, 0, 1), func(Row) error { return nil })
	if !errors.Is(err, errUnsorted) {
		t.Errorf("got %v, want errUnsorted", err)
	}
}

// countOpen and diffCounts are how Run counted before the fold: the
// reference for its counts.
func countOpen(h []contract.IdentityHistory) int {
	n := 0
	for _, r := range h {
		if r.ValidTo == nil {
			n++
		}
	}
	return n
}

// diffCounts counts the rows runID opened and the rows it closed.
func diffCounts(prev, next []contract.IdentityHistory, runID string) (opened, closed int) {
	wasOpen := map[string]bool{}
	for _, r := range prev {
		if r.ValidTo == nil {
			wasOpen[r.PersonID+"\x00"+r.ValidFrom.Format(time.RFC3339Nano)] = true
		}
	}
	for _, r := range next {
		k := r.PersonID + "\x00" + r.ValidFrom.Format(time.RFC3339Nano)
		if r.ValidTo == nil && r.OpenedRunID == runID && !wasOpen[k] {
			opened++
		}
		if r.ValidTo != nil && wasOpen[k] {
			closed++
		}
	}
	return opened, closed
}

// TestOrderIsSortByIDThenSeq: order (a sort of prefix keys, then a
// permutation in place) gives the order a plain sort by id, then seq, gives:
// ids sharing long prefixes, of different lengths, prefixes of each other,
// repeated, and with bytes past the shared prefix that tie.
func TestOrderIsSortByIDThenSeq(t *testing.T) {
	gens := []struct {
		name string
		id   func(rng *rand.Rand) string
	}{
		{"hashed p- ids", func(rng *rand.Rand) string { return fmt.Sprintf("p-%016x", rng.Uint64()) }},
		{"few distinct ids (repeats)", func(rng *rand.Rand) string { return fmt.Sprintf("p-%d", rng.Intn(20)) }},
		{"prefixes of each other", func(rng *rand.Rand) string { return "p-abcdefgh"[:2+rng.Intn(9)] }},
		{"ties in the first 8 bytes after the shared prefix", func(rng *rand.Rand) string {
			return fmt.Sprintf("%c-12345678%c", 'a'+rng.Intn(2), 'a'+rng.Intn(3))
		}},
		{"no shared prefix, short", func(rng *rand.Rand) string { return string(rune('a' + rng.Intn(26))) }},
		{"bytes above 0x7f", func(rng *rand.Rand) string { return fmt.Sprintf("%c%d", 0xe9+rng.Intn(3), rng.Intn(5)) }},
	}
	for _, g := range gens {
		for _, n := range []int{0, 1, 2, 7, 1000} {
			t.Run(fmt.Sprintf("%s, %d persons", g.name, n), func(t *testing.T) {
				rng := rand.New(rand.NewSource(int64(n)))
				c := newCurrent()
				for i := 0; i < n; i++ {
					c.people = append(c.people, person{id: g.id(rng), email: fmt.Sprint(i), seq: int32(rng.Intn(n + 1))})
				}
				want := append([]person(nil), c.people...)
				sort.SliceStable(want, func(i, j int) bool {
					if want[i].id != want[j].id {
						return want[i].id < want[j].id
					}
					return want[i].seq < want[j].seq
				})
				// Equal (id, seq) pairs may come in either order; compare those.
				c.order()
				if len(c.people) != len(want) {
					t.Fatalf("got %d persons, want %d", len(c.people), len(want))
				}
				for i := range want {
					g, w := c.people[i], want[i]
					if g.id != w.id || g.seq != w.seq {
						t.Fatalf("person %d: got (%q, %d), want (%q, %d)", i, g.id, g.seq, w.id, w.seq)
					}
				}
				seen := map[string]int{}
				for _, p := range c.people {
					seen[p.email]++
				}
				if len(seen) != n {
					t.Errorf("got %d distinct persons, want %d (a person was lost or duplicated)", len(seen), n)
				}
			})
		}
	}
}
