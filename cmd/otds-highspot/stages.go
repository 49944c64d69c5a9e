package main

import (
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/pipelines"
)

// stageCommands returns the pipeline commands. Each RunE loads the app and
// calls one pipelines function; nothing else happens here.
func stageCommands(opts *globalOptions) []*cobra.Command {
	return []*cobra.Command{
		newRunCommand(opts),
		newExtractCommand(opts),
		newTransformCommand(opts),
		newPullCommand(opts),
		newPlanCommand(opts),
		newApplyCommand(opts),
		newRunsCommand(opts),
		newExplainCommand(opts),
		newReviewCommand(opts),
		newDoctorCommand(opts),
		newSandboxCommand(opts),
		newPruneCommand(opts),
		newUnlockCommand(opts),
		newDemoCommand(opts),
	}
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

func newExplainCommand(opts *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "explain EMAIL|PERSON_ID|DN",
		Short: "Tell how a person was resolved: accounts, match rules and keys, attribute sources, groups",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := opts.app(cmd.Context(), "explain")
			if err != nil {
				return err
			}
			return a.Explain(cmd.Context(), args[0])
		},
	}
}

func newDoctorCommand(opts *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "Check every tree, the store and Highspot with the configured credentials, in plain words",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := opts.appWith(cmd.Context(), "doctor", true)
			if err != nil {
				return err
			}
			return a.Doctor(cmd.Context())
		},
	}
}

func newSandboxCommand(opts *globalOptions) *cobra.Command {
	var o pipelines.SandboxOptions
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Serve the local Highspot stand-in (REST v1.0 + SCIM 2.0 + admin API) until interrupted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Stdout = opts.out()
			opts.summary = &pipelines.Summary{Command: "sandbox", Details: map[string]any{"listen": o.Listen, "state_file": o.StateFile}}
			return pipelines.Sandbox(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Listen, "listen", "127.0.0.1:8089", "address to listen on (loopback only unless you mean it)")
	f.StringVar(&o.StateFile, "state", "", "persist the sandbox state to this JSON snapshot (changes since it go to <file>.journal)")
	f.StringVar(&o.Seed, "seed", "", "seed JSON used when the state file does not exist yet (default: the bundled fixture)")
	f.StringVar(&o.Profile, "profile", "lenient", "provider profile: lenient, strict-rfc (RFC 7644 to the letter: eq filters only, no Bulk) or quirky (shapes seen in the field)")
	return cmd
}

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

func newDemoCommand(opts *globalOptions) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Day 1 and day 2 on the embedded default: fixture trees, local artifacts, in-process Highspot sandbox",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.configPath != "" {
				return exitcode.New(exitcode.Usage, "demo always uses the embedded configuration; drop --config")
			}
			opts.summary = &pipelines.Summary{Command: "demo", Details: map[string]any{"dir": dir}}
			return pipelines.Demo(cmd.Context(), pipelines.DemoOptions{
				Dir: dir, Stdout: opts.out(), Stderr: opts.stderr, LogFormat: opts.logFormat,
				LogLevel: opts.logLevel, Version: version, Getenv: opts.getenv,
			})
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".demo", "folder for the demo's artifacts and sandbox state")
	return cmd
}

func newUnlockCommand(opts *globalOptions) *cobra.Command {
	var o pipelines.UnlockOptions
	cmd := &cobra.Command{
		Use:   "unlock",
		Short: "Remove run locks left by dead processes (--force: any lock); each removal is recorded",
		Long: `Unlock lists the run lock and the stage locks in the store and removes those
whose holder is dead: its pid is gone from this host, or it wrote no heartbeat
for store.lock_stale_after. --force removes live locks too: use it only when
you know the holder is gone (its machine was lost). --run-id limits it to one
run. Each removal is recorded as an "unlock" event under _runs/<run_id>/events/
(who, from which host, which lock and whose). Exit 11 when live locks remain.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := opts.app(cmd.Context(), "unlock")
			if err != nil {
				return err
			}
			return a.Unlock(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.Force, "force", false, "remove live locks too (the holder may still be writing)")
	return cmd
}

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
