package main

import (
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/pipelines"
)

func newPlanCommand(opts *globalOptions) *cobra.Command {
	var (
		allow   []string
		fromRun string
	)
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Compute the change set against Highspot's actual state, apply safety gates, write the review report",
		Long: `Plan evaluates the policy over the run's persons, diffs the desired state against
the latest pull (else the previous run's desired state), and publishes
desired_users, changes, plan.md, plan.html and plan.json. A plan over a safety
threshold is published as blocked and exits 5; --allow op=N overrides a gate
and is recorded. --from-run OLD re-plans OLD's stored snapshots with the
current --config, touching neither OTDS nor Highspot.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			al, err := parseAllow(allow)
			if err != nil {
				return err
			}
			a, err := opts.app(cmd.Context(), "plan")
			if err != nil {
				return err
			}
			return a.Plan(cmd.Context(), pipelines.PlanOptions{Allow: al, FromRun: fromRun})
		},
	}
	cmd.Flags().StringArrayVar(&allow, "allow", nil, "override a safety threshold: op=N (recorded in the manifest); repeatable")
	cmd.Flags().StringVar(&fromRun, "from-run", "", "replay: re-plan the stored snapshots of this run with the current configuration")
	var show pipelines.PlanShowOptions
	showCmd := &cobra.Command{
		Use:   "show",
		Short: "Print the plan summary of a run (default: the latest run)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := opts.app(cmd.Context(), "plan show")
			if err != nil {
				return err
			}
			return a.PlanShow(cmd.Context(), show)
		},
	}
	showCmd.Flags().BoolVar(&show.Open, "open", false, "print a local path of plan.html (an S3 report is copied to a temp file, verified); on a terminal, open it with xdg-open")
	cmd.AddCommand(showCmd)
	cmd.AddCommand(newPlanApproveCommand(opts))
	return cmd
}

func newPlanApproveCommand(opts *globalOptions) *cobra.Command {
	var o pipelines.PlanApproveOptions
	cmd := &cobra.Command{
		Use:   "approve",
		Short: "Record who approved a run's plan (an immutable approval record naming the plan sha256)",
		Long: `Approve writes a write-once approval record under _runs/<run_id>/approvals/:
who (--by), when, from which host, the plan sha256 and an optional comment.
The sha256 must be the one plan show prints for that run: it binds the run id,
the baseline and the change list, so an approval never applies to another run
(an override plan is a new run and needs its own approval). A blocked plan
cannot be approved (exit 5). With apply.require_approval: true, apply refuses
a plan without a matching record (exit 2).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := opts.app(cmd.Context(), "plan approve")
			if err != nil {
				return err
			}
			return a.PlanApprove(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.SHA256, "sha256", "", "the plan sha256 being approved (from plan show; required)")
	f.StringVar(&o.By, "by", "", "who approves: a name or an email (required)")
	f.StringVar(&o.Comment, "comment", "", "why, ticket number, conditions")
	return cmd
}

// parseAllow turns repeated --allow op=N (or op:tree=N) into a map.
func parseAllow(vals []string) (map[string]int, error) {
	out := map[string]int{}
	for _, v := range vals {
		k, n, ok := strings.Cut(v, "=")
		num, err := strconv.Atoi(n)
		if !ok || k == "" || err != nil || num < 0 {
			return nil, exitcode.New(exitcode.Usage, "--allow %q: use op=N, e.g. --allow suspend_user=40", v)
		}
		out[k] = num
	}
	return out, nil
}
