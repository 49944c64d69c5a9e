package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Source-specific settings of the otds-rest and ldif sources. This file is
// owned by the REST/LDIF source engineer (extract/otdsrest, extract/ldif);
// trees.go embeds these types as Tree.Rest and Tree.LDIF.

// Defaults of the otds-rest source.
const (
	DefaultRestPageSize = 250
	DefaultRestTimeout  = 60 * time.Second
	DefaultRestRetries  = 4
)

// RestSource configures the otds-rest source:
//
//	rest:
//	  url: https://otds.example.com/otdsws
//	  auth: ticket                       # or oauth2
//	  username: reader@otds.admin        # ticket auth
//	  password: {env: OTDS_REST_PASSWORD}
//	  # client_id: etl-reader            # oauth2 auth
//	  # client_secret: {env: OTDS_CLIENT_SECRET}
//	  partitions: ["Acme Corp"]          # partitions to list (REST lists per partition)
type RestSource struct {
	// URL is the OTDS web service base, e.g. https://otds.example.com/otdsws;
	// the source calls <url>/rest/... and <url>/oauth2/token.
	URL string `yaml:"url"`
	// Auth is ticket (POST /rest/authentication/credentials with username and
	// password; the OTDSTicket header) or oauth2 (client credentials). Default ticket.
	Auth     string    `yaml:"auth"`
	Username string    `yaml:"username"`
	Password SecretRef `yaml:"password"`
	ClientID string    `yaml:"client_id"`
	// ClientSecret is the OAuth2 client secret (auth: oauth2).
	ClientSecret SecretRef `yaml:"client_secret"`
	// Partitions are listed one by one (GET /users?where_partition_name=...).
	// Empty: the tree's partitions: list is used; when both are empty the
	// source discovers them with GET /rest/partitions.
	Partitions []string `yaml:"partitions"`
	// PageSize of GET /users and /groups (page_size); default 250.
	PageSize int `yaml:"page_size"`
	// Timeout bounds each HTTP request; default 60s.
	Timeout time.Duration `yaml:"timeout"`
	// Retries of a request that failed with a 5xx, 429 or a network error,
	// with exponential backoff; default 4 (so 5 attempts). Bounded to 0-10.
	Retries *int `yaml:"retries"`
	// CAFile is a PEM bundle of CAs trusted for the server certificate.
	CAFile string `yaml:"ca_file"`
	// Insecure turns certificate verification off (logged as a warning).
	Insecure bool `yaml:"insecure"`
}

// RetryCount is the effective retry count.
func (r RestSource) RetryCount() int {
	if r.Retries == nil {
		return DefaultRestRetries
	}
	return *r.Retries
}

func (r *RestSource) applyDefaults() {
	if r.Auth == "" {
		r.Auth = "ticket"
	}
	if r.PageSize == 0 {
		r.PageSize = DefaultRestPageSize
	}
	if r.Timeout == 0 {
		r.Timeout = DefaultRestTimeout
	}
}

func (r *RestSource) validate(k string) Errors {
	var errs Errors
	u, err := url.Parse(r.URL)
	switch {
	case r.URL == "":
		errs = append(errs, Error{Key: k + ".url", Msg: "required for source otds-rest: the OTDS web service base, e.g. https://otds.example.com/otdsws"})
	case err != nil || u.Host == "":
		errs = append(errs, Error{Key: k + ".url", Msg: fmt.Sprintf("%q is not a URL; use https://host[:port]/otdsws", r.URL)})
	case u.Scheme != "https" && u.Scheme != "http":
		errs = append(errs, Error{Key: k + ".url", Msg: fmt.Sprintf("scheme %q is not supported; use https:// (or http:// for a local stand-in)", u.Scheme)})
	}
	switch r.Auth {
	case "ticket":
		if r.Username == "" {
			errs = append(errs, Error{Key: k + ".username", Msg: "required for auth ticket: the OTDS user to sign in as, e.g. reader@otds.admin"})
		}
		errs = append(errs, r.Password.Validate(k+".password", true)...)
	case "oauth2":
		if r.ClientID == "" {
			errs = append(errs, Error{Key: k + ".client_id", Msg: "required for auth oauth2: the confidential OAuth client's id"})
		}
		errs = append(errs, r.ClientSecret.Validate(k+".client_secret", true)...)
	default:
		errs = append(errs, Error{Key: k + ".auth", Msg: fmt.Sprintf("unknown auth %q; use ticket or oauth2", r.Auth)})
	}
	for i, p := range r.Partitions {
		if strings.TrimSpace(p) == "" {
			errs = append(errs, Error{Key: fmt.Sprintf("%s.partitions[%d]", k, i), Msg: "empty partition name; remove it or name a partition"})
		}
	}
	if r.PageSize < 1 || r.PageSize > 10000 {
		errs = append(errs, Error{Key: k + ".page_size", Msg: fmt.Sprintf("%d is out of range; use 1-10000 (default 250)", r.PageSize)})
	}
	if r.Timeout < 0 {
		errs = append(errs, Error{Key: k + ".timeout", Msg: "must be positive, e.g. 60s"})
	}
	if n := r.RetryCount(); n < 0 || n > 10 {
		errs = append(errs, Error{Key: k + ".retries", Msg: fmt.Sprintf("%d is out of range; use 0-10 (default 4)", n)})
	}
	if r.CAFile != "" && r.Insecure {
		errs = append(errs, Error{Key: k + ".insecure", Msg: "ca_file is set, so verification can work; remove insecure"})
	}
	return errs
}

// LDIFSource configures the ldif source:
//
//	ldif:
//	  path: exports/otds-16.ldif   # a local path or an object key in the store
type LDIFSource struct {
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

func (l *LDIFSource) applyDefaults() {
	if l.UserObjectClass == "" {
		l.UserObjectClass = DefaultUserClass
	}
	if l.GroupObjectClass == "" {
		l.GroupObjectClass = DefaultGroupClass
	}
	if l.BaseDN == "" {
		l.BaseDN = DefaultBaseDN
	}
}

func (l *LDIFSource) validate(k string) Errors {
	var errs Errors
	for _, f := range []struct{ key, v string }{{"user_object_class", l.UserObjectClass}, {"group_object_class", l.GroupObjectClass}} {
		if !validAttrName(f.v) {
			errs = append(errs, Error{Key: k + "." + f.key, Msg: fmt.Sprintf("%q is not an object class name", f.v)})
		}
	}
	if _, err := ldap.ParseDN(l.BaseDN); err != nil {
		errs = append(errs, Error{Key: k + ".base_dn", Msg: fmt.Sprintf("does not parse as a DN: %v", err)})
	}
	if strings.ContainsRune(l.Path, 0) {
		errs = append(errs, Error{Key: k + ".path", Msg: "contains a NUL byte; give a file path or store key"})
	}
	return errs
}
