package artifact

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/internal/store"
)

// RunEventFormat is the Format of every run event.
const RunEventFormat = "otds-highspot/run-event/v1"

// RunEvent records one command's attempt on a run: every command that touches
// a run (run, extract, transform, pull, plan, apply, unlock) writes one when
// it ends, under _runs/<run_id>/events/. Events are append-only (one new
// write-once object each), so a run's status can change (a resumed apply
// that succeeds) while nothing is overwritten. RunStatus reads them.
type RunEvent struct {
	Format         string    `json:"format"` // RunEventFormat
	RunID          string    `json:"run_id"`
	Command        string    `json:"command"`
	Stages         []string  `json:"stages,omitempty"`       // stages the command covered (extract.<tree>, transform, ...)
	FailedStage    string    `json:"failed_stage,omitempty"` // the stage that failed; stages after it were not attempted
	ExitCode       int       `json:"exit_code"`
	ExitName       string    `json:"exit_name"`
	Error          string    `json:"error,omitempty"`
	Host           string    `json:"host"`
	PID            int       `json:"pid"`
	User           string    `json:"user,omitempty"`
	ProgramVersion string    `json:"program_version"`
	ConfigHash     string    `json:"config_hash,omitempty"`
	StartedAt      time.Time `json:"started_at"`
	FinishedAt     time.Time `json:"finished_at"`
	// Details: for unlock, the locks removed.
	Details map[string]any `json:"details,omitempty"`
}

// EventsPrefix is where a run's events live.
func EventsPrefix(runID string) string { return "_runs/" + runID + "/events/" }

// WriteRunEvent writes ev as a new object
// _runs/<run>/events/<finished>-<host>-<pid>-<command>.json; keys sort by
// finish time. Empty Host, ProgramVersion, ConfigHash and FinishedAt come
// from env.
func WriteRunEvent(ctx context.Context, env Env, ev RunEvent) (string, error) {
	st := env.Store
	if st == nil {
		return "", errors.New("write run event: no store configured")
	}
	ev.Format = RunEventFormat
	if ev.RunID == "" {
		ev.RunID = env.RunID
	}
	if err := ValidateRunID(ev.RunID); err != nil {
		return "", fmt.Errorf("write run event: %w", err)
	}
	if ev.Host == "" {
		ev.Host = env.Host
	}
	if ev.ProgramVersion == "" {
		ev.ProgramVersion = env.Version
	}
	if ev.ConfigHash == "" {
		ev.ConfigHash = env.ConfigHash
	}
	if ev.FinishedAt.IsZero() {
		ev.FinishedAt = env.now()
	}
	ev.StartedAt, ev.FinishedAt = ev.StartedAt.UTC(), ev.FinishedAt.UTC()
	if ev.ExitName == "" {
		ev.ExitName = exitcode.Name(ev.ExitCode)
	}
	data, err := json.MarshalIndent(ev, "", "  ")
	if err != nil {
		return "", fmt.Errorf("write run event: encode: %w", err)
	}
	data = append(data, '\n')
	base := fmt.Sprintf("%s%s-%s-%d-%s", EventsPrefix(ev.RunID), ev.FinishedAt.Format("20060102T150405.000000000Z"),
		keySafe(ev.Host), ev.PID, keySafe(ev.Command))
	for i := 0; ; i++ {
		key := base + ".json"
		if i > 0 {
			key = fmt.Sprintf("%s-%d.json", base, i)
		}
		err := st.Put(ctx, key, bytes.NewReader(data), int64(len(data)))
		if err == nil {
			return key, nil
		}
		if !errors.Is(err, store.ErrExists) || i >= 9 {
			return "", fmt.Errorf("write run event %s: %w", st.URL(key), err)
		}
	}
}

// keySafe keeps letters, digits, '.' and '_' and turns the rest into '_'.
func keySafe(s string) string {
	if s == "" {
		return "unknown"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_':
			return r
		}
		return '_'
	}, s)
}

// ReadRunEvents reads a run's events, oldest first (by finish time).
// Unreadable events are skipped and counted in bad.
func ReadRunEvents(ctx context.Context, st store.Store, runID string) (evs []RunEvent, bad int, err error) {
	if err := ValidateRunID(runID); err != nil {
		return nil, 0, fmt.Errorf("read run events: %w", err)
	}
	infos, err := st.List(ctx, EventsPrefix(runID))
	if err != nil {
		return nil, 0, fmt.Errorf("read run events of %s: %w", runID, err)
	}
	for _, in := range infos {
		if !strings.HasSuffix(in.Key, ".json") {
			continue
		}
		raw, _, err := readKey(ctx, st, in.Key)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, 0, fmt.Errorf("read run event: %w", err)
		}
		var ev RunEvent
		if json.Unmarshal(raw, &ev) != nil || ev.Format != RunEventFormat || ev.RunID != runID {
			bad++
			continue
		}
		evs = append(evs, ev)
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].FinishedAt.Before(evs[j].FinishedAt) })
	return evs, bad, nil
}

// RunStatus is a run's current status from its events: for every stage the
// latest event that attempted it decides its outcome; the run's exit is the
// most recent failure among those outcomes, else the latest event's.
type RunStatus struct {
	ExitCode int            `json:"exit_code"`
	ExitName string         `json:"exit_name"`
	Command  string         `json:"command"`  // the event that decided the status
	At       time.Time      `json:"at"`       // its finish time
	Stages   map[string]int `json:"stages"`   // stage -> exit code of its latest attempt
	Attempts int            `json:"attempts"` // events read
	Unlocks  int            `json:"unlocks"`  // unlock events among them
	Problem  string         `json:"problem,omitempty"`
}

// StatusOf folds events (oldest first) into the run's status; ok is false
// when there are none.
func StatusOf(evs []RunEvent) (RunStatus, bool) {
	rs := RunStatus{Stages: map[string]int{}}
	last := map[string]RunEvent{}
	var latest *RunEvent
	for i := range evs {
		ev := evs[i]
		rs.Attempts++
		if ev.Command == "unlock" {
			rs.Unlocks++
			continue // releasing a lock says nothing about the run's work
		}
		latest = &evs[i]
		failedSeen := false
		for _, s := range ev.Stages {
			// FailedStage "extract" covers every extract.<tree> of the event.
			failed := ev.FailedStage != "" && (s == ev.FailedStage || strings.HasPrefix(s, ev.FailedStage+"."))
			if failedSeen && !failed {
				break // not attempted after the failure
			}
			e := ev
			if ev.FailedStage != "" && !failed {
				e.ExitCode, e.ExitName = exitcode.OK, exitcode.Name(exitcode.OK)
			}
			failedSeen = failedSeen || failed
			last[s] = e
			rs.Stages[s] = e.ExitCode
		}
	}
	if latest == nil {
		return rs, false
	}
	decide := *latest
	var worst *RunEvent
	for _, e := range last {
		if e.ExitCode != exitcode.OK && (worst == nil || e.FinishedAt.After(worst.FinishedAt)) {
			e := e
			worst = &e
		}
	}
	if worst != nil {
		decide = *worst
	}
	rs.ExitCode, rs.ExitName, rs.Command, rs.At = decide.ExitCode, decide.ExitName, decide.Command, decide.FinishedAt
	return rs, true
}
