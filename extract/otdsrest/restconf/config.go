// Package restconf owns the otds-rest source's configuration section (a
// tree's rest: key): its struct, defaults and validation. internal/config
// embeds Config as Tree.Rest; extract/otdsrest reads it.
// docs/configuration.md lists every key.
package restconf

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/config/section"
)

// Defaults of the otds-rest source.
const (
	DefaultPageSize = 250
	DefaultTimeout  = 60 * time.Second
	DefaultRetries  = 4
)

// Config is a tree's rest: section (source: otds-rest):
//
//	rest:
//	  url: https://otds.example.com/otdsws
//	  auth: ticket                       # or oauth2
//	  username: reader@otds.admin        # ticket auth
//	  password: {env: OTDS_REST_PASSWORD}
//	  # client_id: etl-reader            # oauth2 auth
//	  # client_secret: {env: OTDS_CLIENT_SECRET}
//	  partitions: ["Acme Corp"]          # partitions to list (REST lists per partition)
type Config struct {
	// URL is the OTDS web service base, e.g. https://otds.example.com/otdsws;
	// the source calls <url>/rest/... and <url>/oauth2/token.
	URL string `yaml:"url"`
	// Auth is ticket (POST /rest/authentication/credentials with username and
	// password; the OTDSTicket header) or oauth2 (client credentials). Default ticket.
	Auth     string            `yaml:"auth"`
	Username string            `yaml:"username"`
	Password section.SecretRef `yaml:"password"`
	ClientID string            `yaml:"client_id"`
	// ClientSecret is the OAuth2 client secret (auth: oauth2).
	ClientSecret section.SecretRef `yaml:"client_secret"`
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
func (r Config) RetryCount() int {
	if r.Retries == nil {
		return DefaultRetries
	}
	return *r.Retries
}

// ApplyDefaults fills every unset field with its default.
func (r *Config) ApplyDefaults() {
	if r.Auth == "" {
		r.Auth = "ticket"
	}
	if r.PageSize == 0 {
		r.PageSize = DefaultPageSize
	}
	if r.Timeout == 0 {
		r.Timeout = DefaultTimeout
	}
}

// Validate checks the section under key k (e.g. trees[0].rest) without I/O.
func (r *Config) Validate(k string) section.Errors {
	var errs section.Errors
	u, err := url.Parse(r.URL)
	switch {
	case r.URL == "":
		errs = append(errs, section.Error{Key: k + ".url", Msg: "required for source otds-rest: the OTDS web service base, e.g. https://otds.example.com/otdsws"})
	case err != nil || u.Host == "":
		errs = append(errs, section.Error{Key: k + ".url", Msg: fmt.Sprintf("%q is not a URL; use https://host[:port]/otdsws", r.URL)})
	case u.Scheme != "https" && u.Scheme != "http":
		errs = append(errs, section.Error{Key: k + ".url", Msg: fmt.Sprintf("scheme %q is not supported; use https:// (or http:// for a local stand-in)", u.Scheme)})
	}
	switch r.Auth {
	case "ticket":
		if r.Username == "" {
			errs = append(errs, section.Error{Key: k + ".username", Msg: "required for auth ticket: the OTDS user to sign in as, e.g. reader@otds.admin"})
		}
		errs = append(errs, r.Password.Validate(k+".password", true)...)
	case "oauth2":
		if r.ClientID == "" {
			errs = append(errs, section.Error{Key: k + ".client_id", Msg: "required for auth oauth2: the confidential OAuth client's id"})
		}
		errs = append(errs, r.ClientSecret.Validate(k+".client_secret", true)...)
	default:
		errs = append(errs, section.Error{Key: k + ".auth", Msg: fmt.Sprintf("unknown auth %q; use ticket or oauth2", r.Auth)})
	}
	for i, p := range r.Partitions {
		if strings.TrimSpace(p) == "" {
			errs = append(errs, section.Error{Key: fmt.Sprintf("%s.partitions[%d]", k, i), Msg: "empty partition name; remove it or name a partition"})
		}
	}
	if r.PageSize < 1 || r.PageSize > 10000 {
		errs = append(errs, section.Error{Key: k + ".page_size", Msg: fmt.Sprintf("%d is out of range; use 1-10000 (default 250)", r.PageSize)})
	}
	if r.Timeout < 0 {
		errs = append(errs, section.Error{Key: k + ".timeout", Msg: "must be positive, e.g. 60s"})
	}
	if n := r.RetryCount(); n < 0 || n > 10 {
		errs = append(errs, section.Error{Key: k + ".retries", Msg: fmt.Sprintf("%d is out of range; use 0-10 (default 4)", n)})
	}
	if r.CAFile != "" && r.Insecure {
		errs = append(errs, section.Error{Key: k + ".insecure", Msg: "ca_file is set, so verification can work; remove insecure"})
	}
	return errs
}
