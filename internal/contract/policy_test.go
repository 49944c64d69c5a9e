package contract

import (
	"strings"
	"testing"

	"cel.dev/cel-go/cel"
)

func compile(t *testing.T, env *cel.Env, expr string) *cel.Ast {
	t.Helper()
	ast, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		t.Fatalf("compile %s: %v", expr, iss.Err())
	}
	return ast
}

func names(fs []*Field) string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Name)
	}
	return strings.Join(out, ",")
}

func TestPolicyReads(t *testing.T) {
	env, err := PolicyEnv()
	if err != nil {
		t.Fatal(err)
	}
	all := names(PolicyFields())
	for _, tc := range []struct {
		name, expr, want string
	}{
		{"selection", `person.role == "sales"`, "role"},
		{"two selections, table order", `person.territory == "x" && person.title != ""`, "title,territory"},
		{"has", `has(person.department)`, "department"},
		{"in_group reads groups", `person.in_group("Sales")`, "groups"},
		{"attr reads attributes", `person.attr("x") == "y"`, "attributes"},
		{"comprehension", `person.groups.exists(g, g == "a:b")`, "groups"},
		{"a field name in a string is no read", `person.role == "email"`, "role"},
		{"no person", `true`, ""},
		{"person passed whole reads everything", `person == person`, all},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := names(PolicyReads(compile(t, env, tc.expr))); got != tc.want {
				t.Errorf("PolicyReads(%s): got %q, want %q", tc.expr, got, tc.want)
			}
		})
	}
}

// TestRegisteredFieldReachesPolicy: a field added to the table is
// person.<name> in expressions (type-checked), evaluates from the person
// row (a field without a column reads Person.Attributes[name]) and is in
// the memo key of an expression that reads it.
func TestRegisteredFieldReachesPolicy(t *testing.T) {
	env, err := PolicyEnv()
	if err != nil {
		t.Fatal(err)
	}
	if _, iss := env.Compile(`person.cost_center == "42"`); iss == nil || iss.Err() == nil {
		t.Fatalf("person.cost_center compiled before the field was registered")
	}
	defer Register(Field{Name: "cost_center", Attr: "oTCostCenter", Normalize: NormFirst, Policy: &PolicyField{}})()
	env, err = PolicyEnv()
	if err != nil {
		t.Fatal(err)
	}
	ast := compile(t, env, `person.cost_center == "42"`)
	prg, err := env.Program(ast)
	if err != nil {
		t.Fatal(err)
	}
	reads := PolicyReads(ast)
	if got := names(reads); got != "cost_center" {
		t.Fatalf("reads: got %q, want cost_center", got)
	}
	eval := func(p *Person) bool {
		out, _, err := prg.Eval(map[string]any{"person": PersonValue(NewPolicyPerson(p))})
		if err != nil {
			t.Fatalf("eval: %v", err)
		}
		return out.Value().(bool)
	}
	a := &Person{PersonID: "a", Attributes: map[string]string{"cost_center": "42"}}
	b := &Person{PersonID: "b", Attributes: map[string]string{"cost_center": "7"}}
	if !eval(a) || eval(b) {
		t.Errorf("person.cost_center == \"42\": got %v for 42 and %v for 7, want true and false", eval(a), eval(b))
	}
	ka, kb := MemoKey(nil, a, reads), MemoKey(nil, b, reads)
	if string(ka) == string(kb) {
		t.Errorf("memo keys for cost_center 42 and 7: got equal %q, want different", ka)
	}
}

func TestMemoKeyInjective(t *testing.T) {
	reads := PolicyFields()
	key := func(p Person) string { return string(MemoKey(nil, &p, reads)) }
	for _, tc := range []struct {
		name string
		a, b Person
	}{
		{"value moved between fields", Person{Role: "x"}, Person{Region: "x"}},
		{"list split", Person{Groups: []string{"a:b"}}, Person{Groups: []string{"a", ":b"}}},
		{"list vs next field", Person{Trees: []string{"a"}}, Person{Groups: []string{"a"}}},
		{"map key vs value", Person{Attributes: map[string]string{"ab": ""}}, Person{Attributes: map[string]string{"a": "b"}}},
		{"separator bytes", Person{Role: "a\x00", Region: ""}, Person{Role: "a", Region: "\x00"}},
	} {
		if key(tc.a) == key(tc.b) {
			t.Errorf("%s: got equal keys, want different", tc.name)
		}
	}
}
