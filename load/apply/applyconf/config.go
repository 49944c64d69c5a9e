// Package applyconf owns the load stage's apply: configuration section:
// pacing, retries, the circuit breaker, ledger flushing and approval, with
// their defaults and validation. internal/config embeds Config as
// Config.Apply; load turns it into ApplyOptions (load.OptionsFromConfig).
// docs/configuration.md lists every key.
package applyconf

import (
	"fmt"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/config/section"
)

// Config is the apply: section: it configures the applier of the load stage: pacing, retries, the
// circuit breaker and how often the load_results ledger is flushed. Owned by
// the load stage; see docs/configuration.md (section apply:).
type Config struct {
	// RatePerSecond is the most requests per second sent to Highspot (every
	// request: lookups, writes and retries). Highspot publishes no limit; the
	// default is conservative.
	RatePerSecond float64 `yaml:"rate_per_second"`
	// Burst is how many requests may go out back to back (token bucket size).
	Burst int `yaml:"burst"`
	// Concurrency is how many requests may be in flight at once.
	Concurrency int `yaml:"concurrency"`
	// BatchSize caps how many users one POST /users carries; 0 = the target's maximum.
	BatchSize int `yaml:"batch_size"`
	// MaxAttempts is how many times one request is tried (1 = no retry).
	MaxAttempts int `yaml:"max_attempts"`
	// BackoffBase and BackoffMax bound the exponential backoff (full jitter)
	// used when the server sends no Retry-After.
	BackoffBase time.Duration `yaml:"backoff_base"`
	BackoffMax  time.Duration `yaml:"backoff_max"`
	// MaxRetryAfter caps how long one Retry-After may pause the run.
	MaxRetryAfter time.Duration `yaml:"max_retry_after"`
	// LookupListThreshold: with more creates than this, existing users are
	// found by one paged list (list=all) instead of one lookup per create.
	LookupListThreshold int `yaml:"lookup_list_threshold"`
	// FlushEvery and FlushInterval: the ledger is uploaded after this many
	// results or this long, whichever comes first, and always at the end.
	FlushEvery    int           `yaml:"flush_every"`
	FlushInterval time.Duration `yaml:"flush_interval"`
	// Breaker stops the run (exit 3) when requests keep failing.
	Breaker Breaker `yaml:"breaker"`
	// RequireApproval makes apply refuse (exit 2) a plan that has no approval
	// record (`plan approve`) naming its sha256.
	RequireApproval bool `yaml:"require_approval"`
}

// Breaker is the applier's circuit breaker: over the last Window request
// attempts (once at least MinRequests were made), an error share above
// Threshold stops dispatching.
type Breaker struct {
	Window      int     `yaml:"window"`
	MinRequests int     `yaml:"min_requests"`
	Threshold   float64 `yaml:"threshold"` // 0 < threshold <= 1
}

// Default is the apply: section with every default filled in (the one
// place the applier's defaults are written down; load uses it too).
func Default() Config {
	var a Config
	a.ApplyDefaults()
	return a
}

// ApplyDefaults fills every unset value with its default.
func (a *Config) ApplyDefaults() {
	if a.RatePerSecond == 0 {
		a.RatePerSecond = 10
	}
	if a.Burst == 0 {
		a.Burst = 1
	}
	if a.Concurrency == 0 {
		a.Concurrency = 4
	}
	if a.MaxAttempts == 0 {
		a.MaxAttempts = 6
	}
	if a.BackoffBase == 0 {
		a.BackoffBase = time.Second
	}
	if a.BackoffMax == 0 {
		a.BackoffMax = 30 * time.Second
	}
	if a.MaxRetryAfter == 0 {
		a.MaxRetryAfter = 5 * time.Minute
	}
	if a.LookupListThreshold == 0 {
		a.LookupListThreshold = 200
	}
	if a.FlushEvery == 0 {
		a.FlushEvery = 100
	}
	if a.FlushInterval == 0 {
		a.FlushInterval = 10 * time.Second
	}
	if a.Breaker.Window == 0 {
		a.Breaker.Window = 100
	}
	if a.Breaker.MinRequests == 0 {
		a.Breaker.MinRequests = 20
	}
	if a.Breaker.Threshold == 0 {
		a.Breaker.Threshold = 0.5
	}
}

// Validate checks the section under key k (apply) without I/O.
func (a *Config) Validate(k string) section.Errors {
	var errs section.Errors
	add := func(key, msg string) { errs = append(errs, section.Error{Key: k + "." + key, Msg: msg}) }
	if a.RatePerSecond < 0 {
		add("rate_per_second", "must be positive, e.g. 10")
	}
	if a.Burst < 0 {
		add("burst", "must be positive, e.g. 1")
	}
	if a.Concurrency < 0 || a.Concurrency > 64 {
		add("concurrency", fmt.Sprintf("%d is out of range; use 1..64 (Highspot advises a few in flight)", a.Concurrency))
	}
	if a.BatchSize < 0 || a.BatchSize > 100 {
		add("batch_size", fmt.Sprintf("%d is out of range; use 0 (the target's maximum) or 1..100", a.BatchSize))
	}
	if a.MaxAttempts < 0 || a.MaxAttempts > 20 {
		add("max_attempts", fmt.Sprintf("%d is out of range; use 1..20", a.MaxAttempts))
	}
	if a.BackoffBase < 0 || a.BackoffMax < 0 || a.MaxRetryAfter < 0 {
		add("backoff_base", "durations must be positive, e.g. 1s")
	}
	if a.BackoffMax > 0 && a.BackoffBase > a.BackoffMax {
		add("backoff_max", "must not be smaller than backoff_base")
	}
	if a.LookupListThreshold < 0 {
		add("lookup_list_threshold", "must be positive, e.g. 200")
	}
	if a.FlushEvery < 0 || a.FlushInterval < 0 {
		add("flush_every", "flush_every and flush_interval must be positive, e.g. 100 and 10s")
	}
	if a.Breaker.Window < 0 || a.Breaker.MinRequests < 0 {
		add("breaker.window", "window and min_requests must be positive, e.g. 100 and 20")
	}
	if a.Breaker.Threshold < 0 || a.Breaker.Threshold > 1 {
		add("breaker.threshold", fmt.Sprintf("%g is out of range; use a share in (0, 1], e.g. 0.5", a.Breaker.Threshold))
	}
	return errs
}
