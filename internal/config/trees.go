package config

import "fmt"

// Extract holds settings shared by every tree's extract.
// Owned by the extract stage; see docs/configuration.md.
type Extract struct {
	// Concurrency bounds how many trees are read at once.
	Concurrency int `yaml:"concurrency"`
	// Strict turns rejected (malformed) entries into a failed tree.
	Strict bool `yaml:"strict"`
}

func (e *Extract) applyDefaults() {
	if e.Concurrency == 0 {
		e.Concurrency = 4
	}
}

func (e *Extract) validate(k string) Errors {
	if e.Concurrency < 0 {
		return Errors{{Key: k + ".concurrency", Msg: "must be >= 1"}}
	}
	return nil
}

// Tree is one OTDS directory tree (a subsidiary or partition set).
type Tree struct {
	Name   string `yaml:"name"`
	Source string `yaml:"source"` // ldap | otds-rest | ldif
}

func (t *Tree) applyDefaults() {}

func (t *Tree) validate(k string) Errors {
	var errs Errors
	if !validName(t.Name) {
		errs = append(errs, Error{Key: k + ".name", Msg: fmt.Sprintf("tree name %q must be 1-64 characters of a-z, 0-9, - or _", t.Name)})
	}
	switch t.Source {
	case "ldap", "otds-rest", "ldif":
	default:
		errs = append(errs, Error{Key: k + ".source", Msg: fmt.Sprintf("unknown source %q; use ldap, otds-rest or ldif", t.Source)})
	}
	return errs
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
