package pipelines

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/otds-highspot/otds-highspot/fixtures"
	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/config"
	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/internal/logging"
	"github.com/otds-highspot/otds-highspot/transform/plan"
)

// DemoOptions configure Demo.
type DemoOptions struct {
	Dir       string // folder for artifacts and sandbox state (default .demo)
	Stdout    io.Writer
	Stderr    io.Writer
	LogFormat string
	LogLevel  string
	Version   string
	Getenv    func(string) string
	// Now is the demo's "day 2" (default time.Now); day 1 is the day before.
	Now func() time.Time
}

// demoMarker marks a folder Demo created, so that it only ever clears its own.
const demoMarker = ".otds-highspot-demo"

// Demo runs the whole job twice on the embedded default: day 1 on the
// bundled fixture trees, then day 2 on the "next day" trees (a joiner, a
// mover, a leaver), both against the in-process Highspot sandbox whose state
// persists between the two days. Artifacts land under Dir/artifacts.
func Demo(ctx context.Context, o DemoOptions) error {
	if o.Dir == "" {
		o.Dir = ".demo"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Getenv == nil {
		o.Getenv = func(string) string { return "" }
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return err
	}
	if err := resetDemoDir(dir); err != nil {
		return err
	}
	log, err := logging.New(logging.Options{Format: o.LogFormat, Level: o.LogLevel, Out: o.Stderr})
	if err != nil {
		return exitcode.Wrap(exitcode.Usage, err)
	}
	data, err := fixtures.DemoConfig()
	if err != nil {
		return err
	}
	day2 := o.Now().UTC()
	days := []struct {
		name, ldif string
		at         time.Time
	}{
		{"day 1", "fixtures:otds/trees.ldif", day2.Add(-24 * time.Hour)},
		{"day 2 (a joiner, a mover, a leaver)", "fixtures:otds/day2/trees.ldif", day2},
	}
	for _, d := range days {
		cfg, err := config.Parse("embedded:demo/config.yaml", data)
		if err != nil {
			return err
		}
		cfg.Store.URL = filepath.Join(dir, "artifacts")
		cfg.Highspot.Sandbox.StateFile = filepath.Join(dir, "highspot-sandbox.json")
		for i := range cfg.Trees {
			cfg.Trees[i].LDIF.Path = d.ldif
		}
		runID := artifact.NewRunID(d.at)
		app, err := appFor(ctx, cfg, true, log, AppOptions{RunID: runID, Getenv: o.Getenv, Stdout: o.Stdout, Stderr: o.Stderr, Version: o.Version, Command: "demo"})
		if err != nil {
			return err
		}
		fmt.Fprintf(o.Stdout, "\n===== %s: run %s =====\n", d.name, runID)
		if err := app.Run(ctx, RunOptions{}); err != nil {
			return fmt.Errorf("demo %s: %w", d.name, err)
		}
		if report, err := plan.ReportURL(ctx, app.Store, runID); err == nil {
			fmt.Fprintf(o.Stdout, "review report: %s\n", report)
		}
	}
	fmt.Fprintf(o.Stdout, "\nArtifacts: %s (query them with DuckDB: see deploy/sql/)\nTry: OTDS_HIGHSPOT_STORE=%s bin/otds-highspot runs list\n",
		filepath.Join(dir, "artifacts"), filepath.Join(dir, "artifacts"))
	return nil
}

// resetDemoDir empties a previous demo folder (only one Demo created) and
// creates it afresh.
func resetDemoDir(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		if _, err := os.Stat(filepath.Join(dir, demoMarker)); err != nil {
			return exitcode.New(exitcode.Usage, "demo folder %s exists and was not made by the demo; choose another with --dir", dir)
		}
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("clear the previous demo in %s: %w", dir, err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, demoMarker), []byte("made by otds-highspot demo; cleared by the next demo\n"), 0o644)
}
