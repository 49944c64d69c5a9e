package config

import (
	"strings"
	"testing"
)

func TestHighspotDefaultsAndValidation(t *testing.T) {
	h := Highspot{Target: "rest", REST: HighspotREST{BaseURL: "https://api-su2.highspot.com/v1.0/",
		APIKey: SecretRef{Env: "K"}, APISecret: SecretRef{Env: "S"},
		Endpoints: HighspotEndpoints{Suspend: Endpoint{Path: "/users/{user_id}/suspend", Method: "post"}}}}
	h.applyDefaults()
	if errs := h.validate("highspot"); len(errs) != 0 {
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
	bad := Highspot{Target: "rest", REST: HighspotREST{BaseURL: "ftp://x", PageLimit: 500}}
	bad.applyDefaults()
	msg := bad.validate("highspot").Error()
	for _, want := range []string{"highspot.rest.base_url", "highspot.rest.page_limit", "highspot.rest.api_key"} {
		if !strings.Contains(msg, want) {
			t.Errorf("got %s, want a problem at %s", msg, want)
		}
	}
	var sb Highspot
	sb.applyDefaults()
	if sb.Target != "sandbox" || len(sb.validate("highspot")) != 0 {
		t.Errorf("empty section: got target %q, errors %v", sb.Target, sb.validate("highspot"))
	}
}
