// Package plan owns the plan stage: it evaluates the access policy (CEL, from
// the policy: config section) over the resolved persons to get the desired
// Highspot state, diffs it against Highspot's actual state (the latest pull,
// or the previous plan's desired state when no pull exists), applies the
// safety gates, and publishes desired_users, changes and a review report
// (plan.md, plan.html, plan.json). It also offers CheckFresh for apply (a
// stale or tampered plan is refused) and Show for `plan show`.
//
// Desired and Diff are pure functions; Run does the I/O.
package plan

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"

	"github.com/otds-highspot/otds-highspot/internal/config"
	"github.com/otds-highspot/otds-highspot/internal/records"
)

// Exclusion reasons for persons that get no desired user.
const (
	ReasonOutOfScope = "out_of_scope"
	ReasonService    = "service"
	ReasonDisabled   = "disabled"
	ReasonMissing    = "missing"
)

// Onboard is an onboarding group a matching rule offers on join and/or move.
type Onboard struct {
	Group, Rule string
	Join, Move  bool
}

// Want is one in-scope person's policy result before the diff: the access
// and audience groups (User.Groups), the onboarding candidates and the
// attributes the diff needs.
type Want struct {
	User         records.DesiredUser
	BusinessUnit string
	Emails       []string // every known address (User.Email first); used to match Highspot users
	Onboard      []Onboard
	Disabled     bool // disabled in the directory (a leaver when leavers.suspend_when_disabled)
}

// Evaluation is the policy applied to every person.
type Evaluation struct {
	Wants []Want // in scope, not service, with an email; sorted by email
	// Excluded says why a known address got no Want (out_of_scope, service).
	Excluded map[string]string
	// Protected maps every address of a protected person to the rule or "emails".
	Protected map[string]string
	Persons   int
	NoEmail   int      // in-scope persons without an email (cannot be provisioned)
	Duplicate []string // addresses claimed by more than one person (first kept)
	// RuleHits counts persons per rule name.
	RuleHits map[string]int
}

// Policy bundles the policy configuration with its compiled programs.
type Policy struct {
	Conf     *config.Policy
	Programs *config.PolicyPrograms
	managed  map[string]bool
	protect  map[string]bool
}

// NewPolicy compiles the policy (errors name the config key).
func NewPolicy(p *config.Policy) (*Policy, error) {
	prg, errs := p.Compile("policy")
	if len(errs) > 0 {
		return nil, errs
	}
	pol := &Policy{Conf: p, Programs: prg, managed: map[string]bool{}, protect: map[string]bool{}}
	for _, g := range p.ManagedGroups {
		pol.managed[g] = true
	}
	for _, e := range p.Protected.Emails {
		pol.protect[strings.ToLower(strings.TrimSpace(e))] = true
	}
	return pol, nil
}

// Managed reports whether the tool may edit Highspot group g.
func (p *Policy) Managed(g string) bool { return p.managed[g] }

// personActivation resolves the single variable `person` without a map.
type personActivation struct{ v ref.Val }

func (a *personActivation) ResolveName(name string) (any, bool) {
	if name == "person" {
		return a.v, true
	}
	return nil, false
}
func (a *personActivation) Parent() interpreter.Activation { return nil }

// EvalError is a runtime failure of one rule for one person. Plans never
// guess (an error in scope could suspend someone), so it fails the plan.
type EvalError struct {
	Key, Rule, PersonID, Email string
	Err                        error
}

func (e *EvalError) Error() string {
	return fmt.Sprintf("evaluate %s (rule %q) for person %s <%s>: %v (guard optional values, e.g. person.attr(\"x\") instead of person.attributes[\"x\"])",
		e.Key, e.Rule, e.PersonID, e.Email, e.Err)
}

func toPolicyPerson(p *records.Person) *config.PolicyPerson {
	return &config.PolicyPerson{
		PersonID: p.PersonID, Email: strings.ToLower(p.PrimaryEmail), Emails: p.Emails, EmployeeID: p.EmployeeID,
		GivenName: p.GivenName, Surname: p.Surname, DisplayName: p.DisplayName, Status: p.Status,
		Role: p.Role, Region: p.Region, BusinessUnit: p.BusinessUnit, Territory: p.Territory,
		Title: p.Title, Department: p.Department, Company: p.Company, Country: p.Country,
		Tree: p.PrimaryTree, Trees: p.Trees, Groups: p.Groups, IsService: p.IsService, Attributes: p.Attributes,
	}
}

func profileField(pp *config.PolicyPerson, field string) string {
	switch field {
	case "given_name":
		return pp.GivenName
	case "surname":
		return pp.Surname
	case "display_name":
		return pp.DisplayName
	case "email":
		return pp.Email
	case "title":
		return pp.Title
	}
	return ""
}

// personResult is one person's evaluation, before the merge.
type personResult struct {
	want      *Want
	excluded  string // reason when want is nil
	protected string
	noEmail   bool
	hits      []string
}

// evalOne applies the policy to one person.
func (pol *Policy) evalOne(p *records.Person, adapter types.Adapter, cache map[string]*granted) (personResult, error) {
	var r personResult
	pp := toPolicyPerson(p)
	act := &personActivation{v: adapter.NativeToValue(pp)}
	c := pol.Conf
	prg := pol.Programs
	eval := func(prog cel.Program, key, rule string) (bool, error) {
		out, _, err := prog.Eval(act)
		if err != nil {
			return false, &EvalError{Key: key, Rule: rule, PersonID: p.PersonID, Email: pp.Email, Err: err}
		}
		b, ok := out.Value().(bool)
		if !ok {
			return false, &EvalError{Key: key, Rule: rule, PersonID: p.PersonID, Email: pp.Email, Err: fmt.Errorf("yielded %v, want bool", out)}
		}
		return b, nil
	}
	for _, e := range p.Emails {
		if pol.protect[strings.ToLower(e)] {
			r.protected = "protected.emails"
		}
	}
	if pol.protect[pp.Email] {
		r.protected = "protected.emails"
	}
	for i, pr := range c.Protected.Rules {
		if r.protected != "" {
			break
		}
		ok, err := eval(prg.Protected[i], fmt.Sprintf("policy.protected.rules[%d].when", i), pr.Name)
		if err != nil {
			return r, err
		}
		if ok {
			r.protected = pr.Name
		}
	}
	if p.IsService {
		r.excluded = ReasonService
		return r, nil
	}
	in, err := eval(prg.Scope, "policy.scope.when", c.Scope.Name)
	if err != nil {
		return r, err
	}
	if !in {
		r.excluded = ReasonOutOfScope
		return r, nil
	}
	if pp.Email == "" {
		r.noEmail = true
		return r, nil
	}
	r.hits = append(r.hits, c.Scope.Name)
	w := &Want{BusinessUnit: p.BusinessUnit, Disabled: p.Status == ReasonDisabled}
	u := &w.User
	u.PersonID = p.PersonID
	u.Email = pp.Email
	u.Name = profileField(pp, c.Profile.Name)
	u.Surname = profileField(pp, c.Profile.Surname)
	u.DisplayName = profileField(pp, c.Profile.DisplayName)
	if u.DisplayName == "" {
		u.DisplayName = strings.TrimSpace(u.Name + " " + u.Surname)
	}
	u.Role, u.Region, u.Tree, u.ScopeRule = p.Role, p.Region, p.PrimaryTree, c.Scope.Name
	u.Protected = r.protected != ""
	w.Emails = append(w.Emails, pp.Email)
	for _, e := range p.Emails {
		if e = strings.ToLower(e); e != pp.Email {
			w.Emails = append(w.Emails, e)
		}
	}
	// Rule results are interned by the set of matching rules: persons with
	// the same matches share one (read-only) Groups slice, GroupRules map and
	// Onboard slice, which keeps 1M desired users small.
	var sig []byte
	for i, ar := range c.Access {
		ok, err := eval(prg.Access[i], fmt.Sprintf("policy.access[%d].when", i), ar.Name)
		if err != nil {
			return r, err
		}
		if ok {
			r.hits = append(r.hits, ar.Name)
			sig = append(sig, 'a', byte(i), byte(i>>8))
			if ar.Stop {
				break
			}
		}
	}
	for i, ar := range c.Audiences {
		ok, err := eval(prg.Audiences[i], fmt.Sprintf("policy.audiences[%d].when", i), ar.Name)
		if err != nil {
			return r, err
		}
		if ok {
			r.hits = append(r.hits, ar.Name)
			sig = append(sig, 'u', byte(i), byte(i>>8))
		}
	}
	for i, or := range c.Onboarding {
		ok, err := eval(prg.Onboarding[i], fmt.Sprintf("policy.onboarding[%d].when", i), or.Name)
		if err != nil {
			return r, err
		}
		if ok {
			r.hits = append(r.hits, or.Name)
			sig = append(sig, 'o', byte(i), byte(i>>8))
		}
	}
	g := cache[string(sig)]
	if g == nil {
		g = pol.grants(sig)
		cache[string(sig)] = g
	}
	u.Groups, u.GroupRules, w.Onboard = g.groups, g.rules, g.onboard
	r.want = w
	return r, nil
}

// granted is the interned outcome of one set of matching rules.
type granted struct {
	groups  []string
	rules   map[string]string
	onboard []Onboard
}

// grants builds the outcome of the rules named in sig (kind byte + index).
func (pol *Policy) grants(sig []byte) *granted {
	c := pol.Conf
	g := &granted{}
	add := func(groups []string, rule string) {
		for _, name := range groups {
			if g.rules == nil {
				g.rules = map[string]string{}
			}
			if _, seen := g.rules[name]; !seen {
				g.rules[name] = rule
				g.groups = append(g.groups, name)
			}
		}
	}
	for k := 0; k+2 < len(sig); k += 3 {
		i := int(sig[k+1]) | int(sig[k+2])<<8
		switch sig[k] {
		case 'a':
			add(c.Access[i].Groups, c.Access[i].Name)
		case 'u':
			add(c.Audiences[i].Groups, c.Audiences[i].Name)
		case 'o':
			or := c.Onboarding[i]
			join, move := containsStr(or.On, config.OnJoin), containsStr(or.On, config.OnMove)
			for _, name := range or.Groups {
				g.onboard = append(g.onboard, Onboard{Group: name, Rule: or.Name, Join: join, Move: move})
			}
		}
	}
	sort.Strings(g.groups)
	return g
}

func containsStr(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// Desired applies the policy to every person (in parallel; programs are safe
// for concurrent use) and returns the per-person results, sorted by email.
func Desired(persons []records.Person, pol *Policy) (*Evaluation, error) {
	res := make([]personResult, len(persons))
	workers := runtime.GOMAXPROCS(0)
	if workers > 8 {
		workers = 8
	}
	if len(persons) < 1024 {
		workers = 1
	}
	adapter := pol.Programs.Env.CELTypeAdapter()
	var wg sync.WaitGroup
	errs := make([]error, workers)
	chunk := (len(persons) + workers - 1) / max(workers, 1)
	for w := 0; w < workers; w++ {
		lo, hi := w*chunk, min((w+1)*chunk, len(persons))
		wg.Add(1)
		go func(w, lo, hi int) {
			defer wg.Done()
			cache := map[string]*granted{}
			for i := lo; i < hi; i++ {
				r, err := pol.evalOne(&persons[i], adapter, cache)
				if err != nil {
					errs[w] = err
					return
				}
				res[i] = r
			}
		}(w, lo, hi)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	ev := &Evaluation{Excluded: map[string]string{}, Protected: map[string]string{}, Persons: len(persons), RuleHits: map[string]int{}}
	ev.Wants = make([]Want, 0, len(persons))
	seen := make(map[string]struct{}, len(persons))
	for i := range res {
		r := &res[i]
		p := &persons[i]
		for _, h := range r.hits {
			ev.RuleHits[h]++
		}
		if r.protected != "" {
			for _, e := range p.Emails {
				ev.Protected[strings.ToLower(e)] = r.protected
			}
			if e := strings.ToLower(p.PrimaryEmail); e != "" {
				ev.Protected[e] = r.protected
			}
		}
		if r.noEmail {
			ev.NoEmail++
			continue
		}
		if r.want == nil {
			for _, e := range p.Emails {
				ev.Excluded[strings.ToLower(e)] = r.excluded
			}
			if e := strings.ToLower(p.PrimaryEmail); e != "" {
				ev.Excluded[e] = r.excluded
			}
			continue
		}
		if _, dup := seen[r.want.User.Email]; dup {
			ev.Duplicate = append(ev.Duplicate, r.want.User.Email)
			continue
		}
		seen[r.want.User.Email] = struct{}{}
		ev.Wants = append(ev.Wants, *r.want)
	}
	// An address excluded for one person but wanted for another is wanted.
	for e := range ev.Excluded {
		if _, ok := seen[e]; ok {
			delete(ev.Excluded, e)
		}
	}
	sort.Slice(ev.Wants, func(i, j int) bool { return ev.Wants[i].User.Email < ev.Wants[j].User.Email })
	return ev, nil
}
