package transform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/store"
)

// groupExtracts publishes, for each of trees, an extract whose groups table
// holds rows groups (source ids "<tree>-<i>"), in parts of 7 rows and row
// groups of 3, so that a read goes through many parts and record batches.
func groupExtracts(t *testing.T, st store.Store, run string, trees []string, rows int) []*artifact.Manifest {
	t.Helper()
	ctx := context.Background()
	var out []*artifact.Manifest
	for _, tree := range trees {
		s := artifact.NewStage(artifact.Env{Store: st, RunID: run, ConfigHash: "test", Version: "test", Host: "test", TempDir: t.TempDir()}, contract.ExtractStage(tree))
		s.SetLimits(artifact.Limits{RowGroupRows: 3, PartRows: 7})
		w, err := artifact.OpenTable[contract.Group](s, contract.GroupsSpec)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < rows; i++ {
			if err := w.Write(contract.Group{Tree: tree, SourceID: fmt.Sprintf("%s-%d", tree, i), Name: "g"}); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		_, m, err := s.Commit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// goroutinesDown waits (up to 5 s) for the number of goroutines to fall to
// want and returns it: a goroutine that signalled its end may still be
// returning.
func goroutinesDown(want int) int {
	n := runtime.NumGoroutine()
	for i := 0; i < 500 && n > want; i++ {
		time.Sleep(10 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}

// TestReadAhead: rows reach fn in manifest order and in each table's row
// order whatever the number of trees read at once and the batch size; an
// error from fn, a cancelled context and a part that cannot be read stop the
// read with that error, and every reader goroutine has stopped on return.
func TestReadAhead(t *testing.T) {
	st, err := store.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	trees := []string{"t0", "t1", "t2", "t3", "t4"}
	const rows = 50
	ms := groupExtracts(t, st, "20261125T000000Z-0001", trees, rows)
	var want []string
	for _, tree := range trees {
		for i := 0; i < rows; i++ {
			want = append(want, fmt.Sprintf("%s-%d", tree, i))
		}
	}
	ctx := context.Background()
	for _, c := range []struct{ par, batch int }{{1, 1}, {2, 4}, {3, 1}, {5, 64}} {
		t.Run(fmt.Sprintf("par%d-batch%d", c.par, c.batch), func(t *testing.T) {
			before := runtime.NumGoroutine()
			var got []string
			err := readAhead(ctx, st, ms, contract.GroupsSpec, c.par, c.batch, func(m *artifact.Manifest, rows []contract.Group) error {
				if len(rows) == 0 || len(rows) > c.batch {
					t.Errorf("batch of %d rows, want 1..%d", len(rows), c.batch)
				}
				for _, g := range rows {
					if string(m.Stage) != "extract."+g.Tree {
						t.Errorf("row %s handed with manifest %s", g.SourceID, m.Stage)
					}
					got = append(got, g.SourceID)
				}
				if c.par > 1 {
					runtime.Gosched() // let the readers run ahead
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("rows: got %v, want %v", got, want)
			}
			if after := goroutinesDown(before); after > before {
				t.Errorf("goroutines: got %d after the read, want at most %d (a reader did not stop)", after, before)
			}
		})
	}

	stopErr := errors.New("stop here")
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, c := range []struct {
		name string
		ctx  context.Context
		fn   func(n int) error
		want error
	}{
		{"fn error", ctx, func(n int) error {
			if n >= 60 {
				return stopErr
			}
			return nil
		}, stopErr},
		{"cancelled", cctx, func(n int) error {
			if n >= 60 {
				cancel()
			}
			return nil
		}, context.Canceled},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			n := 0
			err := readAhead(c.ctx, st, ms, contract.GroupsSpec, 2, 4, func(_ *artifact.Manifest, rows []contract.Group) error {
				n += len(rows)
				return c.fn(n)
			})
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if n >= len(want) {
				t.Errorf("rows handed: got %d, want the read stopped before the last (%d)", n, len(want))
			}
			if after := goroutinesDown(before); after > before {
				t.Errorf("goroutines: got %d after the read, want at most %d (a reader did not stop)", after, before)
			}
		})
	}

	// a part of the fourth tree is changed after its manifest was written
	te := ms[3].Tables[contract.GroupsSpec.Name]
	key := te.Files[1].Key
	body := "not a parquet file"
	if err := st.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, key, strings.NewReader(body), int64(len(body))); err != nil {
		t.Fatal(err)
	}
	n := 0
	err = readAhead(ctx, st, ms, contract.GroupsSpec, 2, 4, func(_ *artifact.Manifest, rows []contract.Group) error {
		n += len(rows)
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "read groups of extract.t3") {
		t.Errorf("damaged part: got %v, want an error naming groups of extract.t3", err)
	}
	if n < 3*rows {
		t.Errorf("rows handed before the damaged tree: got %d, want at least %d (the trees before it are read whole)", n, 3*rows)
	}
}

// TestAsyncWriterOrder: rows written through an asyncWriter are in the table
// in the order they were written, across batches and part files.
func TestAsyncWriterOrder(t *testing.T) {
	ctx := context.Background()
	st, err := store.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	env := artifact.Env{Store: st, RunID: "20261125T000000Z-0002", ConfigHash: "test", Version: "test", Host: "test", TempDir: t.TempDir()}
	s := artifact.NewStage(env, contract.ExtractStage("t0"))
	s.SetLimits(artifact.Limits{RowGroupRows: 5, PartRows: 11})
	w, err := openAsync[contract.Group](ctx, s, contract.GroupsSpec, 3)
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	for i := 0; i < n; i++ {
		if err := w.Write(contract.Group{Tree: "t0", SourceID: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := w.Rows(); got != n {
		t.Errorf("rows: got %d, want %d", got, n)
	}
	_, m, err := s.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	if err := artifact.ReadTable(ctx, st, m, contract.GroupsSpec, func(g contract.Group) error {
		if g.SourceID != fmt.Sprint(i) {
			return fmt.Errorf("row %d: got source id %s, want %d", i, g.SourceID, i)
		}
		i++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if i != n {
		t.Errorf("rows read: got %d, want %d", i, n)
	}
}

// cancelStore is a file store that cancels a context when the nth part of
// an extract's accounts table is opened.
type cancelStore struct {
	store.Store
	n      int32
	opened atomic.Int32
	cancel context.CancelFunc
}

func (s *cancelStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if strings.HasPrefix(key, "accounts/") && s.opened.Add(1) == s.n {
		s.cancel()
	}
	return s.Store.Get(ctx, key)
}

// TestStageCancelled: a transform whose context is cancelled while it
// reads, normalizes and writes (the second pass over the accounts, with the
// writer goroutines running and the previous links being read) returns the cancellation, publishes nothing and
// leaves no goroutine behind; the same run then transforms in full.
func TestStageCancelled(t *testing.T) {
	fs, err := store.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := loadConfig(t, "testcases/fixture/config.yaml")
	in := readInput(t, "testcases/fixture/input.yaml").caseRun
	run := "20261125T000000Z-0004"
	env := artifact.Env{Store: fs, RunID: run, ConfigHash: "test", Version: "test", Host: "test", TempDir: t.TempDir(),
		Now: func() time.Time { return time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC) }}
	for _, tr := range cfg.TreeNames() {
		publishExtract(t, env, tr, in)
	}
	// a previous transform: its links are read beside the normalize pass
	if _, err := Run(context.Background(), env, cfg, Options{}); err != nil {
		t.Fatal(err)
	}
	run = "20261126T000000Z-0005"
	env.RunID = run
	for _, tr := range cfg.TreeNames() {
		publishExtract(t, env, tr, in)
	}
	ntrees := int32(len(cfg.TreeNames()))
	for _, at := range []int32{2, ntrees + 1, 2 * ntrees} { // graph pass; second pass, first and last tree
		t.Run(fmt.Sprintf("part%d", at), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			before := runtime.NumGoroutine()
			e := env
			e.Store = &cancelStore{Store: fs, n: at, cancel: cancel}
			_, err := Run(ctx, e, cfg, Options{})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("got %v, want the cancellation", err)
			}
			if _, _, err := artifact.ReadManifest(context.Background(), fs, run, contract.Transform); !errors.Is(err, artifact.ErrNotPublished) {
				t.Errorf("manifest after a cancelled run: got %v, want %v", err, artifact.ErrNotPublished)
			}
			if after := goroutinesDown(before); after > before {
				t.Errorf("goroutines: got %d after the cancelled run, want at most %d", after, before)
			}
		})
	}
	res, err := Run(context.Background(), env, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Accounts, int64(len(in.Accounts)); got != want {
		t.Errorf("accounts after the cancelled runs: got %d, want %d", got, want)
	}
}

// TestAsyncWriterRelease: release sees every row once, in order, after the
// table has copied it: a row changed in release is still written as it was.
func TestAsyncWriterRelease(t *testing.T) {
	ctx := context.Background()
	st, err := store.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	env := artifact.Env{Store: st, RunID: "20261125T000000Z-0003", ConfigHash: "test", Version: "test", Host: "test", TempDir: t.TempDir()}
	s := artifact.NewStage(env, contract.ExtractStage("t0"))
	s.SetLimits(artifact.Limits{RowGroupRows: 5, PartRows: 11})
	const n = 200
	released := 0 // written on the writer goroutine, read after Close
	var w *asyncWriter[contract.Group]
	w, err = openAsyncReleasing(ctx, s, contract.GroupsSpec, 3, func(g *contract.Group) {
		if g.SourceID != fmt.Sprint(released) {
			t.Errorf("release %d: got source id %s, want %d", released, g.SourceID, released)
		}
		released++
		if got := w.w.Rows(); got != int64(released) {
			t.Errorf("release %d: table has %d rows, want %d", released-1, got, released)
		}
		g.SourceID = "reused" // as a reused map or buffer would be
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := w.Write(contract.Group{Tree: "t0", SourceID: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if released != n {
		t.Errorf("released: got %d, want %d", released, n)
	}
	_, m, err := s.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	if err := artifact.ReadTable(ctx, st, m, contract.GroupsSpec, func(g contract.Group) error {
		if g.SourceID != fmt.Sprint(i) {
			return fmt.Errorf("row %d: got source id %s, want %d", i, g.SourceID, i)
		}
		i++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if i != n {
		t.Errorf("rows read: got %d, want %d", i, n)
	}
}

// TestResolveReusesSourceOfMaps: with sourceOf, every person's SourceOf
// comes from it (the stage hands back the maps of written persons), and the
// persons are those Resolve makes with maps of its own.
func TestResolveReusesSourceOfMaps(t *testing.T) {
	s := newSynth(3000)
	cfg := synthConfig()
	n, err := NewNormalizer(&cfg.Transform)
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]contract.Account, s.accounts)
	for i := range raw {
		raw[i], _ = s.account(i)
	}
	accs := make([]contract.AccountNormalized, s.accounts)
	NormalizeBatch(n, NewGraphBuilder().Build(), raw, accs, make([][]GroupRef, s.accounts), 1)
	run := func(pool *mapPool) (persons []contract.Person, gets int) {
		in := ResolveInput{Accounts: slices.Clone(accs), TreeOrder: cfg.TreeNames(), Emit: func(p contract.Person, _ []contract.PersonLink) error {
			q := p
			q.SourceOf = maps.Clone(p.SourceOf)
			persons = append(persons, q)
			if pool != nil {
				pool.put(p.SourceOf) // as the persons writer does once the row is copied
			}
			return nil
		}}
		var mu sync.Mutex
		if pool != nil {
			in.sourceOf = func(n int) map[string]string {
				mu.Lock()
				gets++
				mu.Unlock()
				return pool.get(n)
			}
		}
		if _, err := Resolve(&cfg.Transform, in); err != nil {
			t.Fatal(err)
		}
		return persons, gets
	}
	want, _ := run(nil)
	pool := newMapPool(16)
	for i := 0; i < 16; i++ {
		pool.put(map[string]string{"stale": "left over"}) // put clears
	}
	got, gets := run(pool)
	if gets != len(got) {
		t.Errorf("sourceOf calls: got %d, want one per person (%d)", gets, len(got))
	}
	if len(got) != len(want) {
		t.Fatalf("persons: got %d, want %d", len(got), len(want))
	}
	for i := range got {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("person %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}
