package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/pipelines"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// globalOptions are the flags every command shares.
type globalOptions struct {
	configPath string
	runID      string
	logFormat  string
	logLevel   string
	json       bool

	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string

	// summary is filled by the command that ran and printed with --json.
	summary *pipelines.Summary
	// cmdApp is the command's App (nil for commands without one).
	cmdApp *pipelines.App
}

// out is where a command's human-readable report goes: stdout, or stderr
// with --json (stdout then carries only the JSON object).
func (o *globalOptions) out() io.Writer {
	if o.json {
		return o.stderr
	}
	return o.stdout
}

// app loads the configuration, store and logger for a command.
func (o *globalOptions) app(ctx context.Context, command string) (*pipelines.App, error) {
	return o.appWith(ctx, command, false)
}

// appWith is app; storeOptional keeps going when the store cannot be opened.
func (o *globalOptions) appWith(ctx context.Context, command string, storeOptional bool) (*pipelines.App, error) {
	// With --json, stdout carries only the final JSON object (Airflow XCom);
	// the human-readable report goes to stderr.
	out := o.out()
	a, err := pipelines.NewApp(ctx, pipelines.AppOptions{
		ConfigPath: o.configPath,
		RunID:      o.runID,
		LogFormat:  o.logFormat,
		LogLevel:   o.logLevel,
		Getenv:     o.getenv,
		Stdout:     out,
		Stderr:     o.stderr,
		Version:    version,
		Command:    command,

		StoreOptional: storeOptional,
	})
	if err != nil {
		return nil, err
	}
	o.summary, o.cmdApp = a.Summary, a
	return a, nil
}

func execute(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	opts := &globalOptions{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	root := newRootCommand(opts)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := executeRecovering(ctx, root)
	usage := err != nil && isUsageError(err)
	if usage {
		err = exitcode.Wrap(exitcode.Usage, err)
	}
	if err != nil && errors.Is(err, syscall.EPIPE) && exitcode.Of(err) == exitcode.Unexpected {
		// stdout's reader went away (| head): the user stopped reading.
		err = exitcode.Wrap(exitcode.Cancelled, fmt.Errorf("output closed by its reader; stopped: %w", err))
	}
	if err != nil && ctx.Err() != nil && (exitcode.Of(err) == exitcode.Unexpected || exitcode.Of(err) == exitcode.Transient) {
		// A signal cancelled the work; what failed after it failed because of it.
		err = exitcode.Wrap(exitcode.Cancelled, fmt.Errorf("cancelled: %w", err))
	}
	code := exitcode.Of(err)
	if !opts.json && slices.Contains(args, "--json") {
		// cobra stopped before parsing flags (an unknown command): the
		// caller still gets its one JSON object.
		opts.json = true
	}
	if err != nil {
		fmt.Fprintf(stderr, "otds-highspot: %v\n", err)
		if usage {
			fmt.Fprintln(stderr, "Run 'otds-highspot --help' for usage.")
		}
	}
	if opts.json {
		s := opts.summary
		if s == nil {
			s = &pipelines.Summary{Command: commandName(root, args)}
		}
		if opts.cmdApp != nil {
			opts.cmdApp.AddPlanHash(ctx)
		}
		s.Finish(code, exitcode.Name(code), err)
		// One object on one line: an orchestrator keeps the last line.
		_ = json.NewEncoder(stdout).Encode(s)
	}
	return code
}

// executeRecovering runs the command; a panic unwinds through the deferred
// lock releases and becomes exit 1 (not Go's exit 2, which means usage here)
// with the stack on stderr.
func executeRecovering(ctx context.Context, root *cobra.Command) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = exitcode.Wrap(exitcode.Unexpected, fmt.Errorf("internal error (a bug: please file an issue with this message): panic: %v\n%s", r, debug.Stack()))
		}
	}()
	return root.ExecuteContext(ctx)
}

func commandName(root *cobra.Command, args []string) string {
	c, _, err := root.Find(args)
	if err != nil || c == nil {
		return ""
	}
	return strings.TrimPrefix(c.CommandPath(), root.Name()+" ")
}

// isUsageError recognises cobra's own argument and flag errors.
func isUsageError(err error) bool {
	var ec *exitcode.Error
	if errors.As(err, &ec) && ec.Code != exitcode.Usage {
		return false
	}
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "flag needs an argument", "invalid argument", "accepts ", "requires at least", "requires at most", "required flag"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

func newRootCommand(opts *globalOptions) *cobra.Command {
	root := &cobra.Command{
		Use:   "otds-highspot",
		Short: "Keep Highspot in step with OpenText Directory Services",
		Long: `otds-highspot extracts users, groups and memberships from OTDS directory trees
(LDAP, OTDS REST or LDIF) into Parquet snapshots, resolves people across
subsidiaries, plans a reviewed change set against Highspot's actual state and
applies it. Every stage publishes Parquet tables plus a manifest.

Without --config (and without OTDS_HIGHSPOT_CONFIG) it uses the embedded demo
configuration: bundled fixture trees, ./artifacts, the in-process Highspot sandbox.

Exit codes: 0 ok, 1 unexpected, 2 usage/config, 3 transient (retry), 4 source-health
gate, 5 plan blocked, 6 apply had failed changes, 7 auth (credentials refused: never
retry), 11 locked, 130 cancelled. docs/operations.md has the recovery matrix.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&opts.configPath, "config", "", "configuration file (default: $OTDS_HIGHSPOT_CONFIG, else the embedded demo configuration)")
	pf.StringVar(&opts.runID, "run-id", "", "run id (must start with YYYYMMDD; default: a new id for run/extract, the latest run otherwise)")
	pf.StringVar(&opts.logFormat, "log-format", "", "log format: text or json (default: text on a terminal, json otherwise)")
	pf.StringVar(&opts.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	pf.BoolVar(&opts.json, "json", false, "print one machine-readable JSON summary on stdout when done")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return exitcode.Wrap(exitcode.Usage, err) })

	root.AddCommand(
		newConfigCommand(opts),
		newVersionCommand(opts),
	)
	root.AddCommand(stageCommands(opts)...)
	return root
}

// stageCommands returns the pipeline commands, one file each (cmd_<name>.go:
// cmd_run.go, cmd_extract.go, ...). Each RunE loads the app and
// calls one pipelines function; nothing else happens here.
func stageCommands(opts *globalOptions) []*cobra.Command {
	return []*cobra.Command{
		newRunCommand(opts),
		newExtractCommand(opts),
		newTransformCommand(opts),
		newPullCommand(opts),
		newPlanCommand(opts),
		newApplyCommand(opts),
		newRunsCommand(opts),
		newExplainCommand(opts),
		newReviewCommand(opts),
		newDoctorCommand(opts),
		newSandboxCommand(opts),
		newPruneCommand(opts),
		newUnlockCommand(opts),
		newDemoCommand(opts),
	}
}
