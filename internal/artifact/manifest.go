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
	"strings"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/internal/store"
)

// RunManifestFormat is the Format of every run manifest.
const RunManifestFormat = "otds-highspot/run-manifest/v1"

// runManifestName is the file name of the run manifest inside _runs/<run>/.
const runManifestName = "run.manifest.json"

// TableRows is the row count of a table in the manifest (0 when absent).
func (m *Manifest) TableRows(name string) int64 {
	if m == nil {
		return 0
	}
	return m.Tables[name].Rows
}

// readKey reads a whole (small) object and its sha256.
func readKey(ctx context.Context, st store.Store, key string) ([]byte, string, error) {
	rc, err := st.Get(ctx, key)
	if err != nil {
		return nil, "", err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", st.URL(key), err)
	}
	sum := sha256.Sum256(data)
	return data, hex.EncodeToString(sum[:]), nil
}

// ReadManifest reads the manifest of stage in run (ErrNotPublished when absent).
func ReadManifest(ctx context.Context, st store.Store, runID string, stage contract.Stage) (*Manifest, Ref, error) {
	if err := ValidateRunID(runID); err != nil {
		return nil, Ref{}, exitcode.Wrap(exitcode.Usage, fmt.Errorf("read manifest: %w", err))
	}
	if err := checkStageName(stage); err != nil {
		return nil, Ref{}, exitcode.Wrap(exitcode.Usage, fmt.Errorf("read manifest: %w", err))
	}
	key := ManifestKey(runID, stage)
	data, sum, err := readKey(ctx, st, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, Ref{}, fmt.Errorf("stage %s of run %s has no manifest at %s (it never ran, failed, or crashed before its commit): %w", stage, runID, st.URL(key), ErrNotPublished)
	}
	if err != nil {
		return nil, Ref{}, fmt.Errorf("read manifest of stage %s, run %s: %w", stage, runID, err)
	}
	m, err := decodeManifest(data)
	if err != nil {
		return nil, Ref{}, fmt.Errorf("read manifest %s: %w", st.URL(key), err)
	}
	if m.RunID != runID || m.Stage != stage {
		return nil, Ref{}, fmt.Errorf("read manifest %s: it names stage %s of run %s; the store has been tampered with or copied wrongly", st.URL(key), m.Stage, m.RunID)
	}
	return m, Ref{Stage: stage, RunID: runID, Key: key, SHA256: sum}, nil
}

func decodeManifest(data []byte) (*Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("not a valid manifest: %w", err)
	}
	if m.Format != ManifestFormat {
		return nil, fmt.Errorf("manifest format %q is not %q (written by another program version?)", m.Format, ManifestFormat)
	}
	return &m, nil
}

// manifestKey is one manifest found by listing _runs/.
type manifestKey struct {
	runID, key string
	stage      contract.Stage
}

// listManifests lists the stage manifests (and, with stage "run", the run
// manifests) in the store, in run-id then stage order.
func listManifests(ctx context.Context, st store.Store, runID string) ([]manifestKey, error) {
	prefix := "_runs/"
	if runID != "" {
		prefix += runID + "/"
	}
	infos, err := st.List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("list manifests under %s: %w", st.URL(prefix), err)
	}
	return manifestKeys(infos), nil
}

// manifestKeys picks the manifests out of a listing of _runs/.
func manifestKeys(infos []store.Info) []manifestKey {
	var out []manifestKey
	for _, in := range infos {
		rest, ok := strings.CutPrefix(in.Key, "_runs/")
		if !ok {
			continue
		}
		run, file, ok := strings.Cut(rest, "/")
		if !ok || strings.Contains(file, "/") {
			continue // blobs live one level deeper
		}
		stage, ok := strings.CutSuffix(file, ".manifest.json")
		if !ok || stage == "" || ValidateRunID(run) != nil {
			continue
		}
		out = append(out, manifestKey{runID: run, stage: contract.Stage(stage), key: in.Key})
	}
	return out
}

// LatestManifest finds the newest published manifest (status "published";
// blocked ones are skipped) of stage in a run strictly before beforeRunID
// ("" = newest of all). ErrNotPublished when none. A stage whose parts were
// uploaded but whose manifest was never written is never found.
func LatestManifest(ctx context.Context, st store.Store, stage contract.Stage, beforeRunID string) (*Manifest, Ref, error) {
	keys, err := listManifests(ctx, st, "")
	if err != nil {
		return nil, Ref{}, err
	}
	for i := len(keys) - 1; i >= 0; i-- {
		k := keys[i]
		if k.stage != stage || (beforeRunID != "" && k.runID >= beforeRunID) {
			continue
		}
		m, ref, err := ReadManifest(ctx, st, k.runID, stage)
		if err != nil {
			return nil, Ref{}, err
		}
		if m.Status == StatusPublished {
			return m, ref, nil
		}
	}
	if beforeRunID != "" {
		return nil, Ref{}, fmt.Errorf("no published %s manifest before run %s: %w", stage, beforeRunID, ErrNotPublished)
	}
	return nil, Ref{}, fmt.Errorf("no published %s manifest: %w", stage, ErrNotPublished)
}

// latestRef finds the newest manifest of stage (any status, or only published
// ones) in a run strictly before runID; it is the `previous` link of the chain.
func latestRef(ctx context.Context, st store.Store, stage contract.Stage, runID string, publishedOnly bool) (Ref, error) {
	if publishedOnly {
		_, ref, err := LatestManifest(ctx, st, stage, runID)
		return ref, err
	}
	keys, err := listManifests(ctx, st, "")
	if err != nil {
		return Ref{}, err
	}
	for i := len(keys) - 1; i >= 0; i-- {
		k := keys[i]
		if k.stage != stage || k.runID >= runID {
			continue
		}
		_, sum, err := readKey(ctx, st, k.key)
		if err != nil {
			return Ref{}, fmt.Errorf("read previous manifest %s: %w", st.URL(k.key), err)
		}
		return Ref{Stage: stage, RunID: k.runID, Key: k.key, SHA256: sum}, nil
	}
	return Ref{}, ErrNotPublished
}

// RunManifest records one whole run; it is written at the end of the run and
// chains the previous run's run manifest by sha256.
type RunManifest struct {
	Format         string    `json:"format"` // RunManifestFormat (set by WriteRunManifest)
	RunID          string    `json:"run_id"`
	StartedAt      time.Time `json:"started_at"`
	FinishedAt     time.Time `json:"finished_at"`
	Host           string    `json:"host"`
	ProgramVersion string    `json:"program_version"`
	ConfigHash     string    `json:"config_hash"`
	Stages         []Ref     `json:"stages"`
	ExitCode       int       `json:"exit_code"`
	ExitName       string    `json:"exit_name"`
	PlanSHA256     string    `json:"plan_sha256,omitempty"`
	Overrides      []string  `json:"overrides,omitempty"`
	Previous       *Ref      `json:"previous,omitempty"` // previous run's run manifest
}

// RunManifestKey is where the run manifest of a run lives.
func RunManifestKey(runID string) string { return "_runs/" + runID + "/" + runManifestName }

// WriteRunManifest writes _runs/<run_id>/run.manifest.json (write-once).
// Empty RunID, Host, ProgramVersion, ConfigHash and FinishedAt are taken from
// env; ExitName defaults to exitcode.Name(ExitCode); Previous is set to the
// latest earlier run manifest when nil.
func WriteRunManifest(ctx context.Context, env Env, rm RunManifest) (Ref, error) {
	st := env.Store
	if st == nil {
		return Ref{}, errors.New("write run manifest: no store configured")
	}
	rm.Format = RunManifestFormat
	if rm.RunID == "" {
		rm.RunID = env.RunID
	}
	if err := ValidateRunID(rm.RunID); err != nil {
		return Ref{}, fmt.Errorf("write run manifest: %w", err)
	}
	if rm.Host == "" {
		rm.Host = env.Host
	}
	if rm.ProgramVersion == "" {
		rm.ProgramVersion = env.Version
	}
	if rm.ConfigHash == "" {
		rm.ConfigHash = env.ConfigHash
	}
	if rm.FinishedAt.IsZero() {
		rm.FinishedAt = env.now()
	}
	if rm.ExitName == "" {
		rm.ExitName = exitcode.Name(rm.ExitCode)
	}
	if rm.Stages == nil {
		rm.Stages = []Ref{}
	}
	key := RunManifestKey(rm.RunID)
	if rm.Previous == nil {
		prev, err := latestRef(ctx, st, "run", rm.RunID, false)
		if err != nil && !errors.Is(err, ErrNotPublished) {
			return Ref{}, fmt.Errorf("write run manifest: find the previous run manifest: %w", err)
		}
		if err == nil {
			rm.Previous = &prev
		}
	}
	data, err := json.MarshalIndent(rm, "", "  ")
	if err != nil {
		return Ref{}, fmt.Errorf("write run manifest: encode: %w", err)
	}
	data = append(data, '\n')
	if err := st.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
		if errors.Is(err, store.ErrExists) {
			return Ref{}, fmt.Errorf("write run manifest: run %s already has one at %s; use a new --run-id: %w", rm.RunID, st.URL(key), err)
		}
		return Ref{}, fmt.Errorf("write run manifest %s: %w", st.URL(key), err)
	}
	sum := sha256.Sum256(data)
	return Ref{Stage: "run", RunID: rm.RunID, Key: key, SHA256: hex.EncodeToString(sum[:])}, nil
}

// ReadRunManifest reads a run's run manifest (ErrNotPublished when absent:
// the run is still going, or crashed before writing it).
func ReadRunManifest(ctx context.Context, st store.Store, runID string) (*RunManifest, Ref, error) {
	if err := ValidateRunID(runID); err != nil {
		return nil, Ref{}, fmt.Errorf("read run manifest: %w", err)
	}
	key := RunManifestKey(runID)
	data, sum, err := readKey(ctx, st, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, Ref{}, fmt.Errorf("run %s has no run manifest at %s: %w", runID, st.URL(key), ErrNotPublished)
	}
	if err != nil {
		return nil, Ref{}, fmt.Errorf("read run manifest of run %s: %w", runID, err)
	}
	rm, err := decodeRunManifest(data)
	if err != nil {
		return nil, Ref{}, fmt.Errorf("read run manifest %s: %w", st.URL(key), err)
	}
	return rm, Ref{Stage: "run", RunID: runID, Key: key, SHA256: sum}, nil
}

func decodeRunManifest(data []byte) (*RunManifest, error) {
	var rm RunManifest
	if err := json.Unmarshal(data, &rm); err != nil {
		return nil, fmt.Errorf("not a valid run manifest: %w", err)
	}
	if rm.Format != RunManifestFormat {
		return nil, fmt.Errorf("run manifest format %q is not %q", rm.Format, RunManifestFormat)
	}
	return &rm, nil
}
