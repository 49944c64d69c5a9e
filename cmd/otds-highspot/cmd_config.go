package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/pipelines"
)

func newConfigCommand(opts *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Work with the configuration file",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "validate",
		Short: "Decode and validate the configuration without any network or file I/O beyond reading it",
		Long: `Validate decodes the configuration strictly (unknown keys are errors with
file:line), applies defaults, and checks every value, including compiling and
type-checking the policy's CEL expressions. It contacts no server and reads no
secret. Exit 0 when valid, 2 with every problem listed otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, embedded, err := pipelines.LoadConfig(opts.configPath, opts.getenv)
			if err != nil {
				return exitcode.Wrap(exitcode.Usage, err)
			}
			src := cfg.Path
			if embedded {
				src = "embedded demo configuration"
			}
			fmt.Fprintf(opts.out(), "%s: valid (%d trees: %v; store %s; config sha256 %s)\n",
				src, len(cfg.Trees), cfg.TreeNames(), cfg.Store.URL, cfg.Hash[:12])
			opts.summary = &pipelines.Summary{Command: "config validate", ConfigHash: cfg.Hash,
				Details: map[string]any{"trees": cfg.TreeNames(), "config": src}}
			return nil
		},
	})
	return cmd
}
