package contract

import (
	"bytes"
	"encoding/json"
	"reflect"
	"sort"
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

// TestStageSummaryKeys pins the manifest keys of every typed stage summary
// (the keys each stage set one by one before the types existed; manifests
// and the --json output of older runs are read by them) and that each
// summary reads back as written.
func TestStageSummaryKeys(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   any
		keys []string
	}{
		{"extract", ExtractSummary{Tree: "emea", Source: "ldap", TreeCounts: TreeCounts{Accounts: 3, Groups: 1, Memberships: 2, Rejects: 1,
			RejectsByCode: map[string]int64{"no_mail": 1}, Previous: 3, Gates: []Gate{{Name: "min_accounts", Figure: 3, Threshold: 1}}}, DurationMS: 12},
			[]string{"tree", "source", "accounts", "groups", "memberships", "rejects", "rejects_by_code", "skipped", "previous_accounts", "gates", "duration_ms"}},
		{"pull", PullSummary{Users: 5, Groups: 2, Unverified: 1, Suspended: 1, Drift: map[string]int{"unknown_user": 1},
			DirectoryRun: "r1", DesiredRun: "r2", ManagedGroups: []string{"Sales"}, Requests: 3, Retries: 1},
			[]string{"users", "groups", "unverified", "suspended", "drift", "directory_run", "desired_run", "managed_groups", "requests", "retries"}},
		{"apply", ApplySummary{Changes: 4, Resumed: 1, Applied: 2, Failed: 1, CarriedRows: 1, CreatesAsUpdates: 1, Requests: 9, Retries: 2,
			UsersKnownFromPull: 3, ByOp: map[string]map[string]int{"create_user": {"applied": 2}}, PlanSHA256: "ab", Attempt: 2},
			[]string{"changes", "resumed", "applied", "skipped", "failed", "carried_rows", "creates_as_updates", "requests", "retries", "users_known_from_pull", "by_op", "plan_sha256", "attempt"}},
		{"history", HistorySummary{Rows: 10, AccessRows: 4, Current: 8, Opened: 2, Closed: 1, RunsFolded: 1},
			[]string{"rows", "access_rows", "current", "opened", "closed", "runs_folded"}},
		{"review", ReviewSummary{Users: 7, PullRunID: "r1", PlanRunID: "r2"},
			[]string{"users", "pull_run_id", "plan_run_id"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := roundTrip(t, tc.in)
			var got []string
			for k := range m {
				got = append(got, k)
			}
			want := append([]string(nil), tc.keys...)
			sort.Strings(got)
			sort.Strings(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("keys: got %v, want %v", got, want)
			}
			back := reflect.New(reflect.TypeOf(tc.in))
			if err := ReadSummary(m, back.Interface()); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back.Elem().Interface(), tc.in) {
				t.Errorf("read back %+v, want %+v", back.Elem().Interface(), tc.in)
			}
		})
	}
}
