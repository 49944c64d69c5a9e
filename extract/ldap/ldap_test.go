package ldap

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/otds-highspot/otds-highspot/extract/extractconf"
	"github.com/otds-highspot/otds-highspot/extract/ldap/ldapconf"
	"github.com/otds-highspot/otds-highspot/internal/config"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/exitcode"
)

func TestFilterEscapesConfigValues(t *testing.T) {
	cfg := ldapconf.Config{UserObjectClass: "oTPerson", GroupObjectClass: "o*)(cn=x"}
	got := Filter(cfg)
	want := `(|(objectClass=oTPerson)(objectClass=o\2a\29\28cn=x))`
	if got != want {
		t.Errorf("Filter: got %s, want %s", got, want)
	}
	cfg = ldapconf.Config{UserObjectClass: "oTPerson", GroupObjectClass: "oTGroup", UserFilter: "(!(oTType=TenantAdminUser))"}
	if got, want := Filter(cfg), `(|(&(objectClass=oTPerson)(!(oTType=TenantAdminUser)))(objectClass=oTGroup))`; got != want {
		t.Errorf("Filter with user_filter: got %s, want %s", got, want)
	}
}

func TestBases(t *testing.T) {
	tree := extractconf.Tree{LDAP: ldapconf.Config{BaseDN: ldapconf.DefaultBaseDN}, Partitions: []string{"Acme Corp", "R&D, Europe"}}
	got := Bases(tree)
	want := []string{"ou=Acme Corp," + ldapconf.DefaultBaseDN, `ou=R&D\, Europe,` + ldapconf.DefaultBaseDN}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("Bases: got %q, want %q", got, want)
	}
	tree.Partitions = nil
	if got := Bases(tree); len(got) != 1 || got[0] != ldapconf.DefaultBaseDN {
		t.Errorf("Bases without partitions: got %q, want [%s]", got, ldapconf.DefaultBaseDN)
	}
	tree = extractconf.Tree{LDAP: ldapconf.Config{BaseDN: "dc=example,dc=com"}, Partitions: []string{"x"}}
	if got := Bases(tree); len(got) != 1 || got[0] != "dc=example,dc=com" {
		t.Errorf("Bases with a non-OTDS base: got %q, want the base itself", got)
	}
}

// countSink counts what a source hands over.
type countSink struct{ accounts, groups, members, rejects int }

func (c *countSink) Account(contract.Account) error    { c.accounts++; return nil }
func (c *countSink) Group(contract.Group) error        { c.groups++; return nil }
func (c *countSink) Member(_, _, _, _, _ string) error { c.members++; return nil }
func (c *countSink) Reject(contract.Reject) error      { c.rejects++; return nil }
func (c *countSink) String() string                    { return fmt.Sprintf("%+v", *c) }
func source(t testing.TB, url, extra, password string) *Source {
	t.Helper()
	y := fmt.Sprintf("version: 1\ntrees:\n  - name: t\n    source: ldap\n    ldap:\n      url: %s\n      bind_dn: cn=Directory Manager\n      bind_password: {env: PW}\n      page_size: 5\n      timeout: 10s\n%s", url, extra)
	cfg, err := config.Parse("t.yaml", []byte(y))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	log := logrus.New()
	log.SetLevel(logrus.ErrorLevel)
	s, err := New(cfg.Trees[0], func(string) string { return password }, log)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTransportsIntegration: the wire client reads the same entries over
// plain LDAP, StartTLS and ldaps:// (CA file, server-name check), and fails
// on a wrong password, a wrong server name and an untrusted certificate.
func TestTransportsIntegration(t *testing.T) {
	url := os.Getenv("OTDS_TEST_LDAP_URL")
	if url == "" {
		t.Skip("OTDS_TEST_LDAP_URL unset; start slapd with scripts/slapd.sh up && eval \"$(scripts/slapd.sh env)\"")
	}
	pw := os.Getenv("OTDS_TEST_LDAP_PASSWORD")
	if pw == "" {
		pw = "secret"
	}
	ctx := context.Background()
	var plain countSink
	if err := source(t, url, "", pw).Read(ctx, &plain); err != nil {
		t.Fatalf("plain read: %v", err)
	}
	if plain.accounts == 0 || plain.groups == 0 || plain.members == 0 {
		t.Fatalf("plain read: got %v, want accounts, groups and members", &plain)
	}
	if err := source(t, url, "", "wrong").Read(ctx, &countSink{}); err == nil || !strings.Contains(err.Error(), "bind") || exitcode.Of(err) != exitcode.Auth {
		t.Errorf("wrong password: got %v (exit %d), want a bind error with exit %d (auth, never retried)", err, exitcode.Of(err), exitcode.Auth)
	}
	ldaps, ca := os.Getenv("OTDS_TEST_LDAPS_URL"), os.Getenv("OTDS_TEST_LDAP_CA_FILE")
	if ldaps == "" || ca == "" {
		t.Skip("OTDS_TEST_LDAPS_URL / OTDS_TEST_LDAP_CA_FILE unset; start slapd with scripts/slapd.sh up --tls")
	}
	for _, c := range []struct{ name, url, extra string }{
		{"starttls", url, "      start_tls: true\n      ca_file: " + ca + "\n"},
		{"ldaps", ldaps, "      ca_file: " + ca + "\n"},
	} {
		var got countSink
		if err := source(t, c.url, c.extra, pw).Read(ctx, &got); err != nil {
			t.Errorf("%s read: %v", c.name, err)
		} else if got != plain {
			t.Errorf("%s read: got %v, want %v (as plain)", c.name, &got, &plain)
		}
	}
	for _, c := range []struct{ name, url, extra string }{
		{"starttls wrong server name", url, "      start_tls: true\n      ca_file: " + ca + "\n      server_name: other.example\n"},
		{"ldaps without the CA", ldaps, ""},
	} {
		if err := source(t, c.url, c.extra, pw).Read(ctx, &countSink{}); err == nil {
			t.Errorf("%s: got no error, want a certificate error", c.name)
		}
	}
}
