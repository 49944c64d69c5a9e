package artifact

import (
	"context"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/records"
	"github.com/otds-highspot/otds-highspot/internal/store"
)

// NOTE: signatures are the contract other packages build against; the bodies
// are being written (this file is replaced by the real implementation).

// Stage collects the tables and blobs of one stage (or one stage scope, such
// as "extract.acme") for one run, and publishes them with Commit. Nothing is
// visible as published until Commit has written the manifest, last.
type Stage struct {
	env  Env
	name string
}

// NewStage starts a stage. name is "extract.<tree>", "transform", "pull",
// "plan", "apply", "history", ...
func NewStage(env Env, name string) *Stage { return &Stage{env: env, name: name} }

// Name is the stage name.
func (s *Stage) Name() string { return s.name }

// AddInput records a manifest this stage read.
func (s *Stage) AddInput(r Ref) { panic("artifact: in progress") }

// SetSummary records a summary value (counts, gate figures, ...) in the manifest.
func (s *Stage) SetSummary(key string, v any) { panic("artifact: in progress") }

// SetStatus sets the manifest status ("published" by default, "blocked" for a blocked plan).
func (s *Stage) SetStatus(status string) { panic("artifact: in progress") }

// PutBlob stores a non-table artifact (plan.md, plan.html, report.json) under
// _runs/<run>/<stage>/<name>; it is listed (with sha256) in the manifest.
func (s *Stage) PutBlob(ctx context.Context, name string, data []byte) (FileEntry, error) {
	panic("artifact: in progress")
}

// Commit uploads every closed part file (write-once), then writes the
// manifest last. On error nothing counts as published.
func (s *Stage) Commit(ctx context.Context) (Ref, *Manifest, error) { panic("artifact: in progress") }

// Abort discards local part files; nothing is published.
func (s *Stage) Abort() {}

// TableWriter streams rows of T into part files of one table.
type TableWriter[T any] struct{}

// OpenTable opens a streaming writer for spec's table in this stage. Rows are
// buffered to a row group (default 65536 rows) and written to a local temp
// Parquet file; files roll over at a size limit.
func OpenTable[T any](s *Stage, spec records.Spec) (*TableWriter[T], error) {
	panic("artifact: in progress")
}

// Write appends one row.
func (w *TableWriter[T]) Write(row T) error { panic("artifact: in progress") }

// Rows is the number of rows written so far.
func (w *TableWriter[T]) Rows() int64 { panic("artifact: in progress") }

// Flush closes the current part file and uploads it now (write-once), so a
// ledger survives a crash; later rows go to a new part. Committed parts are
// listed in the manifest at Commit.
func (w *TableWriter[T]) Flush(ctx context.Context) error { panic("artifact: in progress") }

// Close finishes the current part file (the Parquet footer is written here).
func (w *TableWriter[T]) Close() error { panic("artifact: in progress") }

// ReadManifest reads the manifest of stage in run (ErrNotPublished when absent).
func ReadManifest(ctx context.Context, st store.Store, runID, stage string) (*Manifest, Ref, error) {
	panic("artifact: in progress")
}

// LatestManifest finds the newest published manifest of stage in a run
// strictly before beforeRunID ("" = newest of all). ErrNotPublished when none.
func LatestManifest(ctx context.Context, st store.Store, stage, beforeRunID string) (*Manifest, Ref, error) {
	panic("artifact: in progress")
}

// ReadTable streams the rows of spec's table listed in m into fn, file by file,
// record batch by record batch.
func ReadTable[T any](ctx context.Context, st store.Store, m *Manifest, spec records.Spec, fn func(T) error) error {
	panic("artifact: in progress")
}

// ReadAll reads a whole table into memory (for small tables and tests).
func ReadAll[T any](ctx context.Context, st store.Store, m *Manifest, spec records.Spec) ([]T, error) {
	panic("artifact: in progress")
}

// ReadParts reads rows of spec's table from every part file under the run's
// table prefix, whether or not a manifest lists them (apply resumes its ledger
// from parts flushed before a crash).
func ReadParts[T any](ctx context.Context, st store.Store, runID string, spec records.Spec, fn func(T) error) error {
	panic("artifact: in progress")
}

// RunDate is the dt= partition date of a run id (its leading YYYYMMDD).
func RunDate(runID string) (time.Time, error) { panic("artifact: in progress") }

// NewRunID makes a sortable run id: 20261125T235959Z-1a2b.
func NewRunID(now time.Time) string { panic("artifact: in progress") }
