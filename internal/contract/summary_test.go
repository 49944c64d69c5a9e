package contract

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// roundTrip puts v into a summary map, encodes it as a manifest does and
// decodes it as artifact.ReadManifest does (json.Number).
func roundTrip(t *testing.T, v any) map[string]any {
	t.Helper()
	in := map[string]any{}
	PutSummary(func(k string, v any) { in[k] = v }, v)
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var out map[string]any
	if err := d.Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPlanSummaryRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in       PlanSummary
		keys     []string // keys present in the manifest
		absentOK []string // omitempty keys that must be absent
	}{
		{"published", PlanSummary{PlanSHA256: "ab", Changes: 3, ByOp: map[string]int{"create_user": 3}, Headcount: 10, BaselineSource: "pull", BaselineSHA256: "cd", MatchReview: 2},
			[]string{"plan_sha256", "changes_sha256", "changes", "by_op", "headcount", "baseline_source", "baseline_run_id", "baseline_key", "baseline_sha256", "latest_pull_sha256", "previous_plan_run_id", "match_review"},
			[]string{"from_run", "allow", "blocked_gates"}},
		{"blocked replay", PlanSummary{PlanSHA256: "ab", FromRun: "20261125T100000Z-aaaa", Allow: map[string]int{"suspend": 9}, BlockedGates: []string{"suspend"}},
			[]string{"plan_sha256", "from_run", "allow", "blocked_gates"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := roundTrip(t, tc.in)
			for _, k := range tc.keys {
				if _, ok := m[k]; !ok {
					t.Errorf("manifest summary has no %q, want it", k)
				}
			}
			for _, k := range tc.absentOK {
				if v, ok := m[k]; ok {
					t.Errorf("manifest summary has %q = %v, want it omitted", k, v)
				}
			}
			got, err := SummaryOf[PlanSummary](m)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.in) {
				t.Errorf("read back %+v, want %+v", got, tc.in)
			}
		})
	}
}

// transform writes match_review as rows by reason; a reader gets the total.
func TestTransformSummaryMatchReview(t *testing.T) {
	m := roundTrip(t, TransformSummary{Accounts: 5, MatchReview: map[string]int{"weak_match_only": 2, "shared_email": 1}})
	got, err := SummaryOf[TransformSummary](m)
	if err != nil {
		t.Fatal(err)
	}
	if n := got.MatchReviewTotal(); n != 3 {
		t.Errorf("MatchReviewTotal = %d, want 3", n)
	}
	if got.Accounts != 5 {
		t.Errorf("Accounts = %d, want 5", got.Accounts)
	}
}

// A value of an unexpected type zeroes only its own field.
func TestReadSummaryTypeMismatch(t *testing.T) {
	got, err := SummaryOf[PlanSummary](map[string]any{"plan_sha256": "ab", "changes": "many"})
	if err == nil {
		t.Error("no error for changes of type string, want one")
	}
	if got.PlanSHA256 != "ab" || got.Changes != 0 {
		t.Errorf("got plan_sha256 %q changes %d, want \"ab\" 0", got.PlanSHA256, got.Changes)
	}
}
