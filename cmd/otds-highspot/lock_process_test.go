package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otds-highspot/otds-highspot/fixtures"
	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/store"
	"github.com/otds-highspot/otds-highspot/load/highspot/sandbox"
)

// lockTestBinary builds the otds-highspot binary once per test process (the
// lock tests need real processes: signals, SIGKILL, a closed pipe).
func lockTestBinary(t *testing.T) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("process tests need POSIX signals")
	}
	return builtBinary(t)
}

// hsSandbox is a Highspot sandbox served by the test process, so that
// several otds-highspot processes share one Highspot (target rest).
type hsSandbox struct {
	srv   *sandbox.Server
	url   string // REST base
	state string // state file
}

func startSandbox(t *testing.T, dir string) *hsSandbox {
	t.Helper()
	state := filepath.Join(dir, "highspot.json")
	srv, err := sandbox.New(sandbox.Options{StateFile: state})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return &hsSandbox{srv: srv, url: sandbox.RESTBase("http://" + ln.Addr().String()), state: state}
}

// hsEnv holds the sandbox credentials the configs below name.
var hsEnv = map[string]string{"HS_KEY": sandbox.DefaultKey, "HS_SECRET": sandbox.DefaultSecret}

// restDemoConfig is the embedded demo configuration with its store in dir
// and Highspot reached over REST at hsURL.
func restDemoConfig(t *testing.T, dir, hsURL string) string {
	t.Helper()
	demo, err := fixtures.DemoConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(demo), "url: ./artifacts", "url: "+filepath.Join(dir, "artifacts"), 1)
	cfg = strings.Replace(cfg, "target: sandbox          # the in-process stand-in; rest or scim for a real tenant\n  sandbox: {surface: rest}",
		"target: rest\n  rest: {base_url: \""+hsURL+"\", api_key: {env: HS_KEY}, api_secret: {env: HS_SECRET}, timeout: 30s}", 1)
	// Retries that give up quickly (the transient row of the recovery matrix).
	cfg = strings.Replace(cfg, "  concurrency: 4\n", "  concurrency: 4\n  backoff_base: 5ms\n  backoff_max: 20ms\n", 1)
	if !strings.Contains(cfg, "target: rest") || !strings.Contains(cfg, filepath.Join(dir, "artifacts")) || !strings.Contains(cfg, "backoff_max") {
		t.Fatal("could not derive the REST config from the demo config")
	}
	return writeFile(t, dir, "config.yaml", cfg)
}

// startCLI starts the binary with args; env adds to the test's environment.
func startCLI(t *testing.T, env map[string]string, args ...string) (*exec.Cmd, *strings.Builder) {
	t.Helper()
	cmd := exec.Command(lockTestBinary(t), args...)
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	return cmd, &stderr
}

// waitForKey polls the store until key exists (the process holds its lock).
func waitForKey(t *testing.T, st store.Store, key string, cmd *exec.Cmd, exited <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if _, err := st.Stat(context.Background(), key); err == nil {
			return
		}
		select {
		case <-exited:
			t.Fatalf("the process exited before %s appeared", key)
		case <-time.After(2 * time.Millisecond):
		}
	}
	_ = cmd.Process.Kill()
	t.Fatalf("%s never appeared", key)
}

func noLocks(t *testing.T, st store.Store) {
	t.Helper()
	infos, err := st.List(context.Background(), "_locks/")
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 0 {
		var keys []string
		for _, in := range infos {
			keys = append(keys, in.Key)
		}
		t.Errorf("locks left in the store: %q", keys)
	}
}

// ledgerCounts counts the load_results rows of every part of a run (also
// parts of killed attempts) per change id.
func ledgerCounts(t *testing.T, st store.Store, runID string) map[string]int {
	t.Helper()
	n := map[string]int{}
	err := artifact.ReadParts(context.Background(), st, runID, contract.LoadResultsSpec, func(r contract.LoadResult) error {
		if r.Status == contract.StatusApplied {
			n[r.ChangeID]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestApplyDryRunClosedPipeReleasesLock: `apply --dry-run | head -1` used to
// die of SIGPIPE holding the lock, so the next run exited 11 for hours.
func TestApplyDryRunClosedPipeReleasesLock(t *testing.T) {
	if testing.Short() {
		t.Skip("process test skipped in -short mode")
	}
	dir := t.TempDir()
	store := filepath.Join(dir, "artifacts")
	env := map[string]string{"OTDS_HIGHSPOT_STORE": store}
	const id = "20261104T000000Z-pipe"
	if r := run(t, env, "--run-id", id, "run", "--until", "plan"); r.code != 0 {
		t.Fatalf("run --until plan: exit %d\n%s", r.code, r.stderr)
	}
	cmd, stderr := startCLI(t, env, "--run-id", id, "apply", "--dry-run")
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = pw
	pr.Close() // the reader (head) is gone before the first line
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	_ = cmd.Wait() // the exit status is read from ProcessState below
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		t.Fatalf("apply --dry-run into a closed pipe died of %v\n%s", ws.Signal(), stderr)
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 && code != 130 {
		t.Errorf("apply --dry-run into a closed pipe: exit %d, want 0 or 130 (stopped by its reader)\n%s", code, stderr)
	}
	noLocks(t, mustFileStore(t, store))
	if r := run(t, env, "--run-id", "20261104T000001Z-next", "extract"); r.code != 0 {
		t.Errorf("the next run after the closed pipe: exit %d, want 0\n%s", r.code, r.stderr)
	}
}

func mustFileStore(t *testing.T, dir string) store.Store {
	t.Helper()
	st, err := store.NewFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestKilledApplyIsTakenOverOnResume: after kill -9 of apply, the documented
// resume (apply --run-id <same>) used to proceed as "another task of this
// run" and leave the lock forever. Now the dead holder (same host, pid gone)
// is taken over with a warning and the resume releases everything.
func TestKilledApplyIsTakenOverOnResume(t *testing.T) {
	if testing.Short() {
		t.Skip("process test skipped in -short mode")
	}
	dir := t.TempDir()
	hs := startSandbox(t, dir)
	cfg := restDemoConfig(t, dir, hs.url)
	st := mustFileStore(t, filepath.Join(dir, "artifacts"))
	const id = "20261104T000000Z-kill"
	if r := run(t, hsEnv, "--config", cfg, "--run-id", id, "run", "--until", "plan"); r.code != 0 {
		t.Fatalf("run --until plan: exit %d\n%s", r.code, r.stderr)
	}
	hs.srv.SetFaults(sandbox.Faults{LatencyMS: 200})
	cmd, stderr := startCLI(t, hsEnv, "--config", cfg, "--run-id", id, "apply")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	waitForKey(t, st, "_locks/"+id+"/apply.lock", cmd, exited)
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
	if _, err := st.Stat(context.Background(), "_locks/"+id+"/apply.lock"); err != nil {
		t.Fatalf("the killed apply left no lock (it finished first?): %v\n%s", err, stderr)
	}
	hs.srv.SetFaults(sandbox.Faults{})
	r := run(t, hsEnv, "--config", cfg, "--run-id", id, "apply")
	if r.code != 0 {
		t.Fatalf("resume after kill -9: exit %d, want 0\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "taking its lock over") || !strings.Contains(r.stderr, "is gone from this host") {
		t.Errorf("resume: no takeover warning naming the dead pid:\n%s", r.stderr)
	}
	noLocks(t, st)
}

// TestConcurrentApplySameRunRefused: two apply of the same run id used to
// both proceed and send every write twice. The second is refused (exit 11)
// and the ledger has each change once.
func TestConcurrentApplySameRunRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("process test skipped in -short mode")
	}
	dir := t.TempDir()
	hs := startSandbox(t, dir)
	cfg := restDemoConfig(t, dir, hs.url)
	st := mustFileStore(t, filepath.Join(dir, "artifacts"))
	const id = "20261104T000000Z-twin"
	if r := run(t, hsEnv, "--config", cfg, "--run-id", id, "run", "--until", "plan"); r.code != 0 {
		t.Fatalf("run --until plan: exit %d\n%s", r.code, r.stderr)
	}
	hs.srv.SetFaults(sandbox.Faults{LatencyMS: 50})
	cmd, stderr := startCLI(t, hsEnv, "--config", cfg, "--run-id", id, "apply")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	waitForKey(t, st, "_locks/"+id+"/apply.lock", cmd, exited)
	r := run(t, hsEnv, "--config", cfg, "--run-id", id, "apply")
	<-exited
	if r.code != 11 || !strings.Contains(r.stderr, "stage apply") {
		t.Errorf("second apply of the same run: exit %d, want 11 naming the stage\n%s", r.code, r.stderr)
	}
	if waitErr != nil {
		t.Fatalf("first apply: %v\n%s", waitErr, stderr)
	}
	counts := ledgerCounts(t, st, id)
	if len(counts) == 0 {
		t.Fatal("the ledger is empty")
	}
	for c, n := range counts {
		if n != 1 {
			t.Errorf("change %s applied %d times, want 1", c, n)
		}
	}
	noLocks(t, st)
}
