package config

import (
	"errors"
	"strings"
	"testing"
)

const policyBase = `version: 1
trees:
  - name: acme
    source: ldif
    ldif: {path: x.ldif}
policy:
  scope: {name: sales, when: 'person.department in ["Field Sales", "Inside Sales"] || person.in_group("Sales")'}
  managed_groups: [HS Field Sales, HS Inside Sales, HS AMER]
  access:
    - {name: field, when: 'person.in_group("acme:Field Sales")', groups: [HS Field Sales], stop: true}
    - {name: inside, when: 'person.role == "inside_sales"', groups: [HS Inside Sales]}
  audiences:
    - {name: amer, when: 'person.territory.startsWith("AMER") && person.attr("product") != "x"', groups: [HS AMER]}
`

func TestPolicyValidCompiles(t *testing.T) {
	c, err := Parse("p.yaml", []byte(policyBase))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	pp, errs := c.Policy.Compile("policy")
	if len(errs) > 0 {
		t.Fatalf("compile: %v", errs)
	}
	if got, want := len(pp.Access), 2; got != want {
		t.Errorf("access programs: got %d, want %d", got, want)
	}
	if got, want := len(c.Policy.Thresholds), 3; got != want {
		t.Errorf("default thresholds: got %d, want %d", got, want)
	}
	if !c.Policy.Leavers.OnDisabled() || !c.Policy.Leavers.OnMissing() || !c.Policy.Leavers.OnOutOfScope() {
		t.Errorf("leaver switches must default to true")
	}
}

func TestPolicyErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		name, old, new, wantKey, wantMsg string
	}{
		{"type error", `person.role == "inside_sales"`, `person.role == 3`, "policy.access[1].when", "no matching overload"},
		{"unknown field", `person.role == "inside_sales"`, `person.rolle == "x"`, "policy.access[1].when", "rolle"},
		{"not bool", `person.role == "inside_sales"`, `person.role`, "policy.access[1].when", "want bool"},
		{"syntax", `person.in_group("acme:Field Sales")`, `person.in_group(`, "policy.access[0].when", "CEL"},
		{"unmanaged group", `groups: [HS AMER]`, `groups: [HS EMEA]`, "policy.audiences[0].groups[0]", "not in policy.managed_groups"},
		{"delete", `managed_groups:`, "leavers: {delete: true}\n  managed_groups:", "policy.leavers.delete", "not supported"},
		{"bad op", `managed_groups:`, "thresholds: [{op: nuke_user, max_count: 1}]\n  managed_groups:", "policy.thresholds[0].op", "unknown op"},
		{"scope", `person.department in`, `person.department.size() in`, "policy.scope.when", "CEL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			y := strings.Replace(policyBase, tc.old, tc.new, 1)
			_, err := Parse("p.yaml", []byte(y))
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("got %v, want config.Errors", err)
			}
			found := false
			for _, e := range errs {
				if e.Key == tc.wantKey && strings.Contains(e.Msg, tc.wantMsg) {
					found = true
					if e.Line == 0 {
						t.Errorf("error %v has no line", e)
					}
				}
			}
			if !found {
				t.Errorf("got %v, want an error at %s containing %q", errs, tc.wantKey, tc.wantMsg)
			}
		})
	}
}
