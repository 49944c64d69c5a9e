package pipelines

import (
	"errors"
	"strings"
	"testing"
)

// The permission and credential hints follow a status code, not digits that
// happen to stand in a temp path or an id (TestDoctor failed now and then when
// its t.TempDir() name held "403").
func TestAdviceReadsStatusCodes(t *testing.T) {
	perm := "lack permission"
	creds := "wrong or expired"
	for _, tc := range []struct {
		name, err, want string
	}{
		{"status 403", "GET /v1.0/users: status 403: forbidden", perm},
		{"403 first", "403 Forbidden", perm},
		{"403 in parens", "list groups (403)", perm},
		{"status 401", "highspot: HTTP 401 unauthorized", creds},
		{"403 ends the sentence", "list users: got 403.", perm},
		{"403 inside a version", "server v1.403 refused", "fallback"},
		{"403 inside a temp dir", "open /tmp/TestDoctor1296644031/001/cfg.yaml: permission check failed", "fallback"},
		{"401 inside an id", "user 5f401a: not found", "fallback"},
		{"403 as a path element", "open /srv/403/state.json: is a directory", "fallback"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := advice(errors.New(tc.err), "fallback")
			if !strings.Contains(got, tc.want) {
				t.Errorf("advice(%q): got %q, want it to contain %q", tc.err, got, tc.want)
			}
		})
	}
}
