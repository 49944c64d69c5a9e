package artifact

import (
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// Write tuning (measured with BenchmarkWriteAccounts, see bench_test.go):
//
//   - String (byte-array) columns are written PLAIN, never dictionary-encoded:
//     arrow-go's dictionary encoder allocates once per byte-array value and
//     makes pqarrow copy the column into a []ByteArray, while PLAIN pages go
//     straight from the Arrow buffers into zstd, which removes the repetition
//     anyway. Measured on 1M accounts (BenchmarkWriteAccounts): dictionaries
//     on every string column with distinct/sampled <= 0.5 cost 18 allocs/row,
//     on only nearly-constant ones (tree, partition, country...; <= 1/256)
//     still 13 allocs/row and ~20% more CPU than all-PLAIN, for files within
//     0.3% of the same size (23.8 bytes/row).
//   - ... unless the row type tags the column `parquet:"name,dict"` (string
//     or []string fields). The writer then builds the batch's dictionary
//     itself (a Go map per column, cleared per batch, and the previous
//     row's value checked first, as runs of one group are common) and hands
//     pqarrow a dictionary<int32, utf8> array, which it writes directly: the
//     dictionary page once and the indices RLE/bit-packed, no hashing in
//     arrow-go. pqarrow only takes that path while a column chunk's
//     dictionary stays the same, so every record batch of such a table is
//     its own row group (encoder.batchGroups): at most RowGroupRows rows,
//     fewer when the rows are wide (dictBatchBytes: 8 MiB, so that
//     effective_memberships' row groups hold ~64k rows, not ~17k, and write
//     a quarter of the dictionary pages), which is why it is kept to
//     columns of long repetitive strings that dominate their table:
//     memberships' and effective_memberships' group columns, and persons'
//     groups and source_of (an account key repeated per attribute: 130 of
//     the table's 207 MB of page data at 200k; its row groups then hold
//     ~10k rows). On the effective_memberships
//     of a real 200k nightly (BenchmarkWriteEffectiveMemberships with
//     OTDS_BENCH_EFFECTIVE, median of 3): 2.5x the rows per CPU-second of
//     all-PLAIN (2.43M vs 0.98M), and 8.5 vs 15.2 bytes/row; the accounts table (wide: ~1.7k-row batches)
//     would get row groups of that size, so it stays PLAIN. A dict string
//     column with dictionary pages is read back as a dictionary array
//     (tablePlan.readProps): its values are copied out once per batch and
//     each row takes one by index, where a plain read expands every value
//     into a string array and copies that again. Memberships of a real
//     200k day 2 (BenchmarkReadMemberships, OTDS_BENCH_MEMBERSHIPS, median
//     of 3): 2.67M rows per CPU-s, vs 1.98M expanded and 1.77M from PLAIN
//     pages. List and map dict leaves are still read expanded: pqarrow's
//     dictionary reader fails (nil dereference) on a row group in which
//     the leaf holds no value at all, which empty lists and maps make
//     common (FuzzDictRoundTrip found it).
//   - Numeric columns (timestamps, ints, floats) hash without allocating; one
//     keeps its dictionary when at most half the values sampled from the first
//     row group of its part file are distinct.
//   - zstd runs at its fastest level: speed over ratio.
//   - Rows are turned into record batches of writeBatchRows and appended to a
//     buffered row group (pqarrow WriteBuffered), which keeps only compressed
//     pages: the Arrow data of a whole 64Ki-row group is never in memory.
//   - Builders are pre-sized from the previous batch, so a batch's buffers are
//     allocated once instead of doubling up from nothing.
//   - Wide tables (persons: ~40 string columns) are bounded by bytes, not
//     only rows: in a buffered row group every column keeps its compressed
//     pages until the group closes, so a row group also closes once it holds
//     rowGroupMaxBytes compressed; and after a full record batch of more than
//     writeBatchBytes in its builders, the next batches hold proportionally
//     fewer rows (at least minBatchRows). Narrow tables still reach
//     RowGroupRows rows and writeBatchRows rows first. Row content is
//     unchanged. Data pages stay at arrow-go's 1 MiB: each column also holds
//     its open page's values (~25 MB for persons), but 128 KiB pages made
//     the accounts files 14% larger (BenchmarkWriteAccounts: 23.7 -> 27.0
//     bytes/row; 256 KiB: 25.9; 512 KiB: 24.6).
//
// Parquet I/O off the caller's goroutine (every stage was single-threaded,
// and encoding plus decoding was 30-45% of its CPU):
//
//   - Writing: the caller still appends rows to the Arrow builders (so Write
//     copies the row at once and the caller may reuse its slices and maps);
//     each finished record batch goes to one encoder goroutine per open
//     table, which encodes, compresses and writes it, rolls row groups and
//     part files over, and releases it. The hand-over is an unbuffered
//     channel (writeQueueBatches): while the encoder writes batch k the
//     caller fills batch k+1 and waits to hand it over, so a table holds two
//     batches at most. One queue of 1 was not faster (BenchmarkWriteAccounts)
//     and holds three. Batches, row groups and parts are cut exactly as on
//     one goroutine (the files are byte for byte the same; a test writes
//     both ways): where a cut depends on what only the encoder knows (a row
//     group or part closed early by its bytes), the caller waits for the
//     encoder first, about once per row group. The encoder's error is
//     returned by the next Write, Flush or Close, and the table is then
//     never committed; Close (also called by Commit and Abort) waits for the
//     goroutine.
//   - Reading: one producer goroutine per part reads the column chunks,
//     decompresses, decodes and builds the rows of the next record batch
//     into a []T while the caller's fn consumes the current one (two row
//     buffers: one batch ahead). The rows are Go copies (strings copied out
//     of Arrow memory per batch), so the producer releases its Arrow arrays
//     whatever fn keeps. An error from fn or a cancelled ctx cancels the
//     producer, and the read returns only once it has returned (no
//     goroutine outlives a read, and a part's temp file is removed after).
//     Handing over Arrow batches instead (rows built on the caller's
//     goroutine) would keep less in memory but leave the row building, a
//     third of decoding (BenchmarkReadAccounts profile: pqarrow 2.4 s, rows
//     1.2 s), on the caller.
//   - Opt-outs: a stage that already runs its own goroutine per table
//     (transform's asyncWriter and readAhead, extract's sink) writes with
//     Stage.EncodeInline and reads with DecodeInline: the extra hand-off
//     gave those stages no wall time and more memory. At 1M day 2 on a quiet
//     machine (bench-nightly, median of 3, with vs without this layer
//     everywhere): extract 28.9 vs 26.3 s, transform 70.3 vs 67.7 s, but
//     plan (persons read for the plan and for history) 19.1 vs 22.2 s; so
//     plan, history and pull keep the goroutines. One table of an inline
//     stage can take its encoder goroutine back (TableWriter.EncodeAsync):
//     the transform's persons, whose wide rows keep the writer goroutine
//     busy appending (docs/benchmarks.md, session 5).
const (
	zstdLevel = 1 // zstd.SpeedFastest

	writeBatchRows   = 8 << 10 // rows per Arrow record batch while writing
	writeBatchBytes  = 2 << 20 // a wide table's record batches hold about this much (fewer rows)
	dictBatchBytes   = 8 << 20 // ... and a table's with dict columns, whose batches are its row groups
	minBatchRows     = 1 << 10 // ... but at least this many rows
	rowGroupMaxBytes = 8 << 20 // a row group closes once its pages hold this much, compressed
	readBatchRows    = 8 << 10 // default rows per record batch while reading

	writeQueueBatches = 0 // record batches waiting for a table's encoder goroutine

	dictSample   = 16 << 10 // values sampled per numeric leaf column
	dictMaxRatio = 0.5      // numeric columns: distinct/sampled above this: PLAIN
)

// baseWriterProps are the properties shared by every part of a table.
func baseWriterProps(mem memory.Allocator, rowGroupRows int) []parquet.WriterProperty {
	return []parquet.WriterProperty{
		parquet.WithAllocator(mem),
		parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithCompressionLevel(zstdLevel),
		parquet.WithMaxRowGroupLength(int64(rowGroupRows)),
		parquet.WithDictionaryDefault(true),
		parquet.WithStats(true),
		parquet.WithCreatedBy("otds-highspot (arrow-go v18)"),
	}
}

// leafPaths lists the Parquet leaf column paths of sc in schema order (the
// order of a depth-first walk of the Arrow fields, see leafArrays).
func leafPaths(sc *arrow.Schema, props *parquet.WriterProperties, aprops pqarrow.ArrowWriterProperties) ([]string, error) {
	ps, err := pqarrow.ToParquet(sc, props, aprops)
	if err != nil {
		return nil, err
	}
	out := make([]string, ps.NumColumns())
	for i := range out {
		out[i] = ps.Column(i).ColumnPath().String()
	}
	return out, nil
}

// leafArrays appends the leaf (value-holding) arrays of a in Parquet leaf
// order: a list contributes its values, a map its keys then its items.
func leafArrays(dst []arrow.Array, a arrow.Array) []arrow.Array {
	switch t := a.(type) {
	case *array.Map:
		dst = leafArrays(dst, t.Keys())
		return leafArrays(dst, t.Items())
	case *array.List:
		return leafArrays(dst, t.ListValues())
	case *array.Struct:
		for i := 0; i < t.NumField(); i++ {
			dst = leafArrays(dst, t.Field(i))
		}
		return dst
	}
	return append(dst, a)
}

// dictionaryChoices decides, from the first record batch of a part, which
// leaf columns are dictionary-encoded. nil means "use the default for all"
// (the leaf walk did not match the Parquet schema).
func dictionaryChoices(rec arrow.RecordBatch, paths []string) []parquet.WriterProperty {
	var leaves []arrow.Array
	for i := 0; i < int(rec.NumCols()); i++ {
		leaves = leafArrays(leaves, rec.Column(i))
	}
	if len(leaves) != len(paths) {
		return nil
	}
	out := make([]parquet.WriterProperty, 0, len(paths))
	var nums map[uint64]struct{} // made at the first numeric column
	for i, a := range leaves {
		switch a.DataType().ID() {
		case arrow.STRING, arrow.BINARY, arrow.LARGE_STRING, arrow.LARGE_BINARY:
			out = append(out, parquet.WithDictionaryFor(paths[i], false))
			continue
		}
		if nums == nil {
			nums = make(map[uint64]struct{}, dictSample)
		}
		if r, ok := distinctRatio(a, nums); ok && r > dictMaxRatio {
			out = append(out, parquet.WithDictionaryFor(paths[i], false))
		}
		clear(nums)
	}
	return out
}

// distinctRatio is distinct/sampled over up to dictSample non-null values of
// a numeric array (false when a has none, or is not numeric).
func distinctRatio(a arrow.Array, nums map[uint64]struct{}) (float64, bool) {
	switch t := a.(type) {
	case *array.Int64:
		return sampleNums(t, nums, func(i int) uint64 { return uint64(t.Value(i)) })
	case *array.Int32:
		return sampleNums(t, nums, func(i int) uint64 { return uint64(t.Value(i)) })
	case *array.Timestamp:
		return sampleNums(t, nums, func(i int) uint64 { return uint64(t.Value(i)) })
	case *array.Float64:
		return sampleNums(t, nums, func(i int) uint64 { return math.Float64bits(t.Value(i)) })
	}
	return 0, false
}

func sampleNums(a arrow.Array, nums map[uint64]struct{}, v func(int) uint64) (float64, bool) {
	n := 0
	for i := 0; i < a.Len() && n < dictSample; i++ {
		if a.IsValid(i) {
			nums[v(i)] = struct{}{}
			n++
		}
	}
	return ratio(len(nums), n)
}

func ratio(distinct, n int) (float64, bool) {
	if n == 0 {
		return 0, false
	}
	return float64(distinct) / float64(n), true
}

// builderSizer remembers how much one builder (top-level or nested) held in
// the last batch, to reserve that much up front for the next one.
type builderSizer struct {
	b        array.Builder
	data     dataBuilder // nil unless a binary/string builder
	len, dat int
}

type dataBuilder interface {
	DataLen() int
	ReserveData(int)
}

// sizersFor lists every builder under rb, nested ones included.
func sizersFor(rb *array.RecordBuilder) []builderSizer {
	var out []builderSizer
	var walk func(b array.Builder)
	walk = func(b array.Builder) {
		s := builderSizer{b: b}
		if d, ok := b.(dataBuilder); ok {
			s.data = d
		}
		out = append(out, s)
		switch t := b.(type) {
		case *array.MapBuilder:
			walk(t.ValueBuilder()) // the key/value struct (its bitmap)
			walk(t.KeyBuilder())
			walk(t.ItemBuilder())
		case *array.ListBuilder:
			walk(t.ValueBuilder())
		}
	}
	for _, b := range rb.Fields() {
		walk(b)
	}
	return out
}

// recordSizes notes what each builder holds (call before NewRecordBatch).
func recordSizes(ss []builderSizer) {
	for i := range ss {
		s := &ss[i]
		s.len = s.b.Len()
		if s.data != nil {
			s.dat = s.data.DataLen()
		}
	}
}

// batchBytes is about what the last batch held in its builders (the
// sizes recordSizes noted): value bytes plus 8 per slot.
func batchBytes(ss []builderSizer) int {
	n := 0
	for _, s := range ss {
		n += s.dat + 8*s.len
	}
	return n
}

// scaleSizes scales the noted sizes from rows to rows' rows (for the next
// reserveSizes after the batch size changed).
func scaleSizes(ss []builderSizer, rows, rows2 int) {
	for i := range ss {
		ss[i].len = ss[i].len * rows2 / rows
		ss[i].dat = ss[i].dat * rows2 / rows
	}
}

// reserveSizes reserves the last batch's sizes plus 1/16 (call on empty builders).
func reserveSizes(ss []builderSizer) {
	for _, s := range ss {
		if s.len > 0 {
			s.b.Reserve(s.len + s.len>>4)
		}
		if s.dat > 0 {
			s.data.ReserveData(s.dat + s.dat>>4)
		}
	}
}
