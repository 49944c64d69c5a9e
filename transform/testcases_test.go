package transform

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/otds-highspot/otds-highspot/internal/config"
	"github.com/otds-highspot/otds-highspot/internal/records"
)

var update = flag.Bool("update", false, "rewrite testcases/*/expected.json from the current output")

// caseRun is one run of a test case (input.yaml, keys in snake_case).
type caseRun struct {
	Accounts    []records.Account
	Groups      []records.Group
	Memberships []records.Membership
	Overrides   Overrides
	TreeOrder   []string
}

type caseInput struct {
	caseRun
	Runs []caseRun // several runs: each run's previous links are the prior run's output
}

type caseOutput struct {
	Accounts    []records.AccountNormalized
	Memberships []records.EffectiveMembership
	Persons     []records.Person
	Links       []records.PersonLink
	Reviews     []records.MatchReview
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

func runCase(t *testing.T, cfg *config.Config, in caseInput) []caseOutput {
	t.Helper()
	runs := in.Runs
	if len(runs) == 0 {
		runs = []caseRun{in.caseRun}
	}
	var outs []caseOutput
	var prev []records.PersonLink
	for _, r := range runs {
		order := r.TreeOrder
		if order == nil {
			order = cfg.TreeNames()
		}
		out, err := Transform(&cfg.Transform, Input{Accounts: r.Accounts, Groups: r.Groups, Memberships: r.Memberships, Previous: prev, Overrides: r.Overrides, TreeOrder: order})
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, caseOutput{Accounts: out.Accounts, Memberships: out.Memberships, Persons: out.Persons, Links: out.Links, Reviews: out.Reviews, Warnings: out.Warnings, Graph: out.Graph})
		prev = out.Links
		checkIdempotent(t, cfg, r, out)
		checkDeterministic(t, cfg, r, out)
	}
	return outs
}

// checkIdempotent: normalizing normalized data changes nothing (gofmt-style).
func checkIdempotent(t *testing.T, cfg *config.Config, r caseRun, out *Output) {
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
	for i, a := range r.Accounts {
		once := out.Accounts[i]
		twice := n.Normalize(Denormalize(once, a), g.Effective(once.AccountKey))
		if !reflect.DeepEqual(once, twice) {
			t.Errorf("normalize is not idempotent for %s:\n got %+v\nwant %+v", once.AccountKey, twice, once)
		}
	}
}

// checkDeterministic: the same input in reverse order gives identical persons and links.
func checkDeterministic(t *testing.T, cfg *config.Config, r caseRun, out *Output) {
	t.Helper()
	rev := append([]records.AccountNormalized(nil), out.Accounts...)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	order := r.TreeOrder
	if order == nil {
		order = cfg.TreeNames()
	}
	again, _ := Resolve(&cfg.Transform, ResolveInput{Accounts: rev, Previous: nil, Overrides: mergeOverrides(&cfg.Transform, r.Overrides), TreeOrder: order, GroupNames: nil})
	first, _ := Resolve(&cfg.Transform, ResolveInput{Accounts: out.Accounts, Previous: nil, Overrides: mergeOverrides(&cfg.Transform, r.Overrides), TreeOrder: order, GroupNames: nil})
	if !reflect.DeepEqual(first, again) {
		t.Errorf("resolve depends on input order")
	}
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
