package plan

import (
	"slices"
	"testing"

	"cel.dev/cel-go/common/types"

	"github.com/otds-highspot/otds-highspot/internal/contract"
)

// TestMemoKeyFollowsPolicyReads: persons with equal memo keys share one
// rule result, so every field a rule reads must be in the key. Two persons
// alike but for the one field a rule reads must get different grants, for
// every kind of read: a selection of each policy field of the table, the
// helpers, has(), and a field registered in the table that reads a persons
// column the old hand-listed key (status, role, ..., attributes) left out.
func TestMemoKeyFollowsPolicyReads(t *testing.T) {
	defer contract.Register(contract.Field{Name: "account_count", Kind: contract.KindDerived,
		Policy: &contract.PolicyField{Type: types.IntType, Get: func(p *contract.Person) any { return int64(len(p.AccountKeys)) }}})()

	type tc struct {
		name, when string
		set        func(p *contract.Person, matching bool)
	}
	cases := []tc{
		{"registered field outside the old key", `person.account_count > 1`, func(p *contract.Person, m bool) {
			p.AccountKeys = []string{"acme/1"}
			if m {
				p.AccountKeys = append(p.AccountKeys, "beta/2")
			}
		}},
		{"in_group", `person.in_group("Sales")`, func(p *contract.Person, m bool) {
			if m {
				p.Groups = []string{"acme:Sales"}
			}
		}},
		{"attr", `person.attr("cost_center") == "42"`, func(p *contract.Person, m bool) {
			p.Attributes = map[string]string{"cost_center": map[bool]string{true: "42", false: "7"}[m]}
		}},
		{"attributes map", `"cost_center" in person.attributes`, func(p *contract.Person, m bool) {
			if m {
				p.Attributes = map[string]string{"cost_center": "42"}
			}
		}},
		{"has", `has(person.department)`, func(p *contract.Person, m bool) {
			if m {
				p.Department = "Sales"
			}
		}},
		{"tree", `person.tree == "beta"`, func(p *contract.Person, m bool) {
			if m {
				p.PrimaryTree = "beta"
			}
		}},
		{"trees", `"beta" in person.trees`, func(p *contract.Person, m bool) {
			if m {
				p.Trees = append(p.Trees, "beta")
			}
		}},
		{"comprehension over groups", `person.groups.exists(g, g.endsWith(":Sales"))`, func(p *contract.Person, m bool) {
			if m {
				p.Groups = []string{"acme:Sales"}
			}
		}},
	}
	// every string field of the table with a persons column
	for _, f := range contract.PolicyFields() {
		if f.Person == nil || f.Policy.Type != nil || f.Policy.Strings != nil || f.Name == "status" || f.Name == "role" {
			continue // status and role decide scope in the test policy
		}
		f := f
		cases = append(cases, tc{"field " + f.Name, `person.` + f.Name + ` == "match"`, func(p *contract.Person, m bool) {
			if m {
				*f.Person(p) = "match"
			} else {
				*f.Person(p) = "other"
			}
		}})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conf := loadPolicy(t, "testdata/policy.yaml").Conf
			conf.Audiences[0].When = c.when
			pol, err := NewPolicy(conf)
			if err != nil {
				t.Fatal(err)
			}
			a := person("acme", "ann.a", "ann.a@acme.com", "field_sales", "AMER", "Enterprise", "AMER-East", "enabled")
			b := person("acme", "bob.b", "bob.b@acme.com", "field_sales", "AMER", "Enterprise", "AMER-East", "enabled")
			// the same identity fields, so that only the field under test differs
			b.GivenName, b.Surname, b.DisplayName = a.GivenName, a.Surname, a.DisplayName
			for _, order := range []string{"match first", "other first"} {
				pa, pb := a, b
				c.set(&pa, true)
				c.set(&pb, false)
				ps := []contract.Person{pa, pb}
				if order == "other first" {
					ps = []contract.Person{pb, pa}
				}
				ev := mustEval(t, ps, pol)
				for _, w := range ev.Wants {
					got := slices.Contains(w.User.Groups, "HS AMER")
					if want := w.User.Email == "ann.a@acme.com"; got != want {
						t.Errorf("%s: %s: rule %s: HS AMER got %v, want %v (memo reused another person's result)", order, w.User.Email, c.when, got, want)
					}
				}
			}
		})
	}
}

// TestMemoKeyFromCheckedAST: the key holds exactly the fields the rules
// read (and is_service, which decides before any rule), so persons that
// differ only in a field no rule reads share one result.
func TestMemoKeyFromCheckedAST(t *testing.T) {
	conf := loadPolicy(t, "testdata/policy.yaml").Conf
	pol, err := NewPolicy(conf)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range pol.reads {
		got = append(got, f.Name)
	}
	// testdata/policy.yaml reads role, region, business_unit, territory and
	// groups (in_group); is_service is always in the key
	want := []string{"role", "region", "business_unit", "territory", "groups", "is_service"}
	if len(got) != len(want) {
		t.Fatalf("memo key fields: got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("memo key fields: got %v, want %v", got, want)
		}
	}
	if !pol.memoOK {
		t.Errorf("memo: got off, want on (no rule reads an identity field)")
	}
	a := person("acme", "ann.a", "ann.a@acme.com", "field_sales", "AMER", "Enterprise", "AMER-East", "enabled")
	b := a
	b.Title, b.Country = "CEO", "DE" // read by no rule
	ka := contract.MemoKey(nil, &a, pol.reads)
	kb := contract.MemoKey(nil, &b, pol.reads)
	if string(ka) != string(kb) {
		t.Errorf("memo keys of persons differing only in fields no rule reads: got %q and %q, want equal", ka, kb)
	}
	b.Territory = "AMER-West"
	if kb = contract.MemoKey(nil, &b, pol.reads); string(ka) == string(kb) {
		t.Errorf("memo keys of persons in different territories: got equal %q, want different", ka)
	}
}

// TestProfileFieldsFromTheTable: policy.profile may name every Profile
// field of the table, and the desired user carries its value.
func TestProfileFieldsFromTheTable(t *testing.T) {
	p := person("acme", "ann.a", "Ann.A@acme.com", "field_sales", "AMER", "Enterprise", "AMER-East", "enabled")
	p.Title = "VP\x07 Sales" // control characters are cleaned
	want := map[string]string{"given_name": "ann", "surname": "a", "display_name": "ann a", "email": "ann.a@acme.com", "title": "VP Sales"}
	n := 0
	for _, name := range contract.FieldNames(func(f *contract.Field) bool { return f.Profile }) {
		n++
		t.Run(name, func(t *testing.T) {
			conf := loadPolicy(t, "testdata/policy.yaml").Conf
			conf.Profile.Name = name
			pol, err := NewPolicy(conf)
			if err != nil {
				t.Fatal(err)
			}
			ev := mustEval(t, []contract.Person{p}, pol)
			if len(ev.Wants) != 1 {
				t.Fatalf("wants: got %d, want 1", len(ev.Wants))
			}
			if got := ev.Wants[0].User.Name; got != want[name] {
				t.Errorf("profile.name: %s: got %q, want %q", name, got, want[name])
			}
		})
	}
	if n != len(want) {
		t.Errorf("profile fields: got %d, want %d", n, len(want))
	}
}
