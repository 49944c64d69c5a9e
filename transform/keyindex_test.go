package transform

import (
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/otds-highspot/otds-highspot/internal/contract"
)

// TestKeyIndex: every key added is found at its index (by string, by bytes
// and in a batch), also after the table grew from its smallest size; keys
// not added, prefixes and extensions of added ones and the empty key are not
// found; a nil index finds nothing.
func TestKeyIndex(t *testing.T) {
	for _, tc := range []struct {
		name    string
		reserve int
		n       int
	}{
		{"grows from empty", 0, 5000},
		{"reserved", 5000, 5000},
		{"reserved too small", 10, 3000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := newKeyIndex(tc.reserve)
			var keys []string
			for i := 0; i < tc.n; i++ {
				keys = append(keys, fmt.Sprintf("t%d/%06d", i%3, i))
				x.add(keys, int32(i))
			}
			if got, want := x.n, tc.n; got != want {
				t.Errorf("keys set: got %d, want %d", got, want)
			}
			var text []byte
			var ends []int32
			var want []int32
			for i, k := range keys {
				if got, ok := x.get(keys, k); !ok || got != int32(i) {
					t.Fatalf("get(%q): got %d, %v, want %d, true", k, got, ok, i)
				}
				if got, ok := x.getBytes(keys, []byte(k)); !ok || got != int32(i) {
					t.Fatalf("getBytes(%q): got %d, %v, want %d, true", k, got, ok, i)
				}
				for _, miss := range []string{k + "0", k[:len(k)-1], "x" + k} {
					if got, ok := x.get(keys, miss); ok {
						t.Fatalf("get(%q): got %d, true, want not found", miss, got)
					}
				}
				// a batch mixing hits, misses and empty keys
				switch rand.IntN(3) {
				case 0:
					want = append(want, int32(i))
					text = append(text, k...)
				case 1:
					want = append(want, -1)
					text = append(text, k+"-"...)
				default:
					want = append(want, -1)
				}
				ends = append(ends, int32(len(text)))
			}
			got := make([]int32, len(ends))
			x.lookupAll(keys, text, ends, make([]uint64, len(ends)), got)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("lookupAll: got %v, want %v", got[:10], want[:10])
			}
			var qs []string
			lo := int32(0)
			for _, hi := range ends {
				qs = append(qs, string(text[lo:hi]))
				lo = hi
			}
			clear(got)
			x.lookupKeys(keys, qs, make([]uint64, len(qs)), got)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("lookupKeys: got %v, want %v", got[:10], want[:10])
			}
		})
	}
	var nilIndex *keyIndex
	if _, ok := nilIndex.get(nil, "t0/1"); ok {
		t.Errorf("nil index: got a key, want none")
	}
	out := []int32{7}
	nilIndex.lookupAll(nil, []byte("t0/1"), []int32{4}, make([]uint64, 1), out)
	if out[0] != -1 {
		t.Errorf("nil index lookupAll: got %d, want -1", out[0])
	}
}

// TestAddMembershipsLikeAddMembership: a graph built with AddMemberships
// (batches of any size) is the graph AddMembership builds row by row:
// the same direct groups, effective groups and figures, with direct and
// nested members, members of other trees, dangling ones and repeats.
func TestAddMembershipsLikeAddMembership(t *testing.T) {
	s := newSynth(4000)
	var rows []contract.Membership
	for tr := range synthTrees {
		s.nestings(tr, func(m contract.Membership) { rows = append(rows, m) })
	}
	for i := 0; i < s.accounts; i++ {
		tr := s.accountTree(i)
		a := contract.Account{Tree: synthTrees[tr], Partition: synthPartitions[tr], SourceID: synthSourceID(i)}
		s.memberships(i, &a, func(m contract.Membership) { rows = append(rows, m) })
	}
	g0 := s.treeGroups(0)[0]
	other := s.treeGroups(1)[0]
	rows = append(rows,
		contract.Membership{Tree: g0.Tree, GroupSourceID: g0.SourceID, GroupDN: g0.DN, MemberSourceID: "nobody", MemberKind: "user"},                 // dangling member
		contract.Membership{Tree: g0.Tree, GroupSourceID: "no-such-group", GroupDN: "cn=none", MemberSourceID: synthSourceID(1), MemberKind: "user"}, // dangling group
		contract.Membership{Tree: g0.Tree, GroupSourceID: g0.SourceID, GroupDN: g0.DN, MemberSourceID: other.SourceID, MemberKind: "group"},          // another tree's group
		contract.Membership{Tree: " " + g0.Tree, GroupSourceID: g0.SourceID + " ", GroupDN: g0.DN, MemberSourceID: " " + synthSourceID(2), MemberKind: "user"},
		rows[len(rows)/2], // a repeat
	)
	build := func(add func(b *GraphBuilder)) *Graph {
		b := NewGraphBuilder()
		for tr := range synthTrees {
			for _, g := range s.treeGroups(tr) {
				b.AddGroup(g)
			}
		}
		for i := 0; i < s.accounts; i++ {
			tree, _, src, dn := s.accountRef(i)
			b.AddAccount(tree, src, dn)
		}
		add(b)
		return b.Build()
	}
	want := build(func(b *GraphBuilder) {
		for _, m := range rows {
			b.AddMembership(m)
		}
	})
	for _, batch := range []int{1, 7, 4096, len(rows)} {
		t.Run(fmt.Sprint("batch ", batch), func(t *testing.T) {
			got := build(func(b *GraphBuilder) {
				for lo := 0; lo < len(rows); lo += batch {
					b.AddMemberships(rows[lo:min(lo+batch, len(rows))])
				}
			})
			if !reflect.DeepEqual(got.Stats, want.Stats) {
				t.Errorf("stats: got %+v, want %+v", got.Stats, want.Stats)
			}
			for i := 0; i < s.accounts; i++ {
				key := want.accKeys[i]
				if g, w := got.Effective(key), want.Effective(key); !reflect.DeepEqual(g, w) {
					t.Fatalf("account %s: got groups %v, want %v", key, g, w)
				}
			}
		})
	}
}

// TestPrevLinksAddAll: previous links added a batch at a time are those
// added one by one: accounts of the graph by index, others by key, a later
// link of an account winning, every person id named.
func TestPrevLinksAddAll(t *testing.T) {
	b := NewGraphBuilder()
	for i := 0; i < 300; i++ {
		b.AddAccount("t0", fmt.Sprint(i), "")
	}
	g := b.Build()
	var rows []prevLinkRow
	for i := 0; i < 1000; i++ {
		k := fmt.Sprintf("t0/%d", rand.IntN(400)) // some not in the graph, some repeated
		if i%97 == 0 {
			k = ""
		}
		rows = append(rows, prevLinkRow{AccountKey: k, PersonID: fmt.Sprintf("p-%016x", i)})
	}
	for _, gr := range []*Graph{g, nil} {
		want := newPrevLinks(gr, len(rows))
		for _, l := range rows {
			want.add(gr, l.AccountKey, l.PersonID)
		}
		for _, batch := range []int{1, 13, len(rows)} {
			got := newPrevLinks(gr, len(rows))
			var sc prevScratch
			for lo := 0; lo < len(rows); lo += batch {
				got.addAll(gr, rows[lo:min(lo+batch, len(rows))], &sc)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("graph %v, batch %d: got %+v, want %+v", gr != nil, batch, got, want)
			}
		}
	}
}

// BenchmarkAddMemberships adds a synthetic population's memberships in
// group order (as the extract writes them) to a graph of its accounts, row
// by row and a batch of 4096 at a time (default 200k accounts, about 5
// memberships each; OTDS_BENCH_ACCOUNTS changes the size).
func BenchmarkAddMemberships(b *testing.B) {
	n := 200000
	if v := os.Getenv("OTDS_BENCH_ACCOUNTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatalf("OTDS_BENCH_ACCOUNTS=%q: %v", v, err)
		}
	}
	s := newSynth(n)
	var rows []contract.Membership
	for i := 0; i < s.accounts; i++ {
		tr := s.accountTree(i)
		a := contract.Account{Tree: synthTrees[tr], Partition: synthPartitions[tr], SourceID: synthSourceID(i)}
		s.memberships(i, &a, func(m contract.Membership) { rows = append(rows, m) })
	}
	slices.SortStableFunc(rows, func(x, y contract.Membership) int { return strings.Compare(x.GroupSourceID, y.GroupSourceID) })
	gb := NewGraphBuilder()
	gb.reserve(s.accounts)
	for tr := range synthTrees {
		for _, g := range s.treeGroups(tr) {
			gb.AddGroup(g)
		}
	}
	for i := 0; i < s.accounts; i++ {
		tree, _, src, dn := s.accountRef(i)
		gb.AddAccount(tree, src, dn)
	}
	for _, c := range []struct {
		name string
		add  func(rows []contract.Membership)
	}{
		{"row by row", func(rows []contract.Membership) {
			for _, m := range rows {
				gb.AddMembership(m)
			}
		}},
		{"batched", gb.AddMemberships},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				for i := range gb.direct {
					gb.direct[i] = gb.direct[i][:0]
				}
				for lo := 0; lo < len(rows); lo += 4096 {
					c.add(rows[lo:min(lo+4096, len(rows))])
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rows)), "ns/membership")
		})
	}
}
