package main

import "github.com/spf13/cobra"

func newRunsCommand(opts *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List, show and verify stored runs",
	}
	cmd.AddCommand(
		&cobra.Command{
			Use:   "list",
			Short: "List runs, newest first, with their stages and exit status",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				a, err := opts.app(cmd.Context(), "runs list")
				if err != nil {
					return err
				}
				return a.RunsList(cmd.Context())
			},
		},
		&cobra.Command{
			Use:   "show RUN_ID",
			Short: "Show one run: stages, counts, exit status and artifact locations",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				a, err := opts.app(cmd.Context(), "runs show")
				if err != nil {
					return err
				}
				return a.RunsShow(cmd.Context(), args[0])
			},
		},
		&cobra.Command{
			Use:   "verify RUN_ID",
			Short: "Re-hash every file of a run and walk the manifest chain; exit 1 on any mismatch",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				a, err := opts.app(cmd.Context(), "runs verify")
				if err != nil {
					return err
				}
				return a.RunsVerify(cmd.Context(), args[0])
			},
		},
	)
	return cmd
}
