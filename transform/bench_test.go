package transform

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/store"
)

// pureRun streams a synthetic population through the pure pipeline the way
// the stage does (groups, accounts registered, memberships, closure, then
// normalize + expand account by account, then resolve) and returns the links
// and the figures.
type pureResult struct {
	reviews int
	persons int
	eff     int64
	graph   GraphStats
}

// synthLabel is the true person of a synthetic account key ("<tree>/u%08d").
func (s synth) synthLabel(key string) (string, bool) {
	i := strings.LastIndex(key, "/u")
	if i < 0 {
		return "", false
	}
	n, err := strconv.Atoi(key[i+2:])
	if err != nil {
		return "", false
	}
	return strconv.Itoa(s.label(n)), true
}

// pureRun streams a synthetic population through the pure pipeline the way
// the stage does (groups, accounts registered, memberships, closure, then
// normalize + expand account by account, then resolve with persons emitted
// as they are assembled) and hands each person's links to emit.
func pureRun(tb testing.TB, s synth, emit func([]contract.PersonLink)) pureResult {
	tb.Helper()
	cfg := synthConfig()
	n, err := NewNormalizer(&cfg.Transform)
	if err != nil {
		tb.Fatal(err)
	}
	b := NewGraphBuilder()
	b.reserve(s.accounts) // as the stage does from the extract manifests' row counts
	for t := range synthTrees {
		for _, g := range s.treeGroups(t) {
			b.AddGroup(g)
		}
	}
	// the generator stands in for reading the extract tables: it runs on its
	// own goroutine (as the stage's table readers decode ahead of it) and
	// hands over batches
	type ref struct{ tree, src, dn string }
	produce(s.accounts, func(i int, out []ref) []ref {
		var r ref
		r.tree, _, r.src, r.dn = s.accountRef(i)
		return append(out, r)
	}, func(r *ref) { b.AddAccount(r.tree, r.src, r.dn) })
	for t := range synthTrees {
		s.nestings(t, b.AddMembership)
	}
	produce(s.accounts, func(i int, out []contract.Membership) []contract.Membership {
		t := s.accountTree(i)
		a := contract.Account{Tree: synthTrees[t], Partition: synthPartitions[t], SourceID: synthSourceID(i)}
		s.memberships(i, &a, func(m contract.Membership) { out = append(out, m) })
		return out
	}, func(m *contract.Membership) { b.AddMembership(*m) })
	g := b.Build()
	accs := make([]contract.AccountNormalized, s.accounts)
	var eff int64
	const batch = 8192
	raw := make([]contract.Account, batch)
	refs := make([][]GroupRef, batch)
	var sc batchScratch
	for lo := 0; lo < s.accounts; lo += batch {
		hi := min(lo+batch, s.accounts)
		// the generator stands in for the extract the stage has already
		// read: it runs on every core so that it does not dominate the figures
		parallelRange(hi-lo, func(x, y int) {
			for i := lo + x; i < lo+y; i++ {
				raw[i-lo], _ = s.account(i)
			}
		})
		normalizeBatch(n, g, raw[:hi-lo], accs[lo:hi], refs[:hi-lo], runtime.GOMAXPROCS(0), lo, &sc)
		for i := lo; i < hi; i++ {
			eff += int64(len(refs[i-lo]))
			accs[i].Groups = nil // as the stage does: rows are written, then held without groups
		}
	}
	persons := 0
	res, err := Resolve(&cfg.Transform, ResolveInput{Accounts: accs, TreeOrder: cfg.TreeNames(), GroupNames: g.GroupNames(),
		groupNamesAt: func(a *heldAccount, at int) []string { return g.effectiveNames(a.AccountKey, at) },
		Emit: func(p contract.Person, l []contract.PersonLink) error {
			persons++
			emit(l)
			return nil
		}})
	if err != nil {
		tb.Fatal(err)
	}
	return pureResult{reviews: len(res.Reviews), persons: persons, eff: eff, graph: g.Stats}
}

// TestSynthAccountRef: the graph's cheap view of a synthetic account is the
// account's own tree, partition, source id and DN.
func TestSynthAccountRef(t *testing.T) {
	for _, i := range []int{0, 7, 12345678, 99999999, 123456789} {
		d := strconv.Itoa(i)
		if got, want := synthSourceID(i), "u"+strings.Repeat("0", max(0, 8-len(d)))+d; got != want {
			t.Errorf("synthSourceID(%d): got %q, want %q", i, got, want)
		}
	}
	s := newSynth(20000)
	for i := 0; i < s.accounts; i++ {
		a, _ := s.account(i)
		tree, part, src, dn := s.accountRef(i)
		if tree != a.Tree || part != a.Partition || src != a.SourceID || dn != a.DN || synthTrees[s.accountTree(i)] != a.Tree {
			t.Fatalf("account %d: got %q %q %q %q, want %q %q %q %q", i, tree, part, src, dn, a.Tree, a.Partition, a.SourceID, a.DN)
		}
	}
}

// produce generates items 0..n-1 with gen on another goroutine, in batches,
// and hands them to consume in order on this one.
func produce[T any](n int, gen func(i int, out []T) []T, consume func(*T)) {
	const batch = 4096
	ch := make(chan []T, 4)
	free := make(chan []T, 6) // batches are recycled, not reallocated
	go func() {
		defer close(ch)
		for lo := 0; lo < n; lo += batch {
			var out []T
			select {
			case out = <-free:
			default:
			}
			for i := lo; i < min(lo+batch, n); i++ {
				out = gen(i, out)
			}
			ch <- out
		}
	}()
	for out := range ch {
		for i := range out {
			consume(&out[i])
		}
		clear(out)
		select {
		case free <- out[:0]:
		default:
		}
	}
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
	s := newSynth(30000)
	var links []contract.PersonLink
	res := pureRun(t, s, func(l []contract.PersonLink) { links = append(links, l...) })
	labels := map[string]string{}
	for _, l := range links {
		labels[l.AccountKey], _ = s.synthLabel(l.AccountKey)
	}
	e := Evaluate(links, labels)
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
		// the figures assume GOGC=400 with a 1.8 GiB soft limit (the stage
		// documents the same GOGC/GOMEMLIMIT for million-account runs)
		defer debug.SetGCPercent(debug.SetGCPercent(400))
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(1800 << 20))
		runtime.GC()
		s := newSynth(size)
		ev := NewEvaluator(s.synthLabel)
		start := time.Now()
		res := pureRun(b, s, ev.Add)
		wall := time.Since(start)
		rss := peakRSS()
		e := ev.Result()
		b.ReportMetric(wall.Seconds(), "wall-s")
		b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MiB")
		b.ReportMetric(e.Precision, "precision")
		b.ReportMetric(e.Recall, "recall")
		fmt.Fprintf(os.Stderr, "resolve %d accounts: %d direct memberships, %d effective, %d persons, %d reviews, wall %.1fs, peak RSS %d MiB, precision %.6f, recall %.6f\n",
			size, res.graph.DirectMembers, res.eff, res.persons, res.reviews, wall.Seconds(), rss>>20, e.Precision, e.Recall)
	}
}

// BenchmarkStage runs the full transform stage over Parquet extracts of the
// synthetic population (written untimed into a local store first): read,
// graph, normalize, expand, resolve, write the five tables, commit.
// OTDS_BENCH_ACCOUNTS sets the size (default 100,000; the 1M figure needs
// several GB of scratch disk for the extract and output). It runs with the
// command's own GC settings (no GOGC or memory limit) and reports, besides
// wall time and the process's peak RSS (which includes writing the
// extracts), the peak live heap while the stage ran (sampled after each GC)
// and that peak per account: the figure the stage's memory budget is about
// (issue 13: under 2 GiB of RSS at 1M accounts).
//
//	OTDS_BENCH_ACCOUNTS=1000000 go test -run '^$' -bench BenchmarkStage -benchtime 1x ./transform
func BenchmarkStage(b *testing.B) {
	size := 100_000
	if v := os.Getenv("OTDS_BENCH_ACCOUNTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatalf("OTDS_BENCH_ACCOUNTS=%q: %v", v, err)
		}
		size = n
	}
	ctx := context.Background()
	dir := b.TempDir()
	st, err := store.NewFileStore(dir)
	if err != nil {
		b.Fatal(err)
	}
	s := newSynth(size)
	cfg := synthConfig()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e := artifact.Env{Store: st, RunID: fmt.Sprintf("20261125T%06dZ-be", i), ConfigHash: "bench", Version: "bench", Host: "bench", TempDir: b.TempDir()}
		writeSynthExtracts(ctx, b, e, s)
		runtime.GC()
		b.StartTimer()
		start := time.Now()
		stop := sampleLiveHeap()
		res, err := Run(ctx, e, cfg, Options{AllowMissingTrees: false})
		live := stop()
		if err != nil {
			b.Fatal(err)
		}
		wall := time.Since(start)
		b.ReportMetric(wall.Seconds(), "wall-s")
		b.ReportMetric(float64(peakRSS())/(1<<20), "peak-RSS-MiB")
		b.ReportMetric(float64(live)/(1<<20), "peak-live-MiB")
		b.ReportMetric(float64(live)/float64(max(res.Accounts, 1)), "live-B/account")
		fmt.Fprintf(os.Stderr, "transform stage %d accounts: %d effective memberships, %d persons, %d reviews, wall %.1fs, peak RSS %d MiB, peak live heap %d MiB (%d B/account)\n",
			res.Accounts, res.Memberships, res.Persons, res.Reviews, wall.Seconds(), peakRSS()>>20, live>>20, live/uint64(max(res.Accounts, 1)))
	}
}

// sampleLiveHeap watches the live heap (as measured by each GC) until the
// returned stop is called, which returns the largest value seen.
func sampleLiveHeap() (stop func() uint64) {
	done := make(chan struct{})
	peak := make(chan uint64)
	go func() {
		sm := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		var top uint64
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sm)
			top = max(top, sm[0].Value.Uint64())
			select {
			case <-done:
				peak <- top
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		return <-peak
	}
}

// writeSynthExtracts publishes the synthetic population as extract.<tree> of env's run.
func writeSynthExtracts(ctx context.Context, b *testing.B, env artifact.Env, s synth) {
	b.Helper()
	for t, tree := range synthTrees {
		stg := artifact.NewStage(env, contract.ExtractStage(tree))
		aw, _ := artifact.OpenTable[contract.Account](stg, contract.AccountsSpec)
		mw, _ := artifact.OpenTable[contract.Membership](stg, contract.MembershipsSpec)
		gw, _ := artifact.OpenTable[contract.Group](stg, contract.GroupsSpec)
		for _, g := range s.treeGroups(t) {
			if err := gw.Write(g); err != nil {
				b.Fatal(err)
			}
		}
		s.nestings(t, func(m contract.Membership) {
			if err := mw.Write(m); err != nil {
				b.Fatal(err)
			}
		})
		for i := 0; i < s.accounts; i++ {
			a, _ := s.account(i)
			if a.Tree != tree {
				continue
			}
			if err := aw.Write(a); err != nil {
				b.Fatal(err)
			}
			s.memberships(i, &a, func(m contract.Membership) {
				if err := mw.Write(m); err != nil {
					b.Fatal(err)
				}
			})
		}
		for _, c := range []interface{ Close() error }{aw, mw, gw} {
			if err := c.Close(); err != nil {
				b.Fatal(err)
			}
		}
		if _, _, err := stg.Commit(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
