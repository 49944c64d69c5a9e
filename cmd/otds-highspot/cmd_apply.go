package main

import (
	"github.com/spf13/cobra"

	"github.com/otds-highspot/otds-highspot/pipelines"
)

func newApplyCommand(opts *globalOptions) *cobra.Command {
	var (
		planSHA string
		dryRun  bool
	)
	cmd := &cobra.Command{
		Use:   "apply",
		Short: "Apply a published plan to Highspot (rate-limited, retried, resumable)",
		Long: `Apply executes the run's published plan: creates and updates, then memberships,
then suspensions. It refuses a blocked plan, a plan whose sha256 differs from
--plan-sha256, and a plan whose baseline changed since. Re-running resumes from
the load_results ledger and never repeats an applied change. Exit 6 when some
changes failed permanently; exit 3 when the circuit breaker opened.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := opts.app(cmd.Context(), "apply")
			if err != nil {
				return err
			}
			return a.Apply(cmd.Context(), pipelines.ApplyOptions{PlanSHA256: planSHA, DryRun: dryRun})
		},
	}
	cmd.Flags().StringVar(&planSHA, "plan-sha256", "", "refuse the plan unless its sha256 (from plan show / the manifest) matches")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "make no calls; print what would be sent")
	return cmd
}
