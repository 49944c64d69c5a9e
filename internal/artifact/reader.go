package artifact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/store"
)

// ReadOption tunes ReadTable, ReadAll and ReadParts.
type ReadOption func(*readConfig)

type readConfig struct {
	mem       memory.Allocator
	tempDir   string
	batchRows int64
	verify    bool
	partOK    func(name string) bool
	columns   []string // nil = every column of T
	skip      []string // columns of T not decoded
	// syncDecode decodes on the caller's goroutine (DecodeInline; tests
	// compare both).
	syncDecode bool
}

// DecodeInline decodes on the caller's goroutine instead of one batch ahead
// on a producer goroutine: for a reader that already runs on a goroutine of
// its own (transform's readAhead), where the read-ahead only adds a batch of
// rows and Arrow arrays in memory. The rows are the same either way.
func DecodeInline() ReadOption { return func(c *readConfig) { c.syncDecode = true } }

// WithAllocator sets the Arrow allocator used while reading (tests pass a
// memory.NewCheckedAllocator).
func WithAllocator(mem memory.Allocator) ReadOption { return func(c *readConfig) { c.mem = mem } }

// WithTempDir sets where parts are downloaded when the store cannot serve
// random access ("" = os.TempDir()).
func WithTempDir(dir string) ReadOption { return func(c *readConfig) { c.tempDir = dir } }

// WithBatchRows sets the record batch size (default 8192 rows: a batch's
// Arrow arrays and their Go copies are what reading holds in memory).
func WithBatchRows(n int64) ReadOption { return func(c *readConfig) { c.batchRows = n } }

// WithoutVerify skips the size and sha256 check of each part against its
// manifest entry.
func WithoutVerify() ReadOption { return func(c *readConfig) { c.verify = false } }

// PartFilter makes ReadParts read only the part files whose file name
// (part-NNNNN-<attempt>.parquet, unique in a run's table) ok accepts.
func PartFilter(ok func(name string) bool) ReadOption { return func(c *readConfig) { c.partOK = ok } }

// Columns reads only the named columns of T; T's other fields stay zero
// (a reader that needs a few columns of a wide table decodes only those).
// A name that is not a column of T is an error.
func Columns(names ...string) ReadOption {
	return func(c *readConfig) { c.columns = append(make([]string, 0, len(names)), names...) }
}

// SkipColumns reads every column of T but the named ones, whose fields stay
// zero (a reader that needs all but a few wide columns). A name that is not a
// column of T is an error.
func SkipColumns(names ...string) ReadOption {
	return func(c *readConfig) { c.skip = append(make([]string, 0, len(names)), names...) }
}

// readPlan is T's plan narrowed to the columns cfg asks for.
func readPlan[T any](spec contract.Spec, cfg readConfig) (*tablePlan, error) {
	plan, err := planFor[T](spec)
	if err != nil {
		return nil, err
	}
	if plan, err = plan.only(cfg.columns); err != nil {
		return nil, err
	}
	return plan.without(cfg.skip)
}

func readConfigOf(opts []ReadOption) readConfig {
	c := readConfig{mem: defaultMem, batchRows: readBatchRows, verify: true}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// ReadTable streams the rows of spec's table listed in m into fn, file by file,
// record batch by record batch. Each part is read with random access: when the
// store's Get returns an io.ReaderAt+io.Seeker (the file:// store returns an
// *os.File) it is read in place; otherwise (S3) the part is first downloaded
// to a temp file, which is removed when the part is done. So at most one part
// per reader is on local disk and one record batch is in memory.
//
// The schema name and version in the manifest must match spec; a row is a
// fresh T whose strings, slices and maps are copied out of Arrow memory, so fn
// may keep it. Empty lists and maps read back as nil. An error from fn stops
// the read and is returned as is.
func ReadTable[T any](ctx context.Context, st store.Store, m *Manifest, spec contract.Spec, fn func(T) error, opts ...ReadOption) error {
	if m == nil {
		return fmt.Errorf("read table %s: no manifest", spec.Name)
	}
	te, ok := m.Tables[spec.Name]
	if !ok {
		return fmt.Errorf("read table %s: stage %s of run %s did not publish that table", spec.Name, m.Stage, m.RunID)
	}
	if te.Schema != spec.Name || te.Version != spec.Version {
		return fmt.Errorf("read table %s: stage %s of run %s published %s version %d, this program reads version %d; use a matching program version", spec.Name, m.Stage, m.RunID, te.Schema, te.Version, spec.Version)
	}
	cfg := readConfigOf(opts)
	plan, err := readPlan[T](spec, cfg)
	if err != nil {
		return fmt.Errorf("read table %s: %w", spec.Name, err)
	}
	for _, f := range te.Files {
		want := &f
		if !cfg.verify {
			want = nil
		}
		if err := readPart(ctx, st, f.Key, want, plan, spec, cfg, fn); err != nil {
			return err
		}
	}
	return nil
}

// ReadAll reads a whole table into memory (for small tables and tests).
func ReadAll[T any](ctx context.Context, st store.Store, m *Manifest, spec contract.Spec, opts ...ReadOption) ([]T, error) {
	out := make([]T, 0, m.TableRows(spec.Name))
	err := ReadTable(ctx, st, m, spec, func(r T) error { out = append(out, r); return nil }, opts...)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ReadParts reads rows of spec's table from every part file of the run,
// whether or not a manifest lists them: the parts published in the table
// prefix and the parts stage attempts uploaded to the staging area (apply
// resumes its ledger from parts flushed before a crash). A part published
// and still staged (its staging copy not yet removed) is read once. Parts
// are read in file-name order (part number, then attempt).
func ReadParts[T any](ctx context.Context, st store.Store, runID string, spec contract.Spec, fn func(T) error, opts ...ReadOption) error {
	prefix, err := TablePrefix(spec.Name, runID)
	if err != nil {
		return fmt.Errorf("read parts of %s: %w", spec.Name, err)
	}
	cfg := readConfigOf(opts)
	plan, err := readPlan[T](spec, cfg)
	if err != nil {
		return fmt.Errorf("read parts of %s: %w", spec.Name, err)
	}
	keys := map[string]string{} // file name -> key
	isPart := func(name string) bool {
		return !strings.Contains(name, "/") && strings.HasPrefix(name, "part-") && strings.HasSuffix(name, ".parquet")
	}
	staging := StagingPrefix(runID)
	for _, p := range []string{staging, prefix} {
		infos, err := st.List(ctx, p)
		if err != nil {
			return fmt.Errorf("read parts of %s: list %s: %w", spec.Name, st.URL(p), err)
		}
		for _, in := range infos {
			name := in.Key[len(p):]
			if p == staging {
				// <attempt>/<table>/<part>
				parts := strings.Split(name, "/")
				if len(parts) != 3 || parts[1] != spec.Name {
					continue
				}
				name = parts[2]
			}
			if isPart(name) {
				keys[name] = in.Key // the published copy wins (listed second)
			}
		}
	}
	names := make([]string, 0, len(keys))
	for n := range keys {
		if cfg.partOK == nil || cfg.partOK(n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		if err := readPart(ctx, st, keys[n], nil, plan, spec, cfg, fn); err != nil {
			return err
		}
	}
	return nil
}

// readerAtSeeker is what the Parquet reader needs.
type readerAtSeeker interface {
	io.ReaderAt
	io.Seeker
}

// openPartForRead gives random access to one part: in place when possible,
// else via a temp file. With hash set, the part's sha256 is computed as it is
// read: while downloading (sum is known at once), or by a hashingReaderAt
// over the file read in place (sum is "" and the reader's Sum gives it when
// the part is done). cleanup closes and removes whatever was opened.
func openPartForRead(ctx context.Context, st store.Store, key string, cfg readConfig, hash bool) (r readerAtSeeker, size int64, sum string, cleanup func(), err error) {
	rc, err := st.Get(ctx, key)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, 0, "", nil, fmt.Errorf("part %s is missing (listed by the manifest; run `runs verify` on this run): %w", st.URL(key), err)
		}
		return nil, 0, "", nil, fmt.Errorf("open part %s: %w", st.URL(key), err)
	}
	if ras, ok := rc.(readerAtSeeker); ok {
		n, err := ras.Seek(0, io.SeekEnd)
		if err == nil {
			_, err = ras.Seek(0, io.SeekStart)
		}
		if err != nil {
			rc.Close()
			return nil, 0, "", nil, fmt.Errorf("open part %s: %w", st.URL(key), err)
		}
		if hash {
			ras = newHashingReaderAt(ras, n)
		}
		return ras, n, "", func() { rc.Close() }, nil
	}
	tmp, err := os.CreateTemp(cfg.tempDir, "otds-highspot-read-*.parquet")
	if err != nil {
		rc.Close()
		return nil, 0, "", nil, fmt.Errorf("download part %s: create temp file (set a writable temp dir): %w", st.URL(key), err)
	}
	cleanup = func() { tmp.Close(); os.Remove(tmp.Name()) }
	var w io.Writer = tmp
	h := sha256.New()
	if hash {
		w = io.MultiWriter(tmp, h)
	}
	n, err := io.Copy(w, rc)
	rc.Close()
	if err != nil {
		cleanup()
		return nil, 0, "", nil, fmt.Errorf("download part %s: %w", st.URL(key), err)
	}
	if hash {
		sum = hex.EncodeToString(h.Sum(nil))
	}
	return tmp, n, sum, cleanup, nil
}

// readPart reads one part into fn. With want set (a manifest's entry), the
// part's size and sha256 must match it: the size is checked before reading,
// the sha256 while reading (downloaded parts: before decoding; parts read in
// place: when the part is done, or as soon as decoding fails, so a flipped
// byte is reported as a modified file, not as whatever the decoder made of
// it). Rows of a modified part may already have reached fn when the
// mismatch is found; the read then fails, so nothing built from them is
// published.
func readPart[T any](ctx context.Context, st store.Store, key string, want *FileEntry, plan *tablePlan, spec contract.Spec, cfg readConfig, fn func(T) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r, size, sum, cleanup, err := openPartForRead(ctx, st, key, cfg, want != nil)
	if err != nil {
		return fmt.Errorf("read table %s: %w", spec.Name, err)
	}
	defer cleanup()
	where := st.URL(key)
	if want == nil {
		return decodePart(ctx, r, where, plan, spec, cfg, fn)
	}
	if size != want.Bytes {
		return fmt.Errorf("read table %s: %w", spec.Name, checkSum(where, "", size, *want))
	}
	hr, inPlace := r.(*hashingReaderAt)
	if !inPlace {
		if err := checkSum(where, sum, size, *want); err != nil {
			return fmt.Errorf("read table %s: %w", spec.Name, err)
		}
		return decodePart(ctx, r, where, plan, spec, cfg, fn)
	}
	var fnErr error
	derr := decodePart(ctx, r, where, plan, spec, cfg, func(row T) error {
		fnErr = fn(row)
		return fnErr
	})
	if derr != nil && (fnErr != nil || ctx.Err() != nil) {
		return derr // the caller's own error, or a cancel: returned as is
	}
	got, herr := hr.Sum()
	if herr != nil {
		return fmt.Errorf("read table %s: hash %s: %w", spec.Name, where, herr)
	}
	if err := checkSum(where, got, size, *want); err != nil {
		return fmt.Errorf("read table %s: %w", spec.Name, err)
	}
	return derr
}

// decodePart decodes one Parquet part into fn. A producer goroutine decodes
// the record batches (column reading, decompression, decoding) into rows,
// one batch ahead of fn, which runs on the caller's goroutine (see
// tune.go); an error from fn or a cancelled ctx stops the producer, and
// decodePart returns only once it has returned. The rows are copied out of
// Arrow memory (see strCol), so a batch's Arrow arrays are released by the
// producer whatever fn keeps.
func decodePart[T any](ctx context.Context, r readerAtSeeker, where string, plan *tablePlan, spec contract.Spec, cfg readConfig, fn func(T) error) error {
	if cfg.syncDecode {
		var buf []T
		return decodeBatches(ctx, r, where, plan, spec, cfg,
			func() ([]T, error) { return buf, nil },
			func(rows []T) error {
				buf = rows
				for i := range rows {
					if err := fn(rows[i]); err != nil {
						return err
					}
				}
				return nil
			})
	}
	dctx, cancel := context.WithCancel(ctx)
	full := make(chan []T) // a batch of rows for fn
	free := make(chan []T, 2)
	free <- nil // two row buffers (made at the first batch): one filled, one read
	free <- nil
	var derr error
	go func() {
		defer close(full)
		derr = decodeBatches(dctx, r, where, plan, spec, cfg,
			func() ([]T, error) {
				select {
				case b := <-free:
					return b, nil
				case <-dctx.Done():
					return nil, dctx.Err()
				}
			},
			func(rows []T) error {
				select {
				case full <- rows:
					return nil
				case <-dctx.Done():
					return dctx.Err()
				}
			})
	}()
	defer func() { // also when fn panics: the producer never outlives the read
		cancel()
		for range full {
		}
	}()
	for rows := range full {
		for i := range rows {
			if err := fn(rows[i]); err != nil {
				return err
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		free <- rows // never blocks: there are two buffers
	}
	return derr // full is closed: the producer has returned
}

// decodeBatches decodes one Parquet part batch by batch: each record
// batch's rows are set into a buffer from buffer (grown to the batch) and
// handed to emit; an error from either is returned as is. The Parquet
// decoder panics on some corrupt page headers (a nil DataPageHeader); that
// is turned into an error so that readPart can report the part as modified.
func decodeBatches[T any](ctx context.Context, r readerAtSeeker, where string, plan *tablePlan, spec contract.Spec, cfg readConfig, buffer func() ([]T, error), emit func([]T) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("read table %s: %s: the Parquet decoder failed: %v", spec.Name, where, p)
		}
	}()
	props := parquet.NewReaderProperties(cfg.mem)
	props.BufferedStreamEnabled = true
	props.BufferSize = 1 << 20
	pf, err := file.NewParquetReader(r, file.WithReadProps(props))
	if err != nil {
		return fmt.Errorf("read table %s: %s is not a readable Parquet file: %w", spec.Name, where, err)
	}
	defer pf.Close()
	kv := pf.MetaData().KeyValueMetadata()
	if name := kv.FindValue(metaSchema); name != nil && *name != spec.Name {
		return fmt.Errorf("read table %s: %s holds table %s", spec.Name, where, *name)
	}
	if v := kv.FindValue(metaSchemaVersion); v != nil && *v != strconv.Itoa(spec.Version) {
		return fmt.Errorf("read table %s: %s has schema version %s, this program reads version %d", spec.Name, where, *v, spec.Version)
	}
	fr, err := pqarrow.NewFileReader(pf, plan.readProps(pf.MetaData(), cfg.batchRows), cfg.mem)
	if err != nil {
		return fmt.Errorf("read table %s: %s: %w", spec.Name, where, err)
	}
	sc, err := fr.Schema()
	if err != nil {
		return fmt.Errorf("read table %s: %s: %w", spec.Name, where, err)
	}
	if _, err := plan.columnIndex(sc); err != nil {
		return fmt.Errorf("read table %s: %s: %w", spec.Name, where, err)
	}
	if pf.NumRows() == 0 {
		return nil
	}
	// Only the leaf columns of the plan's fields are decoded: a file column
	// T does not name is skipped (its bytes are still hashed, see readPart).
	rr, err := fr.GetRecordReader(ctx, plan.leaves(pf.MetaData().Schema), nil)
	if err != nil {
		return fmt.Errorf("read table %s: %s: %w", spec.Name, where, err)
	}
	defer rr.Release()
	idx, err := plan.columnIndex(rr.Schema())
	if err != nil {
		return fmt.Errorf("read table %s: %s: %w", spec.Name, where, err)
	}
	var zero T
	for rr.Next() {
		rec := rr.RecordBatch()
		setters, err := plan.setters(rec, idx)
		if err != nil {
			return fmt.Errorf("read table %s: %s: %w", spec.Name, where, err)
		}
		buf, err := buffer()
		if err != nil {
			return err
		}
		n := int(rec.NumRows())
		buf = slices.Grow(buf[:0], n)[:n]
		for i := range buf {
			buf[i] = zero // fields without a column (`parquet:"-"`) stay zero
			p := unsafe.Pointer(&buf[i])
			for _, set := range setters {
				set(i, p)
			}
		}
		if err := emit(buf); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read table %s: %s: %w", spec.Name, where, err)
	}
	return nil
}
