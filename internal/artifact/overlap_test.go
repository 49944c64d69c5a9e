package artifact

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/otds-highspot/otds-highspot/internal/contract"
)

// goroutinesIn counts the goroutines (other than the caller's) whose stack
// holds fn, giving goroutines that are ending a few seconds to be gone.
func goroutinesIn(fn string) int {
	for i := 0; ; i++ {
		buf := make([]byte, 4<<20)
		buf = buf[:runtime.Stack(buf, true)]
		n := 0
		for _, g := range strings.Split(string(buf), "\n\n")[1:] { // [0] is the caller
			if strings.Contains(g, fn) {
				n++
			}
		}
		if n == 0 || i == 200 {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const (
	encoderFn  = "artifact.(*encoder).run"
	producerFn = "artifact.decodeBatches["
)

// partSums lists each part of table in m as "rows sha256".
func partSums(m *Manifest, table string) []string {
	var out []string
	for _, f := range m.Tables[table].Files {
		out = append(out, fmt.Sprintf("%d %s", f.Rows, f.SHA256))
	}
	return out
}

// TestEncoderGoroutineWritesTheSameFiles writes the same rows with the
// encoder goroutine and on the caller's goroutine: the part files must be
// byte for byte the same (same record batches, row groups and parts), also
// where row groups and parts close by bytes, which only the encoder knows.
func TestEncoderGoroutineWritesTheSameFiles(t *testing.T) {
	ctx := context.Background()
	type writeFn func(s *Stage) error
	accounts := func(n int, flushAt int) writeFn {
		return func(s *Stage) error {
			w, err := OpenTable[contract.Account](s, contract.AccountsSpec)
			if err != nil {
				return err
			}
			for i := 0; i < n; i++ {
				if err := w.Write(sampleAccount(i)); err != nil {
					return err
				}
				if i+1 == flushAt {
					if err := w.Flush(ctx); err != nil {
						return err
					}
				}
			}
			return w.Close()
		}
	}
	wide := func(n int) writeFn {
		return func(s *Stage) error {
			w, err := OpenTable[wideRow](s, contract.Spec{Name: "wide", Version: 1})
			if err != nil {
				return err
			}
			for i := 0; i < n; i++ {
				if err := w.Write(wideRow{ID: int64(i), Text: wideText(i)}); err != nil {
					return err
				}
			}
			return w.Close()
		}
	}
	for _, tc := range []struct {
		name      string
		table     string
		limits    Limits
		write     writeFn
		wantParts int
	}{
		{"default limits, row groups past a batch", "accounts", Limits{}, accounts(140_000, 0), 1},
		{"row groups smaller than a batch, parts by rows", "accounts", Limits{RowGroupRows: 5000, PartRows: 12_000}, accounts(40_000, 0), 3},
		{"flush mid row group", "accounts", Limits{RowGroupRows: 3000}, accounts(10_000, 4321), 2},
		{"row groups and parts by bytes", "wide", Limits{PartBytes: 9 << 20}, wide(40_000), 2},
		{"row group rows below the byte bound", "wide", Limits{RowGroupRows: 6000}, wide(20_000), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sums [2][]string
			for i, inline := range []bool{true, false} {
				st := newMemStore()
				s := NewStage(testEnv(t, st, "20261125T100000Z-aaaa"), "transform")
				s.SetLimits(tc.limits)
				if inline {
					s.EncodeInline()
				}
				if err := tc.write(s); err != nil {
					t.Fatalf("inline=%v: %v", inline, err)
				}
				_, m, err := s.Commit(ctx)
				if err != nil {
					t.Fatalf("inline=%v: %v", inline, err)
				}
				sums[i] = partSums(m, tc.table)
			}
			if len(sums[0]) < tc.wantParts {
				t.Errorf("%d parts, want at least %d (the case does not test what it says)", len(sums[0]), tc.wantParts)
			}
			if !reflect.DeepEqual(sums[1], sums[0]) {
				t.Errorf("parts with the encoder goroutine:\n%s\nwant (on the caller's goroutine):\n%s", strings.Join(sums[1], "\n"), strings.Join(sums[0], "\n"))
			}
		})
	}
	if n := goroutinesIn(encoderFn); n != 0 {
		t.Errorf("%d encoder goroutines left, want 0", n)
	}
}

// TestEncoderErrorIsReported makes the encoder goroutine fail (the stage's
// scratch directory cannot be created, which happens at the first part
// file): the error must reach the caller at a later Write or at Close, the
// table must never be published, and no goroutine or Arrow memory is left.
func TestEncoderErrorIsReported(t *testing.T) {
	for _, tc := range []struct {
		name      string
		rows      int
		wantWrite bool // a Write reports it (else only Close)
	}{
		{"at a later write", 20_000, true},
		{"at close", 10, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st := newMemStore()
			env := testEnv(t, st, "20261125T100000Z-aaaa")
			env.TempDir = filepath.Join(env.TempDir, "missing")
			s := NewStage(env, "transform")
			mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
			s.SetAllocator(mem)
			s.SetLimits(Limits{RowGroupRows: 1000})
			w, err := OpenTable[contract.Account](s, contract.AccountsSpec)
			if err != nil {
				t.Fatal(err)
			}
			var writeErr error
			for i := 0; i < tc.rows && writeErr == nil; i++ {
				writeErr = w.Write(sampleAccount(i))
			}
			if got := writeErr != nil; got != tc.wantWrite {
				t.Errorf("Write failed = %v (%v), want %v", got, writeErr, tc.wantWrite)
			}
			closeErr := w.Close()
			if closeErr == nil || !strings.Contains(closeErr.Error(), "create scratch directory") {
				t.Errorf("Close: got %v, want the scratch directory error", closeErr)
			}
			if writeErr != nil && closeErr != nil && writeErr.Error() != closeErr.Error() {
				t.Errorf("Close: got %v, want the error Write returned: %v", closeErr, writeErr)
			}
			if _, _, err := s.Commit(ctx); err == nil || !strings.Contains(err.Error(), "table accounts is incomplete") {
				t.Errorf("Commit: got %v, want the table reported incomplete", err)
			}
			for k := range st.objs {
				t.Errorf("stored %s, want nothing", k)
			}
			if n := goroutinesIn(encoderFn); n != 0 {
				t.Errorf("%d encoder goroutines left, want 0", n)
			}
			mem.AssertSize(t, 0)
		})
	}
}

// TestAbortStopsTheEncoder aborts a stage while its writer's encoder
// goroutine runs: the goroutine ends, nothing is published, no Arrow memory
// is left.
func TestAbortStopsTheEncoder(t *testing.T) {
	st := newMemStore()
	s := NewStage(testEnv(t, st, "20261125T100000Z-aaaa"), "transform")
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	s.SetAllocator(mem)
	w, err := OpenTable[contract.Account](s, contract.AccountsSpec)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5*writeBatchRows; i++ {
		if err := w.Write(sampleAccount(i)); err != nil {
			t.Fatal(err)
		}
	}
	if w.queue == nil {
		t.Fatal("no encoder goroutine runs after 5 batches")
	}
	s.Abort()
	if n := goroutinesIn(encoderFn); n != 0 {
		t.Errorf("%d encoder goroutines left after Abort, want 0", n)
	}
	if err := w.Write(sampleAccount(0)); err == nil {
		t.Error("Write after Abort: got no error")
	}
	for k := range st.objs {
		t.Errorf("stored %s, want nothing", k)
	}
	mem.AssertSize(t, 0)
}

// TestReadAheadStops reads a table whose rows are decoded one batch ahead
// and stops early (the callback fails, or the context is cancelled): the
// read returns that error, the producer goroutine ends, no Arrow memory is
// left; a full read gives the rows the caller's-goroutine decoder gives.
func TestReadAheadStops(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	s := NewStage(testEnv(t, st, "20261125T100000Z-aaaa"), "extract.acme")
	s.SetLimits(Limits{RowGroupRows: 4000, PartRows: 12_000})
	const rows = 30_000
	m := commitAccounts(t, s, rows)
	errStop := errors.New("stop here")
	for _, tc := range []struct {
		name       string
		streamOnly bool // the store cannot serve random access: parts are downloaded
		opts       []ReadOption
		stopAt     int  // row at which the callback stops the read (-1: never)
		cancel     bool // ... by cancelling the context, else by failing
	}{
		{"callback error", false, nil, 2500, false},
		{"callback error, unverified", false, []ReadOption{WithoutVerify()}, 2500, false},
		{"callback error, downloaded part", true, nil, 13_000, false},
		{"cancelled", false, nil, 2500, true},
		{"cancelled, second part", false, nil, 20_000, true},
		{"whole table", false, nil, -1, false},
		{"whole table, small batches", true, []ReadOption{WithBatchRows(333)}, -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st.streamOnly = tc.streamOnly
			defer func() { st.streamOnly = false }()
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
			opts := append([]ReadOption{WithAllocator(mem), WithTempDir(t.TempDir())}, tc.opts...)
			var got []contract.Account
			err := ReadTable(ctx, st, m, contract.AccountsSpec, func(a contract.Account) error {
				if len(got) == tc.stopAt {
					if tc.cancel {
						cancel()
					} else {
						return errStop
					}
				}
				got = append(got, a)
				return nil
			}, opts...)
			switch {
			case tc.stopAt < 0 && err != nil:
				t.Fatalf("got %v, want no error", err)
			case tc.stopAt >= 0 && tc.cancel && !errors.Is(err, context.Canceled):
				t.Errorf("got %v, want %v", err, context.Canceled)
			case tc.stopAt >= 0 && !tc.cancel && err != errStop:
				t.Errorf("got %v, want the callback's error as is", err)
			}
			if tc.stopAt >= 0 && (len(got) < tc.stopAt || len(got) >= rows) {
				t.Errorf("callback saw %d rows, want at least %d and fewer than %d", len(got), tc.stopAt, rows)
			}
			if tc.stopAt < 0 {
				want, err := ReadAll[contract.Account](ctx, st, m, contract.AccountsSpec, append(tc.opts, DecodeInline())...)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != rows || !reflect.DeepEqual(got, want) {
					t.Errorf("read %d rows, want the %d rows read on the caller's goroutine (in the same order)", len(got), len(want))
				}
			}
			for i, a := range got {
				if want := sampleAccount(i); !reflect.DeepEqual(a, want) {
					t.Fatalf("row %d:\ngot  %v\nwant %v", i, a, want)
				}
			}
			if n := goroutinesIn(producerFn); n != 0 {
				t.Errorf("%d decoding goroutines left, want 0", n)
			}
			mem.AssertSize(t, 0)
		})
	}
}

// TestInlineRunsNoGoroutine: a stage that pipelines itself opts out of the
// encoder goroutine (Stage.EncodeInline) and of the read-ahead
// (DecodeInline), and then none is started.
func TestInlineRunsNoGoroutine(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	s := NewStage(testEnv(t, st, "20261125T100000Z-aaaa"), "transform")
	s.EncodeInline()
	w, err := OpenTable[contract.Account](s, contract.AccountsSpec)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3*writeBatchRows; i++ {
		if err := w.Write(sampleAccount(i)); err != nil {
			t.Fatal(err)
		}
		if i == 2*writeBatchRows && (w.queue != nil || goroutinesIn(encoderFn) != 0) {
			t.Fatal("EncodeInline: an encoder goroutine runs")
		}
	}
	_, m, err := s.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	err = ReadTable(ctx, st, m, contract.AccountsSpec, func(contract.Account) error {
		if n++; n == writeBatchRows+1 && goroutinesIn(producerFn) != 0 {
			return errors.New("DecodeInline: a read-ahead goroutine runs")
		}
		return nil
	}, DecodeInline())
	if err != nil {
		t.Fatal(err)
	}
	if n != 3*writeBatchRows {
		t.Errorf("read %d rows, want %d", n, 3*writeBatchRows)
	}
}

// TestEncodeAsyncInAnInlineStage: a table marked EncodeAsync in a stage that
// encodes inline gets its encoder goroutine, while the stage's other tables
// stay inline, and its files are the ones an inline writer makes.
func TestEncodeAsyncInAnInlineStage(t *testing.T) {
	ctx := context.Background()
	var sums [2][]string
	for i, async := range []bool{false, true} {
		st := newMemStore()
		s := NewStage(testEnv(t, st, "20261125T100000Z-aaaa"), "transform")
		s.EncodeInline()
		w, err := OpenTable[contract.Account](s, contract.AccountsSpec)
		if err != nil {
			t.Fatal(err)
		}
		if async {
			w.EncodeAsync()
		}
		other, err := OpenTable[contract.Group](s, contract.GroupsSpec)
		if err != nil {
			t.Fatal(err)
		}
		for j := 0; j < 3*writeBatchRows; j++ {
			if err := w.Write(sampleAccount(j)); err != nil {
				t.Fatal(err)
			}
			if err := other.Write(contract.Group{Tree: "acme", DN: fmt.Sprintf("cn=g%d,dc=acme", j), SourceID: fmt.Sprint(j)}); err != nil {
				t.Fatal(err)
			}
			if j == 2*writeBatchRows {
				if got := w.queue != nil; got != async {
					t.Errorf("async=%v: the table's encoder goroutine runs: %v", async, got)
				}
				if other.queue != nil {
					t.Errorf("async=%v: the stage's other table got an encoder goroutine", async)
				}
			}
		}
		_, m, err := s.Commit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sums[i] = partSums(m, "accounts")
	}
	if !reflect.DeepEqual(sums[0], sums[1]) {
		t.Errorf("parts with EncodeAsync:\n%s\nwant (inline):\n%s", strings.Join(sums[1], "\n"), strings.Join(sums[0], "\n"))
	}
}
