package history

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/store"
)

// Options tune Run.
type Options struct {
	// Rebuild ignores earlier history tables and folds every run that
	// published a transform stage, oldest first, up to this run. Use it after
	// changing what is tracked, or when an earlier history is missing.
	Rebuild bool
	// Prepared is this run's persons read ahead by Prepare (nil: Run reads
	// them).
	Prepared *Prepared
	// Desired is this run's desired_users as the plan that published them
	// holds them (nil: Run reads the table).
	Desired *PlanDesired
}

// PlanDesired is the desired_users rows of a plan just published, held by
// the process that made it. Run uses them instead of reading the table back
// when the run's published plan is that very manifest (same key and sha256)
// and lists as many rows.
type PlanDesired struct {
	Ref   artifact.Ref // the plan's manifest, as its commit returned it
	Users []contract.DesiredUser
}

// Result summarises one history run.
type Result struct {
	Rows int64 // rows in the published table (all versions)
	// AccessRows is the rows of access_history: what Highspot held.
	AccessRows int64
	Current    int // open rows (persons present in this run)
	Opened     int // rows opened by this run (joiners, movers, returners)
	Closed     int // rows closed by this run (movers and leavers)
	Folded     int // runs folded (1, or more with Rebuild)
	Ref        artifact.Ref
}

// Run publishes stage "history" for env.RunID: the previous run's published
// history (or, with Rebuild or when there is none, a fold over every earlier
// published transform) advanced by this run's persons and, when this run has
// a published plan, its desired_users. The run's transform must be published.
//
// The previous tables are streamed (read, advanced and written row by row,
// see fold); only this run's persons are held in memory, compacted.
func Run(ctx context.Context, env artifact.Env, opts Options) (Result, error) {
	st := env.Store
	if st == nil {
		return Result{}, errors.New("history: no store configured")
	}
	var (
		prevM  *artifact.Manifest // the previous history, streamed
		prev   []contract.IdentityHistory
		access []contract.IdentityHistory
		inputs []artifact.Ref
		res    Result
		runs   []string
	)
	if !opts.Rebuild {
		m, ref, err := artifact.LatestManifest(ctx, st, contract.History, env.RunID)
		switch {
		case err == nil:
			prevM = m
			inputs = append(inputs, ref)
			runs = []string{env.RunID}
		case errors.Is(err, artifact.ErrNotPublished):
			opts.Rebuild = true // first history: fold everything there is
		default:
			return Result{}, fmt.Errorf("history: find the previous history: %w", err)
		}
	}
	if opts.Rebuild {
		var err error
		runs, err = transformRuns(ctx, env)
		if err != nil {
			return Result{}, err
		}
	}
	if len(runs) == 0 || runs[len(runs)-1] != env.RunID {
		return Result{}, fmt.Errorf("history: run %s has no published transform; run `otds-highspot transform` first", env.RunID)
	}

	infos, err := artifact.ListRuns(ctx, st)
	if err != nil {
		return Result{}, fmt.Errorf("history: %w", err)
	}
	// A rebuild folds the earlier runs in memory; the last run is streamed.
	for _, runID := range runs[:len(runs)-1] {
		snaps, _, err := Snapshots(ctx, env, runID)
		if err != nil {
			return Result{}, err
		}
		at, ok := RunTime(runID)
		if !ok {
			return Result{}, fmt.Errorf("history: run id %s does not start with a date", runID)
		}
		personOf := make(map[string]string, len(snaps))
		for _, sn := range snaps {
			if _, dup := personOf[sn.Email]; !dup && sn.Email != "" {
				personOf[sn.Email] = sn.PersonID
			}
		}
		actual, _, hasPull, err := actualSnapshots(ctx, env, runID, infos, personOf)
		if err != nil {
			return Result{}, err
		}
		if hasPull {
			access = Next(access, actual, runID, at)
		}
		prev = Next(prev, snaps, runID, at)
		res.Folded++
	}

	at, ok := RunTime(env.RunID)
	if !ok {
		return Result{}, fmt.Errorf("history: run id %s does not start with a date", env.RunID)
	}
	// The pull and ledgers first, so that only the addresses Actual looks
	// up are mapped to persons (not every person's).
	ain := opts.Prepared.actualOf(env)
	if ain == nil {
		a, err := readActual(ctx, env, env.RunID, infos)
		if err != nil {
			return Result{}, err
		}
		ain = &a
	}
	var lookup map[string]struct{}
	if ain.ok {
		lookup = ain.emails()
	}
	cur, personOf, refs, err := currentOf(ctx, env, env.RunID, lookup, opts.Prepared, opts.Desired)
	if err != nil {
		return Result{}, err
	}
	lookup = nil
	inputs = append(inputs, refs...)
	var curAccess *current
	if ain.ok {
		actual := Actual(ain.users, ain.ledger, personOf)
		personOf, ain.users, ain.ledger = nil, nil, nil
		inputs = append(inputs, ain.refs...)
		curAccess = newCurrent()
		curAccess.people = make([]person, 0, len(actual))
		for _, s := range actual {
			if err := curAccess.addSnapshot(s); err != nil {
				return Result{}, err
			}
		}
		curAccess.sorted()
	}
	res.Folded++

	src := sources{identity: rowsOf(prev), access: rowsOf(access)}
	if prevM != nil {
		src = streamed(ctx, env, prevM)
	}
	res2, err := publish(ctx, env, src, cur, curAccess, at, inputs, res)
	if errors.Is(err, errUnsorted) {
		// Not written by this program: read it whole and sort it, as Next would.
		if prev, access, err = readPrevious(ctx, env, prevM); err != nil {
			return Result{}, err
		}
		res2, err = publish(ctx, env, sources{identity: rowsOf(prev), access: rowsOf(access)}, cur, curAccess, at, inputs, res)
	}
	return res2, err
}

// sources yields the previous tables' rows.
type sources struct {
	identity, access func(yield func(Row) error) error
}

// streamed reads the previous history m's tables as they are needed.
func streamed(ctx context.Context, env artifact.Env, m *artifact.Manifest) sources {
	read := func(spec contract.Spec) func(yield func(Row) error) error {
		return func(yield func(Row) error) error {
			if _, ok := m.Tables[spec.Name]; !ok {
				return nil
			}
			if err := artifact.ReadTable(ctx, env.Store, m, spec, yield, artifact.WithTempDir(env.TempDir)); err != nil {
				if errors.Is(err, errUnsorted) {
					return err
				}
				return fmt.Errorf("history: read the previous %s of run %s: %w", spec.Name, m.RunID, err)
			}
			return nil
		}
	}
	return sources{identity: read(contract.IdentityHistorySpec), access: read(contract.AccessHistorySpec)}
}

// readPrevious reads the previous history's tables whole, each sorted as
// Next sorts.
func readPrevious(ctx context.Context, env artifact.Env, m *artifact.Manifest) (identity, access []Row, err error) {
	identity, err = ReadTable(ctx, env.Store, m, env.TempDir)
	if err != nil {
		return nil, nil, fmt.Errorf("history: read the previous history of run %s: %w", m.RunID, err)
	}
	if _, ok := m.Tables[contract.AccessHistorySpec.Name]; ok {
		if access, err = artifact.ReadAll[Row](ctx, env.Store, m, contract.AccessHistorySpec, artifact.WithTempDir(env.TempDir)); err != nil {
			return nil, nil, fmt.Errorf("history: read the previous access_history of run %s: %w", m.RunID, err)
		}
	}
	sortRows(identity)
	sortRows(access)
	return identity, access, nil
}

// publish folds the run into the previous tables and publishes stage
// history. curAccess is nil when there is no pull yet (access_history is
// carried as it is).
func publish(ctx context.Context, env artifact.Env, src sources, cur, curAccess *current, at time.Time, inputs []artifact.Ref, res Result) (Result, error) {
	stage := artifact.NewStage(env, contract.History)
	defer stage.Abort()
	w, err := artifact.OpenTable[Row](stage, contract.IdentityHistorySpec)
	if err != nil {
		return Result{}, fmt.Errorf("history: %w", err)
	}
	n, err := fold(src.identity, cur, env.RunID, at, w.Write)
	if err != nil {
		return Result{}, wrapFold("identity_history", err)
	}
	if err := w.Close(); err != nil {
		return Result{}, fmt.Errorf("history: close identity_history: %w", err)
	}
	aw, err := artifact.OpenTable[Row](stage, contract.AccessHistorySpec)
	if err != nil {
		return Result{}, fmt.Errorf("history: %w", err)
	}
	if curAccess != nil {
		_, err = fold(src.access, curAccess, env.RunID, at, aw.Write)
	} else {
		err = src.access(aw.Write)
	}
	if err != nil {
		return Result{}, wrapFold("access_history", err)
	}
	if err := aw.Close(); err != nil {
		return Result{}, fmt.Errorf("history: close access_history: %w", err)
	}
	res.AccessRows = aw.Rows()
	res.Rows = w.Rows()
	res.Current, res.Opened, res.Closed = n.open, n.opened, n.closed
	for _, in := range inputs {
		stage.AddInput(in)
	}
	contract.PutSummary(stage.SetSummary, contract.HistorySummary{Rows: res.Rows, AccessRows: res.AccessRows,
		Current: res.Current, Opened: res.Opened, Closed: res.Closed, RunsFolded: res.Folded})
	ref, _, err := stage.Commit(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("history: %w", err)
	}
	res.Ref = ref
	return res, nil
}

func wrapFold(table string, err error) error {
	if errors.Is(err, errUnsorted) || strings.HasPrefix(err.Error(), "history:") {
		return err
	}
	return fmt.Errorf("history: write %s: %w", table, err)
}

// personAccess is the columns of persons the history tracks: the attributes
// and the directory groups (read only for runs without a plan).
type personAccess struct {
	PersonID     string   `parquet:"person_id"`
	PrimaryEmail string   `parquet:"primary_email"`
	Status       string   `parquet:"status"`
	Role         string   `parquet:"role"`
	Region       string   `parquet:"region"`
	BusinessUnit string   `parquet:"business_unit"`
	Territory    string   `parquet:"territory"`
	Title        string   `parquet:"title"`
	Department   string   `parquet:"department"`
	Company      string   `parquet:"company"`
	Country      string   `parquet:"country"`
	Groups       []string `parquet:"groups"`
}

// desiredAccess is the column of desired_users the history tracks.
type desiredAccess struct {
	PersonID string   `parquet:"person_id"`
	Groups   []string `parquet:"groups"`
}

// Prepared is a run's persons read for its history before the run's plan
// is known (Prepare): the part of Run that does not depend on the plan, so
// that it can be done while the plan is made. Use it once.
type Prepared struct {
	store string // the store's URL
	runID string
	tm    *artifact.Manifest
	tref  artifact.Ref
	cur   *current // persons by id, then row; repeated ids kept; access not set
	rows  int      // persons rows read
	noID  []noIDRow
	// manErr is a failure to read the transform's manifest (or it is not
	// published), readErr a failure to read its persons: Run reports them
	// where it would have met them reading the persons itself.
	manErr, readErr error
	// actual is the run's pull and ledgers (readActual) read ahead by a
	// Feeder, nil when they were not (Run then reads them).
	actual *actualInput
}

// noIDRow is a persons row without a person id (its address can still be
// the first one with it, see currentOf).
type noIDRow struct {
	row   int32
	email string
}

// Prepare reads env.RunID's persons as Run will need them, without their
// access (the groups come from the run's plan, which may not exist yet).
// Pass the result to Run in Options.Prepared once the plan is published or
// blocked. Errors are kept in the result and returned by Run.
func Prepare(ctx context.Context, env artifact.Env) *Prepared {
	st := env.Store
	pp := &Prepared{store: st.URL(""), runID: env.RunID}
	tm, tref, err := artifact.ReadManifest(ctx, st, env.RunID, contract.Transform)
	switch {
	case err != nil:
		pp.manErr = fmt.Errorf("history: read transform of run %s: %w", env.RunID, err)
		return pp
	case tm.Status != artifact.StatusPublished:
		pp.manErr = fmt.Errorf("history: transform of run %s is %s, not published", env.RunID, tm.Status)
		return pp
	}
	pp.tm, pp.tref = tm, tref
	pp.begin()
	err = artifact.ReadTable(ctx, st, tm, contract.PersonsSpec, func(p personAccess) error {
		pp.add(&p)
		return nil
	}, artifact.WithTempDir(env.TempDir), artifact.SkipColumns("groups"))
	if err != nil {
		pp.cur = nil
		pp.readErr = fmt.Errorf("history: read persons of run %s: %w", env.RunID, err)
		return pp
	}
	pp.cur.order()
	return pp
}

// begin readies pp for the rows of its transform's persons (add).
func (pp *Prepared) begin() {
	pp.cur = newCurrent()
	pp.cur.people = make([]person, 0, int(pp.tm.TableRows(contract.PersonsSpec.Name)))
	pp.rows = 0
}

// add takes the next persons row (in table order); its groups are not read.
func (pp *Prepared) add(p *personAccess) {
	row := pp.rows
	email := strings.ToLower(strings.TrimSpace(p.PrimaryEmail))
	if p.PersonID == "" && email != "" {
		pp.noID = append(pp.noID, noIDRow{row: int32(row), email: email})
	}
	vals := [nAttrs]string{p.Role, p.Region, p.BusinessUnit, p.Territory, p.Title, p.Department, p.Company, p.Country}
	pp.cur.addRow(p.PersonID, email, p.Status, &vals, row)
	pp.rows++
}

// personGroups is the groups column of persons (for runs without a plan).
type personGroups struct {
	Groups []string `parquet:"groups"`
}

// actualOf takes the pull and ledgers read ahead for env's run (nil when
// there are none: pp is nil, of another run or store, or used).
func (pp *Prepared) actualOf(env artifact.Env) *actualInput {
	if pp == nil || pp.store != env.Store.URL("") || pp.runID != env.RunID {
		return nil
	}
	a := pp.actual
	pp.actual = nil
	return a
}

// currentOf reads runID's persons (and, when the run's plan is published,
// its desired groups) into a current, as Snapshots and FromPerson would
// build them, without holding the persons. personOf maps each address in
// lookup that a person has to that person's id (the first person with it).
// pp, when it is runID's persons read by Prepare, spares reading them again;
// pd, when it is the published plan's desired_users, spares reading those.
func currentOf(ctx context.Context, env artifact.Env, runID string, lookup map[string]struct{}, pp *Prepared, pd *PlanDesired) (*current, map[string]string, []artifact.Ref, error) {
	st := env.Store
	if pp == nil || pp.store != st.URL("") || pp.runID != runID || (pp.cur == nil && pp.manErr == nil && pp.readErr == nil) {
		e := env
		e.RunID = runID
		pp = Prepare(ctx, e)
	}
	if pp.manErr != nil {
		return nil, nil, nil, pp.manErr
	}
	refs := []artifact.Ref{pp.tref}
	planned := false
	var desired map[string]uint32
	pm, pref, err := artifact.ReadManifest(ctx, st, runID, contract.Plan)
	switch {
	case err == nil && pm.Status == artifact.StatusPublished:
		if _, ok := pm.Tables[contract.DesiredUsersSpec.Name]; ok {
			planned = true
			refs = append(refs, pref)
			desired = make(map[string]uint32, pm.TableRows(contract.DesiredUsersSpec.Name))
			sets := pp.cur // the groups are interned with the persons' values
			if sets == nil {
				sets = newCurrent()
			}
			add := func(id string, groups []string) {
				if _, dup := desired[id]; !dup {
					desired[strings.Clone(id)] = sets.groupSet(groups)
				}
			}
			if pd != nil && pd.Ref.Key == pref.Key && pd.Ref.SHA256 == pref.SHA256 && int64(len(pd.Users)) == pm.TableRows(contract.DesiredUsersSpec.Name) {
				for i := range pd.Users {
					add(pd.Users[i].PersonID, pd.Users[i].Groups)
				}
			} else {
				err := artifact.ReadTable(ctx, st, pm, contract.DesiredUsersSpec, func(d desiredAccess) error {
					add(d.PersonID, d.Groups)
					return nil
				}, artifact.WithTempDir(env.TempDir))
				if err != nil {
					return nil, nil, nil, fmt.Errorf("history: read desired_users of run %s: %w", runID, err)
				}
			}
		}
	case err == nil, errors.Is(err, artifact.ErrNotPublished):
		// No published plan (blocked or never planned): directory access.
	default:
		return nil, nil, nil, fmt.Errorf("history: read plan of run %s: %w", runID, err)
	}
	if pp.readErr != nil {
		return nil, nil, nil, pp.readErr
	}
	cur := pp.cur
	pp.cur = nil // used once: complete changes it
	// personOf: the first persons row with each looked-up address.
	personOf := make(map[string]string, len(lookup))
	if len(lookup) > 0 {
		first := make(map[string]int32, len(lookup))
		see := func(email, id string, row int32) {
			if _, want := lookup[email]; !want || email == "" {
				return
			}
			if r, seen := first[email]; !seen || row < r {
				first[email], personOf[email] = row, id
			}
		}
		for i := range cur.people {
			see(cur.people[i].email, cur.people[i].id, cur.people[i].seq)
		}
		for _, n := range pp.noID {
			see(n.email, "", n.row)
		}
	}
	if planned {
		// the plan's groups, not the directory's: 0 (no groups) when the plan
		// left the person out
		cur.complete(AccessPlan, func(p *person) uint32 { return desired[p.id] })
		return cur, personOf, refs, nil
	}
	// The directory's groups, by persons row.
	groups := make([]uint32, 0, pp.rows)
	err = artifact.ReadTable(ctx, st, pp.tm, contract.PersonsSpec, func(g personGroups) error {
		groups = append(groups, cur.groupSet(g.Groups))
		return nil
	}, artifact.WithTempDir(env.TempDir))
	if err == nil && len(groups) != pp.rows {
		err = fmt.Errorf("%d rows, %d when read before", len(groups), pp.rows)
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("history: read persons of run %s: %w", runID, err)
	}
	cur.complete(AccessDirectory, func(p *person) uint32 { return groups[p.seq] })
	return cur, personOf, refs, nil
}

// ReadTable reads the identity_history table a history manifest lists.
func ReadTable(ctx context.Context, st store.Store, m *artifact.Manifest, tempDir string) ([]contract.IdentityHistory, error) {
	var out []contract.IdentityHistory
	err := artifact.ReadTable(ctx, st, m, contract.IdentityHistorySpec, func(r Row) error {
		out = append(out, r)
		return nil
	}, artifact.WithTempDir(tempDir))
	return out, err
}

// Snapshots reads the tracked state of every person in runID: persons from
// the run's transform and, when the run's plan is published, desired_users.
// It returns the manifests it read.
func Snapshots(ctx context.Context, env artifact.Env, runID string) ([]Snapshot, []artifact.Ref, error) {
	st := env.Store
	tm, tref, err := artifact.ReadManifest(ctx, st, runID, contract.Transform)
	if err != nil {
		return nil, nil, fmt.Errorf("history: read transform of run %s: %w", runID, err)
	}
	if tm.Status != artifact.StatusPublished {
		return nil, nil, fmt.Errorf("history: transform of run %s is %s, not published", runID, tm.Status)
	}
	refs := []artifact.Ref{tref}
	persons, err := artifact.ReadAll[contract.Person](ctx, st, tm, contract.PersonsSpec, artifact.WithTempDir(env.TempDir))
	if err != nil {
		return nil, nil, fmt.Errorf("history: read persons of run %s: %w", runID, err)
	}
	planned := false
	desired := map[string]*contract.DesiredUser{}
	pm, pref, err := artifact.ReadManifest(ctx, st, runID, contract.Plan)
	switch {
	case err == nil && pm.Status == artifact.StatusPublished:
		if _, ok := pm.Tables[contract.DesiredUsersSpec.Name]; ok {
			planned = true
			refs = append(refs, pref)
			err := artifact.ReadTable(ctx, st, pm, contract.DesiredUsersSpec, func(d contract.DesiredUser) error {
				if _, dup := desired[d.PersonID]; !dup {
					desired[d.PersonID] = &d
				}
				return nil
			}, artifact.WithTempDir(env.TempDir))
			if err != nil {
				return nil, nil, fmt.Errorf("history: read desired_users of run %s: %w", runID, err)
			}
		}
	case err == nil, errors.Is(err, artifact.ErrNotPublished):
		// No published plan (blocked or never planned): directory access.
	default:
		return nil, nil, fmt.Errorf("history: read plan of run %s: %w", runID, err)
	}
	snaps := make([]Snapshot, 0, len(persons))
	for _, p := range persons {
		snaps = append(snaps, FromPerson(p, desired[p.PersonID], planned))
	}
	return snaps, refs, nil
}

// transformRuns lists the runs up to env.RunID whose transform is published,
// oldest first.
func transformRuns(ctx context.Context, env artifact.Env) ([]string, error) {
	infos, err := artifact.ListRuns(ctx, env.Store)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	var runs []string
	for _, ri := range infos {
		if ri.RunID > env.RunID {
			continue
		}
		for _, s := range ri.Stages {
			if s.Stage == contract.Transform && s.Status == artifact.StatusPublished {
				runs = append(runs, ri.RunID)
				break
			}
		}
	}
	sort.Strings(runs)
	return runs, nil
}
