package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/otds-highspot/otds-highspot/fixtures"
	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/internal/store"
)

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	getenv := func(k string) string { return env[k] }
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := execute(ctx, args, strings.NewReader(""), &out, &errb, getenv)
	return result{code, out.String(), errb.String()}
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigValidateNamesKeyAndLine(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown key", "version: 1\ntrees:\n  - name: acme\n    source: ldif\n    ldif: {path: x.ldif}\n    colour: blue\n",
			[]string{"bad.yaml:6", "colour", "unknown key"}},
		{"bad enum", "version: 1\ntrees:\n  - name: acme\n    source: ftp\n",
			[]string{"bad.yaml:4", "trees[0].source", "ldap, otds-rest or ldif"}},
		{"cel type error", "version: 1\ntrees:\n  - {name: acme, source: ldif, ldif: {path: x.ldif}}\npolicy:\n  scope: {name: s, when: 'person.role == 1'}\n",
			[]string{"bad.yaml:5", "policy.scope.when"}},
		{"not yaml", "version: [1\n", []string{"bad.yaml", "not valid YAML"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeFile(t, dir, "bad.yaml", c.yaml)
			r := run(t, nil, "config", "validate", "--config", p)
			if r.code != 2 {
				t.Fatalf("exit %d, want 2; stderr:\n%s", r.code, r.stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr does not mention %q:\n%s", w, r.stderr)
				}
			}
		})
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"no-such-command"},
		{"extract", "--no-such-flag"},
		{"--run-id", "not-a-date", "runs", "list"},
		{"plan", "--allow", "suspend_user"},
		{"runs", "show"},
	} {
		if r := run(t, nil, args...); r.code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %s)", args, r.code, r.stderr)
		}
	}
}

// TestSecretsNeverPrinted resolves real secret values (from the injected
// environment) on every path that touches them — doctor against unreachable
// servers, with debug logs and --json — and greps all output for them.
func TestSecretsNeverPrinted(t *testing.T) {
	dir := t.TempDir()
	secrets := map[string]string{
		"BIND_PW":   "ldap-S3cret-value-1",
		"REST_PW":   "rest-S3cret-value-2",
		"HS_KEY":    "hs-key-S3cret-3",
		"HS_SECRET": "hs-S3cret-value-4",
	}
	cfg := `version: 1
store: {url: ` + filepath.Join(dir, "artifacts") + `}
trees:
  - name: corp
    source: ldap
    ldap: {url: "ldap://127.0.0.1:1", bind_dn: "cn=reader", bind_password: {env: BIND_PW}, timeout: 2s}
  - name: cloud
    source: otds-rest
    rest: {url: "http://127.0.0.1:1/otdsws", username: reader, password: {env: REST_PW}, partitions: [P], retries: 0, timeout: 2s}
highspot:
  target: rest
  rest: {base_url: "http://127.0.0.1:1/v1.0", api_key: {env: HS_KEY}, api_secret: {env: HS_SECRET}, timeout: 2s}
`
	p := writeFile(t, dir, "cfg.yaml", cfg)
	var all strings.Builder
	for _, args := range [][]string{
		{"--config", p, "--log-level", "debug", "--log-format", "json", "--json", "doctor"},
		{"--config", p, "--log-level", "debug", "--log-format", "text", "doctor"},
		{"--config", p, "--log-level", "debug", "--json", "extract"},
		{"--config", p, "--json", "config", "validate"},
	} {
		r := run(t, secrets, args...)
		if args[len(args)-1] == "doctor" && r.code == 0 {
			t.Errorf("doctor against unreachable servers exited 0")
		}
		all.WriteString(r.stdout + r.stderr)
	}
	out := all.String()
	if !strings.Contains(out, "127.0.0.1:1") {
		t.Fatalf("the commands did not reach the secret-using code paths:\n%s", out)
	}
	for name, v := range secrets {
		if strings.Contains(out, v) {
			t.Errorf("secret %s appears in the output", name)
		}
	}
}

// TestDemoEndToEnd runs the embedded demo (day 1, day 2) and then exercises
// runs list/show/verify, plan show and explain on its store; finally it flips
// one byte of a published file and expects verify to catch it.
func TestDemoEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end demo skipped in -short mode")
	}
	dir := filepath.Join(t.TempDir(), "demo")
	r := run(t, nil, "--log-format", "json", "--log-level", "warn", "demo", "--dir", dir)
	if r.code != 0 {
		t.Fatalf("demo exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, w := range []string{"day 1", "day 2", "joiners 1, movers 1, leavers 1", "plan.html"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("demo output lacks %q:\n%s", w, r.stdout)
		}
	}
	env := map[string]string{"OTDS_HIGHSPOT_STORE": filepath.Join(dir, "artifacts")}

	r = run(t, env, "--json", "runs", "list")
	var sum struct {
		ExitCode int `json:"exit_code"`
		Details  struct {
			Runs []artifact.RunInfo `json:"runs"`
		} `json:"details"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatalf("runs list --json is not one JSON object: %v\n%s", err, r.stdout)
	}
	if len(sum.Details.Runs) != 2 {
		t.Fatalf("got %d runs, want 2", len(sum.Details.Runs))
	}
	day2 := sum.Details.Runs[0].RunID
	for _, args := range [][]string{{"runs", "show", day2}, {"plan", "show"}, {"explain", "rachel.jones@acme.com"}, {"runs", "verify", day2}} {
		if r := run(t, env, args...); r.code != 0 {
			t.Errorf("%v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
		}
	}

	// Tamper with one published part file: verify must fail and say so.
	st, err := store.NewFileStore(filepath.Join(dir, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := artifact.ReadManifest(context.Background(), st, day2, "transform")
	if err != nil {
		t.Fatal(err)
	}
	part := filepath.Join(dir, "artifacts", filepath.FromSlash(m.Tables["persons"].Files[0].Key))
	b, err := os.ReadFile(part)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(part, b, 0o644); err != nil {
		t.Fatal(err)
	}
	r = run(t, env, "runs", "verify", day2)
	if r.code != 1 || !strings.Contains(r.stdout, "PROBLEM") {
		t.Errorf("verify after tampering: exit %d, want 1 with a PROBLEM line\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestLockedRunExits11 holds the run lock for another run and expects a
// stage command to refuse with exit 11, naming the holder.
func TestLockedRunExits11(t *testing.T) {
	dir := t.TempDir()
	st, err := store.NewFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	lock, err := artifact.AcquireLock(context.Background(), st, artifact.LockHolder{RunID: "20260101T000000Z-aaaa", Host: "cron-host", PID: 4242}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release(context.Background())
	r := run(t, map[string]string{"OTDS_HIGHSPOT_STORE": dir}, "extract")
	if r.code != 11 {
		t.Fatalf("exit %d, want 11\n%s", r.code, r.stderr)
	}
	for _, w := range []string{"20260101T000000Z-aaaa", "cron-host", "4242"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("lock error does not name %q: %s", w, r.stderr)
		}
	}
}

// TestDoctor passes on the embedded default and names the broken part, with
// advice, when a tree's file is missing.
func TestDoctor(t *testing.T) {
	dir := t.TempDir()
	r := run(t, map[string]string{"OTDS_HIGHSPOT_STORE": filepath.Join(dir, "ok")}, "doctor")
	if r.code != 0 || !strings.Contains(r.stdout, "all checks passed") {
		t.Fatalf("doctor on the embedded default: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	cfg := writeFile(t, dir, "c.yaml", "version: 1\nstore: {url: "+filepath.Join(dir, "s")+"}\ntrees:\n  - {name: acme, source: ldif, ldif: {path: missing.ldif}}\nhighspot: {target: sandbox}\n")
	r = run(t, nil, "--config", cfg, "doctor")
	if r.code != 2 {
		t.Fatalf("doctor with a missing LDIF: exit %d, want 2\n%s", r.code, r.stdout)
	}
	for _, w := range []string{"[FAIL] tree acme", "missing.ldif", "fix: the file does not exist"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("doctor output lacks %q:\n%s", w, r.stdout)
		}
	}
}

// TestBlockedPlanOverride: a plan over a safety threshold exits 5 and is
// published as blocked; apply refuses it; re-planning the same snapshots with
// --allow publishes a new run id whose plan applies.
func TestBlockedPlanOverride(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run skipped in -short mode")
	}
	dir := t.TempDir()
	demo, err := fixtures.DemoConfig()
	if err != nil {
		t.Fatal(err)
	}
	day1 := strings.Replace(string(demo), "url: ./artifacts", "url: "+filepath.Join(dir, "artifacts"), 1)
	day1 = strings.Replace(day1, "sandbox: {surface: rest}", "sandbox: {surface: rest, state_file: "+filepath.Join(dir, "hs.json")+"}", 1)
	day2 := strings.ReplaceAll(day1, "fixtures:otds/trees.ldif", "fixtures:otds/day2/trees.ldif")
	day2 = strings.Replace(day2, "{op: suspend_user, max_count: 5, max_percent: 20}", "{op: suspend_user, max_count: 0}", 1)
	if day2 == day1 {
		t.Fatal("could not derive the day-2 config from the demo config")
	}
	c1, c2 := writeFile(t, dir, "day1.yaml", day1), writeFile(t, dir, "day2.yaml", day2)

	if r := run(t, nil, "--config", c1, "--run-id", "20261101T000000Z-0001", "run"); r.code != 0 {
		t.Fatalf("day 1: exit %d\n%s", r.code, r.stderr)
	}
	r := run(t, nil, "--config", c2, "--run-id", "20261102T000000Z-0002", "run")
	if r.code != 5 || !strings.Contains(r.stderr, "plan --from-run") {
		t.Fatalf("day 2 with a zero suspension limit: exit %d, want 5 and advice\n%s", r.code, r.stderr)
	}
	if r := run(t, nil, "--config", c2, "--run-id", "20261102T000000Z-0002", "apply"); r.code != 5 {
		t.Fatalf("apply of a blocked plan: exit %d, want 5\n%s", r.code, r.stderr)
	}
	r = run(t, nil, "--config", c2, "--run-id", "20261102T000000Z-0003", "plan", "--from-run", "20261102T000000Z-0002", "--allow", "suspend_user=1")
	if r.code != 0 || !strings.Contains(r.stdout, "--allow suspend_user=1") {
		t.Fatalf("re-plan with --allow: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = run(t, nil, "--config", c2, "--run-id", "20261102T000000Z-0003", "apply")
	if r.code != 0 || !strings.Contains(r.stdout, "0 failed") {
		t.Fatalf("apply of the override plan: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestRerunIsIdempotent: re-running a finished run (an orchestrator's retry,
// or run --from) skips every stage already published and repeats nothing.
func TestRerunIsIdempotent(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run skipped in -short mode")
	}
	env := map[string]string{"OTDS_HIGHSPOT_STORE": t.TempDir()}
	const id = "20261103T000000Z-0001"
	if r := run(t, env, "--run-id", id, "run"); r.code != 0 {
		t.Fatalf("first run: exit %d\n%s", r.code, r.stderr)
	}
	for _, args := range [][]string{{"--run-id", id, "run", "--from", "extract"}, {"--run-id", id, "extract", "--tree", "beta"}, {"--run-id", id, "transform"}} {
		r := run(t, env, args...)
		if r.code != 0 || !strings.Contains(r.stdout, "already published") {
			t.Errorf("%v: exit %d, want 0 with stages skipped\n%s%s", args, r.code, r.stdout, r.stderr)
		}
		if strings.Contains(r.stdout, "applied,") && !strings.Contains(r.stdout, "already applied") && !strings.Contains(r.stdout, "0 applied") {
			t.Errorf("%v: the re-run applied changes again:\n%s", args, r.stdout)
		}
	}
}

// TestPanicExits1: a panic in a command is a bug (exit 1 with the stack),
// not Go's default exit 2, which the contract reserves for usage errors.
func TestPanicExits1(t *testing.T) {
	root := newRootCommand(&globalOptions{})
	root.AddCommand(&cobra.Command{Use: "boom", RunE: func(*cobra.Command, []string) error { panic("boom") }})
	root.SetArgs([]string{"boom"})
	err := executeRecovering(context.Background(), root)
	if got := exitcode.Of(err); got != exitcode.Unexpected || !strings.Contains(err.Error(), "panic: boom") {
		t.Errorf("got exit %d (%v), want %d naming the panic", got, err, exitcode.Unexpected)
	}
}

// TestUnlock: unlock removes dead locks and keeps live ones (exit 11) unless
// --force; every removal is recorded as an unlock event of the run.
func TestUnlock(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.NewFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	const dead, live = "20261105T000000Z-dead", "20261105T000000Z-live"
	old := time.Now().Add(-time.Hour)
	if _, err := artifact.AcquireLock(ctx, st, artifact.LockHolder{RunID: dead, Host: "lost-host", PID: 1, Started: old}, 10*time.Minute,
		artifact.WithLockStages("apply"), artifact.WithHeartbeatEvery(-1), artifact.WithLockClock(func() time.Time { return old })); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"OTDS_HIGHSPOT_STORE": dir, "USER": "oncall"}
	r := run(t, env, "unlock")
	if r.code != 0 || !strings.Contains(r.stdout, "removed _locks/"+dead+"/apply.lock") || !strings.Contains(r.stdout, "recorded") {
		t.Fatalf("unlock of a dead lock: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	evs, _, err := artifact.ReadRunEvents(ctx, st, dead)
	if err != nil || len(evs) != 1 || evs[0].Command != "unlock" || evs[0].User != "oncall" {
		t.Fatalf("unlock record: %+v, %v; want one unlock event by oncall", evs, err)
	}
	l, err := artifact.AcquireLock(ctx, st, artifact.LockHolder{RunID: live, Host: "busy-host", PID: 2}, 10*time.Minute,
		artifact.WithLockStages("plan"), artifact.WithHeartbeatEvery(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(ctx)
	r = run(t, env, "unlock")
	if r.code != 11 || !strings.Contains(r.stdout, "kept") {
		t.Fatalf("unlock of a live lock: exit %d, want 11\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = run(t, env, "unlock", "--force")
	if r.code != 0 || !strings.Contains(r.stdout, "FORCED") {
		t.Fatalf("unlock --force: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if infos, _ := st.List(ctx, "_locks/"); len(infos) != 0 {
		t.Errorf("locks left after unlock --force: %d", len(infos))
	}
	if evs, _, _ := artifact.ReadRunEvents(ctx, st, live); len(evs) != 1 || evs[0].Details["forced"] != true {
		t.Errorf("forced unlock record: %+v", evs)
	}
}

// TestProfileCPU: OTDS_HIGHSPOT_CPUPROFILE writes a (gzipped pprof) profile
// when the command ends, and a path that cannot be created profiles nothing
// instead of failing the command.
func TestProfileCPU(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stage.cpu")
	profileCPU(path)()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("profile: %v", err)
	}
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Errorf("profile starts %x, want a gzip stream (pprof's format)", b[:min(len(b), 4)])
	}
	profileCPU(filepath.Join(t.TempDir(), "missing", "dir", "x.cpu"))() // must not panic
	profileCPU("")()
}

// TestProfileAllocs: OTDS_HIGHSPOT_MEMPROFILE writes a (gzipped pprof)
// allocation profile, and a path that cannot be created writes nothing
// instead of failing the command.
func TestProfileAllocs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stage.mem")
	profileAllocs(path)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("profile: %v", err)
	}
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Errorf("profile starts %x, want a gzip stream (pprof's format)", b[:min(len(b), 4)])
	}
	profileAllocs(filepath.Join(t.TempDir(), "missing", "dir", "x.mem")) // must not panic
	profileAllocs("")
}
