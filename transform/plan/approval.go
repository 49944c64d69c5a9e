package plan

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/internal/store"
)

// ApprovalFormat is the Format of every approval record.
const ApprovalFormat = "otds-highspot/plan-approval/v1"

// Approval is one person's sign-off on one plan: a write-once object under
// _runs/<run_id>/approvals/. It names the plan by its sha256, which binds the
// run id, the baseline and the change list (records.PlanSHA256), so it never
// approves another run's plan or the same run re-planned.
type Approval struct {
	Format         string         `json:"format"` // ApprovalFormat
	RunID          string         `json:"run_id"`
	PlanSHA256     string         `json:"plan_sha256"`
	By             string         `json:"by"`
	Comment        string         `json:"comment,omitempty"`
	At             time.Time      `json:"at"`
	Host           string         `json:"host"`
	ProgramVersion string         `json:"program_version,omitempty"`
	Changes        int            `json:"changes"`
	ByOp           map[string]int `json:"by_op,omitempty"`
	Key            string         `json:"-"` // where it is stored (set when read or written)
}

// ApprovalsPrefix is where a run's approvals live.
func ApprovalsPrefix(runID string) string { return "_runs/" + runID + "/approvals/" }

// ApproveOptions are `plan approve`'s flags.
type ApproveOptions struct {
	SHA256  string
	By      string
	Comment string
}

// Approve records an approval of the plan of env.RunID. It refuses (exit 2)
// an empty --by, a sha256 that is not the plan's, and a blocked plan (exit
// 5): an override plan is a new run, approved by its own sha256. The plan is
// read with LoadReviewed, so a tampered plan is refused too (exit 1).
func Approve(ctx context.Context, env artifact.Env, o ApproveOptions) (*Approval, error) {
	st, runID := env.Store, env.RunID
	by := strings.TrimSpace(o.By)
	if by == "" {
		return nil, exitcode.New(exitcode.Usage, "plan approve: --by is required: who approves (a name or an email)")
	}
	if o.SHA256 == "" {
		return nil, exitcode.New(exitcode.Usage, "plan approve: --sha256 is required: the plan sha256 that `otds-highspot --run-id %s plan show` prints", runID)
	}
	m, _, err := artifact.ReadManifest(ctx, st, runID, contract.Plan)
	if err != nil {
		if errors.Is(err, artifact.ErrNotPublished) {
			return nil, exitcode.Wrap(exitcode.Usage, fmt.Errorf("plan approve: run %s has no published plan: %w", runID, err))
		}
		return nil, fmt.Errorf("plan approve: %w", err)
	}
	if m.Status == artifact.StatusBlocked {
		ps, _ := contract.SummaryOf[contract.PlanSummary](m.Summary)
		return nil, exitcode.New(exitcode.PlanBlocked, "plan approve: the plan of run %s is blocked by safety gates (%v) and cannot be approved; if the change is intended, re-plan it with an override (otds-highspot plan --from-run %s --allow op=N) and approve the new run's plan", runID, ps.BlockedGates, runID)
	}
	r, err := LoadReviewed(ctx, st, m)
	if err != nil {
		return nil, fmt.Errorf("plan approve: %w", err)
	}
	if !strings.EqualFold(strings.TrimSpace(o.SHA256), r.SHA256) {
		return nil, exitcode.New(exitcode.Usage, "plan approve: --sha256 %s is not the sha256 of the plan of run %s (%s); review that plan (otds-highspot --run-id %s plan show) and approve the sha256 it shows", o.SHA256, runID, r.SHA256, runID)
	}
	now := time.Now
	if env.Now != nil {
		now = env.Now
	}
	a := &Approval{Format: ApprovalFormat, RunID: runID, PlanSHA256: r.SHA256, By: by, Comment: o.Comment, At: now().UTC(),
		Host: env.Host, ProgramVersion: env.Version, Changes: len(r.Changes), ByOp: r.Summary.ByOp}
	data, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("plan approve: encode: %w", err)
	}
	data = append(data, '\n')
	for i := 0; ; i++ {
		key := ApprovalsPrefix(runID) + a.At.Format("20060102T150405.000000000Z") + "-" + randHex(4) + ".json"
		err := st.Put(ctx, key, bytes.NewReader(data), int64(len(data)))
		if err == nil {
			a.Key = key
			return a, nil
		}
		if !errors.Is(err, store.ErrExists) || i >= 4 {
			return nil, fmt.Errorf("plan approve: write %s: %w", st.URL(key), err)
		}
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Approvals reads the approval records of runID, oldest first. A record
// that does not decode, or is for another run, is an error: approvals are
// evidence, and unreadable evidence is not silently skipped.
func Approvals(ctx context.Context, st store.Store, runID string) ([]Approval, error) {
	infos, err := st.List(ctx, ApprovalsPrefix(runID))
	if err != nil {
		return nil, fmt.Errorf("list approvals of run %s: %w", runID, err)
	}
	var out []Approval
	for _, in := range infos {
		if !strings.HasSuffix(in.Key, ".json") {
			continue
		}
		data, err := readBlob(ctx, st, in.Key)
		if err != nil {
			return nil, fmt.Errorf("read approval %s: %w", st.URL(in.Key), err)
		}
		var a Approval
		if err := json.Unmarshal(data, &a); err != nil || a.Format != ApprovalFormat || a.RunID != runID {
			return nil, fmt.Errorf("approval %s is not an approval record of run %s (format %q, run %q, %v)", st.URL(in.Key), runID, a.Format, a.RunID, err)
		}
		a.Key = in.Key
		out = append(out, a)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, nil
}

// ErrNotApproved means apply requires an approval and the plan has none for
// its sha256.
var ErrNotApproved = errors.New("plan not approved")

// RequireApproval returns the approval of runID's plan whose sha256 is sha,
// or an exit-2 error naming the command that records one.
func RequireApproval(ctx context.Context, st store.Store, runID, sha string) (*Approval, error) {
	as, err := Approvals(ctx, st, runID)
	if err != nil {
		return nil, err
	}
	for i := len(as) - 1; i >= 0; i-- {
		if strings.EqualFold(as[i].PlanSHA256, sha) {
			return &as[i], nil
		}
	}
	other := ""
	if len(as) > 0 {
		other = fmt.Sprintf(" (%d approval(s) of run %s name another sha256: the plan changed since)", len(as), runID)
	}
	return nil, exitcode.Wrap(exitcode.Usage, fmt.Errorf("%w: apply.require_approval is set and the plan of run %s (sha256 %s) has no approval record%s; review it (otds-highspot --run-id %s plan show), then record the approval: otds-highspot --run-id %s plan approve --sha256 %s --by NAME [--comment TEXT]",
		ErrNotApproved, runID, sha, other, runID, runID, sha))
}
