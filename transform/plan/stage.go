package plan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/config"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/internal/store"
)

// Blob names this package writes.
const (
	blobLeavers    = "leavers.json"
	blobChangesCSV = "changes.csv"
)

// Options are the plan command's options.
type Options struct {
	// Allow overrides safety gates: "op" or "op@tree" -> N (see ParseAllow).
	Allow map[string]int
	// FromRun replays: plan the stored snapshots of that run (its transform,
	// and the pull and plan before it) with the current policy; the result is
	// published under the current run id. Neither OTDS nor Highspot is read.
	FromRun string
	// Persons, when set, is given every batch of the persons the plan
	// reads, in table order, before the batch is evaluated (history is fed
	// from the plan's read, see history.Feeder). The batch is reused once
	// Persons returns; its strings may be kept.
	Persons func([]contract.Person)
}

// Result is what Run published.
type Result struct {
	Ref      artifact.Ref
	Manifest *artifact.Manifest
	Summary  *Summary
	Plan     *Plan
}

// BaselineRef says which artifact the plan was computed against.
type BaselineRef struct {
	Source string `json:"source"` // pull | previous_plan | none
	RunID  string `json:"run_id,omitempty"`
	Key    string `json:"key,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	Why    string `json:"why"`
	// At is when the baseline was published (the pull's or plan's manifest).
	At time.Time `json:"at,omitempty"`
}

// TrendPoint is one stored plan's headcount (for the trend chart).
type TrendPoint struct {
	RunID     string `json:"run_id"`
	Headcount int    `json:"headcount"`
	Changes   int    `json:"changes"`
}

// Summary is plan.json: everything the report and `plan show` print.
type Summary struct {
	RunID           string                    `json:"run_id"`
	FromRun         string                    `json:"from_run,omitempty"`
	CreatedAt       time.Time                 `json:"created_at"`
	Status          string                    `json:"status"` // published | blocked
	PlanSHA256      string                    `json:"plan_sha256"`
	Baseline        BaselineRef               `json:"baseline"`
	LatestPull      string                    `json:"latest_pull_sha256,omitempty"` // newest pull when planned, for CheckFresh
	PreviousPlan    string                    `json:"previous_plan_run_id,omitempty"`
	Persons         int                       `json:"persons"`
	InScope         int                       `json:"in_scope"`
	NoEmail         int                       `json:"in_scope_without_email"`
	Headcount       int                       `json:"headcount"` // active desired users
	Changes         int                       `json:"changes"`
	ByOp            map[string]int            `json:"by_op"`
	ByOpTree        map[string]map[string]int `json:"by_op_tree"`
	HeadcountByTree map[string]int            `json:"headcount_by_tree"`
	HeadcountByRole map[string]int            `json:"headcount_by_role"`
	Joiners         []Joiner                  `json:"joiners"`
	Movers          []Mover                   `json:"movers"`
	Leavers         []Leaver                  `json:"leavers"`
	Untouched       map[string]int            `json:"untouched"`
	MissingGroups   []string                  `json:"missing_groups,omitempty"`
	Gates           []Gate                    `json:"gates"`
	Blocked         []string                  `json:"blocked,omitempty"`
	Allow           map[string]int            `json:"allow,omitempty"`
	MatchReview     int64                     `json:"match_review"`
	RuleHits        map[string]int            `json:"rule_hits"`
	Duplicates      int                       `json:"duplicate_emails"`
	Trend           []TrendPoint              `json:"trend"`
	ProgramVersion  string                    `json:"program_version,omitempty"`
	ConfigHash      string                    `json:"config_hash,omitempty"`
	// UntouchedManaged names the untouched Highspot users who hold a managed
	// group (up to listLimit; UntouchedManagedTotal counts all).
	UntouchedManaged      []UntouchedUser `json:"untouched_managed,omitempty"`
	UntouchedManagedTotal int             `json:"untouched_managed_total"`
	// Drift is the baseline pull's drift table (up to listLimit; DriftTotal counts all).
	Drift      []DriftItem `json:"drift,omitempty"`
	DriftTotal int         `json:"drift_total"`
}

// DriftItem is one row of the baseline pull's drift table.
type DriftItem struct {
	Kind   string `json:"kind"`
	Email  string `json:"email"`
	Group  string `json:"group,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// listLimit caps the names plan.json carries (drift, untouched users); the
// tables hold every row.
const listLimit = 1000

// Run is the plan stage: read persons and the baseline, evaluate the policy,
// diff, gate, publish. A blocked plan is published (status "blocked") and Run
// returns an error classified exitcode.PlanBlocked naming each tripped gate.
func Run(ctx context.Context, env artifact.Env, cfg *config.Config, opts Options) (*Result, error) {
	pol, err := NewPolicy(&cfg.Policy)
	if err != nil {
		return nil, exitcode.Wrap(exitcode.Usage, fmt.Errorf("plan: %w", err))
	}
	pol.ProvisionServices = cfg.Transform.Service.Provision
	pol.CreateMissingGroups = cfg.Highspot.CreateMissingGroups
	if err := CheckAllow(opts.Allow, cfg.TreeNames()); err != nil {
		return nil, exitcode.Wrap(exitcode.Usage, fmt.Errorf("plan: %w", err))
	}
	st := env.Store
	now := time.Now
	if env.Now != nil {
		now = env.Now
	}
	srcRun := env.RunID
	if opts.FromRun != "" {
		srcRun = opts.FromRun
	}
	stage := artifact.NewStage(env, contract.Plan)
	defer stage.Abort()

	// Persons.
	tm, tref, err := artifact.ReadManifest(ctx, st, srcRun, contract.Transform)
	if err != nil {
		return nil, fmt.Errorf("plan: read the transform of run %s: %w (run transform first, or pass --from-run with a run that has one)", srcRun, err)
	}
	stage.AddInput(tref)

	// The baseline and carried state are read while the persons are
	// evaluated (neither needs the other). A baseline that cannot be read is
	// the error, as when it was read first; the evaluation then stops.
	ectx, stopEval := context.WithCancel(ctx)
	defer stopEval()
	bl := make(chan loadedBaseline, 1)
	go func() {
		var b loadedBaseline
		defer func() {
			if r := recover(); r != nil {
				b.panicked = r
				stopEval()
			}
			bl <- b
		}()
		b.base, b.ref, b.state, b.prevRun, b.latestPull, b.err = loadBaseline(ctx, st, srcRun)
		if b.err != nil {
			stopEval()
		}
	}()
	ev, everr := evaluatePersons(ectx, env, tm, srcRun, pol, opts.Persons)
	b := <-bl
	if b.panicked != nil {
		panic(b.panicked)
	}
	if b.err != nil {
		return nil, fmt.Errorf("plan: %w", b.err)
	}
	base, bref, prevState, prevRun, latestPull := b.base, b.ref, b.state, b.prevRun, b.latestPull
	if bref.Key != "" {
		stage.AddInput(artifact.Ref{Stage: map[string]contract.Stage{BaselinePull: contract.Pull, BaselinePrevious: contract.Plan}[bref.Source], RunID: bref.RunID, Key: bref.Key, SHA256: bref.SHA256})
	}
	if everr != nil {
		return nil, everr
	}
	p := Diff(ev, base, prevState, pol, now())
	// The plan hash binds this run and its baseline, not only the content.
	changesSHA := p.SHA256
	p.SHA256 = contract.PlanSHA256(contract.PlanBinding{RunID: env.RunID, BaselineSource: bref.Source, BaselineRunID: bref.RunID, BaselineSHA256: bref.SHA256}, p.Changes)
	gates := Gates(p, ev, base, prevState, pol, opts.Allow)
	blocked := Blocked(gates)

	sum := summarize(env.RunID, opts.FromRun, now(), p, ev, gates, blocked, opts.Allow)
	sum.Baseline, sum.LatestPull, sum.PreviousPlan = bref, latestPull, prevRun
	sum.MatchReview = matchReviewRows(tm)
	sum.Trend = trend(ctx, st, env.RunID, sum)
	sum.ProgramVersion, sum.ConfigHash = env.Version, env.ConfigHash
	if err := describeBaseline(ctx, st, sum, base, p); err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	csvData, err := ChangesCSV(p.Changes)
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}

	// Publish.
	if err := writeTables(ctx, stage, p); err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	js, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("plan: encode plan.json: %w", err)
	}
	leavers, _ := json.Marshal(p.LeaverSince)
	// In a fixed order, so that a failure part way leaves a predictable set
	// of orphan blobs (prune removes them; a retry uses a new attempt key).
	for _, b := range []struct {
		name string
		data []byte
	}{
		{"plan.json", js}, {blobLeavers, leavers}, {blobChangesCSV, csvData},
		{"plan.md", []byte(RenderMarkdown(sum, p.Changes))}, {"plan.html", []byte(RenderHTML(sum, p.Changes))},
	} {
		if _, err := stage.PutBlob(ctx, b.name, b.data); err != nil {
			return nil, fmt.Errorf("plan: store %s: %w", b.name, err)
		}
	}
	ps := contract.PlanSummary{
		PlanSHA256: p.SHA256, ChangesSHA256: changesSHA, Changes: int64(len(p.Changes)), ByOp: sum.ByOp, Headcount: int64(sum.Headcount),
		BaselineSource: bref.Source, BaselineRunID: bref.RunID, BaselineKey: bref.Key, BaselineSHA256: bref.SHA256,
		LatestPullSHA256: latestPull, PreviousPlanRunID: prevRun, MatchReview: sum.MatchReview, FromRun: opts.FromRun, Allow: opts.Allow,
	}
	if len(blocked) > 0 {
		stage.SetStatus(artifact.StatusBlocked)
		ps.BlockedGates = sum.Blocked
	}
	contract.PutSummary(stage.SetSummary, ps)
	ref, m, err := stage.Commit(ctx)
	if err != nil {
		return nil, fmt.Errorf("plan: publish: %w", err)
	}
	res := &Result{Ref: ref, Manifest: m, Summary: sum, Plan: p}
	if len(blocked) > 0 {
		return res, exitcode.New(exitcode.PlanBlocked, "plan blocked by %d safety gate(s): %s; review %s, then, if the change is intended, re-plan this run's snapshots with an override: otds-highspot plan --from-run %s --allow op=N (it publishes a new run id, which apply then takes)",
			len(blocked), strings.Join(sum.Blocked, "; "), st.URL(m.Blobs["plan.html"].Key), env.RunID)
	}
	return res, nil
}

// provenanceColumns are the persons columns the plan does not decode: they
// say where values came from (account_keys, source_of, modified_at), and no
// policy, profile or diff field reads them.
var provenanceColumns = []string{"account_keys", "source_of", "modified_at"}

// wideColumns are the list and map columns of persons that only policy
// fields read (the groups, trees and attributes fields, the in_group and
// attr helpers, and fields kept in attributes): the plan decodes them only
// when its policy reads them (see unreadColumns).
var wideColumns = []string{"groups", "trees", "attributes"}

// unreadColumns are the wideColumns no part of pol reads: not its rules
// (PolicyReads: every person.<field>, every helper's field, or every field
// when an expression uses person otherwise) nor its profile fields. A field
// with a getter of its own that is not one of the builtin ones could read
// any column: then every column is read.
func (pol *Policy) unreadColumns() []string {
	need := map[string]bool{}
	fields := slices.Clone(pol.reads)
	for _, f := range pol.profile {
		if f != nil {
			fields = append(fields, f)
		}
	}
	for _, f := range fields {
		switch {
		case f.Policy != nil && (f.Policy.Get != nil || f.Policy.Strings != nil):
			switch f.Name {
			case "groups", "trees", "attributes":
				need[f.Name] = true
			case "person_id", "email", "emails", "tree", "is_service":
				// scalar columns, or emails (always read)
			default:
				return nil
			}
		case f.Person == nil:
			need["attributes"] = true // kept in attributes.<Name>
		}
	}
	var out []string
	for _, c := range wideColumns {
		if !need[c] {
			out = append(out, c)
		}
	}
	return out
}

// evalBatch is how many persons evaluatePersons holds at once.
const evalBatch = 16384

// evaluatePersons is Desired over the persons table of the transform tm,
// streamed: persons are read and evaluated a batch at a time; tap, when not
// nil, sees each batch first.
func evaluatePersons(ctx context.Context, env artifact.Env, tm *artifact.Manifest, srcRun string, pol *Policy, tap func([]contract.Person)) (*Evaluation, error) {
	e := newEvaluator(pol)
	batch := make([]contract.Person, 0, evalBatch)
	var evalErr error
	flush := func() error {
		if tap != nil {
			tap(batch)
		}
		evalErr = e.add(batch)
		clear(batch)
		batch = batch[:0]
		return evalErr
	}
	err := artifact.ReadTable(ctx, env.Store, tm, contract.PersonsSpec, func(p contract.Person) error {
		if batch = append(batch, p); len(batch) == evalBatch {
			return flush()
		}
		return nil
	}, artifact.WithTempDir(env.TempDir), artifact.SkipColumns(append(slices.Clone(provenanceColumns), pol.unreadColumns()...)...))
	if err == nil && len(batch) > 0 {
		err = flush()
	}
	switch {
	case evalErr != nil:
		return nil, exitcode.Wrap(exitcode.Usage, fmt.Errorf("plan: %w", evalErr))
	case err != nil:
		return nil, fmt.Errorf("plan: read persons of run %s: %w", srcRun, err)
	}
	return e.done(), nil
}

// describeBaseline adds to sum when the baseline was published, its drift
// table (a pull's) and the untouched users who hold a managed group.
func describeBaseline(ctx context.Context, st store.Store, sum *Summary, base Baseline, p *Plan) error {
	stageOf := map[string]contract.Stage{BaselinePull: contract.Pull, BaselinePrevious: contract.Plan}[sum.Baseline.Source]
	if stageOf != "" {
		bm, _, err := artifact.ReadManifest(ctx, st, sum.Baseline.RunID, stageOf)
		if err != nil {
			return fmt.Errorf("read the baseline %s of run %s: %w", stageOf, sum.Baseline.RunID, err)
		}
		sum.Baseline.At = bm.CreatedAt.UTC()
		if stageOf == contract.Pull {
			if _, ok := bm.Tables[contract.DriftSpec.Name]; ok {
				drift, err := artifact.ReadAll[contract.Drift](ctx, st, bm, contract.DriftSpec)
				if err != nil {
					return fmt.Errorf("read the drift of pull %s: %w", sum.Baseline.RunID, err)
				}
				sum.DriftTotal = len(drift)
				for i := 0; i < len(drift) && i < listLimit; i++ {
					d := drift[i]
					sum.Drift = append(sum.Drift, DriftItem{Kind: d.Kind, Email: d.Email, Group: d.Group, Detail: d.Detail})
				}
			}
		}
	}
	managed := map[string]bool{}
	for _, g := range base.Groups {
		if g.Managed {
			managed[g.Name] = true
		}
	}
	for _, u := range p.UntouchedUsers {
		var held []string
		for _, g := range u.Groups {
			if managed[g] {
				held = append(held, g)
			}
		}
		if len(held) == 0 {
			continue
		}
		sum.UntouchedManagedTotal++
		if len(sum.UntouchedManaged) < listLimit {
			sum.UntouchedManaged = append(sum.UntouchedManaged, UntouchedUser{Email: u.Email, Reason: u.Reason, Groups: held})
		}
	}
	sort.Slice(sum.UntouchedManaged, func(i, j int) bool { return sum.UntouchedManaged[i].Email < sum.UntouchedManaged[j].Email })
	return nil
}

// loadedBaseline is what loadBaseline returned (or its panic).
type loadedBaseline struct {
	base       Baseline
	ref        BaselineRef
	state      State
	prevRun    string
	latestPull string
	err        error
	panicked   any
}

// loadBaseline picks the baseline for a plan of srcRun: this run's pull, else
// the latest earlier pull unless a plan was applied after it (then the pull
// is stale and the previous plan's desired state is better), else the
// previous plan's desired state, else none.
func loadBaseline(ctx context.Context, st store.Store, srcRun string) (Baseline, BaselineRef, State, string, string, error) {
	var state State
	var prevRun, latestPull string
	if lm, lref, err := artifact.LatestManifest(ctx, st, contract.Pull, ""); err == nil {
		_ = lm
		latestPull = lref.SHA256
	} else if !errors.Is(err, artifact.ErrNotPublished) {
		return Baseline{}, BaselineRef{}, state, "", "", fmt.Errorf("find the latest pull: %w", err)
	}
	pm, pref, err := artifact.ReadManifest(ctx, st, srcRun, contract.Pull)
	if errors.Is(err, artifact.ErrNotPublished) {
		pm, pref, err = artifact.LatestManifest(ctx, st, contract.Pull, srcRun)
	}
	if err != nil && !errors.Is(err, artifact.ErrNotPublished) {
		return Baseline{}, BaselineRef{}, state, "", "", fmt.Errorf("read the pull baseline: %w", err)
	}
	qm, qref, qerr := artifact.LatestManifest(ctx, st, contract.Plan, srcRun)
	if qerr != nil && !errors.Is(qerr, artifact.ErrNotPublished) {
		return Baseline{}, BaselineRef{}, state, "", "", fmt.Errorf("read the previous plan: %w", qerr)
	}
	if qm != nil {
		prevRun = qref.RunID
		state.Previous, err = artifact.ReadAll[contract.DesiredUser](ctx, st, qm, contract.DesiredUsersSpec)
		if err != nil {
			return Baseline{}, BaselineRef{}, state, "", "", fmt.Errorf("read desired_users of plan %s: %w", qref.RunID, err)
		}
		if _, ok := qm.Blobs[blobLeavers]; ok {
			data, _, err := artifact.ReadBlob(ctx, st, qm, blobLeavers)
			if err != nil {
				return Baseline{}, BaselineRef{}, state, "", "", fmt.Errorf("read the leaver dates of plan %s: %w", qref.RunID, err)
			}
			if err := json.Unmarshal(data, &state.LeaverSince); err != nil {
				return Baseline{}, BaselineRef{}, state, "", "", fmt.Errorf("decode the leaver dates of plan %s: %w", qref.RunID, err)
			}
		}
	}
	usePull := pm != nil
	why := "the pull of run " + srcRun
	if pm != nil && pref.RunID != srcRun {
		why = "the latest pull (run " + pref.RunID + ")"
		if qm != nil && qref.RunID >= pref.RunID {
			if _, _, aerr := artifact.ReadManifest(ctx, st, qref.RunID, contract.Apply); aerr == nil {
				usePull = false // the previous plan was applied after that pull
			}
		}
	}
	if usePull {
		users, err := artifact.ReadAll[contract.HighspotUser](ctx, st, pm, contract.HighspotUsersSpec)
		if err != nil {
			return Baseline{}, BaselineRef{}, state, "", "", fmt.Errorf("read highspot_users of pull %s: %w", pref.RunID, err)
		}
		groups, err := artifact.ReadAll[contract.HighspotGroup](ctx, st, pm, contract.HighspotGroupsSpec)
		if err != nil {
			return Baseline{}, BaselineRef{}, state, "", "", fmt.Errorf("read highspot_groups of pull %s: %w", pref.RunID, err)
		}
		return Baseline{Source: BaselinePull, RunID: pref.RunID, Users: users, Groups: groups},
			BaselineRef{Source: BaselinePull, RunID: pref.RunID, Key: pref.Key, SHA256: pref.SHA256, Why: "Highspot's actual state from " + why},
			state, prevRun, latestPull, nil
	}
	if qm != nil {
		why := "no pull is available"
		if pm != nil {
			why = "the latest pull (run " + pref.RunID + ") predates the applied plan of run " + qref.RunID
		}
		return BaselineFromDesired(qref.RunID, state.Previous),
			BaselineRef{Source: BaselinePrevious, RunID: qref.RunID, Key: qref.Key, SHA256: qref.SHA256,
				Why: "the desired state of the previous plan (run " + qref.RunID + "), assumed applied, because " + why},
			state, prevRun, latestPull, nil
	}
	return Baseline{Source: BaselineNone}, BaselineRef{Source: BaselineNone, Why: "no pull and no previous plan: Highspot is assumed empty (first run)"},
		state, prevRun, latestPull, nil
}

func readBlob(ctx context.Context, st store.Store, key string) ([]byte, error) {
	rc, err := st.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func writeTables(ctx context.Context, stage *artifact.Stage, p *Plan) error {
	dw, err := artifact.OpenTable[contract.DesiredUser](stage, contract.DesiredUsersSpec)
	if err != nil {
		return fmt.Errorf("open desired_users: %w", err)
	}
	for i := range p.Desired {
		if err := dw.Write(p.Desired[i]); err != nil {
			return fmt.Errorf("write desired_users: %w", err)
		}
	}
	if err := dw.Close(); err != nil {
		return fmt.Errorf("close desired_users: %w", err)
	}
	cw, err := artifact.OpenTable[contract.Change](stage, contract.ChangesSpec)
	if err != nil {
		return fmt.Errorf("open changes: %w", err)
	}
	for i := range p.Changes {
		if err := cw.Write(p.Changes[i]); err != nil {
			return fmt.Errorf("write changes: %w", err)
		}
	}
	if err := cw.Close(); err != nil {
		return fmt.Errorf("close changes: %w", err)
	}
	return nil
}

func summarize(runID, fromRun string, now time.Time, p *Plan, ev *Evaluation, gates, blocked []Gate, allow map[string]int) *Summary {
	s := &Summary{RunID: runID, FromRun: fromRun, CreatedAt: now.UTC(), Status: artifact.StatusPublished, PlanSHA256: p.SHA256,
		Persons: ev.Persons, InScope: len(ev.Wants) + ev.NoEmail, NoEmail: ev.NoEmail, Changes: len(p.Changes),
		ByOp: map[string]int{}, ByOpTree: CountByOpTree(p.Changes), HeadcountByTree: map[string]int{}, HeadcountByRole: map[string]int{},
		Joiners: p.Joiners, Movers: p.Movers, Leavers: p.Leavers, Untouched: p.Untouched, MissingGroups: p.MissingGroups,
		Gates: gates, Allow: allow, RuleHits: ev.RuleHits, Duplicates: len(p.Duplicates)}
	for _, c := range p.Changes {
		s.ByOp[c.Op]++
	}
	for i := range p.Desired {
		d := &p.Desired[i]
		if d.Suspended {
			continue
		}
		s.Headcount++
		s.HeadcountByTree[d.Tree]++
		role := d.Role
		if role == "" {
			role = "(none)"
		}
		s.HeadcountByRole[role]++
	}
	if len(blocked) > 0 {
		s.Status = artifact.StatusBlocked
		for _, g := range blocked {
			s.Blocked = append(s.Blocked, g.String())
		}
	}
	return s
}

// trend collects the headcount of up to 11 earlier published plans.
func trend(ctx context.Context, st store.Store, runID string, cur *Summary) []TrendPoint {
	pts := []TrendPoint{{RunID: runID, Headcount: cur.Headcount, Changes: cur.Changes}}
	before := runID
	for len(pts) < 12 {
		m, ref, err := artifact.LatestManifest(ctx, st, contract.Plan, before)
		if err != nil {
			break
		}
		ps, _ := contract.SummaryOf[contract.PlanSummary](m.Summary)
		pts = append(pts, TrendPoint{RunID: ref.RunID, Headcount: int(ps.Headcount), Changes: int(ps.Changes)})
		before = ref.RunID
	}
	sort.Slice(pts, func(i, j int) bool { return pts[i].RunID < pts[j].RunID })
	return pts
}

// Reviewed is a plan as a reviewer sees it and apply executes it, checked
// together: plan.json (against the manifest's sha256), the changes table
// (every part against the manifest's sha256, while read) and the manifest's
// plan hash all agree.
type Reviewed struct {
	Manifest *artifact.Manifest
	Summary  *Summary          // plan.json
	Changes  []contract.Change // in Seq order
	SHA256   string            // contract.PlanSHA256 over the binding and Changes: the hash to show, approve and enforce
}

// LoadReviewed reads and cross-checks the plan published by m. A mismatch
// anywhere is an artifact.ErrModified error (exit 1) naming what disagrees:
// the hash a reviewer is shown is computed over exactly the changes apply
// executes, and the counts shown are those of that change list.
func LoadReviewed(ctx context.Context, st store.Store, m *artifact.Manifest) (*Reviewed, error) {
	data, fe, err := artifact.ReadBlob(ctx, st, m, "plan.json")
	if err != nil {
		return nil, err
	}
	var s Summary
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("decode %s: %w", st.URL(fe.Key), err)
	}
	changes, err := artifact.ReadAll[contract.Change](ctx, st, m, contract.ChangesSpec)
	if err != nil {
		return nil, fmt.Errorf("read changes: %w", err)
	}
	sort.SliceStable(changes, func(i, j int) bool { return changes[i].Seq < changes[j].Seq })
	bind := contract.PlanBindingOf(m.RunID, m.Summary)
	got := contract.PlanSHA256(bind, changes)
	ps, _ := contract.SummaryOf[contract.PlanSummary](m.Summary)
	rec := ps.PlanSHA256
	mkey := st.URL(artifact.ManifestKey(m.RunID, m.Stage))
	disagree := func(what string) error {
		return exitcode.Wrap(exitcode.Unexpected, fmt.Errorf("the plan of run %s does not hold together (%s): it was %w", m.RunID, what, artifact.ErrModified))
	}
	switch {
	case got != rec:
		return nil, disagree(fmt.Sprintf("its changes hash to %s, %s records %s", got, mkey, rec))
	case s.PlanSHA256 != got:
		return nil, disagree(fmt.Sprintf("%s shows sha256 %s, its changes hash to %s", st.URL(fe.Key), s.PlanSHA256, got))
	case s.RunID != m.RunID || s.Status != m.Status:
		return nil, disagree(fmt.Sprintf("%s is for run %s with status %s, %s is run %s with status %s", st.URL(fe.Key), s.RunID, s.Status, mkey, m.RunID, m.Status))
	case s.Baseline.Source != bind.BaselineSource || s.Baseline.RunID != bind.BaselineRunID || s.Baseline.SHA256 != bind.BaselineSHA256:
		return nil, disagree(fmt.Sprintf("%s shows baseline %s %s %s, %s records %s %s %s", st.URL(fe.Key), s.Baseline.Source, s.Baseline.RunID, s.Baseline.SHA256, mkey, bind.BaselineSource, bind.BaselineRunID, bind.BaselineSHA256))
	}
	byOp := map[string]int{}
	for _, c := range changes {
		byOp[c.Op]++
	}
	if s.Changes != len(changes) || !sameCounts(s.ByOp, byOp) || !sameNested(s.ByOpTree, CountByOpTree(changes)) {
		return nil, disagree(fmt.Sprintf("%s shows %d changes %v, the changes table holds %d %v", st.URL(fe.Key), s.Changes, s.ByOp, len(changes), byOp))
	}
	return &Reviewed{Manifest: m, Summary: &s, Changes: changes, SHA256: got}, nil
}

func sameCounts(a, b map[string]int) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}

func sameNested(a, b map[string]map[string]int) bool {
	for k := range a {
		if !sameCounts(a[k], b[k]) {
			return false
		}
	}
	for k := range b {
		if !sameCounts(a[k], b[k]) {
			return false
		}
	}
	return true
}

// ErrStale means the plan no longer matches Highspot's state or its hash.
var ErrStale = errors.New("plan is stale")

// CheckFresh is what apply calls before applying the plan of runID: the plan
// must be published (not blocked), its changes table must hash to the
// recorded plan_sha256, planSHA (when given, from --plan-sha256) must match,
// and the baseline must still be current (no newer pull, no newer plan).
func CheckFresh(ctx context.Context, st store.Store, runID string, planSHA string) error {
	m, _, err := artifact.ReadManifest(ctx, st, runID, contract.Plan)
	if err != nil {
		return exitcode.Wrap(exitcode.Usage, fmt.Errorf("check plan of run %s: %w (run plan first)", runID, err))
	}
	if m.Status == artifact.StatusBlocked {
		ps, _ := contract.SummaryOf[contract.PlanSummary](m.Summary)
		return exitcode.New(exitcode.PlanBlocked, "plan of run %s is blocked by safety gates (%v); after review, re-plan it with an override: otds-highspot plan --from-run %s --allow op=N, and apply the new run id", runID, ps.BlockedGates, runID)
	}
	r, err := LoadReviewed(ctx, st, m)
	if err != nil {
		return fmt.Errorf("check plan of run %s: %w", runID, err)
	}
	if planSHA != "" && !strings.EqualFold(planSHA, r.SHA256) {
		return exitcode.Wrap(exitcode.Usage, fmt.Errorf("%w: --plan-sha256 %s does not match the plan of run %s (%s); review that plan (plan show) and pass its hash", ErrStale, planSHA, runID, r.SHA256))
	}
	ps, _ := contract.SummaryOf[contract.PlanSummary](m.Summary)
	src, bsha, brun, latest := ps.BaselineSource, ps.BaselineSHA256, ps.BaselineRunID, ps.LatestPullSHA256
	_, lref, err := artifact.LatestManifest(ctx, st, contract.Pull, "")
	switch {
	case err != nil && !errors.Is(err, artifact.ErrNotPublished):
		return fmt.Errorf("check plan of run %s: find the latest pull: %w", runID, err)
	case err == nil && lref.SHA256 != latest:
		return exitcode.Wrap(exitcode.Usage, fmt.Errorf("%w: Highspot was pulled again (run %s) after the plan of run %s was made against %s %s; re-run plan to diff against the new state", ErrStale, lref.RunID, runID, src, brun))
	case src == BaselinePull && (err != nil || lref.SHA256 != bsha):
		return exitcode.Wrap(exitcode.Usage, fmt.Errorf("%w: the plan's baseline pull (run %s) is no longer the latest pull; re-run plan", ErrStale, brun))
	}
	if src == BaselinePrevious {
		_, qref, err := artifact.LatestManifest(ctx, st, contract.Plan, runID)
		if err != nil || qref.SHA256 != bsha {
			return exitcode.Wrap(exitcode.Usage, fmt.Errorf("%w: the previous plan the baseline came from (run %s) is no longer the latest before run %s; re-run plan", ErrStale, brun, runID))
		}
	}
	return nil
}

// Show renders the plan summary of runID ("" = the newest run with a plan,
// blocked or not) for the terminal.
func Show(ctx context.Context, st store.Store, runID string) (string, error) {
	text, _, err := ShowSummary(ctx, st, runID)
	return text, err
}

// ShowSummary is Show that also returns the plan's summary (plan.json).
func ShowSummary(ctx context.Context, st store.Store, runID string) (string, *Summary, error) {
	if runID == "" {
		runs, err := artifact.ListRuns(ctx, st)
		if err != nil {
			return "", nil, fmt.Errorf("plan show: %w", err)
		}
		for _, r := range runs {
			for _, s := range r.Stages {
				if s.Stage == contract.Plan && runID == "" {
					runID = r.RunID
				}
			}
		}
		if runID == "" {
			return "", nil, exitcode.Wrap(exitcode.Usage, fmt.Errorf("plan show: no run has a plan yet; run plan first"))
		}
	}
	m, _, err := artifact.ReadManifest(ctx, st, runID, contract.Plan)
	if err != nil {
		return "", nil, fmt.Errorf("plan show %s: %w", runID, err)
	}
	r, err := LoadReviewed(ctx, st, m)
	if err != nil {
		return "", nil, fmt.Errorf("plan show %s: %w", runID, err)
	}
	s := *r.Summary
	report := ""
	if b, ok := m.Blobs["plan.html"]; ok {
		report = st.URL(b.Key)
	}
	return RenderText(&s, report), &s, nil
}

// ReportURL is the location of the plan.html a run's plan manifest lists.
func ReportURL(ctx context.Context, st store.Store, runID string) (string, error) {
	m, _, err := artifact.ReadManifest(ctx, st, runID, contract.Plan)
	if err != nil {
		return "", fmt.Errorf("plan report of run %s: %w", runID, err)
	}
	b, ok := m.Blobs["plan.html"]
	if !ok {
		return "", fmt.Errorf("plan report of run %s: the manifest lists no plan.html", runID)
	}
	return st.URL(b.Key), nil
}

// matchReviewRows is the number of match_review rows of a transform
// manifest: its table's row count, else the total of its summary (rows
// by reason, contract.TransformSummary).
func matchReviewRows(tm *artifact.Manifest) int64 {
	if n := tm.TableRows("match_review"); n > 0 || tm == nil {
		return n
	}
	var ts contract.TransformSummary
	_ = contract.ReadSummary(tm.Summary, &ts) // best effort: a field of another type reads as zero
	return ts.MatchReviewTotal()
}
