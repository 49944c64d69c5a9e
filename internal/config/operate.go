package config

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Operate configures run-level products and housekeeping: the identity
// history, the PII-hashed analytics copy and prune.
//
//	operate:
//	  history: {enabled: true}
//	  analytics:
//	    enabled: true
//	    key: {env: OTDS_ANALYTICS_KEY}
//	    columns: {persons: [person_id, primary_email, emails]}   # optional override per table
//	  prune: {keep_days: 90, keep_runs: 3, orphan_grace: 72h}
type Operate struct {
	History   History   `yaml:"history"`
	Analytics Analytics `yaml:"analytics"`
	Prune     Prune     `yaml:"prune"`
}

// History configures the identity_history stage (transform/history).
type History struct {
	// Enabled runs the history stage after plan in `run` (default true).
	Enabled *bool `yaml:"enabled"`
}

// On reports whether the history stage runs.
func (h History) On() bool { return h.Enabled == nil || *h.Enabled }

// Analytics configures the PII-hashed analytics copy (transform/analytics).
type Analytics struct {
	Enabled bool `yaml:"enabled"`
	// Key is the HMAC-SHA256 key (at least 16 bytes). Rotating it changes
	// every token: joins across runs hashed with different keys break.
	Key SecretRef `yaml:"key"`
	// Allow replaces, per source table (persons, accounts_normalized,
	// person_links), the columns copied in clear ("column", or
	// "column.key" for one key of a map column such as attributes). Every
	// other column is hashed, timestamps generalised to the day, other
	// types zeroed. Unnamed tables keep the defaults
	// (transform/analytics.DefaultAllow).
	Allow map[string][]string `yaml:"allow"`
	// Columns names, per source table, columns hashed even if allowed.
	Columns map[string][]string `yaml:"columns"`
}

// AnalyticsTables are the source tables the analytics copy can hash.
var AnalyticsTables = []string{"persons", "accounts_normalized", "person_links"}

// Prune configures `otds-highspot prune` (internal/retention).
type Prune struct {
	// KeepDays: runs dated at least this many days before today may be removed (default 90).
	KeepDays int `yaml:"keep_days"`
	// KeepRuns: the newest N runs are always kept (default 3).
	KeepRuns int `yaml:"keep_runs"`
	// OrphanGrace: unlisted part files (crashed attempts) older than this are removed (default 72h).
	OrphanGrace time.Duration `yaml:"orphan_grace"`
}

func (o *Operate) applyDefaults() {
	if o.Prune.KeepDays == 0 {
		o.Prune.KeepDays = 90
	}
	if o.Prune.KeepRuns == 0 {
		o.Prune.KeepRuns = 3
	}
	if o.Prune.OrphanGrace == 0 {
		o.Prune.OrphanGrace = 72 * time.Hour
	}
}

func (o *Operate) validate(k string) Errors {
	var errs Errors
	a := o.Analytics
	errs = append(errs, a.Key.Validate(k+".analytics.key", a.Enabled)...)
	for _, set := range []struct {
		name string
		m    map[string][]string
	}{{"allow", a.Allow}, {"columns", a.Columns}} {
		names := make([]string, 0, len(set.m))
		for t := range set.m {
			names = append(names, t)
		}
		sort.Strings(names)
		for _, t := range names {
			known := false
			for _, n := range AnalyticsTables {
				known = known || n == t
			}
			if !known {
				errs = append(errs, Error{Key: k + ".analytics." + set.name + "." + t, Msg: fmt.Sprintf("unknown table; use one of %s", strings.Join(AnalyticsTables, ", "))})
			}
		}
	}
	if o.Prune.KeepDays < 0 {
		errs = append(errs, Error{Key: k + ".prune.keep_days", Msg: "must be 0 or more days"})
	}
	if o.Prune.KeepRuns < 0 {
		errs = append(errs, Error{Key: k + ".prune.keep_runs", Msg: "must be 1 or more runs"})
	}
	if o.Prune.OrphanGrace < 0 {
		errs = append(errs, Error{Key: k + ".prune.orphan_grace", Msg: "must be positive, e.g. 72h"})
	}
	return errs
}
