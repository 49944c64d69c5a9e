package retention_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/retention"
	"github.com/otds-highspot/otds-highspot/internal/store"
)

var now = time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC)

// publish commits a transform stage (persons, one row) and a blob for a run.
func publish(t *testing.T, st store.Store, runID, stage string) {
	t.Helper()
	s := artifact.NewStage(artifact.Env{Store: st, RunID: runID, TempDir: t.TempDir()}, contract.Stage(stage))
	w, err := artifact.OpenTable[contract.Person](s, contract.PersonsSpec)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(contract.Person{PersonID: "p-" + runID}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutBlob(context.Background(), "report.json", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// orphan uploads an unlisted part (a crashed attempt) into run's persons partition.
func orphan(t *testing.T, st store.Store, runID string) string {
	t.Helper()
	prefix, err := artifact.TablePrefix("persons", runID)
	if err != nil {
		t.Fatal(err)
	}
	key := prefix + "part-00000-dead.parquet"
	if err := st.Put(context.Background(), key, bytes.NewReader([]byte("x")), 1); err != nil {
		t.Fatal(err)
	}
	return key
}

func runsIn(t *testing.T, st store.Store) []string {
	t.Helper()
	infos, err := artifact.ListRuns(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ri := range infos {
		out = append(out, ri.RunID)
	}
	sort.Strings(out)
	return out
}

func keysUnder(t *testing.T, st store.Store, run string) []string {
	t.Helper()
	all, err := st.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, in := range all {
		if strings.Contains(in.Key, run) {
			out = append(out, in.Key)
		}
	}
	return out
}

const (
	rOld1  = "20260101T020000Z-0001" // old: pruned
	rOld2  = "20260102T020000Z-0002" // old, but the latest "pull": kept
	rMid   = "20260320T020000Z-0003" // within keep_days
	rNew   = "20260330T020000Z-0004" // newest
	rCrash = "20260105T020000Z-0005" // old, crashed before any manifest
)

func seed(t *testing.T) (*store.FileStore, string) {
	dir := t.TempDir()
	st, err := store.NewFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	publish(t, st, rOld1, "transform")
	publish(t, st, rOld2, "transform")
	publish(t, st, rOld2, "pull")
	publish(t, st, rMid, "transform")
	publish(t, st, rNew, "transform")
	orphan(t, st, rCrash)
	return st, dir
}

func TestPrune(t *testing.T) {
	ctx := context.Background()
	st, dir := seed(t)
	midOrphan := orphan(t, st, rMid)
	// A failed attempt's report, stored before its commit failed.
	midBlob := "_runs/" + rMid + "/transform/0badf00d/report.json"
	if err := st.Put(ctx, midBlob, bytes.NewReader([]byte("{}")), 2); err != nil {
		t.Fatal(err)
	}
	// A crashed attempt's upload in the staging area.
	midStaged := artifact.StagingPrefix(rMid) + "0badf00d/persons/part-00000-0badf00d.parquet"
	if err := st.Put(ctx, midStaged, bytes.NewReader([]byte("x")), 1); err != nil {
		t.Fatal(err)
	}
	// Orphan age comes from the file's mtime: set it against the test clock.
	old := now.Add(-96 * time.Hour)
	for _, k := range []string{midOrphan, midBlob, midStaged} {
		if err := os.Chtimes(filepath.Join(dir, filepath.FromSlash(k)), old, old); err != nil {
			t.Fatal(err)
		}
	}
	fresh := orphan(t, st, rNew)
	if err := os.Chtimes(filepath.Join(dir, filepath.FromSlash(fresh)), now.Add(-time.Hour), now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}

	opts := retention.Options{KeepDays: 30, KeepRuns: 1, Now: func() time.Time { return now }, DryRun: true}
	dry, err := retention.Prune(ctx, st, opts)
	if err != nil {
		t.Fatal(err)
	}
	var dryRuns []string
	for _, a := range dry.Removed {
		dryRuns = append(dryRuns, a.RunID)
	}
	if want := []string{rOld1, rCrash}; !slices.Equal(dryRuns, want) || dry.Deleted != 0 {
		t.Errorf("dry run: got runs %q deleted %d, want %q deleted 0", dryRuns, dry.Deleted, want)
	}
	if got := runsIn(t, st); len(got) != 4 {
		t.Errorf("dry run removed runs: got %q", got)
	}
	// Manifests are deleted first.
	if a := dry.Removed[0]; !strings.HasSuffix(a.Keys[0], ".manifest.json") || !strings.HasSuffix(a.Keys[len(a.Keys)-1], ".parquet") {
		t.Errorf("deletion order: got %q, want the manifest first and parts last", a.Keys)
	}

	opts.DryRun = false
	rep, err := retention.Prune(ctx, st, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := runsIn(t, st), []string{rOld2, rMid, rNew}; !slices.Equal(got, want) {
		t.Errorf("runs after prune: got %q, want %q", got, want)
	}
	for _, r := range []string{rOld1, rCrash} {
		if k := keysUnder(t, st, r); len(k) != 0 {
			t.Errorf("run %s: objects left: %q", r, k)
		}
	}
	wantKept := map[string]string{rOld2: retention.KeptLatest, rMid: retention.KeptRecent, rNew: retention.KeptNewest}
	if fmt.Sprint(rep.Kept) != fmt.Sprint(wantKept) {
		t.Errorf("kept: got %v, want %v", rep.Kept, wantKept)
	}
	if want := []string{midBlob, midOrphan, midStaged}; !slices.Equal(rep.Orphans, want) {
		t.Errorf("orphans: got %q, want %q (the fresh one is within the grace period)", rep.Orphans, want)
	}
	if _, err := st.Stat(ctx, fresh); err != nil {
		t.Errorf("fresh orphan: %v, want kept", err)
	}
	// Published data of kept runs is intact.
	for _, r := range []string{rOld2, rMid, rNew} {
		if v, err := artifact.Verify(ctx, st, r); err != nil || len(v.Problems) > 0 && !onlyChain(v.Problems) {
			t.Errorf("verify %s after prune: %v %q", r, err, v.Problems)
		}
	}
	// A second prune finds nothing more.
	again, err := retention.Prune(ctx, st, opts)
	if err != nil || len(again.Removed) != 0 || len(again.Orphans) != 0 {
		t.Errorf("second prune: got %+v, %v; want nothing removed", again, err)
	}
}

// onlyChain: the oldest kept manifest's `previous` link points at a pruned
// run; that is expected after prune.
func onlyChain(problems []string) bool {
	for _, p := range problems {
		if !strings.Contains(p, "previous") {
			return false
		}
	}
	return true
}

// lockStore is a file store with S3 Object Lock semantics for some keys:
// Stat reports RetainUntil, Delete refuses with store.ErrRetained. (The file
// backend has no retention; the S3 test below uses a real one.)
type lockStore struct {
	*store.FileStore
	until    time.Time
	held     func(key string) bool
	statLies bool // Stat hides the retention (Delete still refuses)
}

func (s lockStore) Stat(ctx context.Context, key string) (store.Info, error) {
	in, err := s.FileStore.Stat(ctx, key)
	if err == nil && s.held(key) && !s.statLies {
		in.RetainUntil = s.until
	}
	return in, err
}

func (s lockStore) Delete(ctx context.Context, key string) error {
	if s.held(key) {
		return fmt.Errorf("delete %s: %w", key, store.ErrRetained)
	}
	return s.FileStore.Delete(ctx, key)
}

func TestPruneRespectsRetention(t *testing.T) {
	ctx := context.Background()
	fs, _ := seed(t)
	held := func(k string) bool { return strings.Contains(k, rOld1) && strings.HasSuffix(k, ".parquet") }
	st := lockStore{FileStore: fs, until: now.Add(24 * time.Hour), held: held}
	opts := retention.Options{KeepDays: 30, Now: func() time.Time { return now }}
	rep, err := retention.Prune(ctx, st, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Kept[rOld1] != retention.KeptRetained || len(rep.Retained) != 1 {
		t.Errorf("got kept %v retained %v, want %s kept for retention", rep.Kept, rep.Retained, rOld1)
	}
	if got := keysUnder(t, fs, rOld1); len(got) < 3 {
		t.Errorf("retained run was partly removed: left %q", got)
	}
	if _, _, err := artifact.ReadManifest(ctx, fs, rOld1, "transform"); err != nil {
		t.Errorf("retained run's manifest: %v, want it kept", err)
	}

	// A retention Stat did not show (clock skew, another writer): Delete
	// refuses, prune stops with ErrRetained.
	st.statLies = true
	_, err = retention.Prune(ctx, st, opts)
	if !errors.Is(err, store.ErrRetained) {
		t.Errorf("got %v, want an error wrapping store.ErrRetained", err)
	}
}

func TestPruneKeepsLockedAndValidates(t *testing.T) {
	ctx := context.Background()
	st, _ := seed(t)
	lock := []byte(`{"run_id":"` + rOld1 + `","host":"h","pid":1}`)
	if err := st.Put(ctx, artifact.LockKey, bytes.NewReader(lock), int64(len(lock))); err != nil {
		t.Fatal(err)
	}
	rep, err := retention.Prune(ctx, st, retention.Options{KeepDays: 30, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Kept[rOld1] != retention.KeptLocked {
		t.Errorf("locked run: got %q, want %q", rep.Kept[rOld1], retention.KeptLocked)
	}
	if _, err := st.Stat(ctx, artifact.LockKey); err != nil {
		t.Errorf("the run lock was touched: %v", err)
	}
	if _, err := retention.Prune(ctx, st, retention.Options{KeepDays: -1}); err == nil {
		t.Errorf("negative keep days: got no error")
	}
}

// TestPruneObjectLockIntegration prunes on a real S3 bucket with Object Lock
// (versitygw): objects under retention are skipped, never deleted.
func TestPruneObjectLockIntegration(t *testing.T) {
	endpoint, bucket := os.Getenv("OTDS_TEST_S3_ENDPOINT"), os.Getenv("OTDS_TEST_S3_LOCK_BUCKET")
	if endpoint == "" || bucket == "" {
		t.Skip("OTDS_TEST_S3_ENDPOINT or OTDS_TEST_S3_LOCK_BUCKET unset: start the real S3 service with `scripts/versitygw.sh up` and `eval \"$(scripts/versitygw.sh env)\"`")
	}
	ctx := t.Context()
	url := fmt.Sprintf("s3://%s/prune/%d", bucket, time.Now().UnixNano())
	st, err := store.Open(ctx, url, store.Options{Endpoint: endpoint, PathStyle: true, ObjectLockMode: "governance", ObjectLockDays: 1, RetentionExempt: []string{"_locks/"}})
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	publish(t, st, rOld1, "transform")
	publish(t, st, rNew, "transform")
	rep, err := retention.Prune(ctx, st, retention.Options{KeepDays: 30, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Kept[rOld1] != retention.KeptRetained || len(rep.Removed) != 0 {
		t.Errorf("got removed %v kept %v, want %s kept for retention", rep.Removed, rep.Kept, rOld1)
	}
	if _, _, err := artifact.ReadManifest(ctx, st, rOld1, "transform"); err != nil {
		t.Errorf("retained manifest: %v", err)
	}
}

// TestPruneRunEvents: run events (_runs/<run>/events/) go with their run: an
// old run that has only events (it failed before publishing anything) is
// removed whole, a kept run keeps its events, and the events never count as
// orphans.
func TestPruneRunEvents(t *testing.T) {
	ctx := context.Background()
	st, dir := seed(t)
	const rFailed = "20260106T020000Z-0006" // old, failed at extract: events only
	evKeys := map[string]string{}
	for _, id := range []string{rFailed, rMid, rOld1} {
		key, err := artifact.WriteRunEvent(ctx, artifact.Env{Store: st, RunID: id, Host: "h", Version: "t"},
			artifact.RunEvent{Command: "extract", Stages: []string{"extract.acme"}, ExitCode: 3, FinishedAt: now.Add(-90 * 24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		old := now.Add(-96 * time.Hour)
		if err := os.Chtimes(filepath.Join(dir, filepath.FromSlash(key)), old, old); err != nil {
			t.Fatal(err)
		}
		evKeys[id] = key
	}
	rep, err := retention.Prune(ctx, st, retention.Options{KeepDays: 30, KeepRuns: 1, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	for id, gone := range map[string]bool{rFailed: true, rOld1: true, rMid: false} {
		_, err := st.Stat(ctx, evKeys[id])
		if gone != errors.Is(err, store.ErrNotFound) {
			t.Errorf("event of run %s: stat %v, want removed=%v", id, err, gone)
		}
	}
	if got := keysUnder(t, st, rFailed); len(got) != 0 {
		t.Errorf("the events-only run left %q", got)
	}
	for _, o := range rep.Orphans {
		if strings.Contains(o, "/events/") {
			t.Errorf("an event was removed as an orphan: %s", o)
		}
	}
}
