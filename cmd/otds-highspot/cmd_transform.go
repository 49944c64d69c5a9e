package main

import (
	"github.com/spf13/cobra"

	"github.com/otds-highspot/otds-highspot/pipelines"
)

func newTransformCommand(opts *globalOptions) *cobra.Command {
	var allowMissing bool
	cmd := &cobra.Command{
		Use:   "transform",
		Short: "Normalize accounts, expand nested groups and resolve people across trees",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := opts.app(cmd.Context(), "transform")
			if err != nil {
				return err
			}
			return a.Transform(cmd.Context(), pipelines.TransformOptions{AllowMissingTrees: allowMissing})
		},
	}
	cmd.Flags().BoolVar(&allowMissing, "allow-missing-trees", false, "continue when a configured tree has no published extract (its people then look like leavers: dangerous)")
	return cmd
}
