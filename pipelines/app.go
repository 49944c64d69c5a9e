// Package pipelines owns orchestration: it wires the stages (which never
// import each other), run ids, the run lock, stage order, manifests and exit
// codes. The CLI in cmd/otds-highspot is a thin layer over these functions.
package pipelines

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/otds-highspot/otds-highspot/fixtures"
	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/config"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/internal/logging"
	"github.com/otds-highspot/otds-highspot/internal/store"
)

// Environment variables the program reads (only here, never in library code).
const (
	EnvConfig = "OTDS_HIGHSPOT_CONFIG" // configuration file when --config is not given
	EnvStore  = "OTDS_HIGHSPOT_STORE"  // overrides store.url
)

// AppOptions are the global CLI settings.
type AppOptions struct {
	ConfigPath string
	RunID      string
	LogFormat  string
	LogLevel   string
	Getenv     func(string) string
	Stdout     io.Writer
	Stderr     io.Writer
	Version    string
	Command    string
	// StoreOptional keeps going when the store cannot be opened (doctor
	// reports it as a finding instead of stopping there).
	StoreOptional bool
}

// App is everything a command needs: configuration, store, logger, run id.
type App struct {
	Cfg      *config.Config
	Embedded bool // the embedded demo configuration is in use
	Store    store.Store
	Log      *logrus.Logger
	Getenv   func(string) string
	Stdout   io.Writer
	Stderr   io.Writer // logs and, on a terminal, progress bars
	Version  string
	Host     string
	// RunID is the explicit --run-id ("" when not given; commands pick a
	// new one or the latest run).
	RunID   string
	Summary *Summary
	// TempDir is local scratch space for part files.
	TempDir string
	// StoreErr is why the store could not be opened (StoreOptional only).
	StoreErr error
	// crash is the EnvCrashPoint test hook (nil unless set).
	crash *crashPoint
}

// LoadConfig reads the configuration from path, else $OTDS_HIGHSPOT_CONFIG,
// else the embedded demo configuration (embedded = true). The store URL may be
// overridden by $OTDS_HIGHSPOT_STORE.
func LoadConfig(path string, getenv func(string) string) (*config.Config, bool, error) {
	if path == "" {
		path = getenv(EnvConfig)
	}
	var (
		cfg      *config.Config
		err      error
		embedded bool
	)
	if path == "" {
		data, rerr := fixtures.DemoConfig()
		if rerr != nil {
			return nil, false, fmt.Errorf("read embedded demo configuration: %w", rerr)
		}
		cfg, err = config.Parse("embedded:demo/config.yaml", data)
		embedded = true
	} else {
		cfg, err = config.Load(path)
	}
	if err != nil {
		return nil, false, err
	}
	if s := getenv(EnvStore); s != "" {
		cfg.Store.URL = s
		if errs := cfg.Validate(); len(errs) > 0 {
			return nil, false, fmt.Errorf("%s=%q: %w", EnvStore, s, errs)
		}
	}
	return cfg, embedded, nil
}

// NewApp loads the configuration, builds the logger and opens the store.
func NewApp(ctx context.Context, o AppOptions) (*App, error) {
	if o.Getenv == nil {
		o.Getenv = func(string) string { return "" }
	}
	log, err := logging.New(logging.Options{Format: o.LogFormat, Level: o.LogLevel, Out: o.Stderr})
	if err != nil {
		return nil, exitcode.Wrap(exitcode.Usage, err)
	}
	cfg, embedded, err := LoadConfig(o.ConfigPath, o.Getenv)
	if err != nil {
		return nil, exitcode.Wrap(exitcode.Usage, err)
	}
	if embedded {
		log.Info("no --config given: using the embedded demo configuration (bundled fixture trees, ./artifacts, in-process Highspot sandbox)")
	}
	return appFor(ctx, cfg, embedded, log, o)
}

// appFor builds an App around an already loaded configuration.
func appFor(ctx context.Context, cfg *config.Config, embedded bool, log *logrus.Logger, o AppOptions) (*App, error) {
	if o.Getenv == nil {
		o.Getenv = func(string) string { return "" }
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.RunID != "" {
		if _, err := artifact.RunDate(o.RunID); err != nil {
			return nil, exitcode.Wrap(exitcode.Usage, fmt.Errorf("--run-id %q: %w", o.RunID, err))
		}
	}
	st, err := store.Open(ctx, cfg.Store.URL, storeOptions(cfg))
	var storeErr error
	if err != nil {
		storeErr = fmt.Errorf("store %s: %w", cfg.Store.URL, err)
		if !o.StoreOptional {
			return nil, exitcode.Default(exitcode.Usage, storeErr) // an outage stays 3, refused credentials 7
		}
		st = unopenedStore{url: cfg.Store.URL, err: storeErr}
	}
	crash, err := parseCrashPoint(o.Getenv(EnvCrashPoint))
	if err != nil {
		return nil, exitcode.Wrap(exitcode.Usage, err)
	}
	if crash != nil {
		crash.ctx = ctx
	}
	host, _ := os.Hostname()
	tmp := filepath.Join(os.TempDir(), "otds-highspot")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("create scratch directory %s: %w", tmp, err)
	}
	return &App{
		Cfg:      cfg,
		Embedded: embedded,
		Store:    st,
		Log:      log,
		Getenv:   o.Getenv,
		Stdout:   o.Stdout,
		Stderr:   o.Stderr,
		Version:  o.Version,
		Host:     host,
		RunID:    o.RunID,
		TempDir:  tmp,
		Summary:  &Summary{Command: o.Command, ConfigHash: cfg.Hash, Store: st.URL("")},
		StoreErr: storeErr,
		crash:    crash,
	}, nil
}

func storeOptions(cfg *config.Config) store.Options {
	return store.Options{
		Endpoint:       cfg.Store.S3.Endpoint,
		Region:         cfg.Store.S3.Region,
		PathStyle:      cfg.Store.S3.PathStyle,
		SSEKMSKeyID:    cfg.Store.S3.SSEKMSKeyID,
		ObjectLockMode: cfg.Store.S3.ObjectLock.Mode,
		ObjectLockDays: cfg.Store.S3.ObjectLock.Days,
		// The run lock must stay deletable under Object Lock; it is still write-once.
		RetentionExempt: []string{"_locks/", "_staging/"},
	}
}

// Env is the artifact environment for a run.
func (a *App) Env(runID string) artifact.Env {
	return artifact.Env{
		Store:      a.Store,
		RunID:      runID,
		ConfigHash: a.Cfg.Hash,
		Version:    a.Version,
		Host:       a.Host,
		TempDir:    a.TempDir,
		Log:        a.Log.WithField("run_id", runID),
		Now:        time.Now,
		Checkpoint: a.crash.check,
	}
}

// Summary is the one machine-readable object printed with --json (Airflow
// XCom): run id, per-stage status, counts and artifact locations.
type Summary struct {
	Schema   string `json:"schema"` // SummarySchema
	Command  string `json:"command"`
	RunID    string `json:"run_id,omitempty"`
	Status   string `json:"status"`
	ExitCode int    `json:"exit_code"`
	ExitName string `json:"exit_name"`
	Error    string `json:"error,omitempty"`
	// PlanSHA256 is the hash of the run's published plan, whenever the run
	// has one (also when this command skipped an already published plan).
	PlanSHA256 string         `json:"plan_sha256,omitempty"`
	ConfigHash string         `json:"config_hash,omitempty"`
	Store      string         `json:"store,omitempty"`
	Stages     []StageSummary `json:"stages,omitempty"`
	Details    map[string]any `json:"details,omitempty"`
}

// StageSummary is one stage's outcome.
type StageSummary struct {
	Stage    string           `json:"stage"`
	Status   string           `json:"status"` // published | blocked | failed | skipped
	Manifest string           `json:"manifest,omitempty"`
	Rows     map[string]int64 `json:"rows,omitempty"`
	Error    string           `json:"error,omitempty"`
	Details  map[string]any   `json:"details,omitempty"`
}

// SummarySchema versions the --json object (docs/operations.md documents
// its fields); it changes only when a field is removed or changes meaning.
const SummarySchema = "otds-highspot/summary/v1"

// AddPlanHash sets PlanSHA256 from the plan manifest of the summary's run,
// when the run has one. A store error leaves it empty.
func (a *App) AddPlanHash(ctx context.Context) {
	s := a.Summary
	if s == nil || s.RunID == "" || s.PlanSHA256 != "" || a.Store == nil || artifact.ValidateRunID(s.RunID) != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if m, _, err := artifact.ReadManifest(ctx, a.Store, s.RunID, contract.Plan); err == nil {
		ps, _ := contract.SummaryOf[contract.PlanSummary](m.Summary)
		s.PlanSHA256 = ps.PlanSHA256
	}
}

// Finish records the final exit status.
func (s *Summary) Finish(code int, name string, err error) {
	s.Schema = SummarySchema
	s.ExitCode = code
	s.ExitName = name
	s.Status = "ok"
	if err != nil {
		s.Status = "failed"
		s.Error = strings.TrimSpace(err.Error())
	}
}

// unopenedStore stands in for a store that could not be opened (doctor
// only): every operation returns the reason.
type unopenedStore struct {
	url string
	err error
}

func (u unopenedStore) Put(context.Context, string, io.ReadSeeker, int64) error { return u.err }
func (u unopenedStore) Get(context.Context, string) (io.ReadCloser, error)      { return nil, u.err }
func (u unopenedStore) Stat(context.Context, string) (store.Info, error)        { return store.Info{}, u.err }
func (u unopenedStore) List(context.Context, string) ([]store.Info, error)      { return nil, u.err }
func (u unopenedStore) Delete(context.Context, string) error                    { return u.err }
func (u unopenedStore) URL(key string) string                                   { return strings.TrimRight(u.url, "/") + "/" + key }
