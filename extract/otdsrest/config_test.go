package otdsrest

import (
	"strings"
	"testing"

	"github.com/otds-highspot/otds-highspot/extract/otdsrest/restconf"
	"github.com/otds-highspot/otds-highspot/internal/config"
)

// TestRestConfigValidation covers the rest: keys (extract/otdsrest/restconf), decoded and located by internal/config.
func TestRestConfigValidation(t *testing.T) {
	tests := []struct {
		name, rest string
		wantErr    string // "" = valid
	}{
		{"ticket ok", "url: https://otds.example.com/otdsws\n      username: u\n      password: {env: P}", ""},
		{"oauth2 ok", "url: https://otds.example.com/otdsws\n      auth: oauth2\n      client_id: c\n      client_secret: {file: /run/s}", ""},
		{"url missing", "username: u\n      password: {env: P}", "rest.url: required"},
		{"bad scheme", "url: ldap://x/otdsws\n      username: u\n      password: {env: P}", "scheme \"ldap\""},
		{"no password", "url: https://x/otdsws\n      username: u", "rest.password"},
		{"no client id", "url: https://x/otdsws\n      auth: oauth2\n      client_secret: {env: S}", "rest.client_id"},
		{"bad auth", "url: https://x/otdsws\n      auth: kerberos", "unknown auth"},
		{"page size", "url: https://x/otdsws\n      username: u\n      password: {env: P}\n      page_size: 20000", "page_size"},
		{"retries", "url: https://x/otdsws\n      username: u\n      password: {env: P}\n      retries: 11", "retries"},
		{"insecure with ca", "url: https://x/otdsws\n      username: u\n      password: {env: P}\n      ca_file: /ca.pem\n      insecure: true", "remove insecure"},
		{"unknown key", "url: https://x/otdsws\n      username: u\n      password: {env: P}\n      pagesize: 3", "pagesize"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse("t.yaml", []byte("version: 1\nstore: {url: ./a}\ntrees:\n  - name: r\n    source: otds-rest\n    rest:\n      "+tc.rest+"\n"))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("got %v, want valid", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("got %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
	cfg, err := config.Parse("t.yaml", []byte("version: 1\nstore: {url: ./a}\ntrees:\n  - name: r\n    source: otds-rest\n    rest: {url: https://x/otdsws, username: u, password: {env: P}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Trees[0].Rest
	if r.Auth != "ticket" || r.PageSize != 250 || r.RetryCount() != 4 || r.Timeout != restconf.DefaultTimeout {
		t.Errorf("defaults: got auth %q page_size %d retries %d timeout %v, want ticket 250 4 60s", r.Auth, r.PageSize, r.RetryCount(), r.Timeout)
	}
}
