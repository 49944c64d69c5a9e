package config

import (
	"strings"
	"testing"
	"time"

	"github.com/otds-highspot/otds-highspot/extract/ldap/ldapconf"
)

func TestTreesDefaultsAndPartitions(t *testing.T) {
	y := `version: 1
trees:
  - name: acme
    source: ldap
    partitions: ["Acme Corp"]
    ldap:
      url: ldap://127.0.0.1:38389
      bind_dn: cn=Directory Manager
      bind_password: {env: OTDS_PW}
    extra_attributes: {territory: oTExtraAttr1}
    health: {null_rate: {mail: 0.2}, max_drop_percent: 0}
  - name: all
    source: ldap
    exclude_partitions: []
    ldap: {url: ldaps://otds.example:41636}
`
	c, err := Parse("t.yaml", []byte(y))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	a := c.Trees[0]
	if got, want := a.LDAP.BaseDN, ldapconf.DefaultBaseDN; got != want {
		t.Errorf("base_dn: got %q, want %q", got, want)
	}
	if got, want := a.LDAP.PageSize, 500; got != want {
		t.Errorf("page_size: got %d, want %d", got, want)
	}
	if got, want := a.LDAP.Timeout, 60*time.Second; got != want {
		t.Errorf("timeout: got %v, want %v", got, want)
	}
	if got, want := a.Attributes["department"], "oTDepartment"; got != want {
		t.Errorf("department: got %q, want %q", got, want)
	}
	if got, want := a.Health.MaxDrop(), 0.0; got != want {
		t.Errorf("explicit max_drop_percent 0: got %v, want %v", got, want)
	}
	if got, want := c.Trees[1].Health.MaxDrop(), 10.0; got != want {
		t.Errorf("default max drop: got %v, want %v", got, want)
	}
	for _, tc := range []struct {
		tree int
		p    string
		want bool
	}{
		{0, "Acme Corp", true}, {0, "acme corp", true}, {0, "Beta GmbH", false}, {0, "otds.admin", false},
		{1, "otds.admin", true}, {1, "Beta GmbH", true},
	} {
		if got := c.Trees[tc.tree].IncludesPartition(tc.p); got != tc.want {
			t.Errorf("tree %d IncludesPartition(%q): got %v, want %v", tc.tree, tc.p, got, tc.want)
		}
	}
}

func TestTreesValidationErrors(t *testing.T) {
	for _, tc := range []struct {
		name, tree, wantKey string
	}{
		{"no url", `{name: a, source: ldap}`, "trees[0].ldap.url"},
		{"bad scheme", `{name: a, source: ldap, ldap: {url: "http://x"}}`, "trees[0].ldap.url"},
		{"ldaps+starttls", `{name: a, source: ldap, ldap: {url: "ldaps://x", start_tls: true}}`, "trees[0].ldap.start_tls"},
		{"bind dn without password", `{name: a, source: ldap, ldap: {url: "ldap://x", bind_dn: "cn=x"}}`, "trees[0].ldap.bind_password"},
		{"bad filter", `{name: a, source: ldap, ldap: {url: "ldap://x", user_filter: "(cn=x"}}`, "trees[0].ldap.user_filter"},
		{"bad page", `{name: a, source: ldap, ldap: {url: "ldap://x", page_size: -1}}`, "trees[0].ldap.page_size"},
		{"unknown required", `{name: a, source: ldif, required_attributes: [nope]}`, "trees[0].required_attributes[0]"},
		{"null rate range", `{name: a, source: ldif, health: {null_rate: {mail: 2}}}`, "trees[0].health.null_rate.mail"},
		{"drop range", `{name: a, source: ldif, health: {max_drop_percent: 120}}`, "trees[0].health.max_drop_percent"},
		{"extra shadows builtin", `{name: a, source: ldif, extra_attributes: {mail: x}}`, "trees[0].extra_attributes.mail"},
		{"include and exclude", `{name: a, source: ldif, partitions: [otds.admin]}`, "trees[0].partitions[0]"},
		{"unknown logical attribute", `{name: a, source: ldif, attributes: {departmnt: oTDepartment}}`, "trees[0].attributes.departmnt"},
		{"bad attribute name", `{name: a, source: ldif, attributes: {department: "o T"}}`, "trees[0].attributes.department"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte("version: 1\ntrees:\n  - "+tc.tree+"\n"))
			if err == nil {
				t.Fatalf("got no error, want one at %s", tc.wantKey)
			}
			if !strings.Contains(err.Error(), tc.wantKey+":") {
				t.Errorf("got %v, want an error at %s", err, tc.wantKey)
			}
		})
	}
}

func TestTreesUnknownKeyStaysAnError(t *testing.T) {
	_, err := Parse("t.yaml", []byte("version: 1\ntrees:\n  - {name: a, source: ldif, partitons: [x]}\n"))
	if err == nil || !strings.Contains(err.Error(), "partitons") {
		t.Fatalf("got %v, want an unknown-key error naming partitons", err)
	}
}
