package config

// Transform configures normalization and cross-tree resolution.
// Owned by the transform stage; see docs/configuration.md.
type Transform struct{}

func (t *Transform) applyDefaults() {}

func (t *Transform) validate(k string, c *Config) Errors { return nil }
