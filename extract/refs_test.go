package extract

import (
	"fmt"
	"strings"
	"testing"
)

// entryRefs keeps every id and ref across its chunk boundaries (8Ki refs,
// 256 KiB of ids), whatever the id lengths.
func TestEntryRefsAcrossChunks(t *testing.T) {
	cases := []struct {
		name string
		n    int
		id   func(i int) string
	}{
		{"uuids", 3*refChunk + 17, func(i int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i*7) }},
		{"upper-case uuids stay as written", 100, func(i int) string { return fmt.Sprintf("%08X-0000-4000-8000-%012X", i+10, i*7) }},
		{"almost uuids", 100, func(i int) string { return fmt.Sprintf("%08x-0000-4000-8000_%012x", i, i) }},
		{"long ids fill id chunks first", 3000, func(i int) string { return fmt.Sprintf("%d-%s", i, strings.Repeat("x", 1000+i%500)) }},
		{"empty ids", 10, func(int) string { return "" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var e entryRefs
			for i := range tc.n {
				got, err := e.add(tc.id(i), uint8(1+i%2), uint16(i%3))
				if err != nil || got != uint32(i) {
					t.Fatalf("add %d: got %d, %v, want %d", i, got, err, i)
				}
			}
			for i := range tc.n {
				r := e.at(uint32(i))
				if got, want := e.id(r), tc.id(i); got != want || r.kind != uint8(1+i%2) || r.part != uint16(i%3) {
					t.Fatalf("entry %d: got id %q kind %d part %d, want %q %d %d", i, got, r.kind, r.part, want, 1+i%2, i%3)
				}
			}
		})
	}
}
