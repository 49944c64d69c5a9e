// Package artifact owns how stages publish and read their artifacts: Parquet
// tables (through Apache Arrow, zstd, 32-64Ki-row row groups, timestamps in
// microseconds UTC, streamed so no table is ever held whole in memory), blobs
// (reports), stage manifests written last as the commit marker, the run
// manifest chain, verification, run listing and the run lock.
//
// Layout (identical on local disk and S3):
//
//	<table>/dt=YYYY-MM-DD/run_id=<id>/part-NNNNN-<attempt>.parquet
//	_runs/<run_id>/<stage>.manifest.json
//	_runs/<run_id>/<stage>/<blob name>
//	_runs/<run_id>/run.manifest.json
//	_locks/run.lock
//
// Writing: a row type's `parquet` tags are mapped to an Arrow schema once per
// writer (no global cache); rows go straight into Arrow builders through
// precomputed per-field functions (field offsets, no per-cell reflection).
// Rows become 8Ki-row record batches appended to a buffered row group of
// RowGroupRows rows (zstd, fastest level) of a local part file under
// Env.TempDir, so only a row group's compressed pages are held; builders are
// pre-sized from the previous batch; string columns are PLAIN-encoded,
// numeric ones keep a dictionary only when repeated (tune.go says why, with
// the figures); a part rolls over at ~1Mi rows or
// ~256 MiB. Commit uploads parts write-once (sha256/bytes/rows are computed
// while writing) and writes the manifest last. Map keys are written sorted and
// timestamps as timestamp[us, UTC], so the same rows give the same bytes.
// Schema name and version are in each file's key-value metadata
// (otds.schema, otds.schema_version). Empty lists and maps read back as nil.
//
// Reading: when Store.Get returns an io.ReaderAt+io.Seeker (file://) a part
// is read in place; otherwise (s3://) it is downloaded to a temp file first,
// removed when the part is done. Each part's sha256 is computed as it is read
// (while downloading, or as the Parquet reader's reads extend the hashed
// prefix) and checked against the manifest: a modified part is ErrModified
// (exit 1), never a decoder error. Rows are materialized record batch by record
// batch (8Ki rows unless WithBatchRows); strings share one copied buffer per column per batch, list values
// one []string and nullable pointers one slab per column per batch (a kept
// row keeps its batch's slabs alive).
//
// Chains: each stage manifest's `previous` is the same stage's latest earlier
// manifest of any status (blocked ones too, so none can be dropped silently);
// LatestManifest returns only status "published". Run manifests chain the
// same way. Verify re-hashes files and checks every link.
package artifact

import (
	"errors"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/store"
)

// Env is what a stage needs to publish: the store, the run identity and the
// provenance recorded in every manifest.
type Env struct {
	Store      store.Store
	RunID      string // must start with a date (YYYYMMDD...); see RunDate
	ConfigHash string // sha256 of the config file
	Version    string // program version
	Host       string // who/what ran
	TempDir    string // local scratch for part files ("" = os.TempDir())
	Log        logrus.FieldLogger
	Now        func() time.Time
	// Checkpoint, when set, is called at named points of a commit
	// ("<stage>:staged" after each part upload, "<stage>:record" after the
	// commit record, "<stage>:copied" after each part copied into place)
	// and by apply ("apply:flush" after each ledger flush). It is a test
	// hook: the crash-consistency suite kills the process there.
	Checkpoint func(point string)
}

// Check calls env.Checkpoint, when set.
func (e Env) Check(point string) {
	if e.Checkpoint != nil {
		e.Checkpoint(point)
	}
}

// ErrNotPublished means the requested stage has no manifest (it never ran,
// failed, or crashed before its commit).
var ErrNotPublished = errors.New("stage not published")

// Ref points at one published manifest.
type Ref struct {
	Stage  contract.Stage `json:"stage"`
	RunID  string         `json:"run_id"`
	Key    string         `json:"key"`
	SHA256 string         `json:"sha256"`
}

// FileEntry is one data file or blob listed in a manifest.
type FileEntry struct {
	Key    string `json:"key"`
	SHA256 string `json:"sha256"`
	Bytes  int64  `json:"bytes"`
	Rows   int64  `json:"rows,omitempty"`
}

// TableEntry lists the files of one table.
type TableEntry struct {
	Schema  string      `json:"schema"`
	Version int         `json:"schema_version"`
	Rows    int64       `json:"rows"`
	Files   []FileEntry `json:"files"`
}

// Manifest is a stage's commit marker.
type Manifest struct {
	Format         string                `json:"format"` // "otds-highspot/stage-manifest/v1"
	RunID          string                `json:"run_id"`
	Stage          contract.Stage        `json:"stage"`  // extract.<tree> | transform | pull | plan | apply | ...
	Status         string                `json:"status"` // published | blocked
	CreatedAt      time.Time             `json:"created_at"`
	ProgramVersion string                `json:"program_version"`
	ConfigHash     string                `json:"config_hash"`
	Host           string                `json:"host"`
	Inputs         []Ref                 `json:"inputs"`
	Tables         map[string]TableEntry `json:"tables"`
	Blobs          map[string]FileEntry  `json:"blobs"`
	Summary        map[string]any        `json:"summary"`
	Previous       *Ref                  `json:"previous,omitempty"` // same stage, latest earlier run
}
