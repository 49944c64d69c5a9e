package config

// Operate configures retention, analytics copies and other run-level behaviour.
type Operate struct{}

func (o *Operate) applyDefaults() {}

func (o *Operate) validate(k string) Errors { return nil }
