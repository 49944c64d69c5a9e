package artifact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"os"
	"slices"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/otds-highspot/otds-highspot/internal/contract"
)

// TableWriter streams rows of T into part files of one table. Rows are
// appended straight into Arrow builders; every batch (at most writeBatchRows
// rows) becomes a record batch, encoded and compressed into the part's open
// row group at once and released; a row group holds RowGroupRows rows. So
// memory is bounded by one small batch plus one compressed row group
// whatever the table size. A TableWriter is not safe
// for concurrent use.
type TableWriter[T any] struct {
	stage  *Stage
	ts     *tableState
	spec   contract.Spec
	plan   *tablePlan
	limits Limits
	mem    memory.Allocator
	props  []parquet.WriterProperty // shared by every part; see tune.go
	aprops pqarrow.ArrowWriterProperties
	leaves []string // Parquet leaf column paths, for per-column dictionary choices

	rb           *array.RecordBuilder
	appenders    []appendFn
	sizers       []builderSizer // every builder, sized from the previous batch
	buffered     int            // rows in rb
	batchRows    int            // rows per record batch: at most maxBatchRows, fewer for wide rows
	maxBatchRows int            // min(RowGroupRows, writeBatchRows)
	rgRows       int64          // rows in the part's open (buffered) row group
	rgFull       bool           // the open row group holds rowGroupMaxBytes: the next batch starts another
	row          T              // the row being appended (a field, so Write does not allocate)

	cur    *openPart // nil when no part file is open
	rows   int64
	closed bool
	err    error // sticky: after a failed write the writer is unusable
}

// openPart is the part file being written.
type openPart struct {
	local, key, final string
	f                 *os.File
	hw                *hashWriter
	fw                *pqarrow.FileWriter
	rows              int64
}

// hashWriter counts and hashes the bytes on their way to the file, so a
// part's sha256 is known the moment it is closed.
type hashWriter struct {
	f *os.File
	h hash.Hash
	n int64
}

func (w *hashWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	return n, err
}

// OpenTable opens a streaming writer for spec's table in this stage. Rows are
// buffered to a row group (default 65536 rows) and written to a local temp
// Parquet file; files roll over at a size limit.
func OpenTable[T any](s *Stage, spec contract.Spec) (*TableWriter[T], error) {
	plan, err := planFor[T](spec)
	if err != nil {
		return nil, fmt.Errorf("open table %s: %w", spec.Name, err)
	}
	w := &TableWriter[T]{stage: s, spec: spec, plan: plan}
	ts, limits, mem, err := s.registerTable(spec, w.Close)
	if err != nil {
		return nil, fmt.Errorf("open table %s: %w", spec.Name, err)
	}
	w.ts, w.limits, w.mem = ts, limits, mem
	w.props = baseWriterProps(mem, limits.RowGroupRows)
	w.aprops = pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(mem))
	if w.leaves, err = leafPaths(plan.schema, parquet.NewWriterProperties(w.props...), w.aprops); err != nil {
		return nil, fmt.Errorf("open table %s: %w", spec.Name, err)
	}
	w.rb = array.NewRecordBuilder(mem, plan.schema)
	w.appenders = plan.appenders(w.rb)
	w.sizers = sizersFor(w.rb)
	w.maxBatchRows = min(limits.RowGroupRows, writeBatchRows)
	w.batchRows = w.maxBatchRows
	return w, nil
}

// Write appends one row.
func (w *TableWriter[T]) Write(row T) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return fmt.Errorf("write table %s: writer is closed", w.spec.Name)
	}
	if w.buffered == 0 {
		// Size the builders at the first row of a batch, not when the last
		// one is flushed: two batches are never in memory at once, and a
		// writer closed after a flush allocates nothing more.
		if w.rows == 0 {
			w.rb.Reserve(w.batchRows)
		} else {
			reserveSizes(w.sizers)
		}
	}
	w.row = row
	p := unsafe.Pointer(&w.row)
	for _, a := range w.appenders {
		a(p)
	}
	var zero T
	w.row = zero
	w.buffered++
	w.rows++
	if w.buffered >= w.batchRows || w.rgRows+int64(w.buffered) >= int64(w.limits.RowGroupRows) {
		return w.flushRowGroup()
	}
	return nil
}

// Rows is the number of rows written so far.
func (w *TableWriter[T]) Rows() int64 { return w.rows }

// flushRowGroup writes the buffered batch into the open row group, opening a
// part file if needed and rolling it over at the limits.
func (w *TableWriter[T]) flushRowGroup() error {
	if w.buffered == 0 {
		return nil
	}
	if err := w.flushRowGroupErr(); err != nil {
		w.err = fmt.Errorf("write table %s: %w", w.spec.Name, err)
		return w.err
	}
	return nil
}

func (w *TableWriter[T]) flushRowGroupErr() error {
	recordSizes(w.sizers)
	n := w.buffered
	if n == w.batchRows {
		// a wide table's batches are sized by bytes (see tune.go)
		if b := batchBytes(w.sizers); b > 0 {
			rows := min(max(int(int64(n)*writeBatchBytes/int64(b)), minBatchRows), w.maxBatchRows)
			if rows != n {
				scaleSizes(w.sizers, n, rows)
				w.batchRows = rows
			}
		}
	}
	rec := w.rb.NewRecordBatch()
	w.buffered = 0
	err := w.writeRecord(rec)
	rec.Release()
	if err != nil {
		return fmt.Errorf("write row group: %w", err)
	}
	w.cur.rows += int64(n)
	if w.cur.rows >= w.limits.PartRows || w.cur.hw.n >= w.limits.PartBytes {
		_, err := w.closePart()
		return err
	}
	return nil
}

// writeRecord appends rec to the open row group of the part (opening the
// part file first if needed; a full row group is closed before).
func (w *TableWriter[T]) writeRecord(rec arrow.RecordBatch) error {
	if w.cur == nil {
		if err := w.openPart(rec); err != nil {
			return err
		}
	}
	cp := w.cur
	if w.rgRows >= int64(w.limits.RowGroupRows) || w.rgFull {
		// Batches end at row group boundaries (see Write); start the next
		// row group here, so WriteBuffered never has to split a batch.
		if err := cp.fw.NewBufferedRowGroupChecked(); err != nil {
			return fmt.Errorf("to %s: %w", cp.local, err)
		}
		w.rgRows, w.rgFull = 0, false
	}
	if err := cp.fw.WriteBuffered(rec); err != nil {
		return fmt.Errorf("to %s: %w", cp.local, err)
	}
	w.rgRows += rec.NumRows()
	// a wide table's row group is bounded by its bytes (see tune.go)
	w.rgFull = cp.fw.RowGroupTotalCompressedBytes() >= rowGroupMaxBytes
	return nil
}

// openPart starts a part file; its first record batch rec chooses the
// per-column dictionary encoding (see tune.go).
func (w *TableWriter[T]) openPart(rec arrow.RecordBatch) error {
	local, key, final, err := w.stage.newPartPath(w.ts)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(local, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("create local part file: %w", err)
	}
	hw := &hashWriter{f: f, h: sha256.New()}
	props := append(slices.Clip(w.props), dictionaryChoices(rec, w.leaves)...)
	fw, err := pqarrow.NewFileWriter(w.plan.schema, hw, parquet.NewWriterProperties(props...), w.aprops)
	if err != nil {
		f.Close()
		os.Remove(local)
		return fmt.Errorf("start Parquet file %s: %w", local, err)
	}
	w.cur = &openPart{local: local, key: key, final: final, f: f, hw: hw, fw: fw}
	return nil
}

// closePart writes the Parquet footer and hands the file to the stage.
func (w *TableWriter[T]) closePart() (*partFile, error) {
	cp := w.cur
	if cp == nil {
		return nil, nil
	}
	w.cur = nil
	w.rgRows, w.rgFull = 0, false
	if err := cp.fw.Close(); err != nil { // writes the footer; does not close f
		cp.f.Close()
		return nil, fmt.Errorf("finish Parquet file %s: %w", cp.local, err)
	}
	if err := cp.f.Sync(); err != nil {
		cp.f.Close()
		return nil, fmt.Errorf("sync %s: %w", cp.local, err)
	}
	if err := cp.f.Close(); err != nil {
		return nil, fmt.Errorf("close %s: %w", cp.local, err)
	}
	p := &partFile{local: cp.local, key: cp.key, final: cp.final, rows: cp.rows, bytes: cp.hw.n, sha256: hex.EncodeToString(cp.hw.h.Sum(nil))}
	w.stage.addPart(w.ts, p)
	return p, nil
}

// Flush closes the current part file and uploads it now (write-once), so a
// ledger survives a crash; later rows go to a new part. Committed parts are
// listed in the manifest at Commit.
func (w *TableWriter[T]) Flush(ctx context.Context) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return fmt.Errorf("flush table %s: writer is closed", w.spec.Name)
	}
	if err := w.flushRowGroup(); err != nil {
		return err
	}
	p, err := w.closePart()
	if err != nil {
		w.err = fmt.Errorf("flush table %s: %w", w.spec.Name, err)
		return w.err
	}
	if p == nil {
		return nil
	}
	if err := w.stage.upload(ctx, p); err != nil {
		return fmt.Errorf("flush table %s: %w", w.spec.Name, err)
	}
	return nil
}

// Close finishes the current part file (the Parquet footer is written here).
// Commit closes writers left open; Close twice is a no-op.
func (w *TableWriter[T]) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	w.stage.mu.Lock()
	w.ts.closer = nil
	w.stage.mu.Unlock()
	defer w.rb.Release()
	if w.err == nil {
		if err := w.flushRowGroup(); err == nil {
			if _, err := w.closePart(); err != nil {
				w.err = fmt.Errorf("close table %s: %w", w.spec.Name, err)
			}
		}
	}
	if w.err != nil {
		w.discard()
		w.stage.mu.Lock()
		w.ts.failed = w.err
		w.stage.mu.Unlock()
	}
	return w.err
}

// discard drops a half-written part after an error.
func (w *TableWriter[T]) discard() {
	if w.cur != nil {
		_ = w.cur.fw.Close()
		_ = w.cur.f.Close()
		_ = os.Remove(w.cur.local)
		w.cur = nil
	}
}
