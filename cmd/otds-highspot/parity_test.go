package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
)

// TestStageByStageMatchesRun: extract, transform, pull, plan and apply run
// as separate commands (the Airflow DAG's way) used to publish no
// identity_history, no run manifest, and `runs list` showed exit "-". Now
// they publish what `run` publishes, by content, and the run's status.
func TestStageByStageMatchesRun(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run skipped in -short mode")
	}
	const id = "20261106T023000Z-dag1"
	whole, staged := newDemoWorld(t), newDemoWorld(t)
	if r := whole.run(t, "--run-id", id, "run"); r.code != 0 {
		t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
	}
	for _, args := range [][]string{
		{"extract", "--tree", "acme"}, {"extract", "--tree", "beta"}, {"extract", "--tree", "gamma"},
		{"transform"}, {"pull"}, {"plan"}, {"apply"},
	} {
		if r := staged.run(t, append([]string{"--run-id", id}, args...)...); r.code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, r.code, r.stderr)
		}
	}
	sameEndState(t, id, filepath.Join(whole.dir, "artifacts"), filepath.Join(staged.dir, "artifacts"), whole.state, staged.state)

	st := mustFileStore(t, filepath.Join(staged.dir, "artifacts"))
	if _, _, err := artifact.ReadManifest(context.Background(), st, id, "history"); err != nil {
		t.Errorf("identity_history after plan run alone: %v", err)
	}
	if _, _, err := artifact.ReadRunManifest(context.Background(), st, id); err != nil {
		t.Errorf("run manifest after the stages ran one by one: %v", err)
	}
	r := run(t, map[string]string{"OTDS_HIGHSPOT_STORE": filepath.Join(staged.dir, "artifacts")}, "runs", "list")
	if r.code != 0 || !strings.Contains(r.stdout, id) {
		t.Fatalf("runs list: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(line, id) && !strings.Contains(line, " 0 ok ") {
			t.Errorf("runs list shows %q, want exit 0 ok", line)
		}
	}
}
