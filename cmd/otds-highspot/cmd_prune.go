package main

import (
	"github.com/spf13/cobra"

	"github.com/otds-highspot/otds-highspot/pipelines"
)

func newPruneCommand(opts *globalOptions) *cobra.Command {
	var o pipelines.PruneOptions
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Delete runs older than the retention period from stores without Object Lock (never what a retention rule holds)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := opts.app(cmd.Context(), "prune")
			if err != nil {
				return err
			}
			return a.Prune(cmd.Context(), o)
		},
	}
	cmd.Flags().IntVar(&o.KeepDays, "keep-days", 0, "keep runs younger than this many days (default: operate.prune.keep_days)")
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "list what would be deleted")
	return cmd
}
