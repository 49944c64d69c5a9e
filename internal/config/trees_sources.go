package config

// Source-specific settings of the otds-rest and ldif sources. This file is
// owned by the REST/LDIF source engineer (extract/otdsrest, extract/ldif);
// trees.go embeds these types as Tree.Rest and Tree.LDIF.

// RestSource configures the otds-rest source.
type RestSource struct{}

func (r *RestSource) applyDefaults() {}

func (r *RestSource) validate(k string) Errors { return nil }

// LDIFSource configures the ldif source.
type LDIFSource struct{}

func (l *LDIFSource) applyDefaults() {}

func (l *LDIFSource) validate(k string) Errors { return nil }
