// Package ldifconf owns the ldif source's configuration section (a tree's
// ldif: key): its struct, defaults and validation. internal/config embeds
// Config as Tree.LDIF; extract/ldif reads it. docs/configuration.md lists
// every key.
package ldifconf

import (
	"fmt"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/otds-highspot/otds-highspot/extract/ldap/ldapconf"
	"github.com/otds-highspot/otds-highspot/internal/config/section"
)

// Config is a tree's ldif: section (source: ldif):
//
//	ldif:
//	  path: exports/otds-16.ldif   # a local path or an object key in the store
type Config struct {
	// Path of the LDIF export: a local file or an object in the store; the
	// stage's open function resolves it. Empty: the stage supplies its
	// default (the bundled fixture in the demo configuration).
	Path string `yaml:"path"`
	// UserObjectClass / GroupObjectClass select entries; defaults oTPerson / oTGroup.
	UserObjectClass  string `yaml:"user_object_class"`
	GroupObjectClass string `yaml:"group_object_class"`
	// BaseDN: only entries at or below it are read; default
	// ou=IdentityProviders,dc=identity,dc=opentext,dc=net.
	BaseDN string `yaml:"base_dn"`
}

// ApplyDefaults fills every unset field with its default (the OTDS layout
// of ldapconf).
func (l *Config) ApplyDefaults() {
	if l.UserObjectClass == "" {
		l.UserObjectClass = ldapconf.DefaultUserClass
	}
	if l.GroupObjectClass == "" {
		l.GroupObjectClass = ldapconf.DefaultGroupClass
	}
	if l.BaseDN == "" {
		l.BaseDN = ldapconf.DefaultBaseDN
	}
}

// Validate checks the section under key k (e.g. trees[0].ldif) without I/O.
// The tree checks that path is set.
func (l *Config) Validate(k string) section.Errors {
	var errs section.Errors
	for _, f := range []struct{ key, v string }{{"user_object_class", l.UserObjectClass}, {"group_object_class", l.GroupObjectClass}} {
		if !section.ValidAttrName(f.v) {
			errs = append(errs, section.Error{Key: k + "." + f.key, Msg: fmt.Sprintf("%q is not an object class name", f.v)})
		}
	}
	if _, err := ldap.ParseDN(l.BaseDN); err != nil {
		errs = append(errs, section.Error{Key: k + ".base_dn", Msg: fmt.Sprintf("does not parse as a DN: %v", err)})
	}
	if strings.ContainsRune(l.Path, 0) {
		errs = append(errs, section.Error{Key: k + ".path", Msg: "contains a NUL byte; give a file path or store key"})
	}
	return errs
}
