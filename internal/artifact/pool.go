package artifact

import (
	"fmt"
	"math/bits"
	"os"
	"sync"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// The Arrow allocator of every table writer and reader (unless a Stage's
// SetAllocator or a read's WithAllocator names another).
//
// Arrow's GoAllocator makes a new []byte for every buffer and leaves each
// freed one to the garbage collector. At 1M accounts the transform allocated
// 33 GB in all, 23 GB of it Arrow buffers (record batches being built and
// decoded, and the encoders' page buffers growing by doubling), so the
// collector ran a cycle every ~0.8 GB and, with ~0.9 GiB live, spent about
// half the stage's CPU marking. The buffers have a clear life (Arrow releases
// them by reference count), so this allocator keeps freed ones, by
// power-of-two size class, and hands them out again: the steady state of a
// stage reuses the same few dozen MiB instead of allocating gigabytes.
//
//   - Sizes from 4 KiB to 128 MiB are rounded up to a power of two (the
//     builders and encoders grow by doubling anyway, so a rounded buffer often
//     grows in place). Smaller and larger ones are allocated as GoAllocator
//     would and never kept.
//   - At most poolLimit bytes of freed buffers are kept; beyond that a freed
//     buffer is left to the collector.
//   - A buffer is zeroed when handed out (and its newly exposed bytes when it
//     grows in place), so callers see what make would give them.
//   - Buffers of 4 KiB and more are aligned to at least 4 KiB by the Go
//     runtime (size classes and large objects), more than Arrow's 64 bytes.
//
// OTDS_HIGHSPOT_ARROW_POOL=off uses GoAllocator instead (an escape hatch, no
// other effect than speed); =check also poisons every freed buffer and
// panics on a buffer freed twice or not allocated here (the test suite runs
// this way, so a use after free changes bytes a test compares).
const (
	poolMinShift = 12 // 4 KiB
	poolMaxShift = 27 // 128 MiB
	poolClasses  = poolMaxShift - poolMinShift + 1
	poolLimit    = 64 << 20
	poolPoison   = 0xA5
)

// bufferPool is a memory.Allocator that recycles freed buffers (see above).
// It is safe for use by several goroutines.
type bufferPool struct {
	limit int
	check bool

	mu   sync.Mutex
	free [poolClasses][][]byte
	held int             // bytes in free
	out  map[uintptr]int // check: pooled-class buffers handed out -> class (by address: a lost buffer can still be collected)

	// counters (under mu), for tests and benchmarks
	hits, misses, dropped int
}

var _ memory.Allocator = (*bufferPool)(nil)

func newBufferPool(limit int, check bool) *bufferPool {
	p := &bufferPool{limit: limit, check: check}
	if check {
		p.out = map[uintptr]int{}
	}
	return p
}

var goAlloc = memory.NewGoAllocator()

// defaultMem is the allocator of tables and reads that name none.
var defaultMem = allocatorFromEnv(os.Getenv("OTDS_HIGHSPOT_ARROW_POOL"))

// arrow-go's Parquet encoders grow their page buffers (from a sync.Pool that
// the collector empties every cycle) through memory.DefaultAllocator, not
// through the allocator a writer is given: 9 of the 19 GB the transform
// still allocated at 1M with only the writers' and readers' buffers pooled.
// The process is this program's, so the pool serves those too.
func init() {
	if p, ok := defaultMem.(*bufferPool); ok {
		memory.DefaultAllocator = p
	}
}

// ArrowPoolSetting checks a value of OTDS_HIGHSPOT_ARROW_POOL: "" (the pool),
// "off" or "check"; anything else is reported (the pool is then on).
func ArrowPoolSetting(v string) error {
	switch v {
	case "", "off", "check":
		return nil
	}
	return fmt.Errorf("OTDS_HIGHSPOT_ARROW_POOL=%q is not off or check (unset it for the default); Arrow buffers are pooled as by default", v)
}

func allocatorFromEnv(v string) memory.Allocator {
	switch v {
	case "off":
		return memory.DefaultAllocator
	case "check":
		return newBufferPool(poolLimit, true)
	default:
		return newBufferPool(poolLimit, false)
	}
}

// poolClass is the class of a request of size bytes (buffers of 1<<(c +
// poolMinShift) bytes), and false for sizes the pool does not handle.
func poolClass(size int) (int, bool) {
	if size <= 0 || size > 1<<poolMaxShift {
		return 0, false
	}
	shift := bits.Len(uint(size - 1)) // smallest power of two >= size
	if shift < poolMinShift {
		return 0, false
	}
	return shift - poolMinShift, true
}

// ownClass is the class of a buffer by its capacity: only buffers of exactly
// a class's size can be ours.
func ownClass(b []byte) (int, bool) {
	c := cap(b)
	if c == 0 || c&(c-1) != 0 {
		return 0, false
	}
	cl, ok := poolClass(c)
	return cl, ok
}

func (p *bufferPool) Allocate(size int) []byte {
	c, ok := poolClass(size)
	if !ok {
		return goAlloc.Allocate(size)
	}
	var b []byte
	p.mu.Lock()
	if n := len(p.free[c]); n > 0 {
		b = p.free[c][n-1]
		p.free[c][n-1] = nil
		p.free[c] = p.free[c][:n-1]
		p.held -= cap(b)
		p.hits++
	} else {
		p.misses++
	}
	p.mu.Unlock()
	if b == nil {
		b = make([]byte, 1<<(c+poolMinShift))
	} else {
		clear(b[:size]) // the rest is cleared if it grows in place
	}
	if p.check {
		p.mu.Lock()
		p.out[uintptr(unsafe.Pointer(unsafe.SliceData(b)))] = c
		p.mu.Unlock()
	}
	return b[:size]
}

func (p *bufferPool) Reallocate(size int, b []byte) []byte {
	if cap(b) >= size {
		if size > len(b) {
			clear(b[len(b):size]) // a reused buffer's tail may hold old bytes
		}
		return b[:size]
	}
	nb := p.Allocate(size)
	copy(nb, b)
	p.Free(b)
	return nb
}

func (p *bufferPool) Free(b []byte) {
	c, ok := ownClass(b)
	if !ok {
		return // small or huge: GoAllocator's, left to the collector
	}
	b = b[:cap(b)]
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.check {
		key := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
		if oc, ok := p.out[key]; !ok || oc != c {
			panic(fmt.Sprintf("artifact: an Arrow buffer of %d bytes was freed twice, or was not allocated by this pool", cap(b)))
		}
		delete(p.out, key)
		for i := range b {
			b[i] = poolPoison
		}
	}
	if p.held+cap(b) > p.limit {
		p.dropped++
		return
	}
	p.free[c] = append(p.free[c], b)
	p.held += cap(b)
}

// poolStats is what the pool has done so far.
type poolStats struct{ Hits, Misses, Dropped, Held, Outstanding int }

func (p *bufferPool) stats() poolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return poolStats{Hits: p.hits, Misses: p.misses, Dropped: p.dropped, Held: p.held, Outstanding: len(p.out)}
}
