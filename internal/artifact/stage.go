package artifact

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/sirupsen/logrus"

	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/store"
)

// ManifestFormat is the Format of every stage manifest.
const ManifestFormat = "otds-highspot/stage-manifest/v1"

// Manifest statuses.
const (
	StatusPublished = "published"
	StatusBlocked   = "blocked"
	// StatusIncomplete marks a manifest that records an attempt, not a
	// finished stage (an apply attempt that left changes failed).
	StatusIncomplete = "incomplete"
)

// Limits bound row groups and part files. The zero value means the defaults.
type Limits struct {
	RowGroupRows int   // rows per row group and per Arrow record batch (default 65536)
	PartRows     int64 // roll a part file over after this many rows (default 1Mi)
	PartBytes    int64 // ... or once it is this large (default 256 MiB)
}

// Default limits.
const (
	DefaultRowGroupRows = 64 * 1024
	DefaultPartRows     = 1 << 20
	DefaultPartBytes    = 256 << 20
)

func (l Limits) withDefaults() Limits {
	if l.RowGroupRows <= 0 {
		l.RowGroupRows = DefaultRowGroupRows
	}
	if l.PartRows <= 0 {
		l.PartRows = DefaultPartRows
	}
	if l.PartBytes <= 0 {
		l.PartBytes = DefaultPartBytes
	}
	return l
}

// Stage collects the tables and blobs of one stage (or one stage scope, such
// as "extract.acme") for one run, and publishes them with Commit. Nothing is
// visible as published until Commit has written the manifest, last.
//
// A Stage is safe for use by several goroutines; each TableWriter is not.
type Stage struct {
	env     Env
	name    contract.Stage
	attempt string // short random hex in every part key of this Stage
	err     error  // invalid run id or stage name: reported by OpenTable/Commit
	log     logrus.FieldLogger
	mem     memory.Allocator
	limits  Limits
	// syncWrites makes table writers encode on the caller's goroutine
	// (EncodeInline; tests also compare the files with the encoder
	// goroutine's).
	syncWrites bool

	mu        sync.Mutex
	tmpDir    string // created lazily under env.TempDir
	inputs    []Ref
	summary   map[string]any
	status    string
	tables    map[string]*tableState
	blobs     map[string]FileEntry
	committed bool
	aborted   bool
}

// tableState is what a Stage knows about one table.
type tableState struct {
	spec     contract.Spec
	parts    []*partFile
	nextPart int
	closer   func() error // closes the open writer; nil once closed
	failed   error        // the writer failed: the stage cannot be committed
}

// partFile is one closed local Parquet file, uploaded or not.
type partFile struct {
	local    string
	key      string // staging key: where the attempt uploads it
	final    string // key in the table prefix: where Commit copies it
	rows     int64
	bytes    int64
	sha256   string
	uploaded bool
}

// NewStage starts a stage. name is "extract.<tree>", "transform", "pull",
// "plan", "apply", "history", ... An invalid run id or stage name is reported
// by OpenTable, PutBlob and Commit.
func NewStage(env Env, name contract.Stage) *Stage {
	s := &Stage{
		env:     env,
		name:    name,
		attempt: randomHex(4),
		log:     loggerOf(env.Log),
		mem:     defaultMem,
		limits:  Limits{}.withDefaults(),
		summary: map[string]any{},
		status:  StatusPublished,
		tables:  map[string]*tableState{},
		blobs:   map[string]FileEntry{},
	}
	if env.Store == nil {
		s.err = errors.New("artifact stage: no store configured")
	} else if err := ValidateRunID(env.RunID); err != nil {
		s.err = err
	} else if err := checkStageName(name); err != nil {
		s.err = err
	}
	s.log = s.log.WithFields(logrus.Fields{"run_id": env.RunID, "stage": name})
	return s
}

// EncodeInline makes the tables opened after it encode on the caller's
// goroutine instead of an encoder goroutine of their own: for a stage that
// already writes each table from a goroutine of its own (transform's
// writers, extract's sink), where the extra hand-off only adds a batch in
// memory and scheduling (tune.go has the measurements). The files are the
// same either way.
func (s *Stage) EncodeInline() { s.syncWrites = true }

func checkStageName(name contract.Stage) error {
	if err := checkName("stage name", string(name)); err != nil {
		return err
	}
	if name == "run" {
		return errors.New(`stage name "run" is reserved for the run manifest`)
	}
	return nil
}

func loggerOf(l logrus.FieldLogger) logrus.FieldLogger {
	if l != nil {
		return l
	}
	d := logrus.New()
	d.SetOutput(io.Discard)
	return d
}

func (e Env) now() time.Time {
	if e.Now != nil {
		return e.Now().UTC()
	}
	return time.Now().UTC()
}

// Name is the stage name.
func (s *Stage) Name() contract.Stage { return s.name }

// Rename changes the name the stage commits under (apply commits an attempt
// that left changes failed as "apply.attempt-NNN", not as "apply"). Part
// keys do not hold the stage name; blobs already stored keep their key.
func (s *Stage) Rename(name contract.Stage) error {
	if err := checkStageName(name); err != nil {
		return fmt.Errorf("rename stage %s: %w", s.name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return fmt.Errorf("rename: %w", err)
	}
	s.name = name
	return nil
}

// Attempt is the random hex that tags this Stage's part files.
func (s *Stage) Attempt() string { return s.attempt }

// SetLimits changes row-group and part-file limits for tables opened after
// the call (tests use small values).
func (s *Stage) SetLimits(l Limits) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limits = l.withDefaults()
}

// SetAllocator sets the Arrow allocator for tables opened after the call
// (tests use memory.NewCheckedAllocator).
func (s *Stage) SetAllocator(mem memory.Allocator) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mem = mem
}

// AddInput records a manifest this stage read.
func (s *Stage) AddInput(r Ref) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inputs = append(s.inputs, r)
}

// SetSummary records a summary value (counts, gate figures, ...) in the manifest.
func (s *Stage) SetSummary(key string, v any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.summary[key] = v
}

// SetStatus sets the manifest status ("published" by default, "blocked" for a blocked plan).
func (s *Stage) SetStatus(status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
}

func (s *Stage) usable() error {
	if s.err != nil {
		return fmt.Errorf("stage %s: %w", s.name, s.err)
	}
	if s.committed {
		return fmt.Errorf("stage %s of run %s is already committed; start a new Stage", s.name, s.env.RunID)
	}
	if s.aborted {
		return fmt.Errorf("stage %s of run %s was aborted", s.name, s.env.RunID)
	}
	return nil
}

// tempDir creates the stage's scratch directory on first use.
func (s *Stage) tempDirLocked() (string, error) {
	if s.tmpDir != "" {
		return s.tmpDir, nil
	}
	d, err := os.MkdirTemp(s.env.TempDir, string("otds-highspot-"+s.name+"-"))
	if err != nil {
		return "", fmt.Errorf("stage %s: create scratch directory under %q (set a writable temp dir): %w", s.name, s.env.TempDir, err)
	}
	s.tmpDir = d
	return d, nil
}

// ManifestKey is where the manifest of stage in run lives.
func ManifestKey(runID string, stage contract.Stage) string {
	return "_runs/" + runID + "/" + string(stage) + ".manifest.json"
}

// TablePrefix is the partition prefix of a table in a run:
// <table>/dt=YYYY-MM-DD/run_id=<id>/.
func TablePrefix(table, runID string) (string, error) {
	d, err := RunDate(runID)
	if err != nil {
		return "", err
	}
	return table + "/dt=" + d.Format("2006-01-02") + "/run_id=" + runID + "/", nil
}

// BlobKey is where PutBlob stores blob name of this stage attempt:
// _runs/<run>/<stage>/<attempt>/<name>. The attempt in the key keeps a retry
// of the stage for the same run id clear of what a failed attempt stored;
// readers find the committed blob through the manifest (Manifest.Blobs).
func (s *Stage) BlobKey(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "_runs/" + s.env.RunID + "/" + string(s.name) + "/" + s.attempt + "/" + name
}

// PutBlob stores a non-table artifact (plan.md, plan.html, report.json) at
// BlobKey(name); it is listed (with sha256) in the manifest.
func (s *Stage) PutBlob(ctx context.Context, name string, data []byte) (FileEntry, error) {
	s.mu.Lock()
	err := s.usable()
	if err == nil {
		err = checkName("blob name", name)
	}
	if err == nil {
		if _, dup := s.blobs[name]; dup {
			err = fmt.Errorf("blob %s was already stored in this stage", name)
		}
	}
	s.mu.Unlock()
	if err != nil {
		return FileEntry{}, fmt.Errorf("put blob: %w", err)
	}
	key := s.BlobKey(name)
	sum := sha256.Sum256(data)
	fe := FileEntry{Key: key, SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(data))}
	if err := s.env.Store.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
		if errors.Is(err, store.ErrExists) {
			return FileEntry{}, fmt.Errorf("put blob %s: %s already exists (two stages share an attempt id?): %w", name, s.env.Store.URL(key), err)
		}
		return FileEntry{}, fmt.Errorf("put blob %s: %w", name, err)
	}
	s.mu.Lock()
	s.blobs[name] = fe
	s.mu.Unlock()
	return fe, nil
}

// registerTable reserves a table in the stage for one writer.
func (s *Stage) registerTable(spec contract.Spec, closer func() error) (*tableState, Limits, memory.Allocator, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return nil, Limits{}, nil, err
	}
	if err := checkName("table name", spec.Name); err != nil {
		return nil, Limits{}, nil, err
	}
	if _, dup := s.tables[spec.Name]; dup {
		return nil, Limits{}, nil, fmt.Errorf("table %s is already open in stage %s (one writer per table per stage)", spec.Name, s.name)
	}
	ts := &tableState{spec: spec, closer: closer}
	s.tables[spec.Name] = ts
	return ts, s.limits, s.mem, nil
}

// StagingPrefix is where a run's stage attempts upload their parts and
// commit records (_staging/<run>/<attempt>/...), outside every table prefix:
// engines that read a table by prefix never see an attempt's files.
func StagingPrefix(runID string) string { return stagingRoot + runID + "/" }

const stagingRoot = "_staging/"

// newPartPath names the next part of a table: local scratch path, staging
// key and final key.
func (s *Stage) newPartPath(ts *tableState) (local, key, final string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	dir, err := s.tempDirLocked()
	if err != nil {
		return "", "", "", err
	}
	prefix, err := TablePrefix(ts.spec.Name, s.env.RunID)
	if err != nil {
		return "", "", "", err
	}
	name := fmt.Sprintf("part-%05d-%s.parquet", ts.nextPart, s.attempt)
	ts.nextPart++
	staged := StagingPrefix(s.env.RunID) + s.attempt + "/" + ts.spec.Name + "/" + name
	return path.Join(dir, ts.spec.Name+"-"+name), staged, prefix + name, nil
}

func (s *Stage) addPart(ts *tableState, p *partFile) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts.parts = append(ts.parts, p)
}

// upload puts one closed part into the store (write-once) and removes the
// local file.
func (s *Stage) upload(ctx context.Context, p *partFile) error {
	if p.uploaded {
		return nil
	}
	f, err := os.Open(p.local)
	if err != nil {
		return fmt.Errorf("upload %s: open local part: %w", p.key, err)
	}
	defer f.Close()
	if err := s.env.Store.Put(ctx, p.key, f, p.bytes); err != nil {
		return fmt.Errorf("upload %s (%d rows, %d bytes): %w", s.env.Store.URL(p.key), p.rows, p.bytes, err)
	}
	p.uploaded = true
	_ = f.Close()
	_ = os.Remove(p.local)
	s.log.WithFields(logrus.Fields{"key": p.key, "rows": p.rows, "bytes": p.bytes}).Debug("part uploaded")
	return nil
}

func alreadyPublished(stage contract.Stage, runID string) error {
	return fmt.Errorf("stage %s already published for run %s; use a new --run-id", stage, runID)
}

// Commit publishes the stage:
//
//  1. every closed part is uploaded to the attempt's staging area
//     (StagingPrefix), outside the table prefixes;
//  2. a commit record (the manifest to write and where each part goes) is
//     stored in the staging area;
//  3. each part is copied into its table prefix (store.Copy: a hard link, or
//     an S3 CopyObject; write-once);
//  4. the manifest is written, last; the staging files are removed.
//
// Writers still open are closed first. A failure before 2 publishes nothing
// and leaves nothing in a table prefix; after 2 the commit is rolled forward
// by RollForward (the next commit of the same stage, and the pipeline's
// check whether the stage is published, do it), so the parts that already
// reached a table prefix end up listed by a manifest.
func (s *Stage) Commit(ctx context.Context) (Ref, *Manifest, error) {
	s.mu.Lock()
	err := s.usable()
	s.mu.Unlock()
	if err != nil {
		return Ref{}, nil, fmt.Errorf("commit: %w", err)
	}
	st, runID := s.env.Store, s.env.RunID
	name := s.Name()
	if _, err := RollForward(ctx, s.env, func(stage contract.Stage) bool { return stage == name }); err != nil {
		return Ref{}, nil, fmt.Errorf("commit stage %s: %w", s.name, err)
	}
	mkey := ManifestKey(runID, s.name)
	if _, err := st.Stat(ctx, mkey); err == nil {
		return Ref{}, nil, fmt.Errorf("commit: %w", alreadyPublished(s.name, runID))
	} else if !errors.Is(err, store.ErrNotFound) {
		return Ref{}, nil, fmt.Errorf("commit stage %s: check for an existing manifest: %w", s.name, err)
	}

	// Close open writers (outside the lock: closers call back into the stage).
	s.mu.Lock()
	var closers []func() error
	names := make([]string, 0, len(s.tables))
	for n, ts := range s.tables {
		names = append(names, n)
		if ts.closer != nil {
			closers = append(closers, ts.closer)
		}
	}
	s.mu.Unlock()
	sort.Strings(names)
	for _, c := range closers {
		if err := c(); err != nil {
			return Ref{}, nil, fmt.Errorf("commit stage %s: %w", s.name, err)
		}
	}

	m := &Manifest{
		Format:         ManifestFormat,
		RunID:          runID,
		Stage:          s.name,
		CreatedAt:      s.env.now(),
		ProgramVersion: s.env.Version,
		ConfigHash:     s.env.ConfigHash,
		Host:           s.env.Host,
		Tables:         map[string]TableEntry{},
		Blobs:          map[string]FileEntry{},
		Summary:        map[string]any{},
		Inputs:         []Ref{},
	}
	var staged []stagedPart
	for _, n := range names {
		ts := s.tables[n]
		if ts.failed != nil {
			return Ref{}, nil, fmt.Errorf("commit stage %s: table %s is incomplete: %w", s.name, n, ts.failed)
		}
		te := TableEntry{Schema: ts.spec.Name, Version: ts.spec.Version, Files: []FileEntry{}}
		for _, p := range ts.parts {
			if err := ctx.Err(); err != nil {
				return Ref{}, nil, fmt.Errorf("commit stage %s: %w", s.name, err)
			}
			if err := s.upload(ctx, p); err != nil {
				return Ref{}, nil, fmt.Errorf("commit stage %s: %w", s.name, err)
			}
			s.env.Check(string(s.name + ":staged"))
			te.Rows += p.rows
			te.Files = append(te.Files, FileEntry{Key: p.final, SHA256: p.sha256, Bytes: p.bytes, Rows: p.rows})
			staged = append(staged, stagedPart{Staged: p.key, Final: p.final, Bytes: p.bytes})
		}
		m.Tables[n] = te
	}
	s.mu.Lock()
	m.Status = s.status
	m.Inputs = append(m.Inputs, s.inputs...)
	for k, v := range s.summary {
		m.Summary[k] = v
	}
	for k, v := range s.blobs {
		m.Blobs[k] = v
	}
	s.mu.Unlock()

	prev, err := latestRef(ctx, st, s.name, runID, false)
	if err != nil && !errors.Is(err, ErrNotPublished) {
		return Ref{}, nil, fmt.Errorf("commit stage %s: find the previous manifest for the chain: %w", s.name, err)
	}
	if err == nil {
		m.Previous = &prev
	}

	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Ref{}, nil, fmt.Errorf("commit stage %s: encode manifest: %w", s.name, err)
	}
	data = append(data, '\n')
	rec := commitRecord{Format: commitRecordFormat, RunID: runID, Stage: s.name, Attempt: s.attempt, Manifest: string(data), Parts: staged}
	if err := putCommitRecord(ctx, st, rec); err != nil {
		return Ref{}, nil, fmt.Errorf("commit stage %s: %w", s.name, err)
	}
	s.env.Check(string(s.name + ":record"))
	ref, err := finishCommit(ctx, st, s.log, rec, s.env.Check)
	if err != nil {
		return Ref{}, nil, fmt.Errorf("commit stage %s: %w", s.name, err)
	}
	s.mu.Lock()
	s.committed = true
	s.mu.Unlock()
	s.cleanup()
	s.log.WithFields(logrus.Fields{"manifest": st.URL(mkey), "status": m.Status}).Info("stage published")
	return ref, m, nil
}

// Abort discards local part files; nothing is published. Parts already
// uploaded by TableWriter.Flush stay in the store, unlisted by any manifest.
func (s *Stage) Abort() {
	s.mu.Lock()
	if s.committed || s.aborted {
		s.mu.Unlock()
		return
	}
	s.aborted = true
	var closers []func() error
	for _, ts := range s.tables {
		if ts.closer != nil {
			closers = append(closers, ts.closer)
		}
	}
	s.mu.Unlock()
	for _, c := range closers {
		_ = c()
	}
	s.cleanup()
}

func (s *Stage) cleanup() {
	s.mu.Lock()
	dir := s.tmpDir
	s.tmpDir = ""
	s.mu.Unlock()
	if dir != "" {
		_ = os.RemoveAll(dir)
	}
}
