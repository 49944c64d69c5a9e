package transform

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/otds-highspot/otds-highspot/internal/contract"
)

// chainGraph builds groups g0 ⊂ g1 ⊂ ... ⊂ g<depth> (g0 the innermost) with
// accounts direct members of g0, as transform receives them.
func chainGraph(depth, accounts int) *Graph {
	b := NewGraphBuilder()
	dn := func(i int) string { return fmt.Sprintf("cn=g%d,ou=Groups,dc=x", i) }
	for i := 0; i <= depth; i++ {
		b.AddGroup(contract.Group{Tree: "t", SourceID: fmt.Sprintf("g%05d", i), Name: fmt.Sprintf("g%d", i), DN: dn(i)})
	}
	for a := 0; a < accounts; a++ {
		b.AddAccount("t", fmt.Sprintf("u%d", a), fmt.Sprintf("cn=u%d,dc=x", a))
		b.AddMembership(contract.Membership{Tree: "t", GroupSourceID: "g00000", GroupDN: dn(0), MemberSourceID: fmt.Sprintf("u%d", a), MemberKind: "user"})
	}
	for i := 0; i < depth; i++ {
		b.AddMembership(contract.Membership{Tree: "t", GroupSourceID: fmt.Sprintf("g%05d", i+1), GroupDN: dn(i + 1),
			MemberSourceID: fmt.Sprintf("g%05d", i), MemberDN: dn(i), MemberKind: "group"})
	}
	return b.Build()
}

// TestDeepNestingMemoryIsBounded: a chain of nested groups is expanded with
// memory linear in the memberships (issue 12: depth 500/1,000/2,000 took
// 430 MB / 2.95 GB / 22.5 GB because every ancestor stored its full path).
// The bound is on bytes allocated (an upper bound of the peak heap) and is
// generous: it catches growth in the square or cube of the depth, not noise.
func TestDeepNestingMemoryIsBounded(t *testing.T) {
	cases := []struct {
		name          string
		depth         int
		ceilingMB     uint64
		skipWithShort bool
	}{
		{"depth 500", 500, 16, false},
		{"depth 10000", 10000, 96, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.skipWithShort && testing.Short() {
				t.Skip("depth 10,000 skipped in -short mode")
			}
			const accounts = 6
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			g := chainGraph(c.depth, accounts)
			rows := 0
			for a := 0; a < accounts; a++ {
				refs := g.Effective(fmt.Sprintf("t/u%d", a))
				rows += len(Memberships(fmt.Sprintf("t/u%d", a), "t", refs))
			}
			runtime.ReadMemStats(&after)
			if want := accounts * (c.depth + 1); rows != want {
				t.Errorf("effective memberships: got %d, want %d", rows, want)
			}
			if got := (after.TotalAlloc - before.TotalAlloc) >> 20; got > c.ceilingMB {
				t.Errorf("allocated %d MB for depth %d, want at most %d MB", got, c.depth, c.ceilingMB)
			}
			runtime.KeepAlive(g)
		})
	}
}

// TestDeepNestingPaths: paths up to MaxPathNames names are complete; longer
// ones keep the first PathHead names, a marker with the number left out and
// the last names, and Depth stays exact.
func TestDeepNestingPaths(t *testing.T) {
	g := chainGraph(100, 1)
	refs := g.Effective("t/u0")
	if len(refs) != 101 {
		t.Fatalf("got %d effective groups, want 101", len(refs))
	}
	byName := map[string]GroupRef{}
	for _, r := range refs {
		byName[r.Name] = r
	}
	cases := []struct {
		group string
		depth int32
		path  string
	}{
		{"g0", 0, "g0"},
		{"g3", 3, "g0 g1 g2 g3"},
		{"g31", 31, "g0 g1 g2 g3 g4 g5 g6 g7 g8 g9 g10 g11 g12 g13 g14 g15 g16 g17 g18 g19 g20 g21 g22 g23 g24 g25 g26 g27 g28 g29 g30 g31"},
		{"g32", 32, "g0 g1 g2 g3 g4 g5 g6 g7 g8 g9 g10 g11 g12 g13 g14 g15 ...|2|more|groups|... g18 g19 g20 g21 g22 g23 g24 g25 g26 g27 g28 g29 g30 g31 g32"},
		{"g100", 100, "g0 g1 g2 g3 g4 g5 g6 g7 g8 g9 g10 g11 g12 g13 g14 g15 ...|70|more|groups|... g86 g87 g88 g89 g90 g91 g92 g93 g94 g95 g96 g97 g98 g99 g100"},
	}
	for _, c := range cases {
		r := byName[c.group]
		got := strings.Join(r.Path, " ")
		want := strings.ReplaceAll(c.path, "|", " ")
		if r.Depth != c.depth || got != want {
			t.Errorf("%s: got depth %d path %q, want depth %d path %q", c.group, r.Depth, got, c.depth, want)
		}
		if len(r.Path) > MaxPathNames {
			t.Errorf("%s: path holds %d names, want at most %d", c.group, len(r.Path), MaxPathNames)
		}
	}
}

// BenchmarkDeepNesting10000 expands six accounts under a chain of 10,000
// nested groups: go test ./transform -run '^$' -bench DeepNesting -benchmem
// (B/op is the bytes allocated per expansion, graph build included).
func BenchmarkDeepNesting10000(b *testing.B) {
	b.ReportAllocs()
	var peak uint64
	for i := 0; i < b.N; i++ {
		g := chainGraph(10000, 6)
		for a := 0; a < 6; a++ {
			refs := g.Effective(fmt.Sprintf("t/u%d", a))
			_ = Memberships(fmt.Sprintf("t/u%d", a), "t", refs)
		}
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		peak = max(peak, m.HeapInuse)
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
}
