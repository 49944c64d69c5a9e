package transform

import "hash/maphash"

// keyIndex finds an account's index by its key. It is an open-addressing
// table of uint64 slots (the upper half of the key's hash and index+1, 0 =
// empty) over the key list the caller keeps (keys[i] is the key of index
// i), so it holds no pointer for the collector to walk, and a lookup
// compares the key it finds with keys[i]: the index is exact, never a hash
// guess. lookupAll probes for many keys at once, so that their cache misses
// overlap (a million keys do not fit in any cache). A nil *keyIndex is
// empty.
type keyIndex struct {
	seed  maphash.Seed
	slots []uint64
	n     int // keys set
}

// newKeyIndex makes an index sized for about n keys.
func newKeyIndex(n int) *keyIndex {
	x := &keyIndex{seed: maphash.MakeSeed()}
	x.slots = make([]uint64, slotsFor(n))
	return x
}

// slotsFor is the table size for n keys: a power of two, at most half full.
func slotsFor(n int) int {
	size := 16
	for size < 2*n {
		size <<= 1
	}
	return size
}

func (x *keyIndex) hash(key string) uint64 { return maphash.String(x.seed, key) }

// hashBytes is hash of string(key) (maphash hashes a string and its bytes
// alike).
func (x *keyIndex) hashBytes(key []byte) uint64 { return maphash.Bytes(x.seed, key) }

// find returns the index of key, whose hash is h.
func find[K string | []byte](x *keyIndex, keys []string, key K, h uint64) (int32, bool) {
	if x == nil {
		return -1, false
	}
	mask := uint64(len(x.slots) - 1)
	tag := h >> 32
	for i := h & mask; ; i = (i + 1) & mask {
		s := x.slots[i]
		if s == 0 {
			return -1, false
		}
		if s>>32 == tag {
			if idx := int32(uint32(s) - 1); keys[idx] == string(key) {
				return idx, true
			}
		}
	}
}

// get returns the index of key.
func (x *keyIndex) get(keys []string, key string) (int32, bool) {
	if x == nil {
		return -1, false
	}
	return find(x, keys, key, x.hash(key))
}

// getBytes is get of string(key) (without converting it).
func (x *keyIndex) getBytes(keys []string, key []byte) (int32, bool) {
	if x == nil {
		return -1, false
	}
	return find(x, keys, key, x.hashBytes(key))
}

// add records that keys[idx] is at idx; the caller makes sure the key is
// not in the index yet.
func (x *keyIndex) add(keys []string, idx int32) {
	if 2*(x.n+1) > len(x.slots) {
		old := x.slots
		x.slots = make([]uint64, 2*len(old))
		x.n = 0
		for _, s := range old {
			if s != 0 {
				x.insert(keys, int32(uint32(s)-1))
			}
		}
	}
	x.insert(keys, idx)
}

func (x *keyIndex) insert(keys []string, idx int32) {
	h := x.hash(keys[idx])
	mask := uint64(len(x.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		if x.slots[i] == 0 {
			x.slots[i] = h>>32<<32 | uint64(uint32(idx)+1)
			x.n++
			return
		}
	}
}

// lookupAll sets out[j] to the index of the key text[ends[j-1]:ends[j]]
// (ends[-1] = 0), -1 when it has none or the key is empty. hs is scratch of
// len(ends) or more. The table is probed for every key before any key is
// compared.
func (x *keyIndex) lookupAll(keys []string, text []byte, ends []int32, hs []uint64, out []int32) {
	if x == nil {
		for j := range ends {
			out[j] = -1
		}
		return
	}
	mask := uint64(len(x.slots) - 1)
	lo := int32(0)
	for j, hi := range ends {
		hs[j] = x.hashBytes(text[lo:hi])
		lo = hi
	}
	for j := range ends { // the first slot of each: independent loads
		out[j] = int32(uint32(x.slots[hs[j]&mask]))
	}
	lo = 0
	for j, hi := range ends {
		k := text[lo:hi]
		lo = hi
		if len(k) == 0 || out[j] == 0 {
			out[j] = -1
			continue
		}
		out[j], _ = find(x, keys, k, hs[j])
	}
}

// lookupKeys is lookupAll of the keys qs.
func (x *keyIndex) lookupKeys(keys, qs []string, hs []uint64, out []int32) {
	if x == nil {
		for j := range qs {
			out[j] = -1
		}
		return
	}
	mask := uint64(len(x.slots) - 1)
	for j, k := range qs {
		hs[j] = x.hash(k)
	}
	for j := range qs {
		out[j] = int32(uint32(x.slots[hs[j]&mask]))
	}
	for j, k := range qs {
		if len(k) == 0 || out[j] == 0 {
			out[j] = -1
			continue
		}
		out[j], _ = find(x, keys, k, hs[j])
	}
}
