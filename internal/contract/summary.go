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
// diffed against (PlanBindingOf reads the same keys).
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

// Gate is one source-health gate of an extract: the figure measured, the
// threshold it is held to, and whether it tripped.
type Gate struct {
	Name      string  `json:"name"` // min_accounts | max_drop_percent | null_rate.<attr> | strict
	Figure    float64 `json:"figure"`
	Threshold float64 `json:"threshold"`
	Tripped   bool    `json:"tripped"`
	Message   string  `json:"message,omitempty"`
}

// TreeCounts are the figures of one tree's read: the extract manifest's
// summary and the extract command's per-tree result both carry them (embedded,
// so their JSON keys stand at the top level of each).
type TreeCounts struct {
	Accounts      int64            `json:"accounts"`
	Groups        int64            `json:"groups"`
	Memberships   int64            `json:"memberships"`
	Rejects       int64            `json:"rejects"`
	RejectsByCode map[string]int64 `json:"rejects_by_code"`
	Skipped       int64            `json:"skipped"` // entries of partitions this tree does not publish
	Previous      int64            `json:"previous_accounts"`
	Gates         []Gate           `json:"gates"`
}

// ExtractSummary is the summary of an "extract.<tree>" manifest.
type ExtractSummary struct {
	Tree   string `json:"tree"`
	Source string `json:"source"`
	TreeCounts
	DurationMS int64 `json:"duration_ms"`
}

// PullSummary is the summary of the "pull" manifest.
type PullSummary struct {
	Users         int            `json:"users"`
	Groups        int            `json:"groups"`
	Unverified    int            `json:"unverified"`
	Suspended     int            `json:"suspended"`
	Drift         map[string]int `json:"drift"` // drift rows by kind
	DirectoryRun  string         `json:"directory_run"`
	DesiredRun    string         `json:"desired_run"`
	ManagedGroups []string       `json:"managed_groups"`
	Requests      int64          `json:"requests"` // HTTP requests of the listings, retries included
	Retries       int64          `json:"retries"`
}

// ApplySummary is the summary of an "apply" (or "apply.attempt-NNN")
// manifest. PlanSHA256 is the plan the attempt applied.
type ApplySummary struct {
	Changes            int                       `json:"changes"`
	Resumed            int                       `json:"resumed"`
	Applied            int                       `json:"applied"`
	Skipped            int                       `json:"skipped"`
	Failed             int                       `json:"failed"`
	CarriedRows        int                       `json:"carried_rows"`
	CreatesAsUpdates   int                       `json:"creates_as_updates"`
	Requests           int64                     `json:"requests"`
	Retries            int64                     `json:"retries"`
	UsersKnownFromPull int                       `json:"users_known_from_pull"`
	ByOp               map[string]map[string]int `json:"by_op"` // op -> final status -> changes
	PlanSHA256         string                    `json:"plan_sha256"`
	Attempt            int                       `json:"attempt"`
}

// HistorySummary is the summary of the "history" manifest.
type HistorySummary struct {
	Rows       int64 `json:"rows"`        // identity_history rows (all versions)
	AccessRows int64 `json:"access_rows"` // access_history rows
	Current    int   `json:"current"`
	Opened     int   `json:"opened"`
	Closed     int   `json:"closed"`
	RunsFolded int   `json:"runs_folded"`
}

// ReviewSummary is the summary of the "review" manifest.
type ReviewSummary struct {
	Users     int    `json:"users"`
	PullRunID string `json:"pull_run_id"`
	PlanRunID string `json:"plan_run_id"`
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
		if f.Anonymous && f.Type.Kind() == reflect.Struct && f.Tag.Get("json") == "" {
			PutSummary(set, rv.Field(i).Interface()) // embedded: its keys stand at this level, as in JSON
			continue
		}
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
