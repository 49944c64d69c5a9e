// Package loadtest holds the test wiring the apply and pull tests share: the
// sandbox served over HTTP with a real client, the classification pipelines
// passes the applier, a file store environment and a quiet logger.
package loadtest

import (
	"errors"
	"io"
	"net/http/httptest"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/store"
	"github.com/otds-highspot/otds-highspot/load"
	"github.com/otds-highspot/otds-highspot/load/highspot"
	"github.com/otds-highspot/otds-highspot/load/highspot/sandbox"
)

// RunID is the run id of FileEnv.
const RunID = "20261125T120000Z-beef"

// Classify is the wiring pipelines does: the Highspot client's own
// retryability and StatusError fields.
func Classify(err error) load.ErrorClass {
	c := load.ErrorClass{Retryable: highspot.Retryable(err)}
	var se *highspot.StatusError
	if errors.As(err, &se) {
		c.HTTPStatus, c.RetryAfter = se.Status, se.RetryAfter
	}
	return c
}

// SandboxTarget serves a sandbox with opts for the test's duration and
// returns it with a client for surface ("rest" or "scim").
func SandboxTarget(t testing.TB, opts sandbox.Options, surface string) (*sandbox.Server, load.Target) {
	t.Helper()
	sb, err := sandbox.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sb.Handler())
	t.Cleanup(srv.Close)
	target, err := sandbox.Client(surface, srv.URL, srv.Client(), Log())
	if err != nil {
		t.Fatal(err)
	}
	return sb, target
}

// Log is a logger that writes nothing.
func Log() logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

// FileEnv is an artifact environment for run RunID over a file store at dir.
func FileEnv(t testing.TB, dir, tmp string) artifact.Env {
	t.Helper()
	st, err := store.NewFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	return artifact.Env{Store: st, RunID: RunID, TempDir: tmp, Log: Log(), Version: "test"}
}

// PublishPlan publishes a plan stage holding changes, as transform/plan
// does: status "" is published; ps.PlanSHA256 "" records the changes' real
// hash under ps's baseline.
func PublishPlan(t testing.TB, env artifact.Env, changes []contract.Change, status string, ps contract.PlanSummary) {
	t.Helper()
	s := artifact.NewStage(env, contract.Plan)
	w, err := artifact.OpenTable[contract.Change](s, contract.ChangesSpec)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range changes {
		if err := w.Write(c); err != nil {
			t.Fatal(err)
		}
	}
	if ps.PlanSHA256 == "" {
		ps.PlanSHA256 = contract.PlanSHA256(contract.PlanBinding{RunID: env.RunID, BaselineSource: ps.BaselineSource,
			BaselineRunID: ps.BaselineRunID, BaselineSHA256: ps.BaselineSHA256}, changes)
	}
	if status != "" {
		s.SetStatus(status)
	}
	contract.PutSummary(s.SetSummary, ps)
	if _, _, err := s.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
}
