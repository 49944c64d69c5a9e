// Package policyconf owns the plan stage's policy: configuration section:
// scope, access, audiences, onboarding, leavers, protected users, thresholds
// and the profile fields, with their defaults, validation and the compiled
// CEL programs. internal/config embeds Policy as Config.Policy; the plan
// evaluates the programs. docs/configuration.md lists every key.
package policyconf

import (
	"fmt"
	"slices"
	"strings"

	"cel.dev/cel-go/cel"

	"github.com/otds-highspot/otds-highspot/internal/config/section"
	"github.com/otds-highspot/otds-highspot/internal/contract"
)

// Error and Errors are the section's validation errors, keyed by the dotted
// path; internal/config adds file:line.
type (
	Error  = section.Error
	Errors = section.Errors
)

// Policy configures scope, access, audiences, onboarding, leavers, protected
// users and safety thresholds. Owned by the plan stage; see docs/configuration.md.
//
// Conditions are CEL expressions over one variable, person
// (contract.PolicyPerson; its fields are the field table's Policy fields).
// Every expression is compiled and type-checked (it must yield a bool) by
// Validate, without I/O; Compile returns the programs the plan stage
// evaluates.
type Policy struct {
	// Scope selects the persons who should have a Highspot account; without
	// one nobody is in scope.
	Scope ScopeRule `yaml:"scope"`
	// ManagedGroups are the Highspot group names this tool may edit. Only these
	// are ever added to or removed from; every group a rule names must be here.
	ManagedGroups []string `yaml:"managed_groups"`
	// Protected users are never changed, not even suspended.
	Protected Protected `yaml:"protected"`
	// Access maps roles and directory groups to Highspot groups, in order; a
	// matching rule with stop: true ends the evaluation of later access rules.
	Access []GroupRule `yaml:"access"`
	// Audiences map attributes (territory, business unit, ...) to groups; every
	// matching audience applies.
	Audiences []GroupRule `yaml:"audiences"`
	// Onboarding grants groups whose spots hold onboarding content when a
	// person joins or moves (on: [join, move]).
	Onboarding []OnboardingRule `yaml:"onboarding"`
	// Leavers says when a person's Highspot user is suspended.
	Leavers Leavers `yaml:"leavers"`
	// Thresholds are the safety gates. Absent: the defaults (DefaultThresholds);
	// an explicit list (even empty) replaces them.
	Thresholds []Threshold `yaml:"thresholds"`
	// Profile says which person fields fill Highspot's profile fields.
	Profile Profile `yaml:"profile"`
}

// ScopeRule is the named scope condition.
type ScopeRule struct {
	Name string `yaml:"name"`
	When string `yaml:"when"`
}

// Protected lists users that are never changed.
type Protected struct {
	Emails []string    `yaml:"emails"`
	Rules  []NamedRule `yaml:"rules"`
}

// NamedRule is a named condition.
type NamedRule struct {
	Name string `yaml:"name"`
	When string `yaml:"when"`
}

// GroupRule grants Groups when When holds.
type GroupRule struct {
	Name   string   `yaml:"name"`
	When   string   `yaml:"when"`
	Groups []string `yaml:"groups"`
	Stop   bool     `yaml:"stop"`
}

// Onboarding events.
const (
	OnJoin = "join"
	OnMove = "move"
)

// OnboardingRule grants Groups on the listed events when When holds. Granted
// onboarding groups are kept while the rule still holds for the person.
type OnboardingRule struct {
	Name   string   `yaml:"name"`
	When   string   `yaml:"when"`
	Groups []string `yaml:"groups"`
	On     []string `yaml:"on"`
}

// Leavers configures the leaver flow. Deletion is never done by default.
type Leavers struct {
	SuspendWhenDisabled   *bool `yaml:"suspend_when_disabled"`
	SuspendWhenMissing    *bool `yaml:"suspend_when_missing"`
	SuspendWhenOutOfScope *bool `yaml:"suspend_when_out_of_scope"`
	// GraceDays keeps a leaver active for this many days after first seen leaving.
	GraceDays int `yaml:"grace_days"`
	// Delete is reserved; true is rejected (the tool never deletes users).
	Delete bool `yaml:"delete"`
}

// OnDisabled, OnMissing and OnOutOfScope report the effective leaver switches.
func (l Leavers) OnDisabled() bool { return l.SuspendWhenDisabled == nil || *l.SuspendWhenDisabled }
func (l Leavers) OnMissing() bool  { return l.SuspendWhenMissing == nil || *l.SuspendWhenMissing }
func (l Leavers) OnOutOfScope() bool {
	return l.SuspendWhenOutOfScope == nil || *l.SuspendWhenOutOfScope
}

// Threshold is one safety gate: the number of changes of Op (in Tree, or in
// the whole plan when Tree is "") may not exceed MaxCount nor MaxPercent of the
// base (active baseline users; for a tree, that tree's persons).
type Threshold struct {
	Op         string   `yaml:"op"`
	Tree       string   `yaml:"tree"`
	MaxCount   *int     `yaml:"max_count"`
	MaxPercent *float64 `yaml:"max_percent"`
}

// Profile names the person fields (see contract.Fields, Profile) that fill Highspot's
// name, surname and display_name.
type Profile struct {
	Name        string `yaml:"name"`
	Surname     string `yaml:"surname"`
	DisplayName string `yaml:"display_name"`
}

// profileFields are the fields accepted by Profile (the table's Profile facet).
func profileFields() []string {
	return contract.FieldNames(func(f *contract.Field) bool { return f.Profile })
}

// Policy ops that thresholds may name.
var policyOps = []string{"create_group", "create_user", "update_user", "reactivate_user", "add_member", "remove_member", "suspend_user"}

func ptrInt(v int) *int           { return &v }
func ptrFloat(v float64) *float64 { return &v }

// DefaultThresholds are used when policy.thresholds is absent.
func DefaultThresholds() []Threshold {
	return []Threshold{
		{Op: "suspend_user", MaxCount: ptrInt(50), MaxPercent: ptrFloat(2)},
		{Op: "remove_member", MaxPercent: ptrFloat(5)},
		{Op: "create_user", MaxPercent: ptrFloat(20)},
	}
}

// ApplyDefaults fills what the file leaves out.
func (p *Policy) ApplyDefaults() {
	// No scope configured means nobody is in scope: a missing policy section
	// must never provision the whole directory (and the suspension gates
	// stop it from suspending everyone).
	if p.Scope.When == "" {
		p.Scope.When = "false"
		if p.Scope.Name == "" {
			p.Scope.Name = "no-scope-configured"
		}
	}
	if p.Scope.Name == "" {
		p.Scope.Name = "scope"
	}
	if p.Thresholds == nil {
		p.Thresholds = DefaultThresholds()
	}
	if p.Profile.Name == "" {
		p.Profile.Name = "given_name"
	}
	if p.Profile.Surname == "" {
		p.Profile.Surname = "surname"
	}
	if p.Profile.DisplayName == "" {
		p.Profile.DisplayName = "display_name"
	}
	for i := range p.Onboarding {
		if len(p.Onboarding[i].On) == 0 {
			p.Onboarding[i].On = []string{OnJoin}
		}
	}
	for i := range p.Protected.Emails {
		p.Protected.Emails[i] = strings.ToLower(strings.TrimSpace(p.Protected.Emails[i]))
	}
}

// Validate checks the section under key k (e.g. "policy"); trees are the
// configured tree names, which thresholds may name.
func (p *Policy) Validate(k string, trees []string) Errors {
	_, errs := p.Compile(k)
	managed := map[string]bool{}
	for i, g := range p.ManagedGroups {
		if strings.TrimSpace(g) == "" {
			errs = append(errs, Error{Key: fmt.Sprintf("%s.managed_groups[%d]", k, i), Msg: "empty group name"})
		}
		if managed[g] {
			errs = append(errs, Error{Key: fmt.Sprintf("%s.managed_groups[%d]", k, i), Msg: fmt.Sprintf("group %q is listed twice", g)})
		}
		managed[g] = true
	}
	checkGroups := func(key string, groups []string) {
		if len(groups) == 0 {
			errs = append(errs, Error{Key: key, Msg: "no groups; a rule must grant at least one Highspot group"})
		}
		for j, g := range groups {
			if !managed[g] {
				errs = append(errs, Error{Key: fmt.Sprintf("%s[%d]", key, j), Msg: fmt.Sprintf("group %q is not in %s.managed_groups; only managed groups may be granted (add it there)", g, k)})
			}
		}
	}
	names := map[string]string{}
	checkName := func(key, name string) {
		if strings.TrimSpace(name) == "" {
			errs = append(errs, Error{Key: key + ".name", Msg: "every rule needs a name (it is recorded on each change it causes)"})
			return
		}
		if prev, dup := names[name]; dup {
			errs = append(errs, Error{Key: key + ".name", Msg: fmt.Sprintf("rule name %q is also used by %s; rule names must be unique", name, prev)})
		}
		names[name] = key
	}
	for i, r := range p.Protected.Rules {
		checkName(fmt.Sprintf("%s.protected.rules[%d]", k, i), r.Name)
	}
	for i, r := range p.Access {
		rk := fmt.Sprintf("%s.access[%d]", k, i)
		checkName(rk, r.Name)
		checkGroups(rk+".groups", r.Groups)
	}
	for i, r := range p.Audiences {
		rk := fmt.Sprintf("%s.audiences[%d]", k, i)
		checkName(rk, r.Name)
		checkGroups(rk+".groups", r.Groups)
		if r.Stop {
			errs = append(errs, Error{Key: rk + ".stop", Msg: "stop applies to access rules only; every matching audience applies"})
		}
	}
	for i, r := range p.Onboarding {
		rk := fmt.Sprintf("%s.onboarding[%d]", k, i)
		checkName(rk, r.Name)
		checkGroups(rk+".groups", r.Groups)
		for j, on := range r.On {
			if on != OnJoin && on != OnMove {
				errs = append(errs, Error{Key: fmt.Sprintf("%s.on[%d]", rk, j), Msg: fmt.Sprintf("unknown event %q; use join or move", on)})
			}
		}
	}
	if p.Leavers.GraceDays < 0 {
		errs = append(errs, Error{Key: k + ".leavers.grace_days", Msg: "must be >= 0"})
	}
	if p.Leavers.Delete {
		errs = append(errs, Error{Key: k + ".leavers.delete", Msg: "deleting Highspot users is not supported; leavers are suspended (set delete: false)"})
	}
	for i, t := range p.Thresholds {
		tk := fmt.Sprintf("%s.thresholds[%d]", k, i)
		if !slices.Contains(policyOps, t.Op) {
			errs = append(errs, Error{Key: tk + ".op", Msg: fmt.Sprintf("unknown op %q; use one of %s", t.Op, strings.Join(policyOps, ", "))})
		}
		if t.Tree != "" && len(trees) > 0 && !slices.Contains(trees, t.Tree) {
			errs = append(errs, Error{Key: tk + ".tree", Msg: fmt.Sprintf("unknown tree %q; use one of %s or leave it empty for the whole plan", t.Tree, strings.Join(trees, ", "))})
		}
		if t.MaxCount == nil && t.MaxPercent == nil {
			errs = append(errs, Error{Key: tk, Msg: "set max_count, max_percent or both"})
		}
		if t.MaxCount != nil && *t.MaxCount < 0 {
			errs = append(errs, Error{Key: tk + ".max_count", Msg: "must be >= 0"})
		}
		if t.MaxPercent != nil && (*t.MaxPercent < 0 || *t.MaxPercent > 100) {
			errs = append(errs, Error{Key: tk + ".max_percent", Msg: "must be between 0 and 100"})
		}
	}
	for key, f := range map[string]string{"name": p.Profile.Name, "surname": p.Profile.Surname, "display_name": p.Profile.DisplayName} {
		if pf := profileFields(); !slices.Contains(pf, f) {
			errs = append(errs, Error{Key: k + ".profile." + key, Msg: fmt.Sprintf("unknown person field %q; use one of %s", f, strings.Join(pf, ", "))})
		}
	}
	return errs
}

// PolicyPrograms holds the compiled, type-checked policy expressions.
type PolicyPrograms struct {
	Env        *cel.Env
	Scope      cel.Program
	Protected  []cel.Program // parallel to Policy.Protected.Rules
	Access     []cel.Program // parallel to Policy.Access
	Audiences  []cel.Program // parallel to Policy.Audiences
	Onboarding []cel.Program // parallel to Policy.Onboarding
	// Reads are the person fields the expressions read (from the checked
	// expressions, see contract.PolicyReads): the plan's memo key.
	Reads []*contract.Field
}

// Compile compiles and type-checks every policy expression; k is the key
// prefix used in errors (e.g. "policy"), so an error names the rule:
// policy.access[2].when: ERROR: <input>:1:8: undeclared reference ...
func (p *Policy) Compile(k string) (*PolicyPrograms, Errors) {
	env, err := contract.PolicyEnv()
	if err != nil {
		return nil, Errors{{Key: k, Msg: "build the CEL environment: " + err.Error() + " (a bug; report it)"}}
	}
	var errs Errors
	var asts []*cel.Ast
	compile := func(key, expr string) cel.Program {
		if strings.TrimSpace(expr) == "" {
			errs = append(errs, Error{Key: key, Msg: "empty condition; write a CEL expression such as person.role == \"sales\" (or true)"})
			return nil
		}
		ast, iss := env.Compile(expr)
		if iss != nil && iss.Err() != nil {
			errs = append(errs, Error{Key: key, Msg: "CEL: " + strings.ReplaceAll(iss.Err().Error(), "\n", " ")})
			return nil
		}
		if !ast.OutputType().IsExactType(cel.BoolType) {
			errs = append(errs, Error{Key: key, Msg: fmt.Sprintf("CEL: the condition yields %s, want bool (compare it, e.g. person.role == \"sales\")", ast.OutputType())})
			return nil
		}
		prg, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize))
		if err != nil {
			errs = append(errs, Error{Key: key, Msg: "CEL: " + err.Error()})
			return nil
		}
		asts = append(asts, ast)
		return prg
	}
	pp := &PolicyPrograms{Env: env}
	pp.Scope = compile(k+".scope.when", p.Scope.When)
	for i, r := range p.Protected.Rules {
		pp.Protected = append(pp.Protected, compile(fmt.Sprintf("%s.protected.rules[%d].when", k, i), r.When))
	}
	for i, r := range p.Access {
		pp.Access = append(pp.Access, compile(fmt.Sprintf("%s.access[%d].when", k, i), r.When))
	}
	for i, r := range p.Audiences {
		pp.Audiences = append(pp.Audiences, compile(fmt.Sprintf("%s.audiences[%d].when", k, i), r.When))
	}
	for i, r := range p.Onboarding {
		pp.Onboarding = append(pp.Onboarding, compile(fmt.Sprintf("%s.onboarding[%d].when", k, i), r.When))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	pp.Reads = contract.PolicyReads(asts...)
	return pp, nil
}
