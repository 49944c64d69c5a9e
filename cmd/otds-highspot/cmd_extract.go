package main

import (
	"github.com/spf13/cobra"

	"github.com/otds-highspot/otds-highspot/pipelines"
)

func newExtractCommand(opts *globalOptions) *cobra.Command {
	var trees []string
	cmd := &cobra.Command{
		Use:   "extract",
		Short: "Read the configured OTDS trees into per-tree Parquet snapshots (accounts, groups, memberships, rejects)",
		Long: `Extract reads every configured tree (or those named with --tree) concurrently and
publishes each tree only when its read completed and its source-health gates
passed. A failed read exits 3 (retry), a tripped gate exits 4. Without --run-id
a new run id is created.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := opts.app(cmd.Context(), "extract")
			if err != nil {
				return err
			}
			return a.Extract(cmd.Context(), pipelines.ExtractOptions{Trees: trees})
		},
	}
	cmd.Flags().StringArrayVar(&trees, "tree", nil, "extract only this tree (repeatable); one Airflow task per tree")
	return cmd
}
