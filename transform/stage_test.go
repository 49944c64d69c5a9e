package transform

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/internal/store"
)

func publishExtract(t *testing.T, env artifact.Env, tree string, in caseRun) {
	t.Helper()
	ctx := context.Background()
	s := artifact.NewStage(env, contract.ExtractStage(tree))
	aw, err := artifact.OpenTable[contract.Account](s, contract.AccountsSpec)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range in.Accounts {
		if a.Tree == tree {
			if err := aw.Write(a); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := aw.Close(); err != nil {
		t.Fatal(err)
	}
	gw, _ := artifact.OpenTable[contract.Group](s, contract.GroupsSpec)
	for _, g := range in.Groups {
		if g.Tree == tree {
			if err := gw.Write(g); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := gw.Close(); err != nil {
		t.Fatal(err)
	}
	mw, _ := artifact.OpenTable[contract.Membership](s, contract.MembershipsSpec)
	for _, m := range in.Memberships {
		if m.Tree == tree {
			if err := mw.Write(m); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestStageRunStableIDsAndExplain(t *testing.T) {
	ctx := context.Background()
	st, err := store.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := loadConfig(t, "testcases/fixture/config.yaml")
	in := readInput(t, "testcases/fixture/input.yaml").caseRun
	clock := func() time.Time { return time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC) }
	env := func(run string) artifact.Env {
		return artifact.Env{Store: st, RunID: run, ConfigHash: "test", Version: "test", Host: "test", TempDir: t.TempDir(), Now: clock}
	}

	// a run missing one tree's extract is a source gate, not a partial transform
	e0 := env("20261124T000000Z-0000")
	publishExtract(t, e0, "acme", in)
	publishExtract(t, e0, "beta", in)
	_, err = Run(ctx, e0, cfg, Options{})
	if got, want := exitcode.Of(err), exitcode.SourceGate; got != want || err == nil || !strings.Contains(err.Error(), "gamma") {
		t.Fatalf("missing tree: got exit %d (%v), want %d naming gamma", got, err, want)
	}

	e1 := env("20261125T000000Z-0001")
	for _, tr := range cfg.TreeNames() {
		publishExtract(t, e1, tr, in)
	}
	r1, err := Run(ctx, e1, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r1.Accounts, int64(len(in.Accounts)); got != want {
		t.Errorf("accounts: got %d, want %d", got, want)
	}
	if got, want := r1.Persons, int64(11); got != want {
		t.Errorf("persons: got %d, want %d", got, want)
	}
	if len(r1.Graph.Cycles) != 1 {
		t.Errorf("cycles: got %v, want the Loop-A/Loop-B cycle", r1.Graph.Cycles)
	}
	m1, _, err := artifact.ReadManifest(ctx, st, e1.RunID, contract.Transform)
	if err != nil {
		t.Fatal(err)
	}
	links1, err := artifact.ReadAll[contract.PersonLink](ctx, st, m1, contract.PersonLinksSpec)
	if err != nil {
		t.Fatal(err)
	}
	pid := func(links []contract.PersonLink, key string) string {
		for _, l := range links {
			if l.AccountKey == key {
				return l.PersonID
			}
		}
		return ""
	}
	john := pid(links1, "acme/a-jdoe")
	if got := pid(links1, "beta/b-jodoe"); got != john || john == "" {
		t.Fatalf("john: acme %q, beta %q: want one person", john, got)
	}

	// next day: John's acme mail changes and his beta account is gone; Alice's
	// accounts are unchanged. Ids stay.
	var day2 caseRun = in
	day2.Accounts = nil
	for _, a := range in.Accounts {
		switch a.SourceID {
		case "b-jodoe":
			continue
		case "a-jdoe":
			a.Mail = []string{"j.doe@acme.com"}
		}
		day2.Accounts = append(day2.Accounts, a)
	}
	e2 := env("20261126T000000Z-0002")
	for _, tr := range cfg.TreeNames() {
		publishExtract(t, e2, tr, day2)
	}
	if _, err := Run(ctx, e2, cfg, Options{}); err != nil {
		t.Fatal(err)
	}
	m2, _, err := artifact.ReadManifest(ctx, st, e2.RunID, contract.Transform)
	if err != nil {
		t.Fatal(err)
	}
	links2, err := artifact.ReadAll[contract.PersonLink](ctx, st, m2, contract.PersonLinksSpec)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links1 {
		if l.AccountKey == "beta/b-jodoe" {
			continue
		}
		if got := pid(links2, l.AccountKey); got != l.PersonID {
			t.Errorf("%s: person id got %q, want %q (carried)", l.AccountKey, got, l.PersonID)
		}
	}

	story, err := Explain(ctx, st, e1.RunID, "John.Doe@acme.com")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{john, "beta/b-jodoe", "joined by employee id (key hr:100123)", "Sales -> All Staff", "title"} {
		if !strings.Contains(story, want) {
			t.Errorf("explain story lacks %q:\n%s", want, story)
		}
	}
	if _, err := Explain(ctx, st, "", "nobody@nowhere"); err == nil || errors.Is(err, artifact.ErrNotPublished) {
		t.Errorf("explain of an unknown email: got %v, want a usage error", err)
	}
	t.Log(story)
}

func TestParseOverridesCSV(t *testing.T) {
	o, err := ParseOverrides("o.csv", []byte("action,accounts\nforce_link,acme/a,beta/b\nforce_split,acme/c\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(o.ForceLink), 1; got != want || len(o.ForceLink[0]) != 2 {
		t.Errorf("force_link: got %v", o.ForceLink)
	}
	if got := o.ForceSplit; len(got) != 1 || got[0][0] != "acme/c" {
		t.Errorf("force_split: got %v", got)
	}
	if _, err := ParseOverrides("o.csv", []byte("merge,a,b\n")); err == nil {
		t.Errorf("unknown action: got nil error")
	}
}

func TestStageOverridesFileAndExplainByID(t *testing.T) {
	ctx := context.Background()
	st, err := store.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := loadConfig(t, "testcases/fixture/config.yaml")
	in := readInput(t, "testcases/fixture/input.yaml").caseRun
	env := artifact.Env{Store: st, RunID: "20261125T000000Z-0003", ConfigHash: "test", Version: "test", Host: "test", TempDir: t.TempDir(),
		Now: func() time.Time { return time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC) }}
	for _, tr := range cfg.TreeNames() {
		publishExtract(t, env, tr, in)
	}
	// a human says Hans Koch (beta) and Klaus Wagner (beta) are... kept apart, and
	// that Bruce Wayne (acme) and Lena Fischer (beta) are one person
	file := "overrides/links.yaml"
	body := "force_link:\n  - [acme/a-bwayne, beta/b-lfischer]\nforce_split:\n  - [beta/b-hkoch]\n"
	if err := st.Put(ctx, file, strings.NewReader(body), int64(len(body))); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, env, cfg, Options{OverridesKey: file}); err != nil {
		t.Fatal(err)
	}
	m, _, err := artifact.ReadManifest(ctx, st, env.RunID, contract.Transform)
	if err != nil {
		t.Fatal(err)
	}
	links, err := artifact.ReadAll[contract.PersonLink](ctx, st, m, contract.PersonLinksSpec)
	if err != nil {
		t.Fatal(err)
	}
	rule := map[string]string{}
	pid := map[string]string{}
	for _, l := range links {
		rule[l.AccountKey], pid[l.AccountKey] = l.Rule, l.PersonID
	}
	if pid["acme/a-bwayne"] != pid["beta/b-lfischer"] || rule["acme/a-bwayne"] != RuleForceLink {
		t.Errorf("force_link: got %s/%s rules %s, want one person by %s", pid["acme/a-bwayne"], pid["beta/b-lfischer"], rule["acme/a-bwayne"], RuleForceLink)
	}
	if got := rule["beta/b-hkoch"]; got != RuleForceSplit {
		t.Errorf("force_split rule: got %q, want %q", got, RuleForceSplit)
	}
	for _, q := range []string{pid["beta/b-lfischer"], "cn=LFISCHER,ou=Benutzer,ou=Root,ou=Beta GmbH,ou=IdentityProviders,dc=identity,dc=opentext,dc=net"} {
		story, err := Explain(ctx, st, env.RunID, q)
		if err != nil {
			t.Fatalf("explain %q: %v", q, err)
		}
		if !strings.Contains(story, "a manual force_link override") {
			t.Errorf("explain %q: story lacks the override:\n%s", q, story)
		}
	}
}

// TestNormalizeColumnsCoverAccounts: every accounts column is either read by
// the normalize pass or known to be unused, so a new column is never
// silently left out of normalization.
func TestNormalizeColumnsCoverAccounts(t *testing.T) {
	unused := map[string]bool{"member_of": true, "object_guid": true, "created_at": true}
	read := map[string]bool{}
	for _, c := range normalizeColumns {
		read[c] = true
	}
	typ := reflect.TypeFor[contract.Account]()
	for i := 0; i < typ.NumField(); i++ {
		col, _, _ := strings.Cut(typ.Field(i).Tag.Get("parquet"), ",")
		if col == "" || col == "-" {
			continue
		}
		if read[col] == unused[col] {
			t.Errorf("accounts column %q: read by normalize %v, listed unused %v; want exactly one (add it to normalizeColumns if Normalize reads it)", col, read[col], unused[col])
		}
	}
}
