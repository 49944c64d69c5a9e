package pipelines

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/otds-highspot/otds-highspot/extract/entry"
	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/transform"
	"github.com/otds-highspot/otds-highspot/transform/plan"
)

// TestFieldAddedToTheTableReachesEveryStage adds one field to the field
// table (contract.Register, nothing else) and runs the shipped stages on an
// LDIF tree: the entry's attribute lands in the accounts row (and in the
// attributes an LDAP or REST read requests), the null-rate gate and
// required_attributes know it, transform normalizes it and survivorship
// carries it to the person, explain shows it, and policy expressions read
// it as person.cost_center, with the memo key following its value.
func TestFieldAddedToTheTableReachesEveryStage(t *testing.T) {
	defer contract.Register(contract.Field{Name: "cost_center", Attr: "oTCostCenter", Checked: true,
		Normalize: contract.NormFirst, Policy: &contract.PolicyField{}})()
	ctx := context.Background()
	dir := t.TempDir()
	const base = "ou=Users,ou=Root,ou=Acme,ou=IdentityProviders,dc=identity,dc=opentext,dc=net"
	ldif := "version: 1\n"
	for i, u := range []struct{ cn, cc string }{{"ann", "CC-42"}, {"bob", " CC-7 "}} {
		ldif += "\ndn: cn=" + u.cn + "," + base + "\nobjectClass: oTPerson\ncn: " + u.cn +
			"\nmail: " + u.cn + "@acme.example\ngivenName: " + u.cn + "\nsn: Doe\noTCostCenter: " + u.cc +
			"\nentryUUID: 00000000-0000-0000-0000-00000000000" + string(rune('1'+i)) + "\n"
	}
	ldifPath := filepath.Join(dir, "acme.ldif")
	cfgPath := filepath.Join(dir, "config.yaml")
	cfg := `version: 1
store: {url: "` + filepath.Join(dir, "store") + `"}
trees:
  - name: acme
    source: ldif
    ldif: {path: "` + ldifPath + `"}
    required_attributes: [cost_center]
    health: {null_rate: {cost_center: 0.5}}
policy:
  scope: {name: with-cost-center, when: 'person.cost_center != ""'}
  managed_groups: [HS Finance]
  access:
    - {name: finance, when: 'person.cost_center == "CC-42"', groups: [HS Finance]}
`
	for p, s := range map[string]string{ldifPath: ldif, cfgPath: cfg} {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	a, err := NewApp(ctx, AppOptions{ConfigPath: cfgPath, LogLevel: "error", Command: "run"})
	if err != nil {
		t.Fatalf("config with cost_center in required_attributes and null_rate: %v", err)
	}

	// extract: the attribute is requested and lands in the row
	if got := entry.NewMapper(&a.Cfg.Trees[0]).Attributes(); !slices.Contains(got, "oTCostCenter") {
		t.Errorf("attributes an LDAP/REST read requests: got %v, want oTCostCenter among them", got)
	}
	if err := a.Extract(ctx, ExtractOptions{}); err != nil {
		t.Fatalf("extract: %v", err)
	}
	em, _, err := artifact.LatestManifest(ctx, a.Store, contract.ExtractStage("acme"), "")
	if err != nil {
		t.Fatal(err)
	}
	accounts, err := artifact.ReadAll[contract.Account](ctx, a.Store, em, contract.AccountsSpec)
	if err != nil {
		t.Fatal(err)
	}
	raw := map[string][]string{}
	for _, acc := range accounts {
		raw[acc.Login[0]] = acc.Extra["cost_center"]
	}
	if got := raw["ann"]; len(got) != 1 || got[0] != "CC-42" {
		t.Errorf("accounts.extra[cost_center] of ann: got %q, want [CC-42]", got)
	}
	if sum, _ := json.Marshal(em.Summary); !strings.Contains(string(sum), "null_rate.cost_center") {
		t.Errorf("extract summary: got %s, want the null_rate.cost_center gate", em.Summary)
	}

	// transform: normalized (trimmed) and carried to the person
	if err := a.Transform(ctx, TransformOptions{}); err != nil {
		t.Fatalf("transform: %v", err)
	}
	tm, _, err := artifact.LatestManifest(ctx, a.Store, contract.Transform, "")
	if err != nil {
		t.Fatal(err)
	}
	norm, err := artifact.ReadAll[contract.AccountNormalized](ctx, a.Store, tm, contract.AccountsNormalizedSpec)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range norm {
		if want := map[string]string{"ann": "CC-42", "bob": "CC-7"}[n.Login]; n.Attributes["cost_center"] != want {
			t.Errorf("accounts_normalized %s: attributes[cost_center] got %q, want %q", n.Login, n.Attributes["cost_center"], want)
		}
	}
	persons, err := artifact.ReadAll[contract.Person](ctx, a.Store, tm, contract.PersonsSpec)
	if err != nil {
		t.Fatal(err)
	}
	if len(persons) != 2 {
		t.Fatalf("persons: got %d, want 2", len(persons))
	}

	// explain
	out, err := transform.Explain(ctx, a.Store, "", "ann@acme.example")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "attributes.cost_center") || !strings.Contains(out, "CC-42") {
		t.Errorf("explain: got\n%s\nwant the cost_center attribute with CC-42", out)
	}

	// policy: person.cost_center evaluates, and the memo key follows it
	pol, err := plan.NewPolicy(&a.Cfg.Policy)
	if err != nil {
		t.Fatalf("policy reading person.cost_center: %v", err)
	}
	ev, err := plan.Desired(persons, pol)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, w := range ev.Wants {
		got[w.User.Email] = w.User.Groups
	}
	if g := got["ann@acme.example"]; len(g) != 1 || g[0] != "HS Finance" {
		t.Errorf("ann (CC-42): groups got %v, want [HS Finance]", g)
	}
	if g, in := got["bob@acme.example"]; !in || len(g) != 0 {
		t.Errorf("bob (CC-7): in scope %v, groups %v; want in scope without groups", in, g)
	}
	key := func(p contract.Person) string {
		return string(contract.MemoKey(nil, &p, pol.Programs.Reads))
	}
	if key(persons[0]) == key(persons[1]) {
		t.Errorf("memo keys of persons with cost centers %q and %q: got equal, want different",
			persons[0].Attributes["cost_center"], persons[1].Attributes["cost_center"])
	}
}
