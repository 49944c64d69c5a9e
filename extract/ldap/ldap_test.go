package ldap

import (
	"testing"

	"github.com/otds-highspot/otds-highspot/internal/config"
)

func TestFilterEscapesConfigValues(t *testing.T) {
	cfg := config.LDAPSource{UserObjectClass: "oTPerson", GroupObjectClass: "o*)(cn=x"}
	got := Filter(cfg)
	want := `(|(objectClass=oTPerson)(objectClass=o\2a\29\28cn=x))`
	if got != want {
		t.Errorf("Filter: got %s, want %s", got, want)
	}
	cfg = config.LDAPSource{UserObjectClass: "oTPerson", GroupObjectClass: "oTGroup", UserFilter: "(!(oTType=TenantAdminUser))"}
	if got, want := Filter(cfg), `(|(&(objectClass=oTPerson)(!(oTType=TenantAdminUser)))(objectClass=oTGroup))`; got != want {
		t.Errorf("Filter with user_filter: got %s, want %s", got, want)
	}
}

func TestBases(t *testing.T) {
	tree := config.Tree{LDAP: config.LDAPSource{BaseDN: config.DefaultBaseDN}, Partitions: []string{"Acme Corp", "R&D, Europe"}}
	got := Bases(tree)
	want := []string{"ou=Acme Corp," + config.DefaultBaseDN, `ou=R&D\, Europe,` + config.DefaultBaseDN}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("Bases: got %q, want %q", got, want)
	}
	tree.Partitions = nil
	if got := Bases(tree); len(got) != 1 || got[0] != config.DefaultBaseDN {
		t.Errorf("Bases without partitions: got %q, want [%s]", got, config.DefaultBaseDN)
	}
	tree = config.Tree{LDAP: config.LDAPSource{BaseDN: "dc=example,dc=com"}, Partitions: []string{"x"}}
	if got := Bases(tree); len(got) != 1 || got[0] != "dc=example,dc=com" {
		t.Errorf("Bases with a non-OTDS base: got %q, want the base itself", got)
	}
}
