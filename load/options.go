package load

import (
	"context"
	"io"
	"math/rand/v2"
	"time"

	"github.com/otds-highspot/otds-highspot/load/apply/applyconf"
)

// ApplyOptions tunes one apply. OptionsFromConfig fills it from the apply:
// configuration section; zero values get the same defaults.
type ApplyOptions struct {
	RatePerSecond       float64 // HTTP requests/s to the target (calls/s for a target that is not a RequestPacer); <= 0 = unlimited
	Burst               int
	Concurrency         int // calls in flight at once
	BatchSize           int // users per UpsertUsers; 0 or above Target.MaxBatch() = MaxBatch()
	MaxAttempts         int // tries per call, 1 = no retry
	BackoffBase         time.Duration
	BackoffMax          time.Duration
	MaxRetryAfter       time.Duration // a longer Retry-After is capped to this
	LookupListThreshold int           // more creates than this: one ListUsers instead of a lookup each
	FlushEvery          int
	FlushInterval       time.Duration
	BreakerWindow       int
	BreakerMinRequests  int
	BreakerThreshold    float64

	// DryRun makes no call at all (not even lookups) and writes what would be
	// sent to DryRunOut; nothing is recorded in the ledger.
	DryRun    bool
	DryRunOut io.Writer

	// Progress, when set, is called after every recorded result with the
	// number of changes in a final state (this run and resumed) and the total
	// (the CLI draws a progress bar on a terminal). Called under a lock: keep
	// it cheap.
	Progress func(done, total int)

	// Classify decides retries; nil = DefaultClassify. The pipelines pass the
	// Highspot client's classification (highspot.Retryable, StatusError).
	Classify Classifier
	// Rand is the jitter source (tests inject a seeded one); nil = random.
	Rand *rand.Rand
	// Now is the clock for ledger rows; nil = time.Now.
	Now func() time.Time

	// Stage-level options (RunApply only).

	// PlanSHA256, when set, must equal the plan manifest's summary plan_sha256
	// (the plan the operator reviewed).
	PlanSHA256 string
	// KnownUsers, when set, is what a snapshot fresh for this plan (this
	// run's pull, the plan's baseline) says of the users the changes name:
	// lower-cased email -> Highspot id, "" when the snapshot has no such
	// user. A create of an email listed here is not looked up again (no
	// lookup, no full listing): it is sent as an update of the id, or as a
	// create marked Absent, which the target still settles safely when the
	// user appeared since (REST upserts by email, SCIM turns a 409 into an
	// update). Emails not listed are looked up as before. RunApply fills it.
	KnownUsers map[string]string

	// CheckFresh, when set, is called before any change is applied and must
	// fail when the plan's baseline changed since it was computed. The load
	// stage cannot import transform/plan, so pipelines wires
	// func(ctx) error { return plan.CheckFresh(ctx, st, runID, sha) }.
	CheckFresh func(ctx context.Context) error
}

// OptionsFromConfig maps the apply: configuration section onto ApplyOptions.
func OptionsFromConfig(a applyconf.Config) ApplyOptions {
	return ApplyOptions{
		RatePerSecond:       a.RatePerSecond,
		Burst:               a.Burst,
		Concurrency:         a.Concurrency,
		BatchSize:           a.BatchSize,
		MaxAttempts:         a.MaxAttempts,
		BackoffBase:         a.BackoffBase,
		BackoffMax:          a.BackoffMax,
		MaxRetryAfter:       a.MaxRetryAfter,
		LookupListThreshold: a.LookupListThreshold,
		FlushEvery:          a.FlushEvery,
		FlushInterval:       a.FlushInterval,
		BreakerWindow:       a.Breaker.Window,
		BreakerMinRequests:  a.Breaker.MinRequests,
		BreakerThreshold:    a.Breaker.Threshold,
	}
}

// SetDefaults gives every zero field its default (the apply: section's
// defaults, DefaultClassify, a random jitter source, time.Now, io.Discard).
func (o *ApplyOptions) SetDefaults() {
	// Zero values take the configuration's defaults (applyconf.Default);
	// RatePerSecond <= 0 stays "unlimited" for library callers.
	d := OptionsFromConfig(applyconf.Default())
	setInt := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	setDur := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	setInt(&o.Burst, d.Burst)
	setInt(&o.Concurrency, d.Concurrency)
	setInt(&o.MaxAttempts, d.MaxAttempts)
	setDur(&o.BackoffBase, d.BackoffBase)
	setDur(&o.BackoffMax, d.BackoffMax)
	setDur(&o.MaxRetryAfter, d.MaxRetryAfter)
	setInt(&o.LookupListThreshold, d.LookupListThreshold)
	setInt(&o.FlushEvery, d.FlushEvery)
	setDur(&o.FlushInterval, d.FlushInterval)
	setInt(&o.BreakerWindow, d.BreakerWindow)
	setInt(&o.BreakerMinRequests, d.BreakerMinRequests)
	if o.BreakerThreshold <= 0 {
		o.BreakerThreshold = d.BreakerThreshold
	}
	if o.Classify == nil {
		o.Classify = DefaultClassify
	}
	if o.Rand == nil {
		o.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.DryRunOut == nil {
		o.DryRunOut = io.Discard
	}
}

// MergeOptions returns base with every field o sets (non-zero) taken from o;
// the functions, the dry run and the stage-level fields always come from o.
func MergeOptions(base, o ApplyOptions) ApplyOptions {
	setF := func(dst *float64, v float64) {
		if v != 0 {
			*dst = v
		}
	}
	setI := func(dst *int, v int) {
		if v != 0 {
			*dst = v
		}
	}
	setD := func(dst *time.Duration, v time.Duration) {
		if v != 0 {
			*dst = v
		}
	}
	setF(&base.RatePerSecond, o.RatePerSecond)
	setI(&base.Burst, o.Burst)
	setI(&base.Concurrency, o.Concurrency)
	setI(&base.BatchSize, o.BatchSize)
	setI(&base.MaxAttempts, o.MaxAttempts)
	setD(&base.BackoffBase, o.BackoffBase)
	setD(&base.BackoffMax, o.BackoffMax)
	setD(&base.MaxRetryAfter, o.MaxRetryAfter)
	setI(&base.LookupListThreshold, o.LookupListThreshold)
	setI(&base.FlushEvery, o.FlushEvery)
	setD(&base.FlushInterval, o.FlushInterval)
	setI(&base.BreakerWindow, o.BreakerWindow)
	setI(&base.BreakerMinRequests, o.BreakerMinRequests)
	setF(&base.BreakerThreshold, o.BreakerThreshold)
	base.DryRun, base.DryRunOut, base.Classify, base.Rand, base.Now = o.DryRun, o.DryRunOut, o.Classify, o.Rand, o.Now
	base.PlanSHA256, base.CheckFresh = o.PlanSHA256, o.CheckFresh
	base.KnownUsers = o.KnownUsers
	base.Progress = o.Progress // dropped before: no bar ever appeared during apply
	return base
}
