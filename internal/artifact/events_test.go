package artifact

import (
	"context"
	"testing"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/exitcode"
)

func TestStatusOf(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 2, 30, 0, 0, time.UTC)
	ev := func(min int, cmd string, code int, failed string, stages ...string) RunEvent {
		return RunEvent{Command: cmd, ExitCode: code, ExitName: exitcode.Name(code), FailedStage: failed, Stages: stages, FinishedAt: t0.Add(time.Duration(min) * time.Minute)}
	}
	all := []string{"extract.a", "extract.b", "transform", "pull", "plan", "apply"}
	cases := []struct {
		name     string
		evs      []RunEvent
		want     int
		wantCmd  string
		wantNone bool
	}{
		{"no events", nil, 0, "", true},
		{"run ok", []RunEvent{ev(1, "run", 0, "", all...)}, 0, "run", false},
		{"run failed at apply, apply resumed ok", []RunEvent{ev(1, "run", 6, "apply", all...), ev(2, "apply", 0, "", "apply")}, 0, "apply", false},
		{"run failed at apply, a dry run after it", []RunEvent{ev(1, "run", 6, "apply", all...), ev(2, "apply", 0, "")}, 6, "run", false},
		{"run failed at extract, transform never ran", []RunEvent{ev(1, "run", 3, "extract", all...), ev(2, "extract", 0, "", "extract.a")}, 3, "run", false},
		{"run failed at extract, every tree retried", []RunEvent{ev(1, "run", 3, "extract", all...), ev(2, "extract", 0, "", "extract.a", "extract.b")}, 0, "extract", false},
		{"one tree failed, another later ok", []RunEvent{ev(1, "extract", 3, "", "extract.b"), ev(2, "extract", 0, "", "extract.a")}, 3, "extract", false},
		{"blocked plan stays blocked", []RunEvent{ev(1, "plan", 5, "", "plan"), ev(2, "pull", 0, "", "pull")}, 5, "plan", false},
		{"refused apply, then the holder finished", []RunEvent{ev(1, "apply", 11, "", "apply"), ev(2, "apply", 0, "", "apply")}, 0, "apply", false},
		{"unlock says nothing about the work", []RunEvent{ev(1, "apply", 7, "", "apply"), ev(2, "unlock", 0, "")}, 7, "apply", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rs, ok := StatusOf(tc.evs)
			if ok == tc.wantNone {
				t.Fatalf("ok = %v, want %v", ok, !tc.wantNone)
			}
			if !ok {
				return
			}
			if rs.ExitCode != tc.want || rs.Command != tc.wantCmd {
				t.Errorf("got exit %d decided by %q, want %d by %q (stages %v)", rs.ExitCode, rs.Command, tc.want, tc.wantCmd, rs.Stages)
			}
		})
	}
}

func TestRunEventsAppendOnly(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	env := testEnv(t, st, "20261125T023000Z-evts")
	for i, code := range []int{exitcode.ApplyFailed, exitcode.OK} {
		if _, err := WriteRunEvent(ctx, env, RunEvent{Command: "apply", Stages: []string{"apply"}, ExitCode: code, PID: 7, Host: "h",
			FinishedAt: time.Date(2026, 11, 25, 3, i, 0, 0, time.UTC)}); err != nil {
			t.Fatal(err)
		}
	}
	// The same instant, host, pid and command twice: a second object, not an overwrite.
	if _, err := WriteRunEvent(ctx, env, RunEvent{Command: "apply", ExitCode: 0, PID: 7, Host: "h", FinishedAt: time.Date(2026, 11, 25, 3, 1, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	evs, bad, err := ReadRunEvents(ctx, st, env.RunID)
	if err != nil || bad != 0 || len(evs) != 3 {
		t.Fatalf("ReadRunEvents: %d events, %d bad, %v; want 3, 0", len(evs), bad, err)
	}
	if evs[0].ExitCode != exitcode.ApplyFailed || evs[0].Format != RunEventFormat || evs[0].ProgramVersion == "" {
		t.Errorf("first event = %+v", evs[0])
	}
	ri, err := ShowRun(ctx, st, env.RunID)
	if err != nil {
		t.Fatalf("ShowRun of a run with events only: %v", err)
	}
	if !ri.HasStatus || ri.ExitCode != exitcode.OK || len(ri.Events) != 3 {
		t.Errorf("ShowRun: status %v exit %d, %d events; want exit 0 from 3 events", ri.HasStatus, ri.ExitCode, len(ri.Events))
	}
	runs, err := ListRuns(ctx, st)
	if err != nil || len(runs) != 1 || runs[0].ExitCode != exitcode.OK {
		t.Errorf("ListRuns = %+v, %v; want the run with exit 0", runs, err)
	}
}
