package main

import "github.com/spf13/cobra"

func newPullCommand(opts *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "pull",
		Short: "Snapshot Highspot's users and groups (the plan's baseline) and report drift",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := opts.app(cmd.Context(), "pull")
			if err != nil {
				return err
			}
			return a.Pull(cmd.Context())
		},
	}
}
