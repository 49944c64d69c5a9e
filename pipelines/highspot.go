package pipelines

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/internal/logging"
	"github.com/otds-highspot/otds-highspot/load"
	"github.com/otds-highspot/otds-highspot/load/apply"
	"github.com/otds-highspot/otds-highspot/load/highspot"
	"github.com/otds-highspot/otds-highspot/load/highspot/sandbox"
	"github.com/otds-highspot/otds-highspot/load/pull"
	"github.com/otds-highspot/otds-highspot/transform/history"
	"github.com/otds-highspot/otds-highspot/transform/plan"
)

// target builds the configured Highspot target. For target "sandbox" it
// starts the in-process sandbox on a loopback port (state persisted to
// highspot.sandbox.state_file, by default <store>/_sandbox/highspot.json for
// a local store) and returns a client for it; stop shuts it down.
func (a *App) target(ctx context.Context) (t load.Target, stop func(), err error) {
	h := a.Cfg.Highspot
	log := a.Log.WithField("target", h.Target)
	if h.Target != "sandbox" {
		t, err := highspot.FromConfig(h, a.Getenv, nil, log)
		if err != nil {
			return nil, nil, exitcode.Wrap(exitcode.Usage, err)
		}
		return t, func() {}, nil
	}
	if !a.Embedded {
		log.Warn("highspot.target is sandbox: changes go to the local Highspot stand-in, not to a tenant (set highspot.target: rest or scim for production)")
	}
	state := h.Sandbox.StateFile
	if state == "" {
		root := a.Store.URL("")
		if !strings.HasPrefix(root, "file://") {
			return nil, nil, exitcode.New(exitcode.Usage, "highspot.sandbox.state_file: set it when the store is not a local folder (%s)", root)
		}
		state = filepath.Join(strings.TrimPrefix(root, "file://"), "_sandbox", "highspot.json")
	}
	if err := os.MkdirAll(filepath.Dir(state), 0o755); err != nil {
		return nil, nil, fmt.Errorf("sandbox state folder: %w", err)
	}
	srv, err := sandbox.New(sandbox.Options{StateFile: state, Logger: log, Faults: sandbox.Faults{AutoVerify: h.Sandbox.AutoVerify}})
	if err != nil {
		return nil, nil, fmt.Errorf("start the in-process Highspot sandbox (state %s): %w", state, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, fmt.Errorf("sandbox: listen on loopback: %w", err)
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln) }()
	root := "http://" + ln.Addr().String()
	t, err = sandbox.Client(h.Sandbox.Surface, root, &http.Client{Timeout: 30 * time.Second}, log)
	if err != nil {
		cancel()
		<-done
		return nil, nil, err
	}
	log.WithField("state", state).Debug("in-process Highspot sandbox started")
	return t, func() { cancel(); <-done }, nil
}

// Pull snapshots Highspot for --run-id or the latest run.
func (a *App) Pull(ctx context.Context) error {
	runID, err := a.latestRunID(ctx)
	if err != nil {
		return err
	}
	a.Summary.RunID = runID
	return a.tracked(ctx, runID, []string{string(contract.Pull)}, nil, func(ctx context.Context) error { return a.pull(ctx, runID) })
}

func (a *App) pull(ctx context.Context, runID string) error {
	defer a.softMemoryLimit(stageMemoryLimit)()
	if m, ok, err := a.published(ctx, runID, contract.Pull); err != nil || ok {
		if ok {
			a.skipPublished(runID, contract.Pull, m)
		}
		return err
	}
	t, stop, err := a.target(ctx)
	if err != nil {
		return err
	}
	defer stop()
	res, err := pull.RunPull(ctx, a.Env(runID), a.Cfg, t, pull.PullOptions{Apply: a.applyOptions(), MaxListPages: a.Cfg.Highspot.MaxListPages})
	if err != nil {
		a.Summary.Stages = append(a.Summary.Stages, StageSummary{Stage: string(contract.Pull), Status: "failed", Error: err.Error()})
		return err
	}
	a.Summary.Stages = append(a.Summary.Stages, StageSummary{Stage: string(contract.Pull), Status: "published", Manifest: a.Store.URL(res.Ref.Key),
		Rows:    map[string]int64{"highspot_users": int64(res.Users), "highspot_groups": int64(res.Groups), "drift": int64(len(res.Drift))},
		Details: map[string]any{"drift_by_kind": res.DriftByKind, "requests": res.Requests, "retries": res.Retries}})
	fmt.Fprintf(a.Stdout, "pull: %d Highspot users (%d unverified, %d suspended), %d groups, %d drift items %v (%d requests, %d retries)\n",
		res.Users, res.Unverified, res.Suspended, res.Groups, len(res.Drift), res.DriftByKind, res.Requests, res.Retries)
	return nil
}

func (a *App) applyOptions() load.ApplyOptions { return load.OptionsFromConfig(a.Cfg.Apply) }

// PlanOptions tune plan.
type PlanOptions struct {
	Allow   map[string]int
	FromRun string
}

// checkAllow refuses --allow overrides that name an unknown op or tree, before
// anything runs.
func (a *App) checkAllow(allow map[string]int) error {
	return exitcode.Wrap(exitcode.Usage, plan.CheckAllow(allow, a.Cfg.TreeNames()))
}

// Plan runs the plan stage for --run-id or the latest run (with FromRun: a
// replay published under a new run id unless --run-id is given).
func (a *App) Plan(ctx context.Context, o PlanOptions) error {
	if err := a.checkAllow(o.Allow); err != nil {
		return err
	}
	var runID string
	var err error
	if o.FromRun != "" {
		runID = a.newRunID()
	} else if runID, err = a.latestRunID(ctx); err != nil {
		return err
	}
	a.Summary.RunID = runID
	return a.tracked(ctx, runID, []string{string(contract.Plan)}, nil, func(ctx context.Context) error { return a.planDerived(ctx, runID, o) })
}

// planDerived runs plan, then publishes the derived products (identity
// history, analytics) also when the plan is blocked, as run does: a run
// driven stage by stage publishes the same artifacts.
//
// History's reading of the run's persons does not depend on the plan: the
// plan reads them anyway (every column history tracks), so history is fed
// from the plan's read (history.Feeder, on the other core) instead of
// reading and decoding them a second time. The rest of history, as before,
// runs only after the plan is published or blocked. When the plan fails,
// the feed is abandoned; when the plan did not read the persons (it was
// published already), history reads them itself.
func (a *App) planDerived(ctx context.Context, runID string, o PlanOptions) error {
	defer a.softMemoryLimit(stageMemoryLimit)()
	var ahead *historyAhead
	if o.FromRun == "" { // a replay has no snapshots of its own: history belongs to the replayed run
		ahead = a.feedHistory(ctx, runID)
		defer ahead.stop()
	}
	desired, err := a.plan(ctx, runID, o, ahead.add())
	if o.FromRun != "" {
		return err
	}
	if err == nil || exitcode.Of(err) == exitcode.PlanBlocked {
		if derr := a.derived(ctx, runID, ahead, desired); derr != nil && err == nil {
			err = derr
		}
	}
	return err
}

// historyAhead is history's persons fed from the plan's read.
type historyAhead struct {
	f   *history.Feeder
	log logrus.FieldLogger
}

// feedHistory starts a feed of runID's persons for history, unless history
// is off or already published (then it returns nil).
func (a *App) feedHistory(ctx context.Context, runID string) *historyAhead {
	if !a.Cfg.Operate.History.On() {
		return nil
	}
	if _, _, err := artifact.ReadManifest(ctx, a.Store, runID, contract.History); err == nil {
		return nil // derived skips it
	}
	return &historyAhead{f: history.Feed(ctx, a.Env(runID)), log: a.Log}
}

// add is plan.Options.Persons (nil when nothing is fed).
func (h *historyAhead) add() func([]contract.Person) {
	if h == nil {
		return nil
	}
	return h.f.Add
}

// prepared ends the feed: the persons fed, or nil when history must read
// them itself.
func (h *historyAhead) prepared() *history.Prepared {
	if h == nil {
		return nil
	}
	p := h.f.Prepared()
	if h.f.Panicked != nil {
		// a bug, not bad data: history then reads the persons itself, on
		// the command's goroutine, where it surfaces as it would have
		h.log.WithField("panic", h.f.Panicked).Warn("history: adding the persons the plan read panicked; history reads them again after the plan")
	}
	return p
}

// stop abandons the feed (when still open) and waits for it to end.
func (h *historyAhead) stop() {
	if h == nil {
		return
	}
	h.f.Stop()
}

// plan runs the plan stage; persons, when not nil, is given the persons the
// plan reads (plan.Options.Persons). desired is the desired_users of the
// plan it published (not blocked), for history, else nil.
func (a *App) plan(ctx context.Context, runID string, o PlanOptions, persons func([]contract.Person)) (desired *history.PlanDesired, err error) {
	m, ok, err := a.published(ctx, runID, contract.Plan)
	if err != nil {
		return nil, err
	}
	if ok {
		a.skipPublished(runID, contract.Plan, m)
		switch {
		case m.Status == artifact.StatusBlocked:
			return nil, blockedPlanError(runID)
		case len(o.Allow) > 0:
			return nil, exitcode.New(exitcode.Usage, "run %s already has a published plan; an override plan is a new run: otds-highspot plan --from-run %s --allow ...", runID, runID)
		}
		return nil, nil
	}
	res, err := plan.Run(ctx, a.Env(runID), a.Cfg, plan.Options{Allow: o.Allow, FromRun: o.FromRun, Persons: persons})
	if res != nil && res.Summary != nil {
		s := res.Summary
		a.Summary.Stages = append(a.Summary.Stages, StageSummary{Stage: string(contract.Plan), Status: s.Status, Manifest: a.Store.URL(res.Ref.Key),
			Rows:    map[string]int64{"changes": res.Manifest.TableRows("changes"), "desired_users": res.Manifest.TableRows("desired_users")},
			Details: map[string]any{"plan_sha256": s.PlanSHA256, "by_op": s.ByOp, "blocked": s.Blocked, "report": a.Store.URL(res.Manifest.Blobs["plan.html"].Key)}})
		// Rendered from the plan just published (plan show reads and
		// cross-checks it again: at 1M day 1 that is ~775k changes more in
		// memory, with the plan's own still held).
		fmt.Fprint(a.Stdout, plan.RenderText(s, a.Store.URL(res.Manifest.Blobs["plan.html"].Key)))
	} else if err != nil {
		a.Summary.Stages = append(a.Summary.Stages, StageSummary{Stage: string(contract.Plan), Status: "failed", Error: err.Error()})
	}
	if err == nil && res != nil && res.Plan != nil && res.Manifest != nil && res.Manifest.Status == artifact.StatusPublished {
		desired = &history.PlanDesired{Ref: res.Ref, Users: res.Plan.Desired} // the rest of the plan is let go
	}
	return desired, err
}

// PlanShowOptions are `plan show`'s flags.
type PlanShowOptions struct {
	// Open makes the report readable locally: with a file store it prints
	// the plan.html path; with S3 it writes plan.html (verified against its
	// manifest) to a local temp file and prints that path. On a terminal the
	// file is opened with xdg-open when available.
	Open bool
}

// PlanShow prints the plan summary of --run-id or the latest run.
func (a *App) PlanShow(ctx context.Context, o ...PlanShowOptions) error {
	runID, err := a.latestRunID(ctx)
	if err != nil {
		return err
	}
	a.Summary.RunID = runID
	text, sum, err := plan.ShowSummary(ctx, a.Store, runID)
	if err != nil {
		return err
	}
	a.Summary.RunID = sum.RunID
	a.Summary.PlanSHA256 = sum.PlanSHA256
	a.Summary.Details = map[string]any{"plan": sum}
	fmt.Fprint(a.Stdout, text)
	// Approvals of this plan's sha256 (the record schedulers wait for).
	aps, err := plan.Approvals(ctx, a.Store, runID)
	if err != nil {
		return err
	}
	var approved []map[string]any
	for _, ap := range aps {
		if strings.EqualFold(ap.PlanSHA256, sum.PlanSHA256) {
			approved = append(approved, map[string]any{"by": ap.By, "at": ap.At, "comment": ap.Comment, "record": a.Store.URL(ap.Key)})
			fmt.Fprintf(a.Stdout, "  approved  by %s at %s\n", ap.By, ap.At.Format(time.RFC3339))
		}
	}
	a.Summary.Details["approvals"] = approved
	if len(o) > 0 && o[0].Open {
		path, err := a.localReport(ctx, runID)
		if err != nil {
			return err
		}
		a.Summary.Details["report_file"] = path
		fmt.Fprintf(a.Stdout, "  open      %s\n", path)
		if logging.IsTerminal(a.Stdout) {
			if opener, err := exec.LookPath("xdg-open"); err == nil {
				if err := exec.Command(opener, path).Start(); err != nil {
					a.Log.WithError(err).Warn("plan show --open: xdg-open failed; open the file yourself")
				}
			}
		}
	}
	return nil
}

// localReport returns a local path of runID's plan.html: the file itself in
// a file store, else a temp file holding its verified bytes.
func (a *App) localReport(ctx context.Context, runID string) (string, error) {
	m, _, err := artifact.ReadManifest(ctx, a.Store, runID, contract.Plan)
	if err != nil {
		return "", fmt.Errorf("plan show --open: %w", err)
	}
	data, fe, err := artifact.ReadBlob(ctx, a.Store, m, "plan.html")
	if err != nil {
		return "", fmt.Errorf("plan show --open: %w", err)
	}
	if u := a.Store.URL(fe.Key); strings.HasPrefix(u, "file://") {
		return strings.TrimPrefix(u, "file://"), nil
	}
	f, err := os.CreateTemp("", "otds-highspot-plan-"+runID+"-*.html")
	if err != nil {
		return "", fmt.Errorf("plan show --open: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return "", fmt.Errorf("plan show --open: write %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("plan show --open: write %s: %w", f.Name(), err)
	}
	return f.Name(), nil
}

// ApplyOptions tune apply.
type ApplyOptions struct {
	PlanSHA256 string
	DryRun     bool
}

// Apply applies the published plan of --run-id or the latest run.
func (a *App) Apply(ctx context.Context, o ApplyOptions) error {
	runID, err := a.latestRunID(ctx)
	if err != nil {
		return err
	}
	a.Summary.RunID = runID
	var decides []string // a dry run decides no stage's outcome
	if !o.DryRun {
		decides = []string{string(contract.Apply)}
	}
	started := time.Now()
	return a.tracked(ctx, runID, []string{string(contract.Apply)}, decides, func(ctx context.Context) error {
		err := a.apply(ctx, runID, o)
		if !o.DryRun {
			// apply ends a run driven stage by stage: it writes the run
			// manifest when the run has none yet.
			a.writeRunManifest(ctx, runID, started, RunOptions{}, err)
		}
		return err
	})
}

func (a *App) apply(ctx context.Context, runID string, o ApplyOptions) error {
	defer a.softMemoryLimit(stageMemoryLimit)()
	t, stop, err := a.target(ctx)
	if err != nil {
		return err
	}
	defer stop()
	opts := a.applyOptions()
	opts.PlanSHA256 = o.PlanSHA256
	opts.DryRun = o.DryRun
	opts.DryRunOut = a.Stdout
	var endBar func()
	opts.Progress, endBar = a.progress("apply")
	defer endBar()
	// CheckFresh re-hashes the changes and checks the baseline; an empty
	// --plan-sha256 skips only the comparison with the reviewed hash.
	opts.CheckFresh = func(ctx context.Context) error {
		return plan.CheckFresh(ctx, a.Store, runID, o.PlanSHA256)
	}
	if a.Cfg.Apply.RequireApproval && !o.DryRun {
		// The approval names the plan sha256 the manifest records; RunApply
		// then re-hashes the changes against that same sha256.
		if err := a.requireApproval(ctx, runID); err != nil {
			a.Summary.Stages = append(a.Summary.Stages, StageSummary{Stage: string(contract.Apply), Status: "not approved", Error: err.Error()})
			return err
		}
	}
	res, err := apply.RunApply(ctx, a.Env(runID), a.Cfg, t, opts)
	endBar()
	if res != nil {
		s := res.Summary
		st := StageSummary{Stage: string(contract.Apply), Status: "published", Rows: map[string]int64{"load_results": int64(s.Done())},
			Details: map[string]any{"applied": s.Applied, "skipped": s.Skipped, "failed": s.Failed, "resumed": s.Resumed, "pending": s.Pending,
				"requests": s.Requests, "retries": s.Retries, "creates_as_updates": s.CreatesAsUpdates, "dry_run": s.DryRun}}
		switch {
		case res.AlreadyPublished:
			// Nothing was done now: report what the committed apply recorded.
			st.Status, st.Manifest = res.Manifest.Status, a.Store.URL(res.Ref.Key)
			st.Rows = map[string]int64{"load_results": res.Manifest.TableRows("load_results")}
			st.Details = map[string]any{"already_published": true}
		case res.Ref.Key != "":
			st.Stage, st.Status, st.Manifest = string(res.Manifest.Stage), res.Manifest.Status, a.Store.URL(res.Ref.Key)
		case s.DryRun:
			st.Status = "dry run"
		default:
			st.Status = "not committed"
		}
		if err != nil {
			st.Error = err.Error()
		}
		a.Summary.Stages = append(a.Summary.Stages, st)
		switch {
		case res.AlreadyPublished:
			fmt.Fprintf(a.Stdout, "apply: run %s was already applied; nothing to do\n", runID)
		case s.DryRun:
			fmt.Fprintf(a.Stdout, "apply (dry run): %d changes would be sent; nothing was called\n", s.Total)
		default:
			fmt.Fprintf(a.Stdout, "apply: %d changes: %d applied, %d skipped, %d failed, %d resumed from the ledger, %d pending (%d requests, %d retries, %s)\n",
				s.Total, s.Applied, s.Skipped, s.Failed, s.Resumed, s.Pending, s.Requests, s.Retries, s.Elapsed.Round(time.Millisecond))
			for _, f := range s.Failures {
				fmt.Fprintf(a.Stdout, "  FAILED %s %s %s: %s\n", f.ChangeID, f.Op, f.Email, f.Reason)
			}
		}
	} else if err != nil {
		a.Summary.Stages = append(a.Summary.Stages, StageSummary{Stage: string(contract.Apply), Status: "failed", Error: err.Error()})
	}
	return err
}

// SandboxOptions configure the standalone sandbox.
type SandboxOptions struct {
	Listen    string
	StateFile string
	Seed      string // JSON seed file; "" = the bundled fixture
	// Profile is the provider profile (sandbox.Profiles; "" = lenient).
	Profile string
	Stdout  io.Writer
}

// Sandbox serves the Highspot stand-in until ctx is cancelled.
func Sandbox(ctx context.Context, o SandboxOptions) error {
	opts := sandbox.Options{StateFile: o.StateFile, Profile: o.Profile}
	if o.Profile != "" {
		if _, err := sandbox.New(sandbox.Options{Seed: &sandbox.Seed{}, Profile: o.Profile}); err != nil {
			return exitcode.Wrap(exitcode.Usage, fmt.Errorf("--profile: %w", err))
		}
	}
	if o.Seed != "" {
		data, err := os.ReadFile(o.Seed)
		if err != nil {
			return exitcode.Wrap(exitcode.Usage, fmt.Errorf("--seed: %w", err))
		}
		var seed sandbox.Seed
		if err := json.Unmarshal(data, &seed); err != nil {
			return exitcode.Wrap(exitcode.Usage, fmt.Errorf("--seed %s: not a sandbox seed: %w", o.Seed, err))
		}
		opts.Seed = &seed
	}
	fmt.Fprintf(o.Stdout, "Highspot sandbox on http://%s  (profile %s; REST %s, SCIM %s; Basic %s:%s, SCIM bearer %s; admin: /_admin/state, /_admin/faults)\n",
		o.Listen, cmp.Or(o.Profile, sandbox.ProfileLenient), sandbox.RESTBase("http://"+o.Listen), sandbox.SCIMBase("http://"+o.Listen), sandbox.DefaultKey, sandbox.DefaultSecret, sandbox.DefaultSCIMToken)
	err := sandbox.ListenAndServe(ctx, o.Listen, opts)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// requireApproval refuses to apply the plan of runID unless an approval
// record names its sha256 (apply.require_approval). A blocked or missing plan
// passes here: RunApply refuses it with its own message.
func (a *App) requireApproval(ctx context.Context, runID string) error {
	m, _, err := artifact.ReadManifest(ctx, a.Store, runID, contract.Plan)
	if err != nil || m.Status == artifact.StatusBlocked {
		return nil
	}
	ps, _ := contract.SummaryOf[contract.PlanSummary](m.Summary)
	sha := ps.PlanSHA256
	ap, err := plan.RequireApproval(ctx, a.Store, runID, sha)
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	a.Log.WithFields(logrus.Fields{"run_id": runID, "approved_by": ap.By, "approved_at": ap.At, "approval": a.Store.URL(ap.Key)}).Info("apply: plan approved")
	return nil
}

// PlanApproveOptions are `plan approve`'s flags.
type PlanApproveOptions = plan.ApproveOptions

// PlanApprove records an approval of the plan of --run-id (required).
func (a *App) PlanApprove(ctx context.Context, o PlanApproveOptions) error {
	if a.RunID == "" {
		return exitcode.New(exitcode.Usage, "plan approve: --run-id is required: approvals name one run's plan")
	}
	runID := a.RunID
	a.Summary.RunID = runID
	ap, err := plan.Approve(ctx, a.Env(runID), o)
	if err != nil {
		return err
	}
	a.Summary.PlanSHA256 = ap.PlanSHA256
	a.Summary.Details = map[string]any{"approval": a.Store.URL(ap.Key), "by": ap.By, "at": ap.At}
	fmt.Fprintf(a.Stdout, "plan of run %s (sha256 %s, %d changes) approved by %s at %s\n  record: %s\n  apply:  otds-highspot --run-id %s apply --plan-sha256 %s\n",
		runID, ap.PlanSHA256, ap.Changes, ap.By, ap.At.Format(time.RFC3339), a.Store.URL(ap.Key), runID, ap.PlanSHA256)
	return nil
}
