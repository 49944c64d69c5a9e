package transform

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/records"
)

// pureRun streams a synthetic population through the pure pipeline the way
// the stage does (groups, accounts registered, memberships, closure, then
// normalize + expand account by account, then resolve) and returns the links
// and the figures.
type pureResult struct {
	links   []records.PersonLink
	reviews int
	persons int
	labels  map[string]string
	eff     int64
	graph   GraphStats
}

func pureRun(tb testing.TB, s synth) pureResult {
	tb.Helper()
	cfg := synthConfig()
	n, err := NewNormalizer(&cfg.Transform)
	if err != nil {
		tb.Fatal(err)
	}
	b := NewGraphBuilder()
	for t := range synthTrees {
		for _, g := range s.treeGroups(t) {
			b.AddGroup(g)
		}
	}
	for i := 0; i < s.accounts; i++ {
		a, _ := s.account(i)
		b.AddAccount(a.Tree, a.SourceID, a.DN)
	}
	for t := range synthTrees {
		s.nestings(t, b.AddMembership)
	}
	for i := 0; i < s.accounts; i++ {
		a, _ := s.account(i)
		s.memberships(i, &a, b.AddMembership)
	}
	g := b.Build()
	labels := make(map[string]string, s.accounts)
	accs := make([]records.AccountNormalized, 0, s.accounts)
	var eff int64
	for i := 0; i < s.accounts; i++ {
		a, p := s.account(i)
		key := AccountKey(a.Tree, a.SourceID)
		refs := g.Effective(key)
		eff += int64(len(refs))
		an := n.Normalize(a, refs)
		an.Groups = nil // as the stage does: rows are written, then held without groups
		accs = append(accs, an)
		labels[key] = strconv.Itoa(p)
	}
	// persons are consumed as they come (the stage writes them); keep links only
	var links []records.PersonLink
	persons := 0
	res, err := Resolve(&cfg.Transform, ResolveInput{Accounts: accs, TreeOrder: cfg.TreeNames(), GroupNames: g.GroupNames(),
		GroupsOf: func(a *records.AccountNormalized) []string { return groupKeys(g.Effective(a.AccountKey)) },
		Emit: func(p records.Person, l []records.PersonLink) error {
			persons++
			links = append(links, l...)
			return nil
		}})
	if err != nil {
		tb.Fatal(err)
	}
	return pureResult{links: links, reviews: len(res.Reviews), persons: persons, labels: labels, eff: eff, graph: g.Stats}
}

func peakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return ru.Maxrss * 1024 // Linux reports KiB
}

// TestResolverPrecisionRecall: on a labelled synthetic population with
// realistic variations and traps, no false merge (precision 1.0) and recall
// of at least 0.99.
func TestResolverPrecisionRecall(t *testing.T) {
	res := pureRun(t, newSynth(30000))
	e := Evaluate(res.links, res.labels)
	t.Logf("precision %.6f recall %.6f (pairs: predicted %d, true %d, correct %d), reviews %d", e.Precision, e.Recall, e.PredictedPairs, e.TruePairs, e.CorrectPairs, res.reviews)
	if e.Precision != 1 {
		t.Errorf("precision: got %.6f, want 1.0; false merges: %v", e.Precision, e.FalseMerges)
	}
	if e.Recall < 0.99 {
		t.Errorf("recall: got %.6f, want >= 0.99; missed: %v", e.Recall, e.Missed)
	}
}

// BenchmarkResolve1M: 1,000,000 accounts over 5 trees, 10% cross-tree
// duplicates, 5M direct memberships (one 200k-member group per tree), through
// normalize + effective memberships + resolve. Reports wall time and peak
// RSS; targets < 20 s and < 2 GB. OTDS_BENCH_ACCOUNTS changes the size.
//
//	go test -run '^$' -bench BenchmarkResolve1M -benchtime 1x ./transform
func BenchmarkResolve1M(b *testing.B) {
	size := 1_000_000
	if v := os.Getenv("OTDS_BENCH_ACCOUNTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatalf("OTDS_BENCH_ACCOUNTS=%q: %v", v, err)
		}
		size = n
	}
	for i := 0; i < b.N; i++ {
		runtime.GC()
		start := time.Now()
		res := pureRun(b, newSynth(size))
		wall := time.Since(start)
		rss := peakRSS()
		e := Evaluate(res.links, res.labels)
		b.ReportMetric(wall.Seconds(), "wall-s")
		b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MiB")
		b.ReportMetric(e.Precision, "precision")
		b.ReportMetric(e.Recall, "recall")
		fmt.Fprintf(os.Stderr, "resolve %d accounts: %d direct memberships, %d effective, %d persons, %d reviews, wall %.1fs, peak RSS %d MiB, precision %.6f, recall %.6f\n",
			size, res.graph.DirectMembers, res.eff, res.persons, res.reviews, wall.Seconds(), rss>>20, e.Precision, e.Recall)
	}
}
