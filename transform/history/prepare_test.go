package history

import (
	"context"
	"fmt"
	"math/rand"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/store"
)

// writeStage publishes one table of T as stage s of env's run.
func writeStage[T any](t *testing.T, env artifact.Env, s contract.Stage, spec contract.Spec, rows []T) artifact.Ref {
	t.Helper()
	stage := artifact.NewStage(env, s)
	w, err := artifact.OpenTable[T](stage, spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	ref, _, err := stage.Commit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// genPersons are persons with repeated and missing ids, addresses repeated
// in other case and spacing, and groups unsorted, repeated or blank.
func genPersons(rng *rand.Rand, n int) []contract.Person {
	vals := []string{"", " ", "amer", " emea", "apac ", "x"}
	groups := []string{"", "t0:Sales", "t0:Sales", "t1:EMEA", "b", "a"}
	pick := func() string { return vals[rng.Intn(len(vals))] }
	var out []contract.Person
	for i := 0; i < n; i++ {
		p := contract.Person{PersonID: fmt.Sprintf("p%03d", rng.Intn(n)), PrimaryEmail: fmt.Sprintf("u%d@x", rng.Intn(n/2)),
			Status: []string{"enabled", "disabled", ""}[rng.Intn(3)], Role: pick(), Region: pick(), BusinessUnit: pick(),
			Territory: pick(), Title: pick(), Department: pick(), Company: pick(), Country: pick()}
		switch rng.Intn(8) {
		case 0:
			p.PersonID = ""
		case 1:
			p.PrimaryEmail = " " + strings.ToUpper(p.PrimaryEmail)
		case 2:
			p.PrimaryEmail = ""
		}
		for j := rng.Intn(4); j > 0; j-- {
			p.Groups = append(p.Groups, groups[rng.Intn(len(groups))])
		}
		out = append(out, p)
	}
	return out
}

// TestCurrentOfIsSnapshots: the persons read ahead of the plan (Prepare),
// or fed from the plan's read of them (Feeder), and completed once the plan
// is known give the rows Snapshots and Next give, with and without a published plan, and map each looked-up address
// to the first person (by row) who has it.
func TestCurrentOfIsSnapshots(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	for seed := int64(1); seed <= 13; seed++ {
		n := 60
		if seed == 13 {
			n = 10000 // hashed on several goroutines
		}
		for _, planned := range []bool{false, true} {
			t.Run(fmt.Sprintf("seed %d planned %v persons %d", seed, planned, n), func(t *testing.T) {
				rng := rand.New(rand.NewSource(seed))
				st, err := store.NewFileStore(t.TempDir())
				if err != nil {
					t.Fatal(err)
				}
				const runID = "20260301T020000Z-aaaa"
				env := artifact.Env{Store: st, RunID: runID, TempDir: t.TempDir()}
				persons := genPersons(rng, n)
				writeStage(t, env, contract.Transform, contract.PersonsSpec, persons)
				if planned {
					var desired []contract.DesiredUser
					for _, p := range persons {
						if p.PersonID != "" && rng.Intn(4) != 0 {
							desired = append(desired, contract.DesiredUser{PersonID: p.PersonID, Groups: []string{"Z", "Sales", "", "Sales"}[rng.Intn(3):]})
						}
					}
					writeStage(t, env, contract.Plan, contract.DesiredUsersSpec, desired)
				}
				lookup := map[string]struct{}{}
				for i := 0; i < n/3; i++ {
					lookup[fmt.Sprintf("u%d@x", rng.Intn(2*n/3))] = struct{}{}
				}
				wantOf := map[string]string{}
				for _, p := range persons {
					email := strings.ToLower(strings.TrimSpace(p.PrimaryEmail))
					if _, ok := lookup[email]; ok && email != "" {
						if _, dup := wantOf[email]; !dup {
							wantOf[email] = p.PersonID
						}
					}
				}
				snaps, wantRefs, err := Snapshots(ctx, env, runID)
				if err != nil {
					t.Fatal(err)
				}
				want := Next(nil, snaps, runID, at)
				fed := feedAll(t, env, 7)
				if fed == nil {
					t.Fatal("a feed of every persons row gave no Prepared")
				}
				for _, pp := range []*Prepared{nil, Prepare(ctx, env), fed} {
					cur, personOf, refs, err := currentOf(ctx, env, runID, lookup, pp, nil)
					if err != nil {
						t.Fatal(err)
					}
					var got []Row
					if _, err := fold(rowsOf(nil), cur, runID, at, func(r Row) error { got = append(got, r); return nil }); err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("prepared %v: got %d rows, want %d (Next over Snapshots); first difference:\n%s", pp != nil, len(got), len(want), firstDiff(got, want))
					}
					if !reflect.DeepEqual(personOf, wantOf) {
						t.Errorf("prepared %v: personOf got %v, want %v", pp != nil, personOf, wantOf)
					}
					if !reflect.DeepEqual(refs, wantRefs) {
						t.Errorf("prepared %v: inputs got %v, want %v", pp != nil, refs, wantRefs)
					}
				}
			})
		}
	}
}

// TestPreparedErrorsAreRunsErrors: what Prepare could not read is the
// error Run returns, at the point Run would have met it; a Prepared of
// another run, or one already used, is not used.
func TestPreparedErrorsAreRunsErrors(t *testing.T) {
	ctx := context.Background()
	st, err := store.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r1, r2 := "20260301T020000Z-aaaa", "20260302T020000Z-bbbb"
	env1 := artifact.Env{Store: st, RunID: r1, TempDir: t.TempDir()}
	env2 := artifact.Env{Store: st, RunID: r2, TempDir: t.TempDir()}
	ann := contract.Person{PersonID: "p-ann", PrimaryEmail: "ann@x.com", Status: "enabled", Region: "emea", Groups: []string{"t0:sales"}}

	// Read ahead before run 2 has a transform: the error Run gives without it.
	early := Prepare(ctx, env2)
	writeStage(t, env1, contract.Transform, contract.PersonsSpec, []contract.Person{ann})
	if _, err := Run(ctx, env1, Options{}); err != nil {
		t.Fatal(err)
	}
	_, want := Run(ctx, env2, Options{})
	_, got := Run(ctx, env2, Options{Prepared: early})
	if want == nil || got == nil || got.Error() != want.Error() {
		t.Errorf("run without a transform: got %v, want %v", got, want)
	}

	// A Prepared of run 1 given to run 2 is ignored; a used one is read again.
	writeStage(t, env2, contract.Transform, contract.PersonsSpec, []contract.Person{ann, {PersonID: "p-bob", PrimaryEmail: "bob@x.com"}})
	other := Prepare(ctx, env1)
	res, err := Run(ctx, env2, Options{Prepared: other})
	if err != nil {
		t.Fatal(err)
	}
	if res.Current != 2 {
		t.Errorf("run 2 given run 1's persons: got %d current persons, want 2 (run 2's)", res.Current)
	}
	pp := Prepare(ctx, env2)
	if _, _, _, err := currentOf(ctx, env2, r2, nil, pp, nil); err != nil {
		t.Fatal(err)
	}
	cur, _, _, err := currentOf(ctx, env2, r2, nil, pp, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cur.people) != 2 {
		t.Errorf("a used Prepared: got %d persons, want 2 (read again)", len(cur.people))
	}

	// A cancelled read ahead is the cancellation, reported as a read of the persons.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = Run(ctx, env2, Options{Prepared: Prepare(cctx, env2)})
	if err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("cancelled read ahead: got %v, want the cancellation", err)
	}
}

// feedAll feeds env's persons to a Feeder as the plan reads them (every
// column but the provenance ones, in batches of batch rows, the batch
// reused) and returns its Prepared.
func feedAll(t *testing.T, env artifact.Env, batch int) *Prepared {
	t.Helper()
	ctx := context.Background()
	tm, _, err := artifact.ReadManifest(ctx, env.Store, env.RunID, contract.Transform)
	if err != nil {
		t.Fatal(err)
	}
	f := Feed(ctx, env)
	buf := make([]contract.Person, 0, batch)
	err = artifact.ReadTable(ctx, env.Store, tm, contract.PersonsSpec, func(p contract.Person) error {
		if buf = append(buf, p); len(buf) == batch {
			f.Add(buf)
			clear(buf)
			buf = buf[:0]
		}
		return nil
	}, artifact.SkipColumns("account_keys", "source_of", "modified_at"))
	if err != nil {
		f.Stop()
		t.Fatal(err)
	}
	if len(buf) > 0 {
		f.Add(buf)
	}
	return f.Prepared()
}

// TestFeederGivesNothingWhenIncomplete: a feed that did not see every
// persons row (none, some, or of a run whose transform is not published)
// gives no Prepared, so that Run reads the persons itself; an abandoned feed
// gives none either.
func TestFeederGivesNothingWhenIncomplete(t *testing.T) {
	ctx := context.Background()
	st, err := store.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	env := artifact.Env{Store: st, RunID: "20260301T020000Z-aaaa", TempDir: t.TempDir()}
	persons := genPersons(rand.New(rand.NewSource(3)), 40)
	writeStage(t, env, contract.Transform, contract.PersonsSpec, persons)
	noTransform := env
	noTransform.RunID = "20260302T020000Z-bbbb"
	cases := []struct {
		name string
		env  artifact.Env
		feed [][]contract.Person
		stop bool
	}{
		{name: "nothing fed", env: env},
		{name: "some rows fed", env: env, feed: [][]contract.Person{persons[:10], persons[10:39]}},
		{name: "a row too many", env: env, feed: [][]contract.Person{persons, persons[:1]}},
		{name: "no published transform", env: noTransform, feed: [][]contract.Person{persons}},
		{name: "every row fed, then abandoned", env: env, feed: [][]contract.Person{persons}, stop: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := Feed(ctx, c.env)
			for _, b := range c.feed {
				f.Add(b)
			}
			if c.stop {
				f.Stop()
			}
			if got := f.Prepared(); got != nil {
				t.Errorf("got a Prepared of %d rows, want none", got.rows)
			}
		})
	}
	// and the complete feed of the same run does give one
	f := Feed(ctx, env)
	f.Add(persons)
	if f.Prepared() == nil {
		t.Error("every row fed: got no Prepared, want one")
	}
}

// TestRunWithAFedPrepared: Run given the persons fed from another read (and
// the pull and ledgers the feeder read once the last row was in) and the
// plan's desired_users as the plan held them publishes
// the tables and inputs Run publishes reading them itself, with a plan and
// with an earlier run's pull and apply ledger.
func TestRunWithAFedPrepared(t *testing.T) {
	ctx := context.Background()
	r1, r2 := "20260301T020000Z-aaaa", "20260302T020000Z-bbbb"
	rng := rand.New(rand.NewSource(5))
	persons1, persons2 := genPersons(rng, 300), genPersons(rng, 300)
	var users []contract.HighspotUser
	var ledger []contract.LoadResult
	var desired []contract.DesiredUser
	for i, p := range persons2 {
		email := strings.ToLower(strings.TrimSpace(p.PrimaryEmail))
		if i%3 == 0 && email != "" {
			users = append(users, contract.HighspotUser{Email: email, GroupNames: []string{"Sales"}, Suspended: i%9 == 0})
		}
		if i%7 == 0 && email != "" {
			ledger = append(ledger, contract.LoadResult{Op: contract.OpAddMember, Email: email, Group: "EMEA", Status: contract.StatusApplied,
				At: time.Date(2026, 3, 1, 3, 0, i, 0, time.UTC)})
		}
		if p.PersonID != "" && i%4 != 0 {
			desired = append(desired, contract.DesiredUser{PersonID: p.PersonID, Groups: []string{"Sales", "EMEA"}[:1+i%2]})
		}
	}
	type published struct {
		res              Result
		identity, access []Row
		inputs           []string
	}
	runBoth := func(t *testing.T, fed bool) published {
		st, err := store.NewFileStore(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		env1 := artifact.Env{Store: st, RunID: r1, TempDir: t.TempDir()}
		env2 := artifact.Env{Store: st, RunID: r2, TempDir: t.TempDir()}
		writeStage(t, env1, contract.Transform, contract.PersonsSpec, persons1)
		writeStage(t, env1, contract.Pull, contract.HighspotUsersSpec, users)
		writeStage(t, env1, contract.Apply, contract.LoadResultsSpec, ledger)
		if _, err := Run(ctx, env1, Options{}); err != nil {
			t.Fatal(err)
		}
		writeStage(t, env2, contract.Transform, contract.PersonsSpec, persons2)
		var opts Options
		if fed {
			if opts.Prepared = feedAll(t, env2, 64); opts.Prepared == nil || opts.Prepared.actual == nil || !opts.Prepared.actual.ok {
				t.Fatalf("the feed gave %+v, want the persons and the pull read ahead", opts.Prepared)
			}
		}
		pref := writeStage(t, env2, contract.Plan, contract.DesiredUsersSpec, desired) // the plan, published after the feed
		if fed {
			opts.Desired = &PlanDesired{Ref: pref, Users: desired}
		}
		res, err := Run(ctx, env2, opts)
		if err != nil {
			t.Fatal(err)
		}
		res.Ref = artifact.Ref{}
		m, _, err := artifact.ReadManifest(ctx, st, r2, contract.History)
		if err != nil {
			t.Fatal(err)
		}
		out := published{res: res}
		if out.identity, err = ReadTable(ctx, st, m, ""); err != nil {
			t.Fatal(err)
		}
		if out.access, err = artifact.ReadAll[Row](ctx, st, m, contract.AccessHistorySpec); err != nil {
			t.Fatal(err)
		}
		for _, in := range m.Inputs {
			out.inputs = append(out.inputs, fmt.Sprintf("%s %s", in.RunID, in.Stage))
		}
		return out
	}
	want, got := runBoth(t, false), runBoth(t, true)
	if got.res != want.res {
		t.Errorf("result: got %+v, want %+v", got.res, want.res)
	}
	if len(want.access) == 0 || len(want.identity) == 0 {
		t.Fatalf("the run published %d identity and %d access rows: the test no longer covers both", len(want.identity), len(want.access))
	}
	if !reflect.DeepEqual(got.identity, want.identity) {
		t.Errorf("identity_history: got %d rows, want %d; first difference:\n%s", len(got.identity), len(want.identity), firstDiff(got.identity, want.identity))
	}
	if !reflect.DeepEqual(got.access, want.access) {
		t.Errorf("access_history: got %d rows, want %d; first difference:\n%s", len(got.access), len(want.access), firstDiff(got.access, want.access))
	}
	if !reflect.DeepEqual(got.inputs, want.inputs) {
		t.Errorf("inputs: got %q, want %q", got.inputs, want.inputs)
	}
}

// TestCurrentOfTakesThePlansDesired: the desired_users the plan holds are
// used only for the plan manifest they were committed as (same key and
// sha256, as many rows); otherwise the published table is read.
func TestCurrentOfTakesThePlansDesired(t *testing.T) {
	ctx := context.Background()
	st, err := store.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const runID = "20260301T020000Z-aaaa"
	env := artifact.Env{Store: st, RunID: runID, TempDir: t.TempDir()}
	writeStage(t, env, contract.Transform, contract.PersonsSpec, []contract.Person{{PersonID: "p-ann", PrimaryEmail: "ann@x.com"}})
	pref := writeStage(t, env, contract.Plan, contract.DesiredUsersSpec, []contract.DesiredUser{{PersonID: "p-ann", Groups: []string{"Published"}}})
	held := []contract.DesiredUser{{PersonID: "p-ann", Groups: []string{"Held"}}} // differs only so that the test sees which was used
	other := pref
	other.SHA256 = strings.Repeat("0", 64)
	cases := []struct {
		name string
		pd   *PlanDesired
		want string
	}{
		{"none held", nil, "Published"},
		{"held for that manifest", &PlanDesired{Ref: pref, Users: held}, "Held"},
		{"held for another manifest", &PlanDesired{Ref: other, Users: held}, "Published"},
		{"held with another row count", &PlanDesired{Ref: pref, Users: append(held, held...)}, "Published"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cur, _, _, err := currentOf(ctx, env, runID, nil, nil, c.pd)
			if err != nil {
				t.Fatal(err)
			}
			if len(cur.people) != 1 {
				t.Fatalf("got %d persons, want 1", len(cur.people))
			}
			if got := cur.sets[cur.people[0].groups]; !slices.Equal(got, []string{c.want}) {
				t.Errorf("ann's groups: got %q, want [%s]", got, c.want)
			}
		})
	}
}
