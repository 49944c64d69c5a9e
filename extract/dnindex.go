package extract

// dnIndex maps the 64-bit hash of a DN's Norm to the entry's index in
// entryRefs, as a map[uint64]uint32 would (the hash is the key: equal
// hashes are the same DN). It is an open-addressing table of 16-byte slots,
// probed linearly from the hash's low bits (a maphash value: uniform), so a
// lookup in an index larger than the caches usually costs one cache miss
// where the runtime's map, whose control bytes and slots lie apart, cost
// two: at 1M accounts the member lookups were ~1.4 CPU-s of extract.
type dnIndex struct {
	slots []dnSlot // a power of two long, at most 3/4 full
	n     int
}

// dnSlot is one entry: i is the index + 1 (0: the slot is empty).
type dnSlot struct {
	h uint64
	i uint32
}

const dnIndexMin = 1 << 10

// get returns the index of h.
func (x *dnIndex) get(h uint64) (uint32, bool) {
	if len(x.slots) == 0 {
		return 0, false
	}
	mask := uint64(len(x.slots) - 1)
	for p := h & mask; ; p = (p + 1) & mask {
		s := &x.slots[p]
		if s.i == 0 {
			return 0, false
		}
		if s.h == h {
			return s.i - 1, true
		}
	}
}

// put records h -> i; h must not be in the index (get it first).
func (x *dnIndex) put(h uint64, i uint32) {
	if (x.n+1)*4 > len(x.slots)*3 {
		x.grow()
	}
	x.insert(h, i+1)
	x.n++
}

func (x *dnIndex) insert(h uint64, i1 uint32) {
	mask := uint64(len(x.slots) - 1)
	p := h & mask
	for x.slots[p].i != 0 {
		p = (p + 1) & mask
	}
	x.slots[p] = dnSlot{h: h, i: i1}
}

// grow doubles the table (or makes the first one).
func (x *dnIndex) grow() {
	old := x.slots
	x.slots = make([]dnSlot, max(2*len(old), dnIndexMin))
	for _, s := range old {
		if s.i != 0 {
			x.insert(s.h, s.i)
		}
	}
}
