package history

import (
	"errors"
	"fmt"
	"math/rand"
	"reflect"
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
