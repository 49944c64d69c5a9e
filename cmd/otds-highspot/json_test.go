package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// jsonObject parses stdout as exactly one JSON object on one line.
func jsonObject(t *testing.T, args []string, stdout string) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != 1 || !strings.HasSuffix(stdout, "\n") {
		t.Fatalf("%v --json: stdout has %d lines, want exactly one JSON line:\n%s", args, len(lines), stdout)
	}
	var obj map[string]any
	dec := json.NewDecoder(strings.NewReader(lines[0]))
	if err := dec.Decode(&obj); err != nil || dec.More() {
		t.Fatalf("%v --json: stdout is not one JSON object: %v\n%s", args, err, stdout)
	}
	if obj["schema"] != "otds-highspot/summary/v1" {
		t.Errorf("%v --json: schema %v, want otds-highspot/summary/v1", args, obj["schema"])
	}
	return obj
}

// TestJSONContractEveryCommand runs every command with --json and parses
// stdout as exactly one JSON object on one line with the documented fields;
// plan_sha256 is there whenever the run has a plan, also on a re-run.
func TestJSONContractEveryCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run skipped in -short mode")
	}
	dir := t.TempDir()
	storeDir := filepath.Join(dir, "artifacts")
	env := map[string]string{"OTDS_HIGHSPOT_STORE": storeDir}
	const id = "20261105T000000Z-0007"
	var planSHA string
	cases := []struct {
		args     []string
		wantCode float64
		details  []string // keys the details object must hold
		planHash bool     // plan_sha256 must be present (and the same)
	}{
		{[]string{"version"}, 0, []string{"version"}, false},
		{[]string{"config", "validate"}, 0, []string{"trees"}, false},
		{[]string{"doctor"}, 0, []string{"checks"}, false},
		{[]string{"--run-id", id, "extract"}, 0, nil, false},
		{[]string{"--run-id", id, "transform"}, 0, nil, false},
		{[]string{"--run-id", id, "pull"}, 0, nil, false},
		{[]string{"--run-id", id, "plan"}, 0, nil, true},
		{[]string{"--run-id", id, "plan"}, 0, nil, true}, // a re-run: skipped, the hash is still there
		{[]string{"--run-id", id, "plan", "show"}, 0, []string{"plan"}, true},
		{[]string{"--run-id", id, "apply", "--dry-run"}, 0, nil, true},
		{[]string{"--run-id", id, "apply"}, 0, nil, true},
		{[]string{"--run-id", id, "run", "--from", "plan"}, 0, nil, true},
		{[]string{"runs", "list"}, 0, []string{"runs"}, false},
		{[]string{"runs", "show", id}, 0, []string{"run"}, true},
		{[]string{"runs", "verify", id}, 0, []string{"verify"}, true},
		{[]string{"--run-id", id, "explain", "rachel.jones@acme.com"}, 0, []string{"query", "explanation"}, true},
		{[]string{"prune", "--dry-run"}, 0, []string{"prune"}, false},
		{[]string{"unlock"}, 0, []string{"removed", "kept"}, false},
		{[]string{"demo", "--dir", filepath.Join(dir, "demo")}, 0, []string{"dir"}, false},
		{[]string{"no-such-command"}, 2, nil, false},
		{[]string{"--run-id", "20261106T000000Z-none", "apply"}, 2, nil, false},
	}
	for _, c := range cases {
		args := append([]string{"--json", "--log-level", "warn"}, c.args...)
		r := run(t, env, args...)
		obj := jsonObject(t, c.args, r.stdout)
		if obj["exit_code"] != c.wantCode {
			t.Errorf("%v: exit_code %v, want %v\n%s", c.args, obj["exit_code"], c.wantCode, r.stderr)
		}
		if float64(r.code) != obj["exit_code"] {
			t.Errorf("%v: process exit %d, JSON exit_code %v", c.args, r.code, obj["exit_code"])
		}
		for _, k := range []string{"command", "status", "exit_name"} {
			if _, ok := obj[k]; !ok {
				t.Errorf("%v: no %q field: %s", c.args, k, r.stdout)
			}
		}
		details, _ := obj["details"].(map[string]any)
		for _, k := range c.details {
			if _, ok := details[k]; !ok {
				t.Errorf("%v: details lack %q: %s", c.args, k, r.stdout)
			}
		}
		sha, _ := obj["plan_sha256"].(string)
		switch {
		case c.planHash && sha == "":
			t.Errorf("%v: no plan_sha256 although the run has a plan: %s", c.args, r.stdout)
		case c.planHash && planSHA == "":
			planSHA = sha
		case c.planHash && sha != planSHA:
			t.Errorf("%v: plan_sha256 %s, want %s", c.args, sha, planSHA)
		case !c.planHash && sha != "" && !strings.Contains(strings.Join(c.args, " "), "runs list"):
			t.Errorf("%v: plan_sha256 %s without a plan", c.args, sha)
		}
	}

	// apply of a run already applied reports the committed apply (its ledger
	// rows), not an empty "not committed" attempt.
	again := []string{"--json", "--log-level", "warn", "--run-id", id, "apply"}
	obj := jsonObject(t, again, run(t, env, again...).stdout)
	stages, _ := obj["stages"].([]any)
	if len(stages) != 1 {
		t.Fatalf("apply again: stages %v, want one", obj["stages"])
	}
	st, _ := stages[0].(map[string]any)
	rows, _ := st["rows"].(map[string]any)
	details, _ := st["details"].(map[string]any)
	if st["status"] != "published" || details["already_published"] != true || rows["load_results"] == float64(0) || st["manifest"] == nil {
		t.Errorf("apply again: stage %v, want status published, already_published, the ledger's row count and the manifest", st)
	}

	// sandbox runs until cancelled; its JSON comes at the end.
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	code := execute(ctx, []string{"--json", "sandbox", "--listen", "127.0.0.1:0"}, strings.NewReader(""), &out, &errb, func(string) string { return "" })
	if obj := jsonObject(t, []string{"sandbox"}, out.String()); obj["exit_code"] != float64(code) || code != 0 {
		t.Errorf("sandbox: exit %d, JSON %v\n%s", code, obj, errb.String())
	}
}
