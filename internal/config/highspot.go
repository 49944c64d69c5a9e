package config

// Highspot configures the Highspot target (REST, SCIM or the local sandbox)
// and the applier. Owned by the load stage; see docs/configuration.md.
type Highspot struct{}

func (h *Highspot) applyDefaults() {}

func (h *Highspot) validate(k string) Errors { return nil }
