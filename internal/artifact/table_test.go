package artifact

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/otds-highspot/otds-highspot/internal/contract"
)

func testEnv(t testing.TB, st *memStore, runID string) Env {
	t.Helper()
	return Env{
		Store:      st,
		RunID:      runID,
		ConfigHash: "cfg-sha",
		Version:    "test-1.0",
		Host:       "test-host",
		TempDir:    t.TempDir(),
		Now:        func() time.Time { return time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC) },
	}
}

func ptrTime(t time.Time) *time.Time { return &t }

// commitAccounts writes sampleAccount(0..n-1) as the accounts table of s
// and commits it.
func commitAccounts(t *testing.T, s *Stage, n int) *Manifest {
	t.Helper()
	w, err := OpenTable[contract.Account](s, contract.AccountsSpec)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := w.Write(sampleAccount(i)); err != nil {
			t.Fatal(err)
		}
	}
	_, m, err := s.Commit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// sampleAccount makes a varied account row; i selects which optional parts
// are present so nulls, empty lists and maps all occur.
func sampleAccount(i int) contract.Account {
	a := contract.Account{
		Tree:      "acme",
		Partition: fmt.Sprintf("p%d", i%3),
		DN:        fmt.Sprintf("cn=user%d,ou=Users,ou=p%d,dc=acme,dc=com", i, i%3),
		SourceID:  fmt.Sprintf("uuid-%08d", i),
		Login:     []string{fmt.Sprintf("user%d", i)},
		Mail:      []string{fmt.Sprintf("user%d@acme.com", i), fmt.Sprintf("U%d@Acme.COM", i)},
		GivenName: []string{"Given"},
		Surname:   []string{"Sürname ✓"},
	}
	if i%2 == 0 {
		a.ObjectGUID = fmt.Sprintf("guid-%d", i)
		a.ModifiedAt = ptrTime(time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC).Add(time.Duration(i) * time.Second))
	}
	if i%3 == 0 {
		a.CreatedAt = ptrTime(time.Date(2020, 5, 6, 7, 8, 9, 0, time.UTC))
		a.Extra = map[string][]string{"region": {"EMEA"}, "territory": {"DE", "AT"}}
	}
	if i%5 == 0 {
		a.MemberOf = []string{"cn=g1,dc=acme", "cn=g2,dc=acme"}
		a.Extra = map[string][]string{"bu": {"Sales"}}
	}
	return a
}

func TestRoundTripAccounts(t *testing.T) {
	for _, tc := range []struct {
		name       string
		rows       int
		limits     Limits
		streamOnly bool
		wantParts  int
	}{
		{"empty table", 0, Limits{}, false, 0},
		{"one row", 1, Limits{}, false, 1},
		{"small row groups, rollover by rows", 2500, Limits{RowGroupRows: 100, PartRows: 1000}, false, 3},
		{"rollover by bytes", 500, Limits{RowGroupRows: 50, PartBytes: 1}, false, 10},
		{"stream-only store (S3 path)", 300, Limits{RowGroupRows: 128}, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			st := newMemStore()
			st.streamOnly = tc.streamOnly
			s := NewStage(testEnv(t, st, "20261125T100000Z-aaaa"), "extract.acme")
			s.SetLimits(tc.limits)
			s.SetAllocator(mem)
			w, err := OpenTable[contract.Account](s, contract.AccountsSpec)
			if err != nil {
				t.Fatal(err)
			}
			var want []contract.Account
			for i := 0; i < tc.rows; i++ {
				a := sampleAccount(i)
				want = append(want, a)
				if err := w.Write(a); err != nil {
					t.Fatal(err)
				}
			}
			if got := w.Rows(); got != int64(tc.rows) {
				t.Errorf("Rows() = %d, want %d", got, tc.rows)
			}
			ref, m, err := s.Commit(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.TableRows("accounts"); got != int64(tc.rows) {
				t.Errorf("manifest rows = %d, want %d", got, tc.rows)
			}
			if got := len(m.Tables["accounts"].Files); got != tc.wantParts {
				t.Errorf("parts = %d, want %d", got, tc.wantParts)
			}
			for _, f := range m.Tables["accounts"].Files {
				if !strings.HasPrefix(f.Key, "accounts/dt=2026-11-25/run_id=20261125T100000Z-aaaa/part-") || !strings.HasSuffix(f.Key, "-"+s.Attempt()+".parquet") {
					t.Errorf("part key %q does not follow the layout", f.Key)
				}
			}
			m2, ref2, err := ReadManifest(ctx, st, "20261125T100000Z-aaaa", "extract.acme")
			if err != nil {
				t.Fatal(err)
			}
			if ref2 != ref {
				t.Errorf("ReadManifest ref = %+v, want %+v", ref2, ref)
			}
			got, err := ReadAll[contract.Account](ctx, st, m2, contract.AccountsSpec, WithAllocator(mem), WithBatchRows(77))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("read %d rows, want %d", len(got), len(want))
			}
			for i := range want {
				if !reflect.DeepEqual(got[i], want[i]) {
					t.Fatalf("row %d:\n got %+v\nwant %+v", i, got[i], want[i])
				}
			}
		})
	}
}

// allTypes covers every supported field type.
type allTypes struct {
	S    string              `parquet:"s"`
	B    bool                `parquet:"b"`
	I32  int32               `parquet:"i32"`
	I64  int64               `parquet:"i64"`
	F    float64             `parquet:"f"`
	T    time.Time           `parquet:"t"`
	TP   *time.Time          `parquet:"tp"`
	SP   *string             `parquet:"sp"`
	L    []string            `parquet:"l"`
	M    map[string]string   `parquet:"m"`
	ML   map[string][]string `parquet:"ml"`
	Skip string              `parquet:"-"`
}

func TestAllTypesRoundTrip(t *testing.T) {
	ctx := context.Background()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	st := newMemStore()
	s := NewStage(testEnv(t, st, "20261125-x"), "transform")
	s.SetAllocator(mem)
	spec := contract.Spec{Name: "all_types", Version: 3}
	w, err := OpenTable[allTypes](s, spec)
	if err != nil {
		t.Fatal(err)
	}
	str := "nullable"
	rows := []allTypes{
		{}, // zero values everywhere, including the zero time
		{S: "x", B: true, I32: -7, I64: 1 << 40, F: 3.25, T: time.Date(2026, 2, 3, 4, 5, 6, 7000, time.UTC),
			TP: ptrTime(time.Date(1999, 12, 31, 23, 59, 59, 999999000, time.UTC)), SP: &str,
			L: []string{"a", "", "c"}, M: map[string]string{"k": "v", "a": ""}, ML: map[string][]string{"z": {"1"}, "y": nil}},
	}
	for _, r := range rows {
		r.Skip = "not stored"
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	_, m, err := s.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadAll[allTypes](ctx, st, m, spec, WithAllocator(mem))
	if err != nil {
		t.Fatal(err)
	}
	rows[1].ML = map[string][]string{"z": {"1"}, "y": nil}
	for i := range rows {
		if !reflect.DeepEqual(got[i], rows[i]) {
			t.Errorf("row %d:\n got %+v\nwant %+v", i, got[i], rows[i])
		}
	}
	// Timestamps are microseconds: sub-microsecond precision is truncated.
	w2s := NewStage(testEnv(t, st, "20261125-y"), "transform")
	w2, _ := OpenTable[allTypes](w2s, spec)
	_ = w2.Write(allTypes{T: time.Date(2026, 1, 1, 0, 0, 0, 1999, time.UTC)})
	_, m2, err := w2s.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got2, err := ReadAll[allTypes](ctx, st, m2, spec)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 1, 1, 0, 0, 0, 1000, time.UTC); !got2[0].T.Equal(want) {
		t.Errorf("time = %v, want %v", got2[0].T, want)
	}
	// A reader with a newer schema version refuses the table.
	err = ReadTable(ctx, st, m, contract.Spec{Name: "all_types", Version: 4}, func(allTypes) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "version 3") {
		t.Errorf("version mismatch error = %v, want one naming version 3", err)
	}
}

func TestUnsupportedRowTypes(t *testing.T) {
	type untagged struct {
		A string
	}
	type badType struct {
		A []int `parquet:"a"`
	}
	type dup struct {
		A string `parquet:"a"`
		B string `parquet:"a"`
	}
	spec := contract.Spec{Name: "x", Version: 1}
	for name, f := range map[string]func() error{
		"untagged": func() error { _, err := planFor[untagged](spec); return err },
		"bad type": func() error { _, err := planFor[badType](spec); return err },
		"dup":      func() error { _, err := planFor[dup](spec); return err },
		"not struct": func() error {
			_, err := planFor[string](spec)
			return err
		},
	} {
		if err := f(); err == nil {
			t.Errorf("%s: planFor succeeded, want an error", name)
		}
	}
}

func TestCommitTwiceFails(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	env := testEnv(t, st, "20261125T100000Z-aaaa")
	for i := 0; i < 2; i++ {
		s := NewStage(env, "transform")
		w, err := OpenTable[contract.Reject](s, contract.RejectsSpec)
		if err != nil {
			t.Fatal(err)
		}
		_ = w.Write(contract.Reject{Tree: "a"})
		_, _, err = s.Commit(ctx)
		if i == 0 && err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			want := "stage transform already published for run 20261125T100000Z-aaaa; use a new --run-id"
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("second commit: got %v, want %q", err, want)
			}
		}
	}
}

func TestCrashedStageIsNotPublished(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	// Run 1 publishes transform.
	s1 := NewStage(testEnv(t, st, "20261124T100000Z-aaaa"), "transform")
	w1, _ := OpenTable[contract.Reject](s1, contract.RejectsSpec)
	_ = w1.Write(contract.Reject{Tree: "one"})
	ref1, _, err := s1.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Run 2 uploads a part (Flush) and then "crashes": no Commit.
	s2 := NewStage(testEnv(t, st, "20261125T100000Z-bbbb"), "transform")
	w2, _ := OpenTable[contract.Reject](s2, contract.RejectsSpec)
	_ = w2.Write(contract.Reject{Tree: "two"})
	if err := w2.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := st.keys(StagingPrefix("20261125T100000Z-bbbb")); len(got) != 1 {
		t.Fatalf("flushed parts in staging = %v, want 1", got)
	}
	if got := st.keys("rejects/dt=2026-11-25/"); len(got) != 0 {
		t.Fatalf("parts in the table prefix before any commit = %v, want none", got)
	}
	s2.Abort()

	_, _, err = ReadManifest(ctx, st, "20261125T100000Z-bbbb", "transform")
	if !errors.Is(err, ErrNotPublished) {
		t.Errorf("ReadManifest of crashed stage: got %v, want ErrNotPublished", err)
	}
	_, ref, err := LatestManifest(ctx, st, "transform", "")
	if err != nil {
		t.Fatal(err)
	}
	if ref != ref1 {
		t.Errorf("LatestManifest = %+v, want run 1's %+v", ref, ref1)
	}
	if _, _, err := LatestManifest(ctx, st, "transform", "20261124T100000Z-aaaa"); !errors.Is(err, ErrNotPublished) {
		t.Errorf("LatestManifest before run 1: got %v, want ErrNotPublished", err)
	}
	// The ledger can still be read from the flushed part.
	var got []string
	err = ReadParts(ctx, st, "20261125T100000Z-bbbb", contract.RejectsSpec, func(r contract.Reject) error {
		got = append(got, r.Tree)
		return nil
	})
	if err != nil || !reflect.DeepEqual(got, []string{"two"}) {
		t.Errorf("ReadParts = %v, %v; want [two]", got, err)
	}
}

func TestFlushThenCommitListsAllParts(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	s := NewStage(testEnv(t, st, "20261125T100000Z-aaaa"), "apply")
	w, err := OpenTable[contract.LoadResult](s, contract.LoadResultsSpec)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for i := 0; i < 5; i++ {
		if err := w.Write(contract.LoadResult{ChangeID: fmt.Sprint(i), Status: contract.StatusApplied, At: at}); err != nil {
			t.Fatal(err)
		}
		if i%2 == 1 {
			if err := w.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Flush(ctx); err != nil { // nothing buffered after this: no empty part
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	_, m, err := s.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(m.Tables["load_results"].Files), 3; got != want {
		t.Errorf("parts = %d, want %d", got, want)
	}
	rows, err := ReadAll[contract.LoadResult](ctx, st, m, contract.LoadResultsSpec)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range rows {
		ids = append(ids, r.ChangeID)
	}
	if want := []string{"0", "1", "2", "3", "4"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("ids = %v, want %v", ids, want)
	}
}

func TestRunIDs(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want string // date or "" for error
	}{
		{"20261125T235959Z-1a2b", "2026-11-25"},
		{"20260229", ""},
		{"20280229.manual_1", "2028-02-29"},
		{"2026112", ""},
		{"", ""},
		{"20261125/../x", ""},
		{"20261125 x", ""},
		{"abc", ""},
		{"..", ""},
		{"20261125/x", ""},
		{"20261125%2fx", ""},
		{"20261125%2F..%2F_runs", ""},
		{"20261125\\x", ""},
		{"20261125\x00x", ""},
		{"20261125\nx", ""},
		{"20261125T000000Z-é", ""},
		{"20261125" + strings.Repeat("x", MaxRunIDLen-8), "2026-11-25"},
		{"20261125" + strings.Repeat("x", MaxRunIDLen-7), ""},
		{"20261125" + strings.Repeat("x", 5000), ""},
	} {
		d, err := RunDate(tc.id)
		got := ""
		if err == nil {
			got = d.Format("2006-01-02")
		}
		if got != tc.want {
			t.Errorf("RunDate(%q) = %q, %v; want %q", tc.id, got, err, tc.want)
		}
	}
	id := NewRunID(time.Date(2026, 11, 25, 23, 59, 59, 0, time.FixedZone("x", 3600)))
	if !strings.HasPrefix(id, "20261125T225959Z-") || len(id) != len("20261125T225959Z-1a2b") {
		t.Errorf("NewRunID = %q", id)
	}
	if err := ValidateRunID(id); err != nil {
		t.Errorf("NewRunID made an invalid id: %v", err)
	}
}

// failPuts fails Put (and so the copy fallback) of keys matching fail.
type failPuts struct {
	*memStore
	fail func(key string) bool
}

func (f failPuts) Put(ctx context.Context, key string, body io.ReadSeeker, size int64) error {
	if f.fail(key) {
		return errors.New("injected outage")
	}
	return f.memStore.Put(ctx, key, body, size)
}

// TestCommitCutShortIsRolledForward: an outage in the middle of copying
// parts into place leaves some of them in the table prefix without a
// manifest; RollForward finishes that commit, so every file under the prefix
// is listed by the manifest, and the staging area is emptied.
func TestCommitCutShortIsRolledForward(t *testing.T) {
	ctx := context.Background()
	mem := newMemStore()
	const run = "20261125T100000Z-cccc"
	copies := 0
	broken := failPuts{mem, func(key string) bool {
		if strings.HasPrefix(key, "rejects/") {
			copies++
			return copies > 1 // the second copy into place fails
		}
		return false
	}}
	env := testEnv(t, mem, run)
	env.Store = broken
	s := NewStage(env, "transform")
	s.SetLimits(Limits{RowGroupRows: 2, PartRows: 2})
	w, _ := OpenTable[contract.Reject](s, contract.RejectsSpec)
	for i := range 6 {
		_ = w.Write(contract.Reject{Tree: fmt.Sprint(i)})
	}
	if _, _, err := s.Commit(ctx); err == nil {
		t.Fatal("commit with a failing copy succeeded")
	}
	if got := mem.keys("rejects/"); len(got) != 1 {
		t.Fatalf("parts in the table prefix after the cut: %v, want 1", got)
	}
	if _, _, err := ReadManifest(ctx, mem, run, "transform"); !errors.Is(err, ErrNotPublished) {
		t.Fatalf("manifest after the cut: %v, want none", err)
	}
	refs, err := RollForward(ctx, testEnv(t, mem, run), nil)
	if err != nil || len(refs) != 1 {
		t.Fatalf("roll forward: %v %v", refs, err)
	}
	m, _, err := ReadManifest(ctx, mem, run, "transform")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, f := range m.Tables["rejects"].Files {
		listed[f.Key] = true
	}
	got := mem.keys("rejects/")
	if len(got) != 3 || len(listed) != 3 {
		t.Fatalf("prefix holds %v, manifest lists %v; want the same 3 parts", got, listed)
	}
	for _, k := range got {
		if !listed[k] {
			t.Errorf("part %s in the prefix is not listed", k)
		}
	}
	rows, err := ReadAll[contract.Reject](ctx, mem, m, contract.RejectsSpec)
	if err != nil || len(rows) != 6 {
		t.Errorf("read the rolled-forward table: %d rows, %v; want 6", len(rows), err)
	}
	if left := mem.keys(StagingPrefix(run)); len(left) != 0 {
		t.Errorf("staging after the roll-forward: %v, want empty", left)
	}
}

// accountKeys names three of the accounts table's columns: a reader with a
// narrow row type decodes only those.
type accountKeys struct {
	Tree     string `parquet:"tree"`
	SourceID string `parquet:"source_id"`
	DN       string `parquet:"dn"`
}

func TestReadSomeColumns(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	s := NewStage(testEnv(t, st, "20261125T100000Z-cols"), "extract.acme")
	s.SetLimits(Limits{RowGroupRows: 64})
	w, err := OpenTable[contract.Account](s, contract.AccountsSpec)
	if err != nil {
		t.Fatal(err)
	}
	var all []contract.Account
	for i := 0; i < 300; i++ {
		all = append(all, sampleAccount(i))
		if err := w.Write(all[i]); err != nil {
			t.Fatal(err)
		}
	}
	_, m, err := s.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		read func(mem memory.Allocator) ([]contract.Account, error)
		want func(contract.Account) contract.Account
	}{
		{"narrow row type", func(mem memory.Allocator) ([]contract.Account, error) {
			keys, err := ReadAll[accountKeys](ctx, st, m, contract.AccountsSpec, WithAllocator(mem), WithBatchRows(50))
			out := make([]contract.Account, len(keys))
			for i, k := range keys {
				out[i] = contract.Account{Tree: k.Tree, SourceID: k.SourceID, DN: k.DN}
			}
			return out, err
		}, func(a contract.Account) contract.Account {
			return contract.Account{Tree: a.Tree, SourceID: a.SourceID, DN: a.DN}
		}},
		{"Columns", func(mem memory.Allocator) ([]contract.Account, error) {
			return ReadAll[contract.Account](ctx, st, m, contract.AccountsSpec, WithAllocator(mem), Columns("mail", "modified_at", "extra", "dn"))
		}, func(a contract.Account) contract.Account {
			return contract.Account{DN: a.DN, Mail: a.Mail, ModifiedAt: a.ModifiedAt, Extra: a.Extra}
		}},
		{"SkipColumns", func(mem memory.Allocator) ([]contract.Account, error) {
			return ReadAll[contract.Account](ctx, st, m, contract.AccountsSpec, WithAllocator(mem), SkipColumns("member_of", "extra"))
		}, func(a contract.Account) contract.Account {
			a.MemberOf, a.Extra = nil, nil
			return a
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			got, err := tc.read(mem)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(all) {
				t.Fatalf("read %d rows, want %d", len(got), len(all))
			}
			for i := range all {
				if want := tc.want(all[i]); !reflect.DeepEqual(got[i], want) {
					t.Fatalf("row %d:\n got %+v\nwant %+v", i, got[i], want)
				}
			}
		})
	}
	for _, cols := range [][]string{{"no_such_column"}, {}} {
		_, err := ReadAll[contract.Account](ctx, st, m, contract.AccountsSpec, Columns(cols...))
		if err == nil {
			t.Errorf("Columns(%q): got no error, want one", cols)
		}
	}
	if _, err := ReadAll[contract.Account](ctx, st, m, contract.AccountsSpec, SkipColumns("no_such_column")); err == nil {
		t.Errorf("SkipColumns(no_such_column): got no error, want one")
	}
}
