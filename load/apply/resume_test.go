package apply_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/parquet/file"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/load"
	"github.com/otds-highspot/otds-highspot/load/apply"
	"github.com/otds-highspot/otds-highspot/load/highspot/sandbox"
	"github.com/otds-highspot/otds-highspot/load/internal/loadtest"
)

func publishPlanStage(t *testing.T, env artifact.Env, changes []contract.Change) {
	t.Helper()
	loadtest.PublishPlan(t, env, changes, "", contract.PlanSummary{})
}

func resumeOpts() load.ApplyOptions {
	return load.ApplyOptions{RatePerSecond: 100, Burst: 1, Concurrency: 2, FlushEvery: 5, MaxAttempts: 8,
		BackoffBase: 5 * time.Millisecond, BackoffMax: 50 * time.Millisecond, Classify: loadtest.Classify, Rand: rand.New(rand.NewPCG(5, 5))}
}

// TestApplyHelperProcess is the child of TestApplyKilledMidRunResumes: it
// applies the published plan against the parent's sandbox until killed.
func TestApplyHelperProcess(t *testing.T) {
	if os.Getenv("OTDS_APPLY_HELPER") != "1" {
		t.Skip("helper process for TestApplyKilledMidRunResumes (runs only as its child)")
	}
	env := loadtest.FileEnv(t, os.Getenv("OTDS_APPLY_STORE"), os.Getenv("OTDS_APPLY_TMP"))
	target, err := sandbox.Client("rest", os.Getenv("OTDS_APPLY_SANDBOX"), &http.Client{Timeout: 10 * time.Second}, loadtest.Log())
	if err != nil {
		t.Fatal(err)
	}
	_, err = apply.RunApply(t.Context(), env, nil, target, resumeOpts())
	t.Logf("child finished (it should have been killed first): %v", err)
}

// countParts counts the ledger part files flushed so far.
func countParts(root string) int {
	n := 0
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasPrefix(d.Name(), "part-") && strings.HasSuffix(d.Name(), ".parquet") &&
			strings.Contains(p, string(filepath.Separator)+contract.LoadResultsSpec.Name+string(filepath.Separator)) {
			n++
		}
		return nil
	})
	return n
}

// prefixRows reads a table the way Athena, Spark or Trino do: every Parquet
// file under the table's prefix, manifest or not. It returns the files and
// their total row count.
func prefixRows(t *testing.T, root, table string) (files int, rows int64) {
	t.Helper()
	err := filepath.WalkDir(filepath.Join(root, table), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(d.Name(), ".parquet") {
			return err
		}
		r, err := file.OpenParquetFile(p, false)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		defer r.Close()
		files++
		rows += r.NumRows()
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return files, rows
}

// TestApplyKilledMidRunResumes kills (SIGKILL) a child process in the middle
// of apply, after some ledger flushes, then resumes in this process: the run
// completes, no user is created twice and the committed ledger holds every
// change exactly once.
func TestApplyKilledMidRunResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process; skipped with -short")
	}
	fx := newFixture(60)
	sb, err := sandbox.New(sandbox.Options{Seed: &fx.seed, RandSeed: 11})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { _ = sb.Serve(ctx, ln) }()
	root := "http://" + ln.Addr().String()

	dir, tmp := t.TempDir(), t.TempDir()
	env := loadtest.FileEnv(t, dir, tmp)
	publishPlanStage(t, env, fx.changes)

	cmd := exec.Command(os.Args[0], "-test.run=^TestApplyHelperProcess$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "OTDS_APPLY_HELPER=1", "OTDS_APPLY_STORE="+dir, "OTDS_APPLY_TMP="+t.TempDir(), "OTDS_APPLY_SANDBOX="+root)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	const killAfter = 14 // ledger parts: past the user batch, inside the memberships
	deadline := time.Now().Add(30 * time.Second)
	for countParts(dir) < killAfter {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("child flushed %d ledger parts in 30s, want %d; output:\n%s", countParts(dir), killAfter, out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no deferred flush, no cleanup
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if strings.Contains(out.String(), "child finished") {
		t.Fatalf("the child finished before it was killed; output:\n%s", out.String())
	}
	if _, _, err := artifact.ReadManifest(t.Context(), env.Store, loadtest.RunID, contract.Apply); err == nil {
		t.Fatal("the killed child committed the apply manifest")
	}
	// The killed attempt's ledger parts are in the staging area, not in
	// the table: an engine reading the table's prefix sees nothing yet.
	if files, rows := prefixRows(t, dir, contract.LoadResultsSpec.Name); files != 0 {
		t.Fatalf("after the kill the load_results prefix holds %d files (%d rows), want none", files, rows)
	}
	usersBefore := len(sb.State().Users)

	target, err := sandbox.Client("rest", root, &http.Client{Timeout: 10 * time.Second}, loadtest.Log())
	if err != nil {
		t.Fatal(err)
	}
	res, err := apply.RunApply(t.Context(), env, nil, target, resumeOpts())
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	if res.Summary.Resumed == 0 || res.Summary.Resumed == len(fx.changes) {
		t.Errorf("resumed: got %d of %d, want a partial ledger from the killed run", res.Summary.Resumed, len(fx.changes))
	}
	state := sb.State()
	checkState(t, state, fx.want)
	if len(state.Users) != usersBefore {
		t.Errorf("users: got %d after resume, want %d (every create had landed before the kill; none repeated)", len(state.Users), usersBefore)
	}
	rows, err := artifact.ReadAll[contract.LoadResult](t.Context(), env.Store, res.Manifest, contract.LoadResultsSpec)
	if err != nil {
		t.Fatal(err)
	}
	checkLedger(t, rows, fx.changes)
	// Read by prefix, the table holds exactly the published rows.
	if files, n := prefixRows(t, dir, contract.LoadResultsSpec.Name); n != res.Manifest.TableRows(contract.LoadResultsSpec.Name) || files != len(res.Manifest.Tables[contract.LoadResultsSpec.Name].Files) {
		t.Errorf("load_results read by prefix: %d files, %d rows; the manifest publishes %d files, %d rows",
			files, n, len(res.Manifest.Tables[contract.LoadResultsSpec.Name].Files), res.Manifest.TableRows(contract.LoadResultsSpec.Name))
	}
	t.Logf("killed after %d ledger parts; resumed %d, applied %d in the second run", killAfter, res.Summary.Resumed, res.Summary.Applied)
}
