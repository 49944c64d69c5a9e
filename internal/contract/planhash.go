package contract

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"sort"
)

// PlanBinding is what a plan hash binds besides the change list: the run the
// plan belongs to and the baseline it was computed against. Two runs with the
// same change list (a blocked plan and its override plan, or yesterday's plan
// and today's) therefore hash differently, and an approval of one hash never
// carries over to another run or another baseline.
type PlanBinding struct {
	RunID          string `json:"run_id"`
	BaselineSource string `json:"baseline_source"`           // pull | previous_plan | none
	BaselineRunID  string `json:"baseline_run_id,omitempty"` // the run whose pull (or plan) was the baseline
	BaselineSHA256 string `json:"baseline_sha256,omitempty"` // sha256 of that manifest
}

// PlanBindingOf reads the binding of the plan of runID from its manifest
// summary (the baseline_* keys the plan stage records).
func PlanBindingOf(runID string, summary map[string]any) PlanBinding {
	s := func(k string) string { v, _ := summary[k].(string); return v }
	return PlanBinding{RunID: runID, BaselineSource: s("baseline_source"), BaselineRunID: s("baseline_run_id"), BaselineSHA256: s("baseline_sha256")}
}

// planHashHeader versions the plan hash's input.
const planHashHeader = "otds-highspot plan sha256 v2\n"

// PlanSHA256 is the plan hash: sha256 over a version line, the binding (one
// JSON object) and the canonical change list (one JSON object per change, in
// Seq order, newline-terminated). The plan stage records it, `plan show`
// prints it, `plan approve` binds an approval to it, and apply recomputes it
// over exactly the changes it is about to execute. cs is not modified.
func PlanSHA256(b PlanBinding, cs []Change) string {
	h := sha256.New()
	_, _ = io.WriteString(h, planHashHeader)
	_ = json.NewEncoder(h).Encode(b) // hash.Hash never fails
	writeChanges(h, cs)
	return hex.EncodeToString(h.Sum(nil))
}

// ChangesSHA256 is the hash of the change list alone (no run, no baseline):
// equal change lists hash equal. It is recorded as changes_sha256 to compare
// plans across runs; the hash to review, approve and enforce is PlanSHA256.
func ChangesSHA256(cs []Change) string {
	h := sha256.New()
	writeChanges(h, cs)
	return hex.EncodeToString(h.Sum(nil))
}

func writeChanges(w io.Writer, cs []Change) {
	ordered := cs
	if !sort.SliceIsSorted(cs, func(i, j int) bool { return cs[i].Seq < cs[j].Seq }) {
		ordered = append([]Change(nil), cs...)
		sort.SliceStable(ordered, func(i, j int) bool { return ordered[i].Seq < ordered[j].Seq })
	}
	enc := json.NewEncoder(w)
	for i := range ordered {
		_ = enc.Encode(&ordered[i])
	}
}
