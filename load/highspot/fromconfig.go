package highspot

import (
	"fmt"
	"net/http"

	"github.com/sirupsen/logrus"

	"github.com/otds-highspot/otds-highspot/load"
	"github.com/otds-highspot/otds-highspot/load/highspot/hsconf"
)

// FromConfig builds the client the highspot: section selects (target rest or
// scim), resolving secrets through getenv. hc may be nil (a client with the
// configured timeout is built). Target sandbox is served by
// load/highspot/sandbox (Server.Client); asking for it here is an error.
func FromConfig(h hsconf.Config, getenv func(string) string, hc *http.Client, log logrus.FieldLogger) (load.Target, error) {
	switch h.Target {
	case "rest":
		key, err := h.REST.APIKey.Resolve("highspot.rest.api_key", getenv)
		if err != nil {
			return nil, err
		}
		secret, err := h.REST.APISecret.Resolve("highspot.rest.api_secret", getenv)
		if err != nil {
			return nil, err
		}
		return NewREST(RESTOptions{BaseURL: h.REST.BaseURL, Auth: h.REST.Auth, APIKey: key, APISecret: secret,
			TokenURL: h.REST.TokenURL, HSUser: h.REST.HSUser, PageLimit: h.REST.PageLimit, BatchSize: h.REST.BatchSize,
			Timeout: h.REST.Timeout, Endpoints: h.REST.Endpoints, HTTPClient: hc, Logger: log})
	case "scim":
		tok, err := h.SCIM.Token.Resolve("highspot.scim.token", getenv)
		if err != nil {
			return nil, err
		}
		return NewSCIM(SCIMOptions{BaseURL: h.SCIM.BaseURL, Token: tok, UseBulk: h.SCIM.UseBulk, BatchSize: h.SCIM.BatchSize,
			PageSize: h.SCIM.PageSize, Timeout: h.SCIM.Timeout, HTTPClient: hc, Logger: log})
	case "sandbox":
		return nil, fmt.Errorf("highspot: target sandbox is built by load/highspot/sandbox (Server.Client), not FromConfig")
	}
	return nil, fmt.Errorf("highspot: unknown target %q; use rest, scim or sandbox", h.Target)
}
