package extract

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestDNIndexMatchesMap: dnIndex answers as a map[uint64]uint32 does, for
// keys that share their low bits (long probe runs, wrapping at the end of
// the table), the zero key, the largest key and index, and across growth.
func TestDNIndexMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name string
		key  func(i int) uint64
	}{
		{"random", func(int) uint64 { return rng.Uint64() }},
		{"same low bits", func(i int) uint64 { return uint64(i)<<32 | 0x3ff }},
		{"last slot first", func(i int) uint64 { return uint64(i)<<40 | math.MaxUint32 }},
		{"small", func(i int) uint64 { return uint64(i) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var x dnIndex
			want := map[uint64]uint32{}
			keys := []uint64{0, math.MaxUint64}
			for i := range 5000 {
				keys = append(keys, tc.key(i))
			}
			for n, k := range keys {
				if _, dup := want[k]; dup {
					continue
				}
				i := uint32(n)
				if n == 1 {
					i = math.MaxUint32 - 1 // the largest index entryRefs gives
				}
				if _, ok := x.get(k); ok {
					t.Fatalf("get(%#x) before put: got found, want absent", k)
				}
				x.put(k, i)
				want[k] = i
				if n%997 == 0 || n < 3 {
					for k, w := range want {
						if got, ok := x.get(k); !ok || got != w {
							t.Fatalf("after %d puts, get(%#x): got %d, %v; want %d, true", len(want), k, got, ok, w)
						}
					}
				}
			}
			for k, w := range want {
				if got, ok := x.get(k); !ok || got != w {
					t.Errorf("get(%#x): got %d, %v; want %d, true", k, got, ok, w)
				}
			}
			for range 1000 {
				k := rng.Uint64()
				if _, in := want[k]; in {
					continue
				}
				if got, ok := x.get(k); ok {
					t.Errorf("get(%#x) of an absent key: got %d, true; want absent", k, got)
				}
			}
			if x.n != len(want) || x.n*4 > len(x.slots)*3 {
				t.Errorf("got %d entries in %d slots, want %d at most 3/4 full", x.n, len(x.slots), len(want))
			}
		})
	}
}

// BenchmarkDNIndex / BenchmarkDNMap: lookups of present keys in an index of
// 500k DNs (a large tree at 1M accounts), dnIndex against the runtime map
// it replaced.
func BenchmarkDNIndex(b *testing.B) {
	keys := benchKeys()
	var x dnIndex
	for i, k := range keys {
		x.put(k, uint32(i))
	}
	b.ResetTimer()
	var sum uint32
	for i := 0; b.Loop(); i++ {
		v, _ := x.get(keys[(i*7919)%len(keys)])
		sum += v
	}
	_ = sum
}

func BenchmarkDNMap(b *testing.B) {
	keys := benchKeys()
	m := map[uint64]uint32{}
	for i, k := range keys {
		m[k] = uint32(i)
	}
	b.ResetTimer()
	var sum uint32
	for i := 0; b.Loop(); i++ {
		sum += m[keys[(i*7919)%len(keys)]]
	}
	_ = sum
}

func benchKeys() []uint64 {
	rng := rand.New(rand.NewPCG(3, 4))
	keys := make([]uint64, 500_000)
	for i := range keys {
		keys[i] = rng.Uint64()
	}
	return keys
}
