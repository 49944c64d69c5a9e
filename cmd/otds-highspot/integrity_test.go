package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/otds-highspot/otds-highspot/fixtures"
	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/store"
)

// TestTamperedPlanIsNotApplied: the plan a reviewer sees is the plan apply
// executes. An edited plan.json (before: `plan show` printed the edited
// counts and `apply --plan-sha256 <shown sha>` then applied the real change
// list), plan.json edited together with its manifest entry, and a modified
// changes part are each refused by `plan show` and by apply with exit 1 and
// "modified after publication"; nothing reaches Highspot. The untouched plan
// then applies with the sha shown.
func TestTamperedPlanIsNotApplied(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run skipped in -short mode")
	}
	dir := t.TempDir()
	demo, err := fixtures.DemoConfig()
	if err != nil {
		t.Fatal(err)
	}
	storeDir := filepath.Join(dir, "artifacts")
	state := filepath.Join(dir, "hs.json")
	day1 := strings.Replace(string(demo), "url: ./artifacts", "url: "+storeDir, 1)
	day1 = strings.Replace(day1, "sandbox: {surface: rest}", "sandbox: {surface: rest, state_file: "+state+"}", 1)
	day2 := strings.ReplaceAll(day1, "fixtures:otds/trees.ldif", "fixtures:otds/day2/trees.ldif")
	c1, c2 := writeFile(t, dir, "day1.yaml", day1), writeFile(t, dir, "day2.yaml", day2)
	if r := run(t, nil, "--config", c1, "--run-id", "20261101T000000Z-0001", "run"); r.code != 0 {
		t.Fatalf("day 1: exit %d\n%s", r.code, r.stderr)
	}
	const id = "20261102T000000Z-0002"
	if r := run(t, nil, "--config", c2, "--run-id", id, "run", "--until", "plan"); r.code != 0 {
		t.Fatalf("day 2 until plan: exit %d\n%s", r.code, r.stderr)
	}
	r := run(t, nil, "--config", c2, "--run-id", id, "plan", "show")
	if r.code != 0 || !strings.Contains(r.stdout, "leavers 1") {
		t.Fatalf("plan show: exit %d, want 0 and one leaver\n%s%s", r.code, r.stdout, r.stderr)
	}
	sha := regexp.MustCompile(`sha256\s+([0-9a-f]{64})`).FindStringSubmatch(r.stdout)
	if sha == nil {
		t.Fatalf("plan show prints no sha256:\n%s", r.stdout)
	}

	st, err := store.NewFileStore(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := artifact.ReadManifest(context.Background(), st, id, "plan")
	if err != nil {
		t.Fatal(err)
	}
	file := func(key string) string { return filepath.Join(storeDir, filepath.FromSlash(key)) }
	planJSON := file(m.Blobs["plan.json"].Key)
	manifest := file(artifact.ManifestKey(id, "plan"))
	part := file(m.Tables["changes"].Files[0].Key)
	orig := map[string][]byte{}
	for _, p := range []string{planJSON, manifest, part, state} {
		if orig[p], err = os.ReadFile(p); err != nil {
			t.Fatal(err)
		}
	}
	restore := func() {
		for p, b := range orig {
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}

	// A reviewer-friendly plan.json: no suspensions, no leavers.
	var sum map[string]any
	if err := json.Unmarshal(orig[planJSON], &sum); err != nil {
		t.Fatal(err)
	}
	byOp := sum["by_op"].(map[string]any)
	delete(byOp, "suspend_user")
	byOpTree := sum["by_op_tree"].(map[string]any)
	delete(byOpTree, "suspend_user")
	n := 0
	for _, v := range byOp {
		n += int(v.(float64))
	}
	sum["changes"], sum["leavers"] = n, []any{}
	edited, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	// The same edit with the manifest's plan.json entry rewritten to match.
	editedSum := sha256.Sum256(edited)
	manifestEdited := strings.Replace(string(orig[manifest]), m.Blobs["plan.json"].SHA256, hex.EncodeToString(editedSum[:]), 1)
	manifestEdited = regexp.MustCompile(`("key": "`+regexp.QuoteMeta(m.Blobs["plan.json"].Key)+`",\s*"sha256": "[0-9a-f]+",\s*"bytes": )\d+`).
		ReplaceAllString(manifestEdited, "${1}"+itoa(len(edited)))
	if manifestEdited == string(orig[manifest]) {
		t.Fatal("could not rewrite the manifest's plan.json entry")
	}
	flipped := append([]byte(nil), orig[part]...)
	flipped[len(flipped)/2] ^= 0x01

	cases := []struct {
		name  string
		files map[string][]byte
		want  string
	}{
		{"edited plan.json", map[string][]byte{planJSON: edited}, "plan.json was modified after publication; run `runs verify`"},
		{"plan.json and its manifest entry edited", map[string][]byte{planJSON: edited, manifest: []byte(manifestEdited)}, "modified after publication; run `runs verify`"},
		{"changes part modified", map[string][]byte{part: flipped}, "was modified after publication; run `runs verify`"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer restore()
			for p, b := range c.files {
				if err := os.WriteFile(p, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for _, args := range [][]string{{"plan", "show"}, {"apply", "--plan-sha256", sha[1]}} {
				r := run(t, nil, append([]string{"--config", c2, "--run-id", id}, args...)...)
				if r.code != 1 || !strings.Contains(r.stderr, c.want) {
					t.Errorf("%v: exit %d, want 1 and %q\n%s%s", args, r.code, c.want, r.stdout, r.stderr)
				}
			}
			if got, _ := os.ReadFile(state); string(got) != string(orig[state]) {
				t.Errorf("Highspot's state changed although apply was refused")
			}
			if _, _, err := artifact.ReadManifest(context.Background(), st, id, "apply"); err == nil {
				t.Errorf("an apply manifest was published for a tampered plan")
			}
		})
	}

	r = run(t, nil, "--config", c2, "--run-id", id, "apply", "--plan-sha256", sha[1])
	if r.code != 0 || !strings.Contains(r.stdout, "0 failed") {
		t.Fatalf("apply of the untouched plan: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestUnknownAllowIsRefused: an --allow naming an unknown op or tree is
// refused with the valid ones before anything runs (before: `--allow
// delete_everything=1` was accepted and recorded in the manifest).
func TestUnknownAllowIsRefused(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"OTDS_HIGHSPOT_STORE": dir}
	cases := []struct {
		name  string
		args  []string
		wants []string
	}{
		{"unknown op on plan", []string{"plan", "--allow", "delete_everything=1"}, []string{`unknown op "delete_everything"`, "suspend_user", "create_user"}},
		{"unknown op on run", []string{"run", "--allow", "delete_everything=1"}, []string{`unknown op "delete_everything"`, "remove_member"}},
		{"unknown tree", []string{"run", "--allow", "suspend_user@nowhere=3"}, []string{`unknown tree "nowhere"`, "acme"}},
		{"empty tree", []string{"plan", "--allow", "suspend_user@=3"}, []string{`unknown tree ""`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := run(t, env, append([]string{"--run-id", "20261104T000000Z-0001"}, c.args...)...)
			if r.code != 2 {
				t.Fatalf("exit %d, want 2\n%s%s", r.code, r.stdout, r.stderr)
			}
			for _, w := range c.wants {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			if entries, _ := os.ReadDir(filepath.Join(dir, "_runs")); len(entries) != 0 {
				t.Errorf("something ran: _runs holds %d entries", len(entries))
			}
		})
	}
}

// TestStoreInsideARunIsRefused: OTDS_HIGHSPOT_STORE pointing into a published
// run's folder (before: accepted, the run wrote into that folder and `runs
// verify` stayed green) is a usage error and writes nothing.
func TestStoreInsideARunIsRefused(t *testing.T) {
	root := t.TempDir()
	runDir := filepath.Join(root, "_runs", "20261101T000000Z-0001")
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, runDir, "transform.manifest.json", "{}")
	for _, s := range []string{runDir, "file://" + runDir, filepath.Join(root, "_locks"), filepath.Join(root, "persons", "dt=2026-11-01")} {
		r := run(t, map[string]string{"OTDS_HIGHSPOT_STORE": s}, "run")
		if r.code != 2 || !strings.Contains(r.stderr, "store's root") {
			t.Errorf("store %s: exit %d, want 2 and advice to use the store's root\n%s", s, r.code, r.stderr)
		}
	}
	if entries, _ := os.ReadDir(runDir); len(entries) != 1 {
		t.Errorf("the run folder holds %d entries, want 1 (nothing written)", len(entries))
	}
}
