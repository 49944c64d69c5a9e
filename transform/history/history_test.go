package history_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/store"
	"github.com/otds-highspot/otds-highspot/transform/history"
)

func snap(id, email, region string, groups ...string) history.Snapshot {
	return history.Snapshot{PersonID: id, Email: email, Status: "enabled",
		Attributes: map[string]string{"region": region, "access_source": "plan"}, Groups: groups}
}

var (
	day1 = time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	day2 = time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)
	day3 = time.Date(2026, 3, 3, 2, 0, 0, 0, time.UTC)
)

// key renders a history row for comparisons.
func key(r contract.IdentityHistory) string {
	to := "open"
	if r.ValidTo != nil {
		to = r.ValidTo.Format("01-02")
	}
	return r.PersonID + " " + r.Attributes["region"] + " " + r.ValidFrom.Format("01-02") + ".." + to + " " + r.OpenedRunID
}

func keys(h []contract.IdentityHistory) []string {
	out := make([]string, len(h))
	for i, r := range h {
		out[i] = key(r)
	}
	return out
}

func TestNextJoinerMoverLeaver(t *testing.T) {
	h1 := history.Next(nil, []history.Snapshot{
		snap("p-ann", "ann@x.com", "emea", "Sales"),
		snap("p-bob", "bob@x.com", "amer", "Sales"),
		snap("p-cat", "cat@x.com", "apac", "Eng"),
	}, "r1", day1)
	// Day 2: ann unchanged (groups listed in another order, duplicated),
	// bob moves region, cat leaves, dan joins.
	h2 := history.Next(h1, []history.Snapshot{
		snap("p-ann", "ann@x.com", "emea", "Sales", "Sales"),
		snap("p-bob", "bob@x.com", "emea", "Sales"),
		snap("p-dan", "dan@x.com", "amer", "Sales"),
	}, "r2", day2)
	// Day 3: cat returns, bob unchanged.
	run3 := []history.Snapshot{
		snap("p-ann", "ann@x.com", "emea", "Sales"),
		snap("p-bob", "bob@x.com", "emea", "Sales"),
		snap("p-cat", "cat@x.com", "apac", "Eng"),
		snap("p-dan", "dan@x.com", "amer", "Sales"),
	}
	h3 := history.Next(h2, run3, "r3", day3)

	tests := []struct {
		name string
		got  []contract.IdentityHistory
		want []string
	}{
		{"run 1", h1, []string{"p-ann emea 03-01..open r1", "p-bob amer 03-01..open r1", "p-cat apac 03-01..open r1"}},
		{"run 2", h2, []string{
			"p-ann emea 03-01..open r1",
			"p-bob amer 03-01..03-02 r1", "p-bob emea 03-02..open r2",
			"p-cat apac 03-01..03-02 r1",
			"p-dan amer 03-02..open r2"}},
		{"run 3", h3, []string{
			"p-ann emea 03-01..open r1",
			"p-bob amer 03-01..03-02 r1", "p-bob emea 03-02..open r2",
			"p-cat apac 03-01..03-02 r1", "p-cat apac 03-03..open r3",
			"p-dan amer 03-02..open r2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := keys(tt.got); !slices.Equal(got, tt.want) {
				t.Errorf("got\n  %q\nwant\n  %q", got, tt.want)
			}
		})
	}

	// Folding the same run again changes nothing.
	again := history.Next(h3, run3, "r3", day3)
	if got, want := keys(again), keys(h3); !slices.Equal(got, want) {
		t.Errorf("refold: got %q, want %q", got, want)
	}

	on := func(tm time.Time) []string { return keys(history.AccessOn(h3, tm)) }
	accessTests := []struct {
		at   time.Time
		want []string
	}{
		{day1.Add(time.Hour), []string{"p-ann emea 03-01..open r1", "p-bob amer 03-01..03-02 r1", "p-cat apac 03-01..03-02 r1"}},
		{day2, []string{"p-ann emea 03-01..open r1", "p-bob emea 03-02..open r2", "p-dan amer 03-02..open r2"}},
		{day1.Add(-time.Hour), nil},
	}
	for _, tt := range accessTests {
		if got := on(tt.at); !slices.Equal(got, tt.want) {
			t.Errorf("access on %s: got %q, want %q", tt.at, got, tt.want)
		}
	}
}

func TestHashIgnoresOrderAndEmpties(t *testing.T) {
	a := snap("p", "a@x.com", "emea", "B", "A")
	b := snap("p", "a@x.com", "emea", "A", "B", "A", "")
	b.Attributes["title"] = " "
	if history.Hash(a) != history.Hash(b) {
		t.Errorf("hash differs for equal states")
	}
	c := snap("p", "a@x.com", "emea", "A")
	if history.Hash(a) == history.Hash(c) {
		t.Errorf("hash equal for different groups")
	}
	// Length prefixes: moving a character between fields changes the hash.
	d := history.Snapshot{PersonID: "p", Email: "ab", Status: "c"}
	e := history.Snapshot{PersonID: "p", Email: "a", Status: "bc"}
	if history.Hash(d) == history.Hash(e) {
		t.Errorf("hash is ambiguous across field boundaries")
	}
}

func TestFromPerson(t *testing.T) {
	p := contract.Person{PersonID: "p1", PrimaryEmail: " Ann@X.com ", Status: "enabled", Region: "emea", Groups: []string{"acme:eng"}}
	tests := []struct {
		name       string
		desired    *contract.DesiredUser
		planned    bool
		wantGroups []string
		wantSource string
	}{
		{"no plan: directory groups", nil, false, []string{"acme:eng"}, history.AccessDirectory},
		{"plan, in scope", &contract.DesiredUser{Groups: []string{"Sales EMEA"}}, true, []string{"Sales EMEA"}, history.AccessPlan},
		{"plan, out of scope", nil, true, nil, history.AccessPlan},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := history.FromPerson(p, tt.desired, tt.planned)
			if !slices.Equal(s.Groups, tt.wantGroups) || s.Attributes["access_source"] != tt.wantSource || s.Email != "ann@x.com" {
				t.Errorf("got groups %q source %q email %q, want %q %q ann@x.com", s.Groups, s.Attributes["access_source"], s.Email, tt.wantGroups, tt.wantSource)
			}
		})
	}
}

func TestRunTime(t *testing.T) {
	tests := []struct {
		id   string
		want time.Time
		ok   bool
	}{
		{"20260301T020000Z-ab12", day1, true},
		{"20260301-demo", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), true},
		{"x", time.Time{}, false},
	}
	for _, tt := range tests {
		got, ok := history.RunTime(tt.id)
		if !got.Equal(tt.want) || ok != tt.ok {
			t.Errorf("RunTime(%q) = %v, %v; want %v, %v", tt.id, got, ok, tt.want, tt.ok)
		}
	}
}

// publish writes a transform (persons) and optionally a plan (desired_users) for a run.
func publish(t *testing.T, st store.Store, runID string, persons []contract.Person, desired []contract.DesiredUser) {
	t.Helper()
	ctx := context.Background()
	env := artifact.Env{Store: st, RunID: runID, TempDir: t.TempDir()}
	s := artifact.NewStage(env, "transform")
	w, err := artifact.OpenTable[contract.Person](s, contract.PersonsSpec)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range persons {
		if err := w.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if desired == nil {
		return
	}
	s = artifact.NewStage(env, "plan")
	dw, err := artifact.OpenTable[contract.DesiredUser](s, contract.DesiredUsersSpec)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range desired {
		if err := dw.Write(d); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestRunStage(t *testing.T) {
	ctx := context.Background()
	st, err := store.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ann := contract.Person{PersonID: "p-ann", PrimaryEmail: "ann@x.com", Status: "enabled", Region: "emea", Groups: []string{"acme:sales"}}
	bob := contract.Person{PersonID: "p-bob", PrimaryEmail: "bob@x.com", Status: "enabled", Region: "amer", Groups: []string{"acme:sales"}}
	r1, r2, r3 := "20260301T020000Z-aaaa", "20260302T020000Z-bbbb", "20260303T020000Z-cccc"
	desired := []contract.DesiredUser{{PersonID: "p-ann", Groups: []string{"Sales"}}, {PersonID: "p-bob", Groups: []string{"Sales"}}}
	publish(t, st, r1, []contract.Person{ann, bob}, desired)
	// Run 2: bob moves to emea (and gets another Highspot group).
	bob2 := bob
	bob2.Region = "emea"
	publish(t, st, r2, []contract.Person{ann, bob2}, []contract.DesiredUser{desired[0], {PersonID: "p-bob", Groups: []string{"Sales", "Sales EMEA"}}})
	// Run 3: ann leaves; no plan this time (directory access for bob).
	publish(t, st, r3, []contract.Person{bob2}, nil)

	// Run 2 has no earlier history: it folds runs 1 and 2.
	res2, err := history.Run(ctx, artifact.Env{Store: st, RunID: r2, TempDir: t.TempDir()}, history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res2.Folded != 2 || res2.Rows != 3 || res2.Current != 2 || res2.Opened != 1 || res2.Closed != 1 {
		t.Errorf("run 2: got %+v, want folded 2, rows 3, current 2, opened 1, closed 1", res2)
	}
	res3, err := history.Run(ctx, artifact.Env{Store: st, RunID: r3, TempDir: t.TempDir()}, history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res3.Folded != 1 || res3.Current != 1 || res3.Closed != 2 || res3.Opened != 1 {
		t.Errorf("run 3: got %+v, want folded 1, current 1, closed 2 (ann left, bob's access source changed), opened 1", res3)
	}
	m, _, err := artifact.ReadManifest(ctx, st, r3, contract.History)
	if err != nil {
		t.Fatal(err)
	}
	got, err := history.ReadTable(ctx, st, m, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"p-ann emea 03-01..03-03 " + r1,
		"p-bob amer 03-01..03-02 " + r1,
		"p-bob emea 03-02..03-03 " + r2,
		"p-bob emea 03-03..open " + r3,
	}
	if g := keys(got); !slices.Equal(g, want) {
		t.Errorf("published history: got\n  %q\nwant\n  %q", g, want)
	}
	if g, w := got[2].Groups, []string{"Sales", "Sales EMEA"}; !slices.Equal(g, w) {
		t.Errorf("bob's access in run 2: got %q, want %q", g, w)
	}
	if g, w := got[3].Groups, []string{"acme:sales"}; !slices.Equal(g, w) {
		t.Errorf("bob's access in run 3 (no plan): got %q, want %q", g, w)
	}
	// A rebuild from the snapshots alone (no earlier history) gives the same table.
	st2, err := store.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	publish(t, st2, r1, []contract.Person{ann, bob}, desired)
	publish(t, st2, r2, []contract.Person{ann, bob2}, []contract.DesiredUser{desired[0], {PersonID: "p-bob", Groups: []string{"Sales", "Sales EMEA"}}})
	publish(t, st2, r3, []contract.Person{bob2}, nil)
	rb, err := history.Run(ctx, artifact.Env{Store: st2, RunID: r3, TempDir: t.TempDir()}, history.Options{Rebuild: true})
	if err != nil {
		t.Fatal(err)
	}
	m2, _, err := artifact.ReadManifest(ctx, st2, r3, contract.History)
	if err != nil {
		t.Fatal(err)
	}
	rebuilt, err := history.ReadTable(ctx, st2, m2, "")
	if err != nil {
		t.Fatal(err)
	}
	if g := keys(rebuilt); rb.Folded != 3 || !slices.Equal(g, want) {
		t.Errorf("rebuild: folded %d, got\n  %q\nwant 3 runs and\n  %q", rb.Folded, g, want)
	}
	// Without a transform the stage refuses.
	if _, err := history.Run(ctx, artifact.Env{Store: st, RunID: "20260304T020000Z-dddd", TempDir: t.TempDir()}, history.Options{}); err == nil {
		t.Errorf("history without a transform: got no error")
	}
}

// TestRunReadsAnUnsortedHistory: a previous identity_history not sorted by
// person (not written by this program) is read whole and sorted, and the
// run folds into it as Next would.
func TestRunReadsAnUnsortedHistory(t *testing.T) {
	ctx := context.Background()
	st, err := store.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ann := contract.Person{PersonID: "p-ann", PrimaryEmail: "ann@x.com", Status: "enabled", Region: "emea"}
	bob := contract.Person{PersonID: "p-bob", PrimaryEmail: "bob@x.com", Status: "enabled", Region: "amer"}
	r1, r2 := "20260301T020000Z-aaaa", "20260302T020000Z-bbbb"
	publish(t, st, r1, []contract.Person{ann, bob}, nil)
	h1 := history.Next(nil, []history.Snapshot{history.FromPerson(ann, nil, false), history.FromPerson(bob, nil, false)}, r1, day1)
	s := artifact.NewStage(artifact.Env{Store: st, RunID: r1, TempDir: t.TempDir()}, contract.History)
	w, err := artifact.OpenTable[contract.IdentityHistory](s, contract.IdentityHistorySpec)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(h1) - 1; i >= 0; i-- { // bob before ann
		if err := w.Write(h1[i]); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	bob2 := bob
	bob2.Region = "emea"
	publish(t, st, r2, []contract.Person{ann, bob2}, nil)
	res, err := history.Run(ctx, artifact.Env{Store: st, RunID: r2, TempDir: t.TempDir()}, history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := artifact.ReadManifest(ctx, st, r2, contract.History)
	if err != nil {
		t.Fatal(err)
	}
	got, err := history.ReadTable(ctx, st, m, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"p-ann emea 03-01..open " + r1, "p-bob amer 03-01..03-02 " + r1, "p-bob emea 03-02..open " + r2}
	if g := keys(got); !slices.Equal(g, want) || res.Opened != 1 || res.Closed != 1 {
		t.Errorf("got %q (opened %d, closed %d), want %q (opened 1, closed 1)", g, res.Opened, res.Closed, want)
	}
}
