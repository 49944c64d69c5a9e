package otdsrest

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/otds-highspot/otds-highspot/extract/ldap"
	"github.com/otds-highspot/otds-highspot/extract/ldif/ldiftest"
	"github.com/otds-highspot/otds-highspot/tools/otds-standin/standin"
)

// TestSourcesAgreeIntegration reads the fixture three ways — LDAP (slapd
// loaded with fixtures/otds/trees.ldif), the LDIF file and the REST stand-in
// fed by the same file — and checks the rows agree in ldiftest.Canonical form.
func TestSourcesAgreeIntegration(t *testing.T) {
	url := os.Getenv("OTDS_TEST_LDAP_URL")
	if url == "" {
		t.Skip("OTDS_TEST_LDAP_URL unset; start slapd with scripts/slapd.sh up && eval \"$(scripts/slapd.sh env)\"")
	}
	bindDN := os.Getenv("OTDS_TEST_LDAP_BIND_DN")
	if bindDN == "" {
		bindDN = "cn=Directory Manager"
	}
	pwVar := "OTDS_TEST_LDAP_PASSWORD"
	getenvLDAP := func(k string) string {
		if k == pwVar && os.Getenv(k) == "" {
			return "secret"
		}
		return os.Getenv(k)
	}
	extra := "    extra_attributes: {territory: oTExtraAttr1, business_unit: oTExtraAttr2}\n"
	ldapTree := parseTree(t, fmt.Sprintf("  - name: rest\n    source: ldap\n%s    ldap:\n      url: %s\n      bind_dn: %q\n      bind_password: {env: %s}\n      page_size: 7\n", extra, url, bindDN, pwVar))
	src, err := ldap.New(ldapTree, getenvLDAP, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	var ls ldiftest.Sink
	if err := src.Read(context.Background(), &ls); err != nil {
		t.Fatalf("ldap Read: %v", err)
	}
	fromLDAP := ldiftest.Canonical(&ls)
	fromLDIF := ldiftest.Canonical(readLDIF(t, ""))

	_, hs := startStandin(t, standin.Options{Faults: standin.Faults{TicketMaxUses: 6}})
	rs, err := readREST(t, fast(t, restTree(t, hs.URL, "      page_size: 5\n"), hs.Client()))
	if err != nil {
		t.Fatalf("REST Read: %v", err)
	}
	fromREST := ldiftest.Canonical(rs)

	if len(fromLDAP.Accounts) == 0 {
		t.Fatal("ldap read no accounts; is slapd loaded with fixtures/otds/trees.ldif?")
	}
	for _, c := range []struct {
		name      string
		got, want ldiftest.Rows
	}{{"ldap vs ldif", fromLDAP, fromLDIF}, {"rest vs ldap", fromREST, fromLDAP}} {
		t.Run(c.name, func(t *testing.T) {
			diff(t, "accounts", c.got.Accounts, c.want.Accounts)
			diff(t, "groups", c.got.Groups, c.want.Groups)
			diff(t, "memberships", c.got.Memberships, c.want.Memberships)
			diff(t, "rejects", c.got.Rejects, c.want.Rejects)
		})
	}
	diff(t, "ldap vs ldif dangling", fromLDAP.Dangling, fromLDIF.Dangling)
}
