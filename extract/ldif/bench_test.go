package ldif

import (
	"context"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/otds-highspot/otds-highspot/internal/contract"
)

// benchFile is the LDIF export the benchmarks read: OTDS_LDIF_BENCH, or the
// repository's fixture (small; a generated tree is what shows the costs:
// go run ./tools/otdsgen -accounts 200000 -trees 5 -out DIR, its
// tree-04.ldif: partition "Epsilon Ltd").
func benchFile(b *testing.B) []byte {
	b.Helper()
	path := os.Getenv("OTDS_LDIF_BENCH")
	if path == "" {
		path = fixturePath
	}
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatalf("read %s: %v", path, err)
	}
	return data
}

// bytesOpener opens data as the export.
func bytesOpener(data []byte) Opener {
	return func(context.Context, string) (io.ReadCloser, error) {
		return io.NopCloser(&sliceReader{b: data}), nil
	}
}

type sliceReader struct{ b []byte }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// BenchmarkReader is Reader.Next over a whole export.
func BenchmarkReader(b *testing.B) {
	data := benchFile(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r := NewReader(&sliceReader{b: data})
		for {
			_, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			var re *RecordError
			if err != nil && !errors.As(err, &re) {
				b.Fatal(err)
			}
		}
	}
}

// discardSink drops every row.
type discardSink struct{}

func (discardSink) Account(contract.Account) error             { return nil }
func (discardSink) Group(contract.Group) error                 { return nil }
func (discardSink) Member(_, _, _, _, _ string) error          { return nil }
func (discardSink) Reject(contract.Reject) error               { return nil }
func (discardSink) AccountNorm(contract.Account, string) error { return nil }
func (discardSink) GroupNorm(contract.Group, string) error     { return nil }

// BenchmarkSource is Source.Read (reading and mapping) over a whole export
// into a sink that drops the rows.
func BenchmarkSource(b *testing.B) {
	data := benchFile(b)
	tree := testTree(b, "bench", "    partitions: [\"Epsilon Ltd\"]\n    extra_attributes: {territory: oTExtraAttr1, business_unit: oTExtraAttr2}\n")
	src, err := New(tree, bytesOpener(data), quietLog())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := src.Read(context.Background(), discardSink{}); err != nil {
			b.Fatal(err)
		}
	}
}
