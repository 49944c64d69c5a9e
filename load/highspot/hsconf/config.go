// Package hsconf owns the load stage's highspot: configuration section: the
// target (rest, scim or the in-process sandbox), each client's settings, the
// request templates of the weakly evidenced writes, their defaults and
// validation. internal/config embeds Config as Config.Highspot;
// load/highspot builds the target from it. docs/configuration.md lists every
// key.
package hsconf

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/config/section"
)

// Config is the highspot: section: the Highspot target (REST, SCIM or the local sandbox).
// Owned by the load stage; see docs/configuration.md (section highspot:).
//
//	highspot:
//	  target: rest            # rest | scim | sandbox
//	  rest:
//	    base_url: https://api-su2.highspot.com/v1.0
//	    api_key: {env: HIGHSPOT_API_KEY}
//	    api_secret: {env: HIGHSPOT_API_SECRET}
//	  scim:
//	    base_url: https://…/scim/v2
//	    token: {env: HIGHSPOT_SCIM_TOKEN}
type Config struct {
	// Target selects the implementation: rest (Highspot REST v1.0), scim
	// (SCIM 2.0) or sandbox (the in-process stand-in, for the demo).
	Target string `yaml:"target"`
	// CreateMissingGroups makes the plan create the managed groups a
	// membership needs and the pull did not find in Highspot (create_group
	// changes, applied before memberships and gated by policy.thresholds
	// like any other op). Default false: an admin creates them once, and a
	// membership in a missing group fails with a clear error.
	CreateMissingGroups bool    `yaml:"create_missing_groups"`
	REST                REST    `yaml:"rest"`
	SCIM                SCIM    `yaml:"scim"`
	Sandbox             Sandbox `yaml:"sandbox"`
	// MaxListPages is the page budget of one listing during pull (0 =
	// 100000); a server that never ends a listing fails the pull instead of
	// holding the run lock forever.
	MaxListPages int `yaml:"max_list_pages"`
}

// REST configures the REST v1.0 client.
type REST struct {
	// BaseURL includes the version: https://api-su2.highspot.com/v1.0. The
	// host depends on the tenant (Settings → Developer → Basics → API URL).
	BaseURL string `yaml:"base_url"`
	// Auth is basic (API key:secret, the evidenced default) or oauth2
	// (client credentials; the key and secret are the client id and secret).
	Auth      string            `yaml:"auth"`
	APIKey    section.SecretRef `yaml:"api_key"`
	APISecret section.SecretRef `yaml:"api_secret"`
	// TokenURL is the OAuth2 token endpoint; default <base_url>/auth/oauth2/token.
	TokenURL string `yaml:"token_url"`
	// HSUser, when set, is sent as the hs-user impersonation header.
	HSUser string `yaml:"hs_user"`
	// PageLimit is the page size of list calls (1..100, default 100).
	PageLimit int `yaml:"page_limit"`
	// BatchSize is how many users one POST /users carries (1..100, default 50).
	BatchSize int `yaml:"batch_size"`
	// Timeout bounds one HTTP request (default 30s).
	Timeout time.Duration `yaml:"timeout"`
	// Endpoints override the weakly evidenced writes (see highspot-api.md §13).
	Endpoints Endpoints `yaml:"endpoints"`
}

// Endpoints are request templates for the writes Highspot does not
// document publicly. Each is {method, path, body}; path and body may use the
// placeholders {user_id}, {email}, {group_id} and {group_name} (substituted
// URL-escaped in the path, JSON-escaped in the body). An empty field takes the
// default shown.
type Endpoints struct {
	// Suspend: DELETE /users/{user_id} (WEAK: S3 only; soft or hard unknown).
	Suspend Endpoint `yaml:"suspend"`
	// Reactivate: POST /users [{"email":"{email}","properties":{"suspended":false}}]
	// (PROPOSED: the upsert with a suspended property; confirm on a tenant).
	Reactivate Endpoint `yaml:"reactivate"`
	// AddMember: POST /groups/{group_id}/users {"users":["{email}"]} (PROPOSED).
	AddMember Endpoint `yaml:"add_member"`
	// RemoveMember: DELETE /groups/{group_id}/users/{user_id} (PROPOSED).
	RemoveMember Endpoint `yaml:"remove_member"`
}

// Endpoint is one request template.
type Endpoint struct {
	Method string `yaml:"method"`
	Path   string `yaml:"path"`
	Body   string `yaml:"body"`
}

// Default endpoint templates for the weakly evidenced writes.
var (
	defaultSuspend      = Endpoint{Method: "DELETE", Path: "/users/{user_id}"}
	defaultReactivate   = Endpoint{Method: "POST", Path: "/users", Body: `[{"email":"{email}","properties":{"suspended":false}}]`}
	defaultAddMember    = Endpoint{Method: "POST", Path: "/groups/{group_id}/users", Body: `{"users":["{email}"]}`}
	defaultRemoveMember = Endpoint{Method: "DELETE", Path: "/groups/{group_id}/users/{user_id}"}
)

// SCIM configures the SCIM 2.0 client.
type SCIM struct {
	// BaseURL is the SCIM root, e.g. https://…/scim/v2 (given by Highspot support).
	BaseURL string            `yaml:"base_url"`
	Token   section.SecretRef `yaml:"token"`
	// UseBulk is auto (use /Bulk when ServiceProviderConfig says it is
	// supported) or never.
	UseBulk string `yaml:"use_bulk"`
	// BatchSize caps operations per Bulk request (default 50; the provider's
	// maxOperations is the upper bound).
	BatchSize int `yaml:"batch_size"`
	// PageSize is the count of list calls (default 100).
	PageSize int           `yaml:"page_size"`
	Timeout  time.Duration `yaml:"timeout"`
}

// Sandbox configures the in-process sandbox used when target is sandbox.
type Sandbox struct {
	// Surface is which client talks to the sandbox: rest (default) or scim.
	Surface string `yaml:"surface"`
	// StateFile, when set, persists the sandbox state (JSON) across runs.
	StateFile string `yaml:"state_file"`
	// AutoVerify makes users created by POST /users verified at once.
	AutoVerify bool `yaml:"auto_verify"`
}

// ApplyDefaults fills every unset value with its default.
func (h *Config) ApplyDefaults() {
	if h.Target == "" {
		h.Target = "sandbox"
	}
	r := &h.REST
	r.BaseURL = strings.TrimRight(r.BaseURL, "/")
	if r.Auth == "" {
		r.Auth = "basic"
	}
	if r.TokenURL == "" && r.BaseURL != "" {
		r.TokenURL = r.BaseURL + "/auth/oauth2/token"
	}
	if r.PageLimit == 0 {
		r.PageLimit = 100
	}
	if r.BatchSize == 0 {
		r.BatchSize = 50
	}
	if r.Timeout == 0 {
		r.Timeout = 30 * time.Second
	}
	r.Endpoints = r.Endpoints.WithDefaults()
	s := &h.SCIM
	s.BaseURL = strings.TrimRight(s.BaseURL, "/")
	if s.UseBulk == "" {
		s.UseBulk = "auto"
	}
	if s.BatchSize == 0 {
		s.BatchSize = 50
	}
	if s.PageSize == 0 {
		s.PageSize = 100
	}
	if s.Timeout == 0 {
		s.Timeout = 30 * time.Second
	}
	if h.Sandbox.Surface == "" {
		h.Sandbox.Surface = "rest"
	}
}

// WithDefaults returns the templates with every unset one filled with its default.
func (e Endpoints) WithDefaults() Endpoints {
	e.Suspend = e.Suspend.withDefault(defaultSuspend)
	e.Reactivate = e.Reactivate.withDefault(defaultReactivate)
	e.AddMember = e.AddMember.withDefault(defaultAddMember)
	e.RemoveMember = e.RemoveMember.withDefault(defaultRemoveMember)
	return e
}

// withDefault fills an unset template from d. A template given only a path
// keeps the default method; a method without a path is completed likewise.
func (e Endpoint) withDefault(d Endpoint) Endpoint {
	if e.Method == "" && e.Path == "" && e.Body == "" {
		return d
	}
	if e.Method == "" {
		e.Method = d.Method
	}
	if e.Path == "" {
		e.Path = d.Path
	}
	e.Method = strings.ToUpper(e.Method)
	return e
}

// Validate checks the section under key k (highspot) without I/O; only the
// selected target's settings are checked.
func (h *Config) Validate(k string) section.Errors {
	var errs section.Errors
	add := func(key, msg string) { errs = append(errs, section.Error{Key: k + "." + key, Msg: msg}) }
	if h.MaxListPages < 0 {
		add("max_list_pages", fmt.Sprintf("%d is negative; use 0 for the default (100000) or a page count", h.MaxListPages))
	}
	switch h.Target {
	case "rest":
		errs = append(errs, h.REST.validate(k+".rest")...)
	case "scim":
		errs = append(errs, h.SCIM.validate(k+".scim")...)
	case "sandbox":
		switch h.Sandbox.Surface {
		case "rest", "scim":
		default:
			add("sandbox.surface", fmt.Sprintf("unknown surface %q; use rest or scim", h.Sandbox.Surface))
		}
	default:
		add("target", fmt.Sprintf("unknown target %q; use rest, scim or sandbox", h.Target))
	}
	return errs
}

func (r *REST) validate(k string) section.Errors {
	var errs section.Errors
	add := func(key, msg string) { errs = append(errs, section.Error{Key: k + "." + key, Msg: msg}) }
	if msg := checkHTTPURL(r.BaseURL); msg != "" {
		add("base_url", msg+"; use the tenant's API URL with the version, e.g. https://api-su2.highspot.com/v1.0")
	}
	switch r.Auth {
	case "basic", "oauth2":
	default:
		add("auth", fmt.Sprintf("unknown auth %q; use basic or oauth2", r.Auth))
	}
	errs = append(errs, r.APIKey.Validate(k+".api_key", true)...)
	errs = append(errs, r.APISecret.Validate(k+".api_secret", true)...)
	if r.Auth == "oauth2" {
		if msg := checkHTTPURL(r.TokenURL); msg != "" {
			add("token_url", msg)
		}
	}
	if r.PageLimit < 1 || r.PageLimit > 100 {
		add("page_limit", fmt.Sprintf("%d is out of range; use 1..100 (Highspot caps pages at 100)", r.PageLimit))
	}
	if r.BatchSize < 1 || r.BatchSize > 100 {
		add("batch_size", fmt.Sprintf("%d is out of range; use 1..100", r.BatchSize))
	}
	if r.Timeout < 0 {
		add("timeout", "must be positive, e.g. 30s")
	}
	for name, e := range map[string]Endpoint{"suspend": r.Endpoints.Suspend, "reactivate": r.Endpoints.Reactivate,
		"add_member": r.Endpoints.AddMember, "remove_member": r.Endpoints.RemoveMember} {
		switch e.Method {
		case "GET", "POST", "PUT", "PATCH", "DELETE":
		default:
			add("endpoints."+name+".method", fmt.Sprintf("unknown method %q; use POST, PUT, PATCH or DELETE", e.Method))
		}
		if !strings.HasPrefix(e.Path, "/") {
			add("endpoints."+name+".path", fmt.Sprintf("path %q must start with / (relative to base_url)", e.Path))
		}
	}
	return errs
}

func (s *SCIM) validate(k string) section.Errors {
	var errs section.Errors
	add := func(key, msg string) { errs = append(errs, section.Error{Key: k + "." + key, Msg: msg}) }
	if msg := checkHTTPURL(s.BaseURL); msg != "" {
		add("base_url", msg+"; use the SCIM root given by Highspot support, e.g. https://…/scim/v2")
	}
	errs = append(errs, s.Token.Validate(k+".token", true)...)
	switch s.UseBulk {
	case "auto", "never":
	default:
		add("use_bulk", fmt.Sprintf("unknown value %q; use auto or never", s.UseBulk))
	}
	if s.BatchSize < 1 || s.BatchSize > 1000 {
		add("batch_size", fmt.Sprintf("%d is out of range; use 1..1000", s.BatchSize))
	}
	if s.PageSize < 1 || s.PageSize > 1000 {
		add("page_size", fmt.Sprintf("%d is out of range; use 1..1000", s.PageSize))
	}
	if s.Timeout < 0 {
		add("timeout", "must be positive, e.g. 30s")
	}
	return errs
}

func checkHTTPURL(s string) string {
	if s == "" {
		return "required"
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Sprintf("%q is not an http(s) URL", s)
	}
	return ""
}
