// Package ldapconf owns the ldap source's configuration section (a tree's
// ldap: key): its struct, defaults and validation, and the OTDS directory
// layout defaults the ldap and ldif sources share. internal/config embeds
// Config as Tree.LDAP; extract/ldap reads it. docs/configuration.md lists
// every key.
package ldapconf

import (
	"fmt"
	"net/url"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/otds-highspot/otds-highspot/internal/config/section"
)

// Defaults of the OTDS directory layout and the ldap source.
const (
	DefaultBaseDN     = "ou=IdentityProviders,dc=identity,dc=opentext,dc=net"
	DefaultUserClass  = "oTPerson"
	DefaultGroupClass = "oTGroup"
	DefaultPageSize   = 500
	DefaultTimeout    = 60 * time.Second
)

// Config is a tree's ldap: section (source: ldap):
//
//	ldap:
//	  url: ldaps://otds.example.com:41636   # or ldap://...:389 with start_tls: true
//	  bind_dn: cn=otds-reader,ou=ServiceAccounts,dc=identity,dc=opentext,dc=net
//	  bind_password: {env: OTDS_BIND_PASSWORD}
//	  # base_dn, user/group_object_class, user/group_filter, page_size, timeout, ca_file, server_name
type Config struct {
	// URL is ldap://host:port (plain or StartTLS) or ldaps://host:port.
	URL      string `yaml:"url"`
	StartTLS bool   `yaml:"start_tls"`
	// CAFile is a PEM bundle of CAs trusted for the server certificate
	// (default: the system pool).
	CAFile string `yaml:"ca_file"`
	// ServerName overrides the name checked against the certificate (default:
	// the URL's host).
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify turns certificate verification off. Explicit only;
	// logged as a warning on every run.
	InsecureSkipVerify bool              `yaml:"insecure_skip_verify"`
	BindDN             string            `yaml:"bind_dn"`
	BindPassword       section.SecretRef `yaml:"bind_password"`
	// BaseDN is searched (subtree); default ou=IdentityProviders,dc=identity,dc=opentext,dc=net.
	BaseDN string `yaml:"base_dn"`
	// UserObjectClass / GroupObjectClass build the search filters
	// (objectClass=<value>), escaped; defaults oTPerson / oTGroup.
	UserObjectClass  string `yaml:"user_object_class"`
	GroupObjectClass string `yaml:"group_object_class"`
	// UserFilter / GroupFilter are optional extra LDAP filters ANDed with the
	// object class, e.g. "(!(oTType=TenantAdminUser))".
	UserFilter  string `yaml:"user_filter"`
	GroupFilter string `yaml:"group_filter"`
	// PageSize of the paged-results control; default 500.
	PageSize int `yaml:"page_size"`
	// Timeout bounds each request (bind, each page); default 60s.
	Timeout time.Duration `yaml:"timeout"`
}

// ApplyDefaults fills every unset field with its default.
func (l *Config) ApplyDefaults() {
	if l.BaseDN == "" {
		l.BaseDN = DefaultBaseDN
	}
	if l.UserObjectClass == "" {
		l.UserObjectClass = DefaultUserClass
	}
	if l.GroupObjectClass == "" {
		l.GroupObjectClass = DefaultGroupClass
	}
	if l.PageSize == 0 {
		l.PageSize = DefaultPageSize
	}
	if l.Timeout == 0 {
		l.Timeout = DefaultTimeout
	}
}

// Validate checks the section under key k (e.g. trees[0].ldap) without I/O.
func (l *Config) Validate(k string) section.Errors {
	var errs section.Errors
	u, err := url.Parse(l.URL)
	switch {
	case l.URL == "":
		errs = append(errs, section.Error{Key: k + ".url", Msg: "required for source ldap: ldaps://host:636 or ldap://host:389 (with start_tls: true)"})
	case err != nil || u.Host == "":
		errs = append(errs, section.Error{Key: k + ".url", Msg: fmt.Sprintf("%q is not an LDAP URL; use ldaps://host:port or ldap://host:port", l.URL)})
	case u.Scheme != "ldap" && u.Scheme != "ldaps":
		errs = append(errs, section.Error{Key: k + ".url", Msg: fmt.Sprintf("scheme %q is not supported; use ldap:// or ldaps://", u.Scheme)})
	case u.Scheme == "ldaps" && l.StartTLS:
		errs = append(errs, section.Error{Key: k + ".start_tls", Msg: "start_tls applies to ldap:// only; ldaps:// is already TLS, remove start_tls"})
	}
	if l.BindDN != "" {
		if _, err := ldap.ParseDN(l.BindDN); err != nil {
			errs = append(errs, section.Error{Key: k + ".bind_dn", Msg: fmt.Sprintf("does not parse as a DN: %v", err)})
		}
		errs = append(errs, l.BindPassword.Validate(k+".bind_password", true)...)
	} else if !l.BindPassword.IsZero() {
		errs = append(errs, section.Error{Key: k + ".bind_dn", Msg: "bind_password is set but bind_dn is empty; set the DN to bind as"})
	}
	if _, err := ldap.ParseDN(l.BaseDN); err != nil {
		errs = append(errs, section.Error{Key: k + ".base_dn", Msg: fmt.Sprintf("does not parse as a DN: %v", err)})
	}
	for _, f := range []struct{ key, v string }{{"user_filter", l.UserFilter}, {"group_filter", l.GroupFilter}} {
		if f.v == "" {
			continue
		}
		if _, err := ldap.CompileFilter(f.v); err != nil {
			errs = append(errs, section.Error{Key: k + "." + f.key, Msg: fmt.Sprintf("not a valid LDAP filter: %v; write it in parentheses, e.g. (!(oTType=TenantAdminUser))", err)})
		}
	}
	for _, f := range []struct{ key, v string }{{"user_object_class", l.UserObjectClass}, {"group_object_class", l.GroupObjectClass}} {
		if !section.ValidAttrName(f.v) {
			errs = append(errs, section.Error{Key: k + "." + f.key, Msg: fmt.Sprintf("%q is not an object class name", f.v)})
		}
	}
	if l.PageSize < 1 || l.PageSize > 100000 {
		errs = append(errs, section.Error{Key: k + ".page_size", Msg: fmt.Sprintf("%d is out of range; use 1-100000 (default 500)", l.PageSize)})
	}
	if l.Timeout < 0 {
		errs = append(errs, section.Error{Key: k + ".timeout", Msg: "must be positive, e.g. 60s"})
	}
	if l.CAFile != "" && l.InsecureSkipVerify {
		errs = append(errs, section.Error{Key: k + ".insecure_skip_verify", Msg: "ca_file is set, so verification can work; remove insecure_skip_verify"})
	}
	return errs
}
