package main

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otds-highspot/otds-highspot/fixtures"
	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/load/highspot/sandbox"
)

// The recovery matrix tests (docs/operations.md, "Recovery matrix"): each
// walks one exit code through the CLI: the failure, the fix, the documented
// command, and then compares the store's published tables (by content), the
// apply ledger's outcome and Highspot's state with a run that never failed.

// restWorld is the demo configuration against a Highspot sandbox served by
// the test process (so that faults can be switched on and off between
// commands, and a subprocess can share it).
type restWorld struct {
	dir, cfg, store string
	hs              *hsSandbox
}

func newRESTWorld(t *testing.T) restWorld {
	t.Helper()
	dir := t.TempDir()
	hs := startSandbox(t, dir)
	return restWorld{dir: dir, cfg: restDemoConfig(t, dir, hs.url), store: filepath.Join(dir, "artifacts"), hs: hs}
}

func (w restWorld) run(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	e := map[string]string{}
	for k, v := range hsEnv {
		e[k] = v
	}
	for k, v := range env {
		e[k] = v
	}
	return run(t, e, append([]string{"--config", w.cfg, "--log-level", "warn"}, args...)...)
}

// state is where the sandbox persists; it is written when it shuts down,
// so compare only after the sandbox was stopped: flush stops it.
func (w restWorld) flush(t *testing.T) string {
	t.Helper()
	if err := w.hs.srv.Close(); err != nil {
		t.Fatal(err)
	}
	return w.hs.state
}

// cleanREST is the run that never failed: the same run id, the same
// configuration, a fresh store and Highspot.
func cleanREST(t *testing.T, id string) restWorld {
	t.Helper()
	w := newRESTWorld(t)
	if r := w.run(t, nil, "--run-id", id, "run"); r.code != 0 {
		t.Fatalf("the run that never fails: exit %d\n%s", r.code, r.stderr)
	}
	return w
}

func runStatus(t *testing.T, storeDir, id string) int {
	t.Helper()
	ri, err := artifact.ShowRun(context.Background(), mustFileStore(t, storeDir), id)
	if err != nil {
		t.Fatal(err)
	}
	if !ri.HasStatus {
		t.Fatalf("run %s has no status", id)
	}
	return ri.ExitCode
}

// TestRecoveryMatrix_Exit2_MissingLDIFThenFixedRerun: a tree's LDIF export
// is not where the configuration says: exit 2 naming the file and
// trees[].ldif.path (not 3: retrying cannot make it appear). Fix the path,
// then `run --run-id <same>`.
func TestRecoveryMatrix_Exit2_MissingLDIFThenFixedRerun(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run skipped in -short mode")
	}
	const id = "20261107T023000Z-row2"
	clean, w := newDemoWorld(t), newDemoWorld(t)
	if r := clean.run(t, "--run-id", id, "run"); r.code != 0 {
		t.Fatalf("the run that never fails: exit %d\n%s", r.code, r.stderr)
	}
	good, err := os.ReadFile(w.cfg)
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(good), "fixtures:otds/trees.ldif", filepath.Join(w.dir, "exports", "acme.ldif"), 1)
	if err := os.WriteFile(w.cfg, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	r := w.run(t, "--run-id", id, "run")
	if r.code != 2 || !strings.Contains(r.stderr, "acme.ldif") || !strings.Contains(r.stderr, "trees[].ldif.path") {
		t.Fatalf("missing LDIF: exit %d, want 2 naming the file and trees[].ldif.path\n%s", r.code, r.stderr)
	}
	// The fix: the path (here: back to the export that exists).
	if err := os.WriteFile(w.cfg, good, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := w.run(t, "--run-id", id, "run"); r.code != 0 {
		t.Fatalf("run --run-id after the fix: exit %d\n%s", r.code, r.stderr)
	}
	sameEndState(t, id, filepath.Join(clean.dir, "artifacts"), filepath.Join(w.dir, "artifacts"), clean.state, w.state)
	if got := runStatus(t, filepath.Join(w.dir, "artifacts"), id); got != 0 {
		t.Errorf("runs list status after the recovery: exit %d, want 0", got)
	}
}

// TestRecoveryMatrix_Exit3_HighspotOutageThenRerun: Highspot answers 503 to
// everything: the run stops at pull with exit 3 (retry), having published
// extract and transform. When Highspot is back, `run --run-id <same>` (what
// a scheduler's retry does) skips what is published and finishes.
func TestRecoveryMatrix_Exit3_HighspotOutageThenRerun(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run skipped in -short mode")
	}
	const id = "20261107T023000Z-row3"
	clean := cleanREST(t, id)
	w := newRESTWorld(t)
	w.hs.srv.SetFaults(sandbox.Faults{ErrorRate: 1})
	r := w.run(t, nil, "--run-id", id, "run")
	if r.code != 3 {
		t.Fatalf("Highspot outage: exit %d, want 3\n%s", r.code, r.stderr)
	}
	w.hs.srv.SetFaults(sandbox.Faults{})
	if r := w.run(t, nil, "--run-id", id, "run"); r.code != 0 || !strings.Contains(r.stdout, "already published") {
		t.Fatalf("run --run-id after the outage: exit %d, want 0 with the published stages skipped\n%s%s", r.code, r.stdout, r.stderr)
	}
	sameEndState(t, id, clean.store, w.store, clean.flush(t), w.flush(t))
	if got := runStatus(t, w.store, id); got != 0 {
		t.Errorf("runs list status after the recovery: exit %d, want 0", got)
	}
}

// TestRecoveryMatrix_Exit4_TruncatedExportThenRerun: an export comes back
// without one subsidiary (gamma): its source-health gate trips, exit 4, and
// nothing of gamma is published (so nobody is deprovisioned). A human
// restores the full export; `run --run-id <same>` extracts gamma and goes on.
func TestRecoveryMatrix_Exit4_TruncatedExportThenRerun(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run skipped in -short mode")
	}
	const id = "20261107T023000Z-row4"
	full, err := fs.ReadFile(fixtures.FS(), "otds/trees.ldif")
	if err != nil {
		t.Fatal(err)
	}
	world := func(t *testing.T) (demoWorld, string) {
		w := newDemoWorld(t)
		export := filepath.Join(w.dir, "export.ldif")
		b, err := os.ReadFile(w.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(w.cfg, []byte(strings.ReplaceAll(string(b), "fixtures:otds/trees.ldif", export)), 0o644); err != nil {
			t.Fatal(err)
		}
		return w, export
	}
	clean, cleanExport := world(t)
	writeFile(t, filepath.Dir(cleanExport), filepath.Base(cleanExport), string(full))
	if r := clean.run(t, "--run-id", id, "run"); r.code != 0 {
		t.Fatalf("the run that never fails: exit %d\n%s", r.code, r.stderr)
	}

	w, export := world(t)
	var kept []string
	for _, block := range strings.Split(string(full), "\n\n") {
		dn, _, _ := strings.Cut(strings.TrimSpace(block), "\n")
		if !strings.Contains(dn, "ou=Gamma Contractors") { // gamma's entries are missing from the export
			kept = append(kept, block)
		}
	}
	writeFile(t, filepath.Dir(export), filepath.Base(export), strings.Join(kept, "\n\n"))
	r := w.run(t, "--run-id", id, "run")
	if r.code != 4 || !strings.Contains(r.stderr, "gamma") {
		t.Fatalf("truncated export: exit %d, want 4 naming the tree\n%s", r.code, r.stderr)
	}
	if _, _, err := artifact.ReadManifest(context.Background(), mustFileStore(t, filepath.Join(w.dir, "artifacts")), id, "extract.gamma"); err == nil {
		t.Fatal("the gated tree was published")
	}
	writeFile(t, filepath.Dir(export), filepath.Base(export), string(full)) // the fix: the full export
	if r := w.run(t, "--run-id", id, "run"); r.code != 0 {
		t.Fatalf("run --run-id after restoring the export: exit %d\n%s", r.code, r.stderr)
	}
	sameEndState(t, id, filepath.Join(clean.dir, "artifacts"), filepath.Join(w.dir, "artifacts"), clean.state, w.state)
}

// TestRecoveryMatrix_Exit7_HighspotAuthThenFixedRerun: a wrong Highspot API
// secret: 401 at pull, exit 7 (auth: the shipped schedulers never retry it).
// With the secret fixed, `run --run-id <same>` finishes.
func TestRecoveryMatrix_Exit7_HighspotAuthThenFixedRerun(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run skipped in -short mode")
	}
	const id = "20261107T023000Z-row7"
	clean := cleanREST(t, id)
	w := newRESTWorld(t)
	r := w.run(t, map[string]string{"HS_SECRET": "rotated-away"}, "--run-id", id, "run")
	if r.code != 7 || !strings.Contains(r.stderr, "401") {
		t.Fatalf("wrong Highspot secret: exit %d, want 7 naming the 401\n%s", r.code, r.stderr)
	}
	if got := runStatus(t, w.store, id); got != 7 {
		t.Errorf("runs list status after the auth failure: exit %d, want 7", got)
	}
	if r := w.run(t, nil, "--run-id", id, "run"); r.code != 0 {
		t.Fatalf("run --run-id with the secret fixed: exit %d\n%s", r.code, r.stderr)
	}
	sameEndState(t, id, clean.store, w.store, clean.flush(t), w.flush(t))
	if got := runStatus(t, w.store, id); got != 0 {
		t.Errorf("runs list status after the recovery: exit %d, want 0", got)
	}
}

// TestRecoveryMatrix_Exit11_LostHostLockThenUnlock: a run on a machine that
// was lost left a lock with a fresh heartbeat: the next run exits 11 naming
// it. The operator, knowing the machine is gone, runs `unlock --force`
// (recorded), then `run --run-id <same>`.
func TestRecoveryMatrix_Exit11_LostHostLockThenUnlock(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run skipped in -short mode")
	}
	const id, other = "20261107T023000Z-ro11", "20261107T020000Z-lost"
	clean, w := newDemoWorld(t), newDemoWorld(t)
	if r := clean.run(t, "--run-id", id, "run"); r.code != 0 {
		t.Fatalf("the run that never fails: exit %d\n%s", r.code, r.stderr)
	}
	storeDir := filepath.Join(w.dir, "artifacts")
	if _, err := artifact.AcquireLock(context.Background(), mustFileStore(t, storeDir), artifact.LockHolder{RunID: other, Host: "lost-host", PID: 4242},
		10*time.Minute, artifact.WithLockStages("apply"), artifact.WithHeartbeatEvery(-1)); err != nil {
		t.Fatal(err)
	}
	r := w.run(t, "--run-id", id, "run")
	if r.code != 11 || !strings.Contains(r.stderr, "lost-host") || !strings.Contains(r.stderr, "unlock") {
		t.Fatalf("locked: exit %d, want 11 naming the holder and unlock\n%s", r.code, r.stderr)
	}
	if r := w.run(t, "unlock", "--force"); r.code != 0 {
		t.Fatalf("unlock --force: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := w.run(t, "--run-id", id, "run"); r.code != 0 {
		t.Fatalf("run --run-id after unlock: exit %d\n%s", r.code, r.stderr)
	}
	sameEndState(t, id, filepath.Join(clean.dir, "artifacts"), storeDir, clean.state, w.state)
	if evs, _, _ := artifact.ReadRunEvents(context.Background(), mustFileStore(t, storeDir), other); len(evs) != 1 || evs[0].Command != "unlock" {
		t.Errorf("the forced unlock was not recorded on the lost run: %+v", evs)
	}
	noLocks(t, mustFileStore(t, storeDir))
}

// TestRecoveryMatrix_Exit130_SIGTERMMidApplyThenResume: SIGTERM in the
// middle of apply: exit 130, the lock released, nothing half-published.
// `apply --run-id <same>` resumes from the ledger and finishes.
func TestRecoveryMatrix_Exit130_SIGTERMMidApplyThenResume(t *testing.T) {
	if testing.Short() {
		t.Skip("process test skipped in -short mode")
	}
	const id = "20261107T023000Z-r130"
	clean := cleanREST(t, id)
	w := newRESTWorld(t)
	if r := w.run(t, nil, "--run-id", id, "run", "--until", "plan"); r.code != 0 {
		t.Fatalf("run --until plan: exit %d\n%s", r.code, r.stderr)
	}
	st := mustFileStore(t, w.store)
	w.hs.srv.SetFaults(sandbox.Faults{LatencyMS: 100})
	cmd, stderr := startCLI(t, hsEnv, "--config", w.cfg, "--run-id", id, "apply")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	waitForKey(t, st, "_locks/"+id+"/apply.lock", cmd, exited)
	time.Sleep(300 * time.Millisecond) // a few requests in flight
	_ = cmd.Process.Signal(syscall.SIGTERM)
	<-exited
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("apply after SIGTERM: exit %d, want 130\n%s", code, stderr)
	}
	noLocks(t, st)
	w.hs.srv.SetFaults(sandbox.Faults{})
	if r := w.run(t, nil, "--run-id", id, "apply"); r.code != 0 {
		t.Fatalf("apply --run-id after SIGTERM: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	sameEndState(t, id, clean.store, w.store, clean.flush(t), w.flush(t))
	if got := runStatus(t, w.store, id); got != 0 {
		t.Errorf("runs list status after the recovery: exit %d, want 0", got)
	}
}

// TestRecoveryMatrixDocumented: every exit code has a row in the recovery
// matrix of docs/operations.md, and every test the matrix names exists.
func TestRecoveryMatrixDocumented(t *testing.T) {
	doc := read(t, "../../docs/operations.md")
	i := strings.Index(doc, "## Recovery matrix")
	if i < 0 {
		t.Fatal("docs/operations.md has no Recovery matrix section")
	}
	section := doc[i:]
	section = section[:strings.Index(section[3:], "\n## ")+3]
	var src strings.Builder
	files, _ := filepath.Glob("*_test.go")
	for _, f := range files {
		src.WriteString(read(t, f))
	}
	for _, code := range []string{"0 ok", "1 unexpected", "2 usage", "3 transient", "4 source_gate", "5 plan_blocked", "6 apply_failed", "7 auth", "11 locked", "130 cancelled"} {
		var row string
		for _, line := range strings.Split(section, "\n") {
			if strings.HasPrefix(line, "| "+code+" |") {
				row = line
			}
		}
		if row == "" {
			t.Errorf("recovery matrix: no row for exit %s", code)
			continue
		}
		for _, f := range strings.Split(row, "`") {
			if strings.HasPrefix(f, "Test") && !strings.Contains(src.String(), "func "+f+"(") {
				t.Errorf("recovery matrix row %s names %s, which does not exist", code, f)
			}
		}
	}
}
