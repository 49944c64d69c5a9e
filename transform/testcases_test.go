package transform

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/config"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/store"
)

var update = flag.Bool("update", false, "rewrite testcases/*/expected.json from the current output")

// caseRun is one run of a test case (input.yaml, keys in snake_case).
type caseRun struct {
	Accounts    []contract.Account
	Groups      []contract.Group
	Memberships []contract.Membership
	Overrides   Overrides
}

type caseInput struct {
	caseRun
	Runs []caseRun // several runs: each run's previous links are the prior run's output
}

type caseOutput struct {
	Accounts    []contract.AccountNormalized
	Memberships []contract.EffectiveMembership
	Persons     []contract.Person
	Links       []contract.PersonLink
	Reviews     []contract.MatchReview
	Warnings    []string
	Graph       GraphStats
}

// loadConfig reads a test case's config.yaml (a config file holding at least
// trees: and transform:), applies defaults and checks the transform section.
func loadConfig(t *testing.T, path string) *config.Config {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c config.Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	c.ApplyDefaults()
	for _, e := range c.Validate() {
		if strings.HasPrefix(e.Key, "transform") {
			t.Fatalf("%s: %v", path, e)
		}
	}
	return &c
}

// readInput decodes input.yaml: snake_case keys are matched to the record
// fields by dropping underscores (source_id -> SourceID), except inside extra.
func readInput(t *testing.T, path string) caseInput {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var raw any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	js, err := json.Marshal(unsnake(raw, false))
	if err != nil {
		t.Fatal(err)
	}
	var in caseInput
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return in
}

func unsnake(v any, keep bool) any {
	switch x := v.(type) {
	case map[string]any:
		m := map[string]any{}
		for k, e := range x {
			nk := k
			if !keep {
				nk = strings.ReplaceAll(k, "_", "")
			}
			m[nk] = unsnake(e, nk == "extra" || nk == "Extra")
		}
		return m
	case []any:
		for i := range x {
			x[i] = unsnake(x[i], false)
		}
		return x
	}
	return v
}

// runCase publishes each run's input as the extract of every configured tree
// into a fresh file store, runs the transform stage (Run, the code the binary
// runs) and reads the published tables back. Runs share the store, so each
// run's previous links are the prior run's published person_links.
func runCase(t *testing.T, cfg *config.Config, in caseInput) []caseOutput {
	t.Helper()
	ctx := context.Background()
	runs := in.Runs
	if len(runs) == 0 {
		runs = []caseRun{in.caseRun}
	}
	st, err := store.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC) }
	var outs []caseOutput
	for i, r := range runs {
		checkTrees(t, cfg, r)
		env := artifact.Env{Store: st, RunID: fmt.Sprintf("20261125T%06dZ-case", i+1), ConfigHash: "test", Version: "test", Host: "test", TempDir: t.TempDir(), Now: clock}
		for _, tree := range cfg.TreeNames() {
			publishExtract(t, env, tree, r)
		}
		res, err := Run(ctx, env, cfg, Options{Overrides: r.Overrides})
		if err != nil {
			t.Fatalf("run %d: %v", i+1, err)
		}
		m, _, err := artifact.ReadManifest(ctx, st, env.RunID, contract.Transform)
		if err != nil {
			t.Fatal(err)
		}
		out := caseOutput{
			Accounts:    readTable[contract.AccountNormalized](t, st, m, contract.AccountsNormalizedSpec),
			Memberships: readTable[contract.EffectiveMembership](t, st, m, contract.EffectiveMembershipsSpec),
			Persons:     readTable[contract.Person](t, st, m, contract.PersonsSpec),
			Links:       readTable[contract.PersonLink](t, st, m, contract.PersonLinksSpec),
			Reviews:     readTable[contract.MatchReview](t, st, m, contract.MatchReviewSpec),
			Warnings:    res.Warnings,
			Graph:       res.Graph,
		}
		outs = append(outs, out)
		checkIdempotent(t, cfg, r, out)
		checkDeterministic(t, cfg, r, out)
	}
	return outs
}

// checkTrees: every record of a case belongs to a configured tree (the stage
// reads the extract of configured trees only, so any other would vanish).
func checkTrees(t *testing.T, cfg *config.Config, r caseRun) {
	t.Helper()
	known := map[string]bool{}
	for _, n := range cfg.TreeNames() {
		known[n] = true
	}
	var trees []string
	for _, a := range r.Accounts {
		trees = append(trees, a.Tree)
	}
	for _, g := range r.Groups {
		trees = append(trees, g.Tree)
	}
	for _, m := range r.Memberships {
		trees = append(trees, m.Tree)
	}
	for _, tr := range trees {
		if !known[tr] {
			t.Fatalf("input.yaml: tree %q is not in config.yaml trees: (the stage would not read it)", tr)
		}
	}
}

func readTable[T any](t *testing.T, st store.Store, m *artifact.Manifest, spec contract.Spec) []T {
	t.Helper()
	rows, err := artifact.ReadAll[T](context.Background(), st, m, spec)
	if err != nil {
		t.Fatalf("read %s: %v", spec.Name, err)
	}
	return rows
}

// checkIdempotent: normalizing normalized data changes nothing (gofmt-style).
func checkIdempotent(t *testing.T, cfg *config.Config, r caseRun, out caseOutput) {
	t.Helper()
	n, err := NewNormalizer(&cfg.Transform)
	if err != nil {
		t.Fatal(err)
	}
	b := NewGraphBuilder()
	for _, g := range r.Groups {
		b.AddGroup(g)
	}
	for _, a := range r.Accounts {
		b.AddAccount(a.Tree, a.SourceID, a.DN)
	}
	for _, m := range r.Memberships {
		b.AddMembership(m)
	}
	g := b.Build()
	raw := map[string]contract.Account{}
	for _, a := range r.Accounts {
		raw[AccountKey(clean(a.Tree), clean(a.SourceID))] = a
	}
	again := make([]contract.Account, len(out.Accounts))
	for i, once := range out.Accounts {
		again[i] = Denormalize(once, raw[once.AccountKey])
	}
	twice := make([]contract.AccountNormalized, len(again))
	NormalizeBatch(n, g, again, twice, make([][]GroupRef, len(again)), 1)
	for i, once := range out.Accounts {
		if !reflect.DeepEqual(once, twice[i]) {
			t.Errorf("normalize is not idempotent for %s:\n got %+v\nwant %+v", once.AccountKey, twice[i], once)
		}
	}
}

// checkDeterministic: the same accounts in reverse order resolve to identical
// persons, links and reviews, emitted in the same order (Resolve streaming
// them as the stage does).
func checkDeterministic(t *testing.T, cfg *config.Config, r caseRun, out caseOutput) {
	t.Helper()
	rev := append([]contract.AccountNormalized(nil), out.Accounts...)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	first := resolveStreamed(t, cfg, r, out.Accounts)
	again := resolveStreamed(t, cfg, r, rev)
	if !reflect.DeepEqual(first, again) {
		t.Errorf("resolve depends on input order")
	}
}

type streamed struct {
	Persons []contract.Person
	Links   []contract.PersonLink
	*Resolution
}

func resolveStreamed(t *testing.T, cfg *config.Config, r caseRun, accounts []contract.AccountNormalized) streamed {
	t.Helper()
	var s streamed
	emit := func(p contract.Person, l []contract.PersonLink) error {
		s.Persons = append(s.Persons, p)
		s.Links = append(s.Links, l...)
		return nil
	}
	acc := append([]contract.AccountNormalized(nil), accounts...)
	res, err := Resolve(&cfg.Transform, ResolveInput{Accounts: acc, Overrides: mergeOverrides(&cfg.Transform, r.Overrides), TreeOrder: cfg.TreeNames(), Emit: emit})
	if err != nil {
		t.Fatal(err)
	}
	s.Resolution = res
	return s
}

func TestCases(t *testing.T) {
	dirs, err := filepath.Glob("testcases/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no testcases found")
	}
	for _, dir := range dirs {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			continue // README.md
		}
		t.Run(filepath.Base(dir), func(t *testing.T) {
			cfg := loadConfig(t, filepath.Join(dir, "config.yaml"))
			outs := runCase(t, cfg, readInput(t, filepath.Join(dir, "input.yaml")))
			var got any = outs
			if len(outs) == 1 {
				got = outs[0]
			}
			gotJS, err := json.MarshalIndent(got, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			gotJS = append(gotJS, '\n')
			exp := filepath.Join(dir, "expected.json")
			if *update {
				if err := os.WriteFile(exp, gotJS, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(exp)
			if err != nil {
				t.Fatalf("%v (run go test ./transform -run TestCases -update to create it, then review it)", err)
			}
			if !bytes.Equal(gotJS, want) {
				t.Errorf("output differs from %s (review, then refresh with -update):\n%s", exp, lineDiff(string(want), string(gotJS)))
			}
		})
	}
}

func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	n := 0
	for i := 0; i < len(w) || i < len(g); i++ {
		var x, y string
		if i < len(w) {
			x = w[i]
		}
		if i < len(g) {
			y = g[i]
		}
		if x != y {
			b.WriteString("line " + itoa(i+1) + ":\n  want " + x + "\n  got  " + y + "\n")
			if n++; n > 10 {
				break
			}
		}
	}
	return b.String()
}

func itoa(i int) string { return strings.TrimSpace(strings.Repeat(" ", 0) + jsonNum(i)) }

func jsonNum(i int) string { b, _ := json.Marshal(i); return string(b) }
