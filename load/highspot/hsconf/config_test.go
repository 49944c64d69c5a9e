package hsconf

import (
	"strings"
	"testing"

	"github.com/otds-highspot/otds-highspot/internal/config/section"
)

func TestHighspotDefaultsAndValidation(t *testing.T) {
	h := Config{Target: "rest", REST: REST{BaseURL: "https://api-su2.highspot.com/v1.0/",
		APIKey: section.SecretRef{Env: "K"}, APISecret: section.SecretRef{Env: "S"},
		Endpoints: Endpoints{Suspend: Endpoint{Path: "/users/{user_id}/suspend", Method: "post"}}}}
	h.ApplyDefaults()
	if errs := h.Validate("highspot"); len(errs) != 0 {
		t.Fatalf("got %v, want valid", errs)
	}
	if got, want := h.REST.TokenURL, "https://api-su2.highspot.com/v1.0/auth/oauth2/token"; got != want {
		t.Errorf("token_url: got %s, want %s", got, want)
	}
	if got := h.REST.Endpoints.Suspend; got.Method != "POST" || got.Path != "/users/{user_id}/suspend" {
		t.Errorf("suspend override: got %+v", got)
	}
	if got := h.REST.Endpoints.AddMember; got.Method != "POST" || got.Path != "/groups/{group_id}/users" {
		t.Errorf("add_member default: got %+v", got)
	}
	if h.REST.PageLimit != 100 || h.REST.BatchSize != 50 || h.SCIM.UseBulk != "auto" {
		t.Errorf("defaults: got %+v", h.REST)
	}
	bad := Config{Target: "rest", REST: REST{BaseURL: "ftp://x", PageLimit: 500}}
	bad.ApplyDefaults()
	msg := bad.Validate("highspot").Error()
	for _, want := range []string{"highspot.rest.base_url", "highspot.rest.page_limit", "highspot.rest.api_key"} {
		if !strings.Contains(msg, want) {
			t.Errorf("got %s, want a problem at %s", msg, want)
		}
	}
	var sb Config
	sb.ApplyDefaults()
	if sb.Target != "sandbox" || len(sb.Validate("highspot")) != 0 {
		t.Errorf("empty section: got target %q, errors %v", sb.Target, sb.Validate("highspot"))
	}
}
