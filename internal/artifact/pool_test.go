package artifact

import (
	"context"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/otds-highspot/otds-highspot/internal/contract"
)

func TestPoolClass(t *testing.T) {
	for _, tc := range []struct {
		size  int
		class int
		ok    bool
	}{
		{0, 0, false}, {1, 0, false}, {2048, 0, false},
		{2049, 0, true}, {4096, 0, true}, {4097, 1, true}, {8192, 1, true},
		{1 << 20, 20 - poolMinShift, true}, {1<<20 + 1, 21 - poolMinShift, true},
		{1 << poolMaxShift, poolClasses - 1, true}, {1<<poolMaxShift + 1, 0, false},
	} {
		c, ok := poolClass(tc.size)
		if c != tc.class || ok != tc.ok {
			t.Errorf("poolClass(%d) = %d, %v; want %d, %v", tc.size, c, ok, tc.class, tc.ok)
		}
	}
}

// TestBufferPoolReuses: a freed buffer is handed out again, zeroed, aligned
// like GoAllocator's, and a buffer that grows within its class stays where it
// is with its new bytes zeroed.
func TestBufferPoolReuses(t *testing.T) {
	p := newBufferPool(poolLimit, false)
	a := p.Allocate(5000)
	if len(a) != 5000 || cap(a) != 8192 {
		t.Fatalf("Allocate(5000): len %d cap %d, want 5000 and 8192", len(a), cap(a))
	}
	for i := range a {
		a[i] = 7
	}
	p.Free(a)
	b := p.Allocate(6000)
	if unsafe.SliceData(b) != unsafe.SliceData(a) {
		t.Fatal("a freed buffer of the same class was not handed out again")
	}
	for i, v := range b {
		if v != 0 {
			t.Fatalf("reused buffer byte %d = %d, want 0", i, v)
		}
	}
	if uintptr(unsafe.Pointer(unsafe.SliceData(b)))%64 != 0 {
		t.Error("buffer not 64-byte aligned")
	}
	b = p.Reallocate(8192, b)
	if unsafe.SliceData(b) != unsafe.SliceData(a) || len(b) != 8192 {
		t.Fatal("growing within the class moved the buffer")
	}
	if b[7000] != 0 {
		t.Errorf("grown bytes hold old data (%d), want 0", b[7000])
	}
	b[0] = 9
	c := p.Reallocate(9000, b)
	if cap(c) != 16384 || c[0] != 9 {
		t.Errorf("growing past the class: cap %d, first byte %d; want 16384 and the old content", cap(c), c[0])
	}
	if s := p.stats(); s.Hits != 1 || s.Misses != 2 || s.Held != 8192 {
		t.Errorf("stats %+v, want 1 hit, 2 misses, the old 8 KiB buffer held", s)
	}
	// small and huge requests are GoAllocator's and never kept
	small := p.Allocate(100)
	p.Free(small)
	if s := p.stats(); s.Held != 8192 {
		t.Errorf("a small buffer was kept: %+v", s)
	}
}

// TestBufferPoolLimit: at most limit bytes of freed buffers are kept.
func TestBufferPoolLimit(t *testing.T) {
	p := newBufferPool(3<<20, false)
	var bufs [][]byte
	for range 5 {
		bufs = append(bufs, p.Allocate(1<<20))
	}
	for _, b := range bufs {
		p.Free(b)
	}
	if s := p.stats(); s.Held != 3<<20 || s.Dropped != 2 {
		t.Errorf("stats %+v, want 3 MiB held and 2 buffers left to the collector", s)
	}
}

// TestBufferPoolCheck: the check mode (the test suite's) poisons freed
// buffers and catches a buffer freed twice or one it did not allocate.
func TestBufferPoolCheck(t *testing.T) {
	p := newBufferPool(poolLimit, true)
	a := p.Allocate(4096)
	p.Free(a)
	if a[0] != poolPoison || a[4095] != poolPoison {
		t.Errorf("freed buffer not poisoned: %x %x", a[0], a[4095])
	}
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if r := recover(); r == nil {
				t.Errorf("%s: no panic", name)
			} else if !strings.Contains(r.(string), "freed twice") {
				t.Errorf("%s: panic %q", name, r)
			}
		}()
		f()
	}
	mustPanic("double free", func() { p.Free(a) })
	mustPanic("foreign buffer", func() { p.Free(make([]byte, 8192)) })
	if s := p.stats(); s.Outstanding != 0 {
		t.Errorf("%d buffers outstanding, want 0", s.Outstanding)
	}
}

// TestPooledTablesAreTheSame writes tables through a checking pool (freed
// buffers poisoned, so a buffer Arrow used after freeing it would change the
// bytes) and through GoAllocator: the part files are byte for byte the same,
// the rows read back through a checking pool are the ones written, and the
// pool was reused, not just filled.
func TestPooledTablesAreTheSame(t *testing.T) {
	ctx := context.Background()
	const n = 30_000
	for _, inline := range []bool{true, false} {
		var sums [2][]string
		var pools [2]*bufferPool
		for i := range 2 {
			st := newMemStore()
			s := NewStage(testEnv(t, st, "20261125T100000Z-aaaa"), "transform")
			s.SetLimits(Limits{RowGroupRows: 7000, PartRows: 20_000})
			if inline {
				s.EncodeInline()
			}
			if i == 1 {
				pools[0] = newBufferPool(poolLimit, true)
				s.SetAllocator(pools[0])
			} else {
				s.SetAllocator(memory.NewGoAllocator())
			}
			m := commitAccounts(t, s, n)
			sums[i] = partSums(m, "accounts")
			if i == 1 {
				pools[1] = newBufferPool(poolLimit, true)
				got := 0
				err := ReadTable(ctx, st, m, contract.AccountsSpec, func(a contract.Account) error {
					if want := sampleAccount(got); !reflect.DeepEqual(a, want) {
						t.Fatalf("row %d read back through the pool:\n%+v\nwant\n%+v", got, a, want)
					}
					got++
					return nil
				}, WithAllocator(pools[1]), WithBatchRows(1000))
				if err != nil || got != n {
					t.Fatalf("read back %d rows, %v; want %d", got, err, n)
				}
			}
		}
		if len(sums[0]) < 2 || !reflect.DeepEqual(sums[0], sums[1]) {
			t.Errorf("inline=%v: parts through the pool:\n%s\nwant (GoAllocator):\n%s", inline, strings.Join(sums[1], "\n"), strings.Join(sums[0], "\n"))
		}
		for i, p := range pools {
			if s := p.stats(); s.Hits < 3*s.Misses {
				t.Errorf("inline=%v, pool %d: %+v: buffers were not reused", inline, i, s)
			}
		}
	}
}

// TestPoolCutsAllocation: writing a table through the default allocator
// allocates well under the bytes GoAllocator does (at 1M accounts the
// transform allocated 23 of its 33 GB as Arrow buffers, and the collector's
// work grows with that volume). What is left is mostly arrow-go's own page
// buffers (bytes.Buffer per column chunk), which no allocator sees.
func TestPoolCutsAllocation(t *testing.T) {
	ctx := context.Background()
	const n = 150_000 // a few row groups: arrow-go's page buffers are per column chunk
	rows := make([]contract.Account, n)
	for i := range rows {
		rows[i] = sampleAccount(i)
	}
	allocated := func(mem memory.Allocator) uint64 {
		st := newMemStore()
		s := NewStage(testEnv(t, st, "20261125T100000Z-aaaa"), "transform")
		if mem != nil {
			s.SetAllocator(mem)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		w, err := OpenTable[contract.Account](s, contract.AccountsSpec)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if err := w.Write(r); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		if _, _, err := s.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		return after.TotalAlloc - before.TotalAlloc
	}
	allocated(nil) // warm up: the pool's first buffers
	pooled := allocated(nil)
	goalloc := allocated(memory.NewGoAllocator())
	t.Logf("write %d accounts: %d B/row through the default allocator, %d B/row through GoAllocator", n, pooled/n, goalloc/n)
	if pooled*4 > goalloc*3 {
		t.Errorf("the default allocator allocated %d B/row, GoAllocator %d: want at most three quarters", pooled/n, goalloc/n)
	}
}

func TestArrowPoolSetting(t *testing.T) {
	for _, v := range []string{"", "off", "check"} {
		if err := ArrowPoolSetting(v); err != nil {
			t.Errorf("%q: %v, want accepted", v, err)
		}
	}
	err := ArrowPoolSetting("of")
	if err == nil || !strings.Contains(err.Error(), `OTDS_HIGHSPOT_ARROW_POOL="of"`) || !strings.Contains(err.Error(), "off or check") {
		t.Errorf(`"of": %v, want an error naming the variable and the values`, err)
	}
}
