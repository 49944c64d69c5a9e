package main

import (
	"github.com/spf13/cobra"

	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/pipelines"
)

func newDemoCommand(opts *globalOptions) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Day 1 and day 2 on the embedded default: fixture trees, local artifacts, in-process Highspot sandbox",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.configPath != "" {
				return exitcode.New(exitcode.Usage, "demo always uses the embedded configuration; drop --config")
			}
			opts.summary = &pipelines.Summary{Command: "demo", Details: map[string]any{"dir": dir}}
			return pipelines.Demo(cmd.Context(), pipelines.DemoOptions{
				Dir: dir, Stdout: opts.out(), Stderr: opts.stderr, LogFormat: opts.logFormat,
				LogLevel: opts.logLevel, Version: version, Getenv: opts.getenv,
			})
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".demo", "folder for the demo's artifacts and sandbox state")
	return cmd
}
