package config

// Policy configures scope, access, audiences, onboarding, leavers, protected
// users and safety thresholds. Owned by the plan stage; see docs/configuration.md.
type Policy struct{}

func (p *Policy) applyDefaults() {}

func (p *Policy) validate(k string, c *Config) Errors { return nil }
