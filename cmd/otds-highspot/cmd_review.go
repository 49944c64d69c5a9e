package main

import "github.com/spf13/cobra"

func newReviewCommand(opts *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "review",
		Short: "Access review: every Highspot user, each group held and why (policy rule, drift or manual), directory status, last change",
		Long: `Review publishes stage "review" of --run-id (default: the latest run): the
access_review table, review.html and review.csv. For every Highspot user of
the latest pull at or before the run: the person and accounts behind it in
the directory, its directory status, each group held and the policy rule that
grants it, or "not granted by policy" (drift: a managed group the policy does
not grant; manual: a group this tool does not manage), and the last change
this tool applied to the user (apply ledgers of up to 60 runs). It shows
Highspot as of that pull: pull first for the current state.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := opts.app(cmd.Context(), "review")
			if err != nil {
				return err
			}
			return a.Review(cmd.Context())
		},
	}
}
