package main

import (
	"github.com/spf13/cobra"

	"github.com/otds-highspot/otds-highspot/pipelines"
)

func newRunCommand(opts *globalOptions) *cobra.Command {
	var (
		until, from string
		allow       []string
		dryRun      bool
		planSHA     string
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run extract → transform → pull → plan → apply for one run id, holding the run lock",
		Long: `Run executes the stages in order for one run id (a new one unless --run-id is
given), holding the run lock. --until plan stops after publishing the plan for
review; --from STAGE resumes an earlier run id from that stage (apply resumes
from its ledger). A stage that fails stops the run with its exit code.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			al, err := parseAllow(allow)
			if err != nil {
				return err
			}
			a, err := opts.app(cmd.Context(), "run")
			if err != nil {
				return err
			}
			return a.Run(cmd.Context(), pipelines.RunOptions{Until: until, From: from, Allow: al, DryRun: dryRun, PlanSHA256: planSHA})
		},
	}
	f := cmd.Flags()
	f.StringVar(&until, "until", "", "stop after this stage: extract, transform, pull, plan or apply")
	f.StringVar(&from, "from", "", "start at this stage (with --run-id of an earlier run): extract, transform, pull, plan or apply")
	f.StringArrayVar(&allow, "allow", nil, "override a plan safety threshold: op=N (recorded in the manifest); repeatable")
	f.BoolVar(&dryRun, "dry-run", false, "apply makes no calls and prints what it would send")
	f.StringVar(&planSHA, "plan-sha256", "", "with --from apply: refuse the plan unless its sha256 matches")
	return cmd
}
