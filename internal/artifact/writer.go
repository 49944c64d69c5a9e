package artifact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"os"
	"slices"
	"sync/atomic"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/otds-highspot/otds-highspot/internal/contract"
)

// TableWriter streams rows of T into part files of one table. Rows are
// appended straight into Arrow builders; every batch (at most writeBatchRows
// rows) becomes a record batch that is handed to the table's encoder
// goroutine, which encodes and compresses it into the part's open row group
// and releases it, while the caller goes on appending the next batch (see
// tune.go). A row group holds RowGroupRows rows. So memory is bounded by two
// small batches plus one compressed row group whatever the table size. A
// TableWriter is not safe for concurrent use.
type TableWriter[T any] struct {
	stage *Stage
	ts    *tableState
	spec  contract.Spec
	plan  *tablePlan
	enc   encoder // the Parquet side; owned by the encoder goroutine while one runs

	rb           *array.RecordBuilder // over plan.build
	dicts        []*dictCol           // the dict columns' dictionaries of the batch being built
	appenders    []appendFn
	sizers       []builderSizer // every builder, sized from the previous batch
	buffered     int            // rows in rb
	batchRows    int            // rows per record batch: at most maxBatchRows, fewer for wide rows
	maxBatchRows int            // min(RowGroupRows, writeBatchRows)
	// rgRows is the encoder's rgRows once every batch handed to it is
	// written: exact while no encoder goroutine runs, else an upper bound
	// (a row group or part can close early, by its bytes, only in the
	// encoder); see Write.
	rgRows  int64
	rgExact bool // rgRows is exact (no batch handed over since the encoder was stopped)
	row     T    // the row being appended (a field, so Write does not allocate)

	inline bool                   // encode on the caller's goroutine (Stage.syncWrites)
	queue  chan arrow.RecordBatch // to the encoder goroutine; nil when none runs
	done   chan struct{}          // closed when the encoder goroutine has returned
	failed atomic.Bool            // the encoder goroutine failed (enc.err is set once done is closed)

	rows   int64
	closed bool
	err    error // sticky: after a failed write the writer is unusable
}

// encoder writes record batches into part files: the open part, its open
// row group, part rollover. While an encoder goroutine runs (TableWriter's
// queue is not nil) only that goroutine touches it.
type encoder struct {
	stage  *Stage
	ts     *tableState
	schema *arrow.Schema
	limits Limits
	props  []parquet.WriterProperty // shared by every part; see tune.go
	aprops pqarrow.ArrowWriterProperties
	leaves []string // Parquet leaf column paths, for per-column dictionary choices

	cur    *openPart // nil when no part file is open
	rgRows int64     // rows in the part's open (buffered) row group
	rgFull bool      // the open row group holds rowGroupMaxBytes: the next batch starts another
	// batchGroups: each record batch is a row group of its own (a table
	// with dict columns: a column chunk takes one dictionary, see dictCol).
	batchGroups bool
	err         error // what stopped the encoder goroutine
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
	w.inline = s.syncWrites
	w.enc = encoder{stage: s, ts: ts, schema: plan.write, limits: limits, batchGroups: len(plan.dicts) > 0}
	w.enc.props = baseWriterProps(mem, limits.RowGroupRows)
	w.enc.aprops = pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(mem))
	if w.enc.leaves, err = leafPaths(plan.write, parquet.NewWriterProperties(w.enc.props...), w.enc.aprops); err != nil {
		return nil, fmt.Errorf("open table %s: %w", spec.Name, err)
	}
	w.ts = ts
	w.rb = array.NewRecordBuilder(mem, plan.build)
	for range plan.leafDicts {
		w.dicts = append(w.dicts, &dictCol{vals: array.NewStringBuilder(mem), seen: map[string]int32{}})
	}
	w.appenders = plan.appenders(w.rb, w.dicts)
	w.sizers = sizersFor(w.rb)
	for _, d := range w.dicts {
		w.sizers = append(w.sizers, builderSizer{b: d.vals, data: d.vals})
	}
	w.maxBatchRows = min(limits.RowGroupRows, writeBatchRows)
	if w.enc.batchGroups {
		w.maxBatchRows = limits.RowGroupRows // a batch is a row group
	}
	w.batchRows = w.maxBatchRows
	w.rgExact = true
	return w, nil
}

// EncodeAsync makes this table encode on its own encoder goroutine even in
// a stage that encodes inline (Stage.EncodeInline); call it before the first
// Write.
func (w *TableWriter[T]) EncodeAsync() { w.inline = false }

// Write appends one row. An error of the encoder goroutine (a batch that
// could not be written) is returned by the next Write, Flush or Close.
func (w *TableWriter[T]) Write(row T) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return fmt.Errorf("write table %s: writer is closed", w.spec.Name)
	}
	if w.failed.Load() {
		return w.fail(w.stopEncoder())
	}
	if w.buffered == 0 {
		// Size the builders at the first row of a batch, not when the last
		// one is handed over: a writer closed after a flush allocates
		// nothing more.
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
	if w.buffered >= w.batchRows {
		return w.flushRowGroup()
	}
	if w.enc.batchGroups {
		return nil // every batch is a row group
	}
	// Batches end at row group boundaries. rgRows is exact unless an
	// encoder goroutine runs, when it may be too large (the encoder closes
	// row groups by bytes too): near a boundary, wait for the encoder to
	// learn the exact count.
	limit := int64(w.limits().RowGroupRows)
	if w.rgRows+int64(w.buffered) >= limit && !w.rgExact && w.queue != nil {
		if err := w.stopEncoder(); err != nil {
			return w.fail(err)
		}
	}
	if w.rgRows+int64(w.buffered) >= limit {
		return w.flushRowGroup()
	}
	return nil
}

func (w *TableWriter[T]) limits() Limits { return w.enc.limits }

// fail makes err the writer's sticky error.
func (w *TableWriter[T]) fail(err error) error {
	w.err = fmt.Errorf("write table %s: %w", w.spec.Name, err)
	return w.err
}

// Rows is the number of rows written so far.
func (w *TableWriter[T]) Rows() int64 { return w.rows }

// flushRowGroup hands the buffered batch to the encoder.
func (w *TableWriter[T]) flushRowGroup() error {
	if w.buffered == 0 {
		return nil
	}
	recordSizes(w.sizers)
	n := w.buffered
	if n == w.batchRows {
		// a wide table's batches are sized by bytes (see tune.go)
		if b := batchBytes(w.sizers); b > 0 {
			limit := int64(writeBatchBytes)
			if w.enc.batchGroups {
				limit = dictBatchBytes
			}
			rows := min(max(int(int64(n)*limit/int64(b)), minBatchRows), w.maxBatchRows)
			if rows != n {
				scaleSizes(w.sizers, n, rows)
				w.batchRows = rows
			}
		}
	}
	rec := w.rb.NewRecordBatch()
	if len(w.dicts) > 0 {
		rec = w.plan.dictionaries(rec, w.dicts)
	}
	w.buffered = 0
	if err := w.encode(rec); err != nil {
		return w.fail(err)
	}
	return nil
}

// encode writes rec, or hands it to the encoder goroutine (started at the
// first batch, and again after stopEncoder). The hand-over waits while the
// goroutine is busy with the batch before (writeQueueBatches): at most two
// batches exist at once.
func (w *TableWriter[T]) encode(rec arrow.RecordBatch) error {
	if w.inline {
		err := w.enc.write(rec)
		rec.Release()
		w.rgRows = w.enc.rgRows
		return err
	}
	if w.rgExact && w.rgRows >= int64(w.limits().RowGroupRows) {
		w.rgRows = 0 // the encoder starts a new row group with rec
	}
	w.rgRows += rec.NumRows()
	w.rgExact = false
	if w.queue == nil {
		w.queue = make(chan arrow.RecordBatch, writeQueueBatches)
		w.done = make(chan struct{})
		go w.enc.run(w.queue, w.done, &w.failed)
	}
	select {
	case w.queue <- rec:
		return nil
	case <-w.done: // failed
		rec.Release()
		return w.stopEncoder()
	}
}

// stopEncoder waits until the encoder goroutine has written every batch
// handed to it and returned; then the writer owns the encoder again, and
// rgRows is exact. It returns the goroutine's error. A no-op when none runs.
func (w *TableWriter[T]) stopEncoder() error {
	if w.queue == nil {
		return nil
	}
	close(w.queue)
	<-w.done
	for rec := range w.queue { // left by a failed encoder
		rec.Release()
	}
	w.queue, w.done = nil, nil
	w.rgRows, w.rgExact = w.enc.rgRows, true
	return w.enc.err
}

// run is the encoder goroutine: it writes the batches of queue in order
// until queue is closed or a batch fails.
func (e *encoder) run(queue <-chan arrow.RecordBatch, done chan<- struct{}, failed *atomic.Bool) {
	defer close(done)
	for rec := range queue {
		if err := e.writeReleased(rec); err != nil {
			e.err = err
			failed.Store(true)
			return
		}
	}
}

// writeReleased writes rec and releases it. The Parquet encoder can panic
// (it does on some invalid input); on this goroutine that would end the
// program, so it is an error like any other.
func (e *encoder) writeReleased(rec arrow.RecordBatch) (err error) {
	defer func() {
		rec.Release()
		if p := recover(); p != nil {
			err = fmt.Errorf("the Parquet encoder failed: %v", p)
		}
	}()
	return e.write(rec)
}

// write appends rec to the open row group and rolls the part file over at
// the limits.
func (e *encoder) write(rec arrow.RecordBatch) error {
	if err := e.writeRecord(rec); err != nil {
		return fmt.Errorf("write row group: %w", err)
	}
	e.cur.rows += rec.NumRows()
	if e.cur.rows >= e.limits.PartRows || e.cur.hw.n >= e.limits.PartBytes {
		_, err := e.closePart()
		return err
	}
	return nil
}

// writeRecord appends rec to the open row group of the part (opening the
// part file first if needed; a full row group is closed before).
func (e *encoder) writeRecord(rec arrow.RecordBatch) error {
	if e.cur == nil {
		if err := e.openPart(rec); err != nil {
			return err
		}
	}
	cp := e.cur
	if e.rgRows >= int64(e.limits.RowGroupRows) || e.rgFull || (e.batchGroups && e.rgRows > 0) {
		// Batches end at row group boundaries (see Write); start the next
		// row group here, so WriteBuffered never has to split a batch.
		if err := cp.fw.NewBufferedRowGroupChecked(); err != nil {
			return fmt.Errorf("to %s: %w", cp.local, err)
		}
		e.rgRows, e.rgFull = 0, false
	}
	if err := cp.fw.WriteBuffered(rec); err != nil {
		return fmt.Errorf("to %s: %w", cp.local, err)
	}
	e.rgRows += rec.NumRows()
	// a wide table's row group is bounded by its bytes (see tune.go)
	e.rgFull = cp.fw.RowGroupTotalCompressedBytes() >= rowGroupMaxBytes
	return nil
}

// openPart starts a part file; its first record batch rec chooses the
// per-column dictionary encoding (see tune.go).
func (e *encoder) openPart(rec arrow.RecordBatch) error {
	local, key, final, err := e.stage.newPartPath(e.ts)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(local, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("create local part file: %w", err)
	}
	hw := &hashWriter{f: f, h: sha256.New()}
	props := append(slices.Clip(e.props), dictionaryChoices(rec, e.leaves)...)
	fw, err := pqarrow.NewFileWriter(e.schema, hw, parquet.NewWriterProperties(props...), e.aprops)
	if err != nil {
		f.Close()
		os.Remove(local)
		return fmt.Errorf("start Parquet file %s: %w", local, err)
	}
	e.cur = &openPart{local: local, key: key, final: final, f: f, hw: hw, fw: fw}
	return nil
}

// closePart writes the Parquet footer and hands the file to the stage.
func (e *encoder) closePart() (*partFile, error) {
	cp := e.cur
	if cp == nil {
		return nil, nil
	}
	e.cur = nil
	e.rgRows, e.rgFull = 0, false
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
	e.stage.addPart(e.ts, p)
	return p, nil
}

// discard drops a half-written part after an error.
func (e *encoder) discard() {
	if e.cur != nil {
		_ = e.cur.fw.Close()
		_ = e.cur.f.Close()
		_ = os.Remove(e.cur.local)
		e.cur = nil
	}
}

// finish hands over the buffered rows and waits for the encoder: after it,
// every row written so far is in the open part or a closed one.
func (w *TableWriter[T]) finish() error {
	if err := w.flushRowGroup(); err != nil {
		return err
	}
	if err := w.stopEncoder(); err != nil {
		return w.fail(err)
	}
	return nil
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
	if err := w.finish(); err != nil {
		return err
	}
	p, err := w.enc.closePart()
	w.rgRows, w.rgExact = 0, true
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

// Close finishes the current part file (the Parquet footer is written here)
// and stops the encoder goroutine. Commit closes writers left open, and
// Abort too (so an aborted stage leaves no goroutine behind); Close twice is
// a no-op.
func (w *TableWriter[T]) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	w.stage.mu.Lock()
	w.ts.closer = nil
	w.stage.mu.Unlock()
	defer func() {
		w.rb.Release()
		for _, d := range w.dicts {
			d.vals.Release()
		}
	}()
	if w.err == nil {
		if err := w.finish(); err == nil {
			if _, err := w.enc.closePart(); err != nil {
				w.err = fmt.Errorf("close table %s: %w", w.spec.Name, err)
			}
		}
	}
	if err := w.stopEncoder(); err != nil && w.err == nil { // after an earlier error
		w.fail(err)
	}
	if w.err != nil {
		w.enc.discard()
		w.stage.mu.Lock()
		w.ts.failed = w.err
		w.stage.mu.Unlock()
	}
	return w.err
}
