package applyconf

import (
	"testing"
	"time"
)

func TestDefaultsAndValidate(t *testing.T) {
	var a Config
	a.ApplyDefaults()
	if a.RatePerSecond != 10 || a.Concurrency != 4 || a.MaxAttempts != 6 || a.Breaker.Threshold != 0.5 || a.FlushInterval != 10*time.Second {
		t.Errorf("defaults: got %+v", a)
	}
	if errs := a.Validate("apply"); len(errs) != 0 {
		t.Errorf("defaults: got errors %v, want none", errs)
	}
	tests := []struct {
		name string
		mod  func(*Config)
		key  string
	}{
		{"negative rate", func(a *Config) { a.RatePerSecond = -1 }, "apply.rate_per_second"},
		{"batch too large", func(a *Config) { a.BatchSize = 500 }, "apply.batch_size"},
		{"threshold above 1", func(a *Config) { a.Breaker.Threshold = 1.5 }, "apply.breaker.threshold"},
		{"base above max", func(a *Config) { a.BackoffBase, a.BackoffMax = time.Minute, time.Second }, "apply.backoff_max"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := a
			tc.mod(&b)
			errs := b.Validate("apply")
			if len(errs) != 1 || errs[0].Key != tc.key {
				t.Errorf("got %v, want one error at %s", errs, tc.key)
			}
		})
	}
}
