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
	"slices"
	"sort"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"

	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/validate"
	"github.com/otds-highspot/otds-highspot/transform/plan/policyconf"
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
	User         contract.DesiredUser
	BusinessUnit string
	Emails       []string // every known address, as read; used to match Highspot users
	Onboard      []Onboard
	Disabled     bool // disabled in the directory (a leaver when leavers.suspend_when_disabled)
}

// Evaluation is the policy applied to every person.
type Evaluation struct {
	// Wants are the persons in scope, not service, with an email, in input
	// order. Two persons with one email are both here; Diff keeps the first.
	Wants []Want
	// Excluded says why a known address got no Want (out_of_scope, service).
	Excluded map[string]string
	// Protected maps every address of a protected person to the rule or "emails".
	Protected map[string]string
	Persons   int
	NoEmail   int // in-scope persons without an email (cannot be provisioned)
	// RuleHits counts persons per rule name.
	RuleHits map[string]int
}

// Policy bundles the policy configuration with its compiled programs.
type Policy struct {
	Conf     *policyconf.Policy
	Programs *policyconf.PolicyPrograms
	// ProvisionServices includes service/non-person accounts
	// (transform.service.provision); they are excluded by default.
	ProvisionServices bool
	// CreateMissingGroups plans a create_group change for each managed
	// group a membership needs that the pull did not find
	// (highspot.create_missing_groups).
	CreateMissingGroups bool
	managed             map[string]bool
	// managedLower maps a case-folded managed name to its configured spelling
	// (Highspot may spell a group name differently).
	managedLower map[string]string
	protect      map[string]bool
	// memoOK: no expression reads a per-person identity field, so persons
	// with equal memo keys get equal rule results (evaluated once).
	memoOK bool
	// reads are the person fields the expressions read (from their checked
	// ASTs): the memo key.
	reads []*contract.Field
	// profile are the fields policy.profile names for name, surname and
	// display_name (nil: none, config validation refuses it).
	profile [3]*contract.Field
}

// NewPolicy compiles the policy (errors name the config key).
func NewPolicy(p *policyconf.Policy) (*Policy, error) {
	prg, errs := p.Compile("policy")
	if len(errs) > 0 {
		return nil, errs
	}
	pol := &Policy{Conf: p, Programs: prg, managed: map[string]bool{}, protect: map[string]bool{}}
	pol.managedLower = map[string]string{}
	for _, g := range p.ManagedGroups {
		pol.managed[g] = true
		pol.managedLower[strings.ToLower(g)] = g
	}
	// is_service decides before any rule runs (services are excluded unless
	// provisioned), so it is always part of the key
	pol.reads = prg.Reads
	if f, ok := contract.FieldByName("is_service"); ok && !containsField(pol.reads, f.Name) {
		pol.reads = append(pol.reads, f)
	}
	for i, name := range []string{p.Profile.Name, p.Profile.Surname, p.Profile.DisplayName} {
		if f, ok := contract.FieldByName(name); ok && f.Profile {
			pol.profile[i] = f
		}
	}
	pol.memoOK = true
	for _, f := range pol.reads {
		if f.Policy.Identity {
			pol.memoOK = false
		}
	}
	for _, e := range p.Protected.Emails {
		pol.protect[strings.ToLower(strings.TrimSpace(e))] = true
	}
	return pol, nil
}

// Managed reports whether the tool may edit Highspot group g (g in the
// configured spelling; see canon).
func (p *Policy) Managed(g string) bool { return p.managed[g] }

// canon returns the configured spelling of a managed group name as Highspot
// spells it (case-insensitive), or g unchanged when it is not managed.
func (p *Policy) canon(g string) string {
	if p.managed[g] {
		return g
	}
	if c, ok := p.managedLower[strings.ToLower(g)]; ok {
		return c
	}
	return g
}

// canonList applies canon to a baseline user's group names, copying only
// when a name changes.
func (p *Policy) canonList(gs []string) []string {
	for i, g := range gs {
		if c := p.canon(g); c != g {
			out := append([]string(nil), gs...)
			out[i] = c
			for j := i + 1; j < len(out); j++ {
				out[j] = p.canon(out[j])
			}
			return out
		}
	}
	return gs
}

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

// profileField is the value of a profile field (a Profile field of the
// table), cleaned of control characters.
func profileField(p *contract.Person, f *contract.Field) string {
	if f == nil {
		return ""
	}
	v := f.StringValue(p)
	if c, changed := validate.CleanText(v); changed {
		return strings.TrimSpace(c)
	}
	return v
}

// personResult is one person's evaluation besides its Want.
type personResult struct {
	kind      uint8  // kindWant, kindExcluded, kindNoEmail
	excluded  string // reason when kindExcluded
	protected string
}

const (
	kindWant uint8 = iota
	kindExcluded
	kindNoEmail
)

// ruleKey names an expression's config key; built only for error messages.
func ruleKey(kind string, i int) string { return fmt.Sprintf("policy.%s[%d].when", kind, i) }

// evalOne applies the policy to one person, filling *w when the person is wanted.
func (pol *Policy) evalOne(p *contract.Person, w *Want, cache map[string]*granted, mm *memo, hits map[string]int) (personResult, error) {
	var r personResult
	email := strings.ToLower(p.PrimaryEmail)
	c := pol.Conf
	if pol.protect[email] {
		r.protected = "protected.emails"
	}
	for _, e := range p.Emails {
		if len(pol.protect) > 0 && pol.protect[strings.ToLower(e)] {
			r.protected = "protected.emails"
		}
	}
	m, err := pol.rules(p, cache, mm)
	if err != nil {
		return r, err
	}
	if r.protected == "" {
		r.protected = m.protected
	}
	if p.IsService && !pol.ProvisionServices {
		r.kind, r.excluded = kindExcluded, ReasonService
		return r, nil
	}
	if !m.inScope {
		r.kind, r.excluded = kindExcluded, ReasonOutOfScope
		return r, nil
	}
	if email == "" || validate.EmailProblem(email) != "" {
		// transform publishes only addresses that pass validate.Email; a
		// persons table written before that rule cannot plan what Highspot
		// must refuse either
		r.kind = kindNoEmail
		return r, nil
	}
	for _, h := range m.hits {
		hits[h]++
	}
	*w = Want{BusinessUnit: p.BusinessUnit, Disabled: p.Status == ReasonDisabled, Emails: p.Emails}
	u := &w.User
	u.PersonID = p.PersonID
	u.Email = email
	u.Name = profileField(p, pol.profile[0])
	u.Surname = profileField(p, pol.profile[1])
	u.DisplayName = profileField(p, pol.profile[2])
	if u.DisplayName == "" {
		u.DisplayName = strings.TrimSpace(u.Name + " " + u.Surname)
	}
	u.Role, u.Region, u.Tree, u.ScopeRule = p.Role, p.Region, p.PrimaryTree, c.Scope.Name
	u.Protected = r.protected != ""
	u.Groups, u.GroupRules, w.Onboard = m.g.groups, m.g.rules, m.g.onboard
	return r, nil
}

// ruleResult is the outcome of every rule for one person; persons with the
// same policy-relevant attributes share one (memoized, read-only) result.
type ruleResult struct {
	protected string // protected rule name
	inScope   bool
	hits      []string
	g         *granted
}

func containsField(fs []*contract.Field, name string) bool {
	for _, f := range fs {
		if f.Name == name {
			return true
		}
	}
	return false
}

// rules evaluates (or recalls) every rule for one person.
func (pol *Policy) rules(p *contract.Person, cache map[string]*granted, mm *memo) (*ruleResult, error) {
	var key []byte
	if mm != nil {
		var buf [256]byte
		key = contract.MemoKey(buf[:0], p, pol.reads)
		if m := mm.get(key); m != nil {
			return m, nil
		}
	}
	m, err := pol.evalRules(p, cache)
	if err != nil {
		return nil, err
	}
	if mm != nil {
		mm.put(key, m)
	}
	return m, nil
}

// memo is a concurrency-safe result cache keyed by memoKey.
type memo struct {
	mu sync.RWMutex
	m  map[string]*ruleResult
}

func (c *memo) get(k []byte) *ruleResult {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[string(k)]
}

func (c *memo) put(k []byte, r *ruleResult) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) < 1<<20 {
		c.m[string(k)] = r
	}
}

func (pol *Policy) evalRules(p *contract.Person, cache map[string]*granted) (*ruleResult, error) {
	m := &ruleResult{}
	pp := contract.NewPolicyPerson(p)
	var r struct{ protected string }
	act := &personActivation{v: contract.PersonValue(pp)}
	c := pol.Conf
	prg := pol.Programs
	eval := func(prog cel.Program, kind string, i int, rule string) (bool, error) {
		out, _, err := prog.Eval(act)
		if err == nil {
			if b, ok := out.Value().(bool); ok {
				return b, nil
			}
			err = fmt.Errorf("yielded %v, want bool", out)
		}
		key := "policy.scope.when"
		if kind != "scope" {
			key = ruleKey(kind, i)
		}
		return false, &EvalError{Key: key, Rule: rule, PersonID: p.PersonID, Email: pp.Email, Err: err}
	}
	for i, pr := range c.Protected.Rules {
		ok, err := eval(prg.Protected[i], "protected.rules", i, pr.Name)
		if err != nil {
			return nil, err
		}
		if ok {
			r.protected = pr.Name
			break
		}
	}
	m.protected = r.protected
	if p.IsService && !pol.ProvisionServices {
		return m, nil
	}
	in, err := eval(prg.Scope, "scope", 0, c.Scope.Name)
	if err != nil {
		return nil, err
	}
	if !in {
		return m, nil
	}
	m.inScope = true
	m.hits = append(m.hits, c.Scope.Name)
	// Rule results are interned by the set of matching rules: persons with
	// the same matches share one (read-only) Groups slice, GroupRules map and
	// Onboard slice, which keeps 1M desired users small.
	var sigBuf [48]byte
	sig := sigBuf[:0]
	for i, ar := range c.Access {
		ok, err := eval(prg.Access[i], "access", i, ar.Name)
		if err != nil {
			return nil, err
		}
		if ok {
			m.hits = append(m.hits, ar.Name)
			sig = append(sig, 'a', byte(i), byte(i>>8))
			if ar.Stop {
				break
			}
		}
	}
	for i, ar := range c.Audiences {
		ok, err := eval(prg.Audiences[i], "audiences", i, ar.Name)
		if err != nil {
			return nil, err
		}
		if ok {
			m.hits = append(m.hits, ar.Name)
			sig = append(sig, 'u', byte(i), byte(i>>8))
		}
	}
	for i, or := range c.Onboarding {
		ok, err := eval(prg.Onboarding[i], "onboarding", i, or.Name)
		if err != nil {
			return nil, err
		}
		if ok {
			m.hits = append(m.hits, or.Name)
			sig = append(sig, 'o', byte(i), byte(i>>8))
		}
	}
	g := cache[string(sig)]
	if g == nil {
		g = pol.grants(sig)
		cache[string(sig)] = g
	}
	m.g = g
	return m, nil
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
			join, move := slices.Contains(or.On, policyconf.OnJoin), slices.Contains(or.On, policyconf.OnMove)
			for _, name := range or.Groups {
				g.onboard = append(g.onboard, Onboard{Group: name, Rule: or.Name, Join: join, Move: move})
			}
		}
	}
	sort.Strings(g.groups)
	return g
}

// Desired applies the policy to every person (in parallel; programs are safe
// for concurrent use). Wants keep the persons' order.
func Desired(persons []contract.Person, pol *Policy) (*Evaluation, error) {
	e := newEvaluator(pol)
	if err := e.add(persons); err != nil {
		return nil, err
	}
	return e.done(), nil
}

// evaluator is Desired over persons given in batches (Run streams the
// persons table through it, so the persons are never all in memory): the
// memo, the interned rule outcomes and the rule hits carry from batch to
// batch, and the result is what Desired gives for all batches at once.
type evaluator struct {
	pol    *Policy
	mm     *memo
	caches []map[string]*granted // per worker
	hits   []map[string]int      // per worker
	ev     *Evaluation
	// res and wants are add's per-person buffers, reused from batch to
	// batch (wants are copied into ev.Wants).
	res   []personResult
	wants []Want
}

func newEvaluator(pol *Policy) *evaluator {
	e := &evaluator{pol: pol, ev: &Evaluation{Excluded: map[string]string{}, Protected: map[string]string{}, RuleHits: map[string]int{}}}
	if pol.memoOK {
		e.mm = &memo{m: map[string]*ruleResult{}}
	}
	return e
}

// add evaluates a batch of persons, in order after the earlier batches.
func (e *evaluator) add(persons []contract.Person) error {
	pol := e.pol
	e.res = slices.Grow(e.res[:0], len(persons))[:len(persons)]
	e.wants = slices.Grow(e.wants[:0], len(persons))[:len(persons)]
	res, wants := e.res, e.wants
	clear(res)
	clear(wants)
	workers := runtime.GOMAXPROCS(0)
	if workers > 8 {
		workers = 8
	}
	if len(persons) < 1024 {
		workers = 1
	}
	for len(e.caches) < workers {
		e.caches = append(e.caches, map[string]*granted{})
		e.hits = append(e.hits, map[string]int{})
	}
	mm := e.mm
	var wg sync.WaitGroup
	errs := make([]error, workers)
	chunk := (len(persons) + workers - 1) / max(workers, 1)
	for w := 0; w < workers; w++ {
		lo, hi := w*chunk, min((w+1)*chunk, len(persons))
		wg.Add(1)
		go func(w, lo, hi int) {
			defer wg.Done()
			cache := e.caches[w]
			for i := lo; i < hi; i++ {
				r, err := pol.evalOne(&persons[i], &wants[i], cache, mm, e.hits[w])
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
			return err
		}
	}
	ev := e.ev
	ev.Persons += len(persons)
	for i := range res {
		r := &res[i]
		p := &persons[i]
		if r.protected != "" {
			for _, e := range p.Emails {
				ev.Protected[strings.ToLower(e)] = r.protected
			}
			if e := strings.ToLower(p.PrimaryEmail); e != "" {
				ev.Protected[e] = r.protected
			}
		}
		switch r.kind {
		case kindNoEmail:
			ev.NoEmail++
			continue
		case kindExcluded:
			for _, e := range p.Emails {
				ev.Excluded[strings.ToLower(e)] = r.excluded
			}
			if e := strings.ToLower(p.PrimaryEmail); e != "" {
				ev.Excluded[e] = r.excluded
			}
			continue
		}
		ev.Wants = append(ev.Wants, wants[i])
	}
	return nil
}

// done is the evaluation of every person added.
func (e *evaluator) done() *Evaluation {
	for _, h := range e.hits {
		for k, v := range h {
			e.ev.RuleHits[k] += v
		}
	}
	e.hits = nil
	return e.ev
}
