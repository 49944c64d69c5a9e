package contract

import (
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// PolicyField exposes a field to policy expressions as person.<Name>.
type PolicyField struct {
	// Type is the field's CEL type; nil is string.
	Type *types.Type
	// Get reads the field from the person row; nil reads Strings or else
	// Field.PersonValue (a string).
	Get func(*Person) any
	// Strings reads a list(string) field (Type is then ListString).
	Strings func(*Person) []string
	// Identity: the value is (nearly) unique per person, so a policy that
	// reads it gains nothing from memoising rule results.
	Identity bool
}

// CEL types of policy fields besides string.
var (
	Bool       = types.BoolType
	ListString = types.NewListType(types.StringType)
	MapString  = types.NewMapType(types.StringType, types.StringType)
)

// PolicyPersonType is the CEL type name of the person variable.
const PolicyPersonType = "contract.PolicyPerson"

// PolicyPerson is what policy expressions see as `person`: the person row
// with its primary email case-folded. Its fields are the table's fields with
// a Policy facet (person.email, person.role, person.groups ("<tree>:<group>"),
// ...). Helper functions: person.in_group("Field Sales") (any tree) or
// person.in_group("acme:Field Sales") (one tree), person.attr("key") (""
// when absent).
type PolicyPerson struct {
	P     *Person
	Email string // P.PrimaryEmail, case-folded
}

// NewPolicyPerson wraps p for policy evaluation.
func NewPolicyPerson(p *Person) *PolicyPerson {
	return &PolicyPerson{P: p, Email: strings.ToLower(p.PrimaryEmail)}
}

// InGroup reports whether the person is in a directory group: "tree:name"
// exactly, or a bare name in any tree.
func (pp *PolicyPerson) InGroup(name string) bool {
	qualified := strings.Contains(name, ":")
	for _, g := range pp.P.Groups {
		if qualified {
			if g == name {
				return true
			}
		} else if i := strings.IndexByte(g, ':'); i >= 0 && g[i+1:] == name {
			return true
		}
	}
	return false
}

// policyValue reads field f of p.
func policyValue(f *Field, p *Person) any {
	switch {
	case f.Policy.Get != nil:
		return f.Policy.Get(p)
	case f.Policy.Strings != nil:
		return f.Policy.Strings(p)
	}
	return f.PersonValue(p)
}

func policyType(f *Field) *types.Type {
	switch {
	case f.Policy.Type != nil:
		return f.Policy.Type
	case f.Policy.Strings != nil:
		return ListString
	}
	return types.StringType
}

// PolicyFields returns the fields exposed to policy, in table order.
func PolicyFields() []*Field {
	var out []*Field
	fs := Fields()
	for i := range fs {
		if fs[i].Policy != nil {
			out = append(out, &fs[i])
		}
	}
	return out
}

// personProvider declares the person type to the CEL checker and
// interpreter from the policy fields; everything else goes to the base.
type personProvider struct {
	types.Provider
	fields map[string]*types.FieldType
	names  []string
}

var personCELType = types.NewObjectType(PolicyPersonType)

func (p *personProvider) FindStructType(name string) (*types.Type, bool) {
	if name == PolicyPersonType {
		return types.NewTypeTypeWithParam(personCELType), true
	}
	return p.Provider.FindStructType(name)
}

func (p *personProvider) FindStructFieldNames(name string) ([]string, bool) {
	if name == PolicyPersonType {
		return p.names, true
	}
	return p.Provider.FindStructFieldNames(name)
}

func (p *personProvider) FindStructFieldType(name, field string) (*types.FieldType, bool) {
	if name == PolicyPersonType {
		ft, ok := p.fields[field]
		return ft, ok
	}
	return p.Provider.FindStructFieldType(name, field)
}

func (p *personProvider) NewValue(name string, fields map[string]ref.Val) ref.Val {
	if name == PolicyPersonType {
		return types.NewErr("a person cannot be built in a policy expression")
	}
	return p.Provider.NewValue(name, fields)
}

// personVal is the CEL value of a *PolicyPerson.
type personVal struct{ pp *PolicyPerson }

// PersonValue is the CEL value to bind to the person variable.
func PersonValue(pp *PolicyPerson) ref.Val { return personVal{pp} }

func (v personVal) ConvertToNative(t reflect.Type) (any, error) {
	if reflect.TypeOf(v.pp).AssignableTo(t) {
		return v.pp, nil
	}
	return nil, fmt.Errorf("a person does not convert to %v", t)
}

func (v personVal) ConvertToType(t ref.Type) ref.Val {
	if t == types.TypeType {
		return personCELType
	}
	return types.NewErr("a person does not convert to %s", t.TypeName())
}

func (v personVal) Equal(o ref.Val) ref.Val {
	ov, ok := o.(personVal)
	return types.Bool(ok && ov.pp == v.pp)
}

func (v personVal) Type() ref.Type { return personCELType }
func (v personVal) Value() any     { return v.pp }

func nativePerson(v ref.Val) (*PolicyPerson, bool) {
	pp, ok := v.Value().(*PolicyPerson)
	return pp, ok
}

func isZero(v any) bool {
	switch x := v.(type) {
	case string:
		return x == ""
	case bool:
		return !x
	case []string:
		return len(x) == 0
	case map[string]string:
		return len(x) == 0
	case int64:
		return x == 0
	case nil:
		return true
	}
	return false
}

// PolicyEnv builds the CEL environment of policy expressions: the person
// variable, typed from the policy fields of the table, and its helpers.
func PolicyEnv() (*cel.Env, error) {
	base, err := cel.NewEnv()
	if err != nil {
		return nil, err
	}
	pp := &personProvider{Provider: base.CELTypeProvider(), fields: map[string]*types.FieldType{}}
	for _, f := range PolicyFields() {
		f := f
		if _, dup := pp.fields[f.Name]; dup {
			return nil, fmt.Errorf("policy field %q is listed twice in the field table", f.Name)
		}
		get := func(obj any) (any, error) {
			p, ok := obj.(*PolicyPerson)
			if !ok {
				return nil, fmt.Errorf("person.%s: want a person, got %T", f.Name, obj)
			}
			return policyValue(f, p.P), nil
		}
		pp.fields[f.Name] = &types.FieldType{
			Type:    policyType(f),
			GetFrom: get,
			IsSet: func(obj any) bool {
				v, err := get(obj)
				return err == nil && !isZero(v)
			},
		}
		pp.names = append(pp.names, f.Name)
	}
	personType := cel.ObjectType(PolicyPersonType)
	helper := func(name string, out *cel.Type, f func(*PolicyPerson, string) ref.Val) cel.EnvOption {
		return cel.Function(name,
			cel.MemberOverload("policy_person_"+name, []*cel.Type{personType, cel.StringType}, out,
				cel.BinaryBinding(func(p, arg ref.Val) ref.Val {
					pp, ok := nativePerson(p)
					s, ok2 := arg.Value().(string)
					if !ok || !ok2 {
						return types.NewErr("%s: want person.%s(string)", name, name)
					}
					return f(pp, s)
				})))
	}
	return base.Extend(
		cel.CustomTypeProvider(pp),
		cel.Variable("person", personType),
		helper("in_group", cel.BoolType, func(pp *PolicyPerson, s string) ref.Val { return types.Bool(pp.InGroup(s)) }),
		helper("attr", cel.StringType, func(pp *PolicyPerson, s string) ref.Val { return types.String(pp.P.Attributes[s]) }),
	)
}

// helperReads names the field each person helper reads.
var helperReads = map[string]string{"in_group": "groups", "attr": "attributes"}

// PolicyReads walks checked policy expressions and returns the policy
// fields they read, in table order: every person.<field> selection and the
// field behind each helper (in_group: groups, attr: attributes). An
// expression that uses person any other way (passes it whole to a function,
// compares it) reads every field.
func PolicyReads(asts ...*cel.Ast) []*Field {
	read := map[string]bool{}
	all := false
	for _, a := range asts {
		if a == nil {
			continue
		}
		used := map[int64]bool{} // ids of person idents used by a selection or helper
		celast.PreOrderVisit(a.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
			switch e.Kind() {
			case celast.SelectKind:
				s := e.AsSelect()
				if op := s.Operand(); op.Kind() == celast.IdentKind && op.AsIdent() == "person" {
					read[s.FieldName()] = true
					used[op.ID()] = true
				}
			case celast.CallKind:
				c := e.AsCall()
				if !c.IsMemberFunction() {
					return
				}
				if t := c.Target(); t.Kind() == celast.IdentKind && t.AsIdent() == "person" {
					if f, ok := helperReads[c.FunctionName()]; ok {
						read[f] = true
						used[t.ID()] = true
					}
				}
			case celast.IdentKind:
				if e.AsIdent() == "person" && !used[e.ID()] {
					all = true
				}
			}
		}))
	}
	var out []*Field
	for _, f := range PolicyFields() {
		if all || read[f.Name] {
			out = append(out, f)
		}
	}
	return out
}

// MemoKey appends to buf the values of fields (from PolicyReads) for p,
// each length-prefixed so that different values never give equal keys.
// Two persons with equal keys get equal results from expressions that read
// only these fields.
func MemoKey(buf []byte, p *Person, fields []*Field) []byte {
	str := func(s string) {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	list := func(v []string) {
		buf = append(buf, 'l')
		buf = binary.AppendUvarint(buf, uint64(len(v)))
		for _, s := range v {
			str(s)
		}
	}
	for _, f := range fields {
		switch { // strings and lists without boxing them
		case f.Policy.Strings != nil:
			list(f.Policy.Strings(p))
			continue
		case f.Policy.Get == nil:
			buf = append(buf, 's')
			str(f.PersonValue(p))
			continue
		}
		switch v := f.Policy.Get(p).(type) {
		case string:
			buf = append(buf, 's')
			str(v)
		case bool:
			if v {
				buf = append(buf, 'T')
			} else {
				buf = append(buf, 'F')
			}
		case int64:
			buf = append(buf, 'i')
			buf = binary.AppendVarint(buf, v)
		case float64:
			buf = append(buf, 'f')
			buf = binary.BigEndian.AppendUint64(buf, math.Float64bits(v))
		case []string:
			list(v)
		case map[string]string:
			buf = append(buf, 'm')
			buf = binary.AppendUvarint(buf, uint64(len(v)))
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				str(k)
				str(v[k])
			}
		default:
			// a type MemoKey cannot encode: never share a result
			buf = append(buf, 'p')
			str(p.PersonID)
		}
	}
	return buf
}
