package history_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/store"
	"github.com/otds-highspot/otds-highspot/transform/history"
)

// handoffWorld is a store with two planned runs and a pull in the second.
func handoffWorld(t *testing.T) (store.Store, []contract.Person, []contract.DesiredUser) {
	t.Helper()
	st, err := store.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var persons []contract.Person
	var desired []contract.DesiredUser
	for i := range 50 {
		id := fmt.Sprintf("p-%03d", (i*37)%50) // not in id order
		persons = append(persons, contract.Person{PersonID: id, PrimaryEmail: fmt.Sprintf(" User%d@X.com", i%45), Status: "enabled",
			Region: []string{"emea", "amer", " apac "}[i%3], Title: "t", Groups: []string{"acme:sales"}})
		if i%4 != 0 {
			desired = append(desired, contract.DesiredUser{PersonID: id, Groups: []string{"Sales", fmt.Sprintf("G%d", i%5), "Sales"}})
		}
	}
	publish(t, st, "20260301T020000Z-aaaa", persons[:40], desired[:20])
	persons[3].Region = "moved"
	publish(t, st, "20260302T020000Z-bbbb", persons, desired)
	env := artifact.Env{Store: st, RunID: "20260302T020000Z-bbbb", TempDir: t.TempDir()}
	s := artifact.NewStage(env, contract.Pull)
	w, err := artifact.OpenTable[contract.HighspotUser](s, contract.HighspotUsersSpec)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := w.Write(contract.HighspotUser{Email: fmt.Sprintf("user%d@x.com", i*5), GroupNames: []string{"Sales"}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := history.Run(context.Background(), artifact.Env{Store: st, RunID: "20260301T020000Z-aaaa", TempDir: t.TempDir()}, history.Options{}); err != nil {
		t.Fatal(err)
	}
	return st, persons, desired
}

// feed is what the plan stage does: every person, then the published plan.
func feed(t *testing.T, st store.Store, runID string, persons []contract.Person, desired []contract.DesiredUser) *history.Handoff {
	t.Helper()
	_, tref, err := artifact.ReadManifest(context.Background(), st, runID, contract.Transform)
	if err != nil {
		t.Fatal(err)
	}
	_, pref, err := artifact.ReadManifest(context.Background(), st, runID, contract.Plan)
	if err != nil {
		t.Fatal(err)
	}
	h := history.NewHandoff()
	for i := range persons {
		h.AddPerson(&persons[i])
	}
	h.Planned(tref, pref, desired)
	return h
}

func historyRows(t *testing.T, st store.Store, runID string) (identity, access []contract.IdentityHistory) {
	t.Helper()
	m, _, err := artifact.ReadManifest(context.Background(), st, runID, contract.History)
	if err != nil {
		t.Fatal(err)
	}
	if identity, err = history.ReadTable(context.Background(), st, m, ""); err != nil {
		t.Fatal(err)
	}
	if access, err = artifact.ReadAll[contract.IdentityHistory](context.Background(), st, m, contract.AccessHistorySpec); err != nil {
		t.Fatal(err)
	}
	return identity, access
}

// TestRunHandoffMatchesTables: the history Run publishes from the plan's
// hand-off is the one it publishes reading the persons and desired_users
// tables, and a hand-off is used only for the manifests it was fed from.
func TestRunHandoffMatchesTables(t *testing.T) {
	ctx := context.Background()
	const r2 = "20260302T020000Z-bbbb"
	tests := []struct {
		name string
		hand func(t *testing.T, st store.Store, persons []contract.Person, desired []contract.DesiredUser) *history.Handoff
		same bool // the same rows as without a hand-off
	}{
		{"fed from the run's manifests", func(t *testing.T, st store.Store, persons []contract.Person, desired []contract.DesiredUser) *history.Handoff {
			return feed(t, st, r2, persons, desired)
		}, true},
		{"altered persons are what is published (the hand-off is used)", func(t *testing.T, st store.Store, persons []contract.Person, desired []contract.DesiredUser) *history.Handoff {
			alt := append([]contract.Person(nil), persons...)
			alt[0].Region = "altered"
			return feed(t, st, r2, alt, desired)
		}, false},
		{"fed from another plan: ignored", func(t *testing.T, st store.Store, persons []contract.Person, desired []contract.DesiredUser) *history.Handoff {
			alt := append([]contract.Person(nil), persons...)
			alt[0].Region = "altered"
			h := history.NewHandoff()
			for i := range alt {
				h.AddPerson(&alt[i])
			}
			_, tref, _ := artifact.ReadManifest(ctx, st, r2, contract.Transform)
			_, pref, _ := artifact.ReadManifest(ctx, st, "20260301T020000Z-aaaa", contract.Plan)
			h.Planned(tref, pref, desired)
			return h
		}, true},
		{"a person without an id: ignored", func(t *testing.T, st store.Store, persons []contract.Person, desired []contract.DesiredUser) *history.Handoff {
			alt := append([]contract.Person{{PrimaryEmail: "noid@x.com"}}, persons...)
			alt[1].Region = "altered"
			return feed(t, st, r2, alt, desired)
		}, true},
	}
	wantSt, _, _ := handoffWorld(t)
	if _, err := history.Run(ctx, artifact.Env{Store: wantSt, RunID: r2, TempDir: t.TempDir()}, history.Options{}); err != nil {
		t.Fatal(err)
	}
	wantID, wantAccess := historyRows(t, wantSt, r2)
	if len(wantAccess) == 0 {
		t.Fatal("no access_history rows: the world has no pull")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, persons, desired := handoffWorld(t)
			h := tt.hand(t, st, persons, desired)
			if _, err := history.Run(ctx, artifact.Env{Store: st, RunID: r2, TempDir: t.TempDir()}, history.Options{Handoff: h}); err != nil {
				t.Fatal(err)
			}
			gotID, gotAccess := historyRows(t, st, r2)
			if same := reflect.DeepEqual(gotID, wantID); same != tt.same {
				t.Errorf("identity_history equal to the tables' one: got %v, want %v\n got  %q\n want %q", same, tt.same, keys(gotID), keys(wantID))
			}
			if !reflect.DeepEqual(gotAccess, wantAccess) {
				t.Errorf("access_history: got\n  %+v\nwant\n  %+v", gotAccess, wantAccess)
			}
		})
	}
}
