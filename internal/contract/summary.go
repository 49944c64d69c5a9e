package contract

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// TransformSummary is the summary of the "transform" manifest.
type TransformSummary struct {
	Accounts             int64          `json:"accounts"`
	Persons              int64          `json:"persons"`
	EffectiveMemberships int64          `json:"effective_memberships"`
	MatchReview          map[string]int `json:"match_review"` // match_review rows by reason
	LinkRules            map[string]int `json:"link_rules"`
	Graph                any            `json:"graph"` // transform.GraphStats
	MissingTrees         []string       `json:"missing_trees"`
	Warnings             []string       `json:"warnings"`
}

// MatchReviewTotal is the number of match_review rows.
func (s TransformSummary) MatchReviewTotal() int64 {
	var n int64
	for _, c := range s.MatchReview {
		n += int64(c)
	}
	return n
}

// PlanSummary is the summary of the "plan" manifest. PlanSHA256 is the hash
// apply enforces; the baseline fields bind the plan to the snapshot it was
// diffed against (records.PlanBindingOf reads the same keys).
type PlanSummary struct {
	PlanSHA256        string         `json:"plan_sha256"`
	ChangesSHA256     string         `json:"changes_sha256"`
	Changes           int64          `json:"changes"`
	ByOp              map[string]int `json:"by_op"`
	Headcount         int64          `json:"headcount"`
	BaselineSource    string         `json:"baseline_source"`
	BaselineRunID     string         `json:"baseline_run_id"`
	BaselineKey       string         `json:"baseline_key"`
	BaselineSHA256    string         `json:"baseline_sha256"`
	LatestPullSHA256  string         `json:"latest_pull_sha256"`
	PreviousPlanRunID string         `json:"previous_plan_run_id"`
	MatchReview       int64          `json:"match_review"`
	FromRun           string         `json:"from_run,omitempty"`
	Allow             map[string]int `json:"allow,omitempty"`
	BlockedGates      []string       `json:"blocked_gates,omitempty"`
}

// PutSummary records every field of the summary struct v under its JSON
// key with set (artifact.Stage.SetSummary), skipping empty omitempty
// fields. The values are the fields themselves, so the manifest encodes
// them as it did when each key was set by hand.
func PutSummary(set func(key string, v any), v any) {
	rv := reflect.Indirect(reflect.ValueOf(v))
	rt := rv.Type()
	for i := range rt.NumField() {
		f := rt.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" || name == "" {
			continue
		}
		fv := rv.Field(i)
		if opts == "omitempty" && isEmpty(fv) {
			continue
		}
		set(name, fv.Interface())
	}
}

func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Map, reflect.Slice, reflect.String, reflect.Array:
		return v.Len() == 0
	default:
		return v.IsZero()
	}
}

// ReadSummary decodes a manifest's summary map into the summary struct
// pointed to by v. Keys v does not name are ignored; absent keys leave
// their field zero. A value of another type than its field leaves that
// field zero, fills the others and is reported as the (first) error, so a
// caller that reads one key may ignore the error, as it ignored a failed
// type assertion before.
func ReadSummary(summary map[string]any, v any) error {
	data, err := json.Marshal(summary)
	if err != nil {
		return fmt.Errorf("encode summary: %w", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode summary as %T: %w", v, err)
	}
	return nil
}

// SummaryOf is ReadSummary into a new T.
func SummaryOf[T any](summary map[string]any) (T, error) {
	var v T
	err := ReadSummary(summary, &v)
	return v, err
}
