package transform

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/otds-highspot/otds-highspot/extract/extractconf"
	"github.com/otds-highspot/otds-highspot/internal/config"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/transform/transformconf"
)

// synth is a deterministic labelled population: accounts over 5 trees, a
// share of them cross-tree duplicates of a person from another tree with
// realistic variations, plus traps (same login / same name for different
// people, recycled mail addresses). Account i is generated from i alone, so a
// million accounts can be streamed twice without being held.
type synth struct {
	accounts int // total accounts
	persons  int // primary accounts (one per person)
	groups   int // groups per tree
}

func synthSourceID(i int) string {
	var b [24]byte
	d := strconv.AppendInt(b[9:9], int64(i), 10) // digits after room for "u" + zeros
	n := 1 + max(8, len(d))
	out := make([]byte, 0, n)
	out = append(out, 'u')
	for z := len(d); z < 8; z++ {
		out = append(out, '0')
	}
	return string(append(out, d...))
}

var (
	synthPartitions = []string{"P-t0", "P-t1", "P-t2", "P-t3", "P-t4"}
	synthTrees      = []string{"t0", "t1", "t2", "t3", "t4"}
	synthDomains    = []string{"acme.com", "beta.de", "gamma.io", "delta.example", "eps.example"}
	synthGiven      = strings.Fields("James Mary John Patricia Robert Jennifer Michael Linda William Elizabeth David Barbara Richard Susan Joseph Jessica Thomas Sarah Charles Karen Jürgen Anna Lukas Sophie Maximilian Marie Felix Emma Jonas Mia Léa Chloé Hugo Zoë José María Ayşe Mehmet Søren Ingrid Åsa Björn Ana Lúcia João Chen Wei Hiroshi Yuki Priya Rahul Olga Ivan Fatima Omar Noah Liam Olivia Ava Ethan Mason Harper Evelyn Logan Lucas Ella Aria Elena Mateo Nora Leo Hanna Paul Klaus")
	synthSurname    = strings.Fields("Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Koch Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hofmann Hartmann Lange Schmitt Werner Krause Meier Lehmann Große Dubois Lefèvre Conceição Yılmaz Kaya Nakamura Tanaka Kowalski Nowak Jensen Hansen Larsen Novák Popescu Ivanova Rossi Russo Ferrari")
)

// synthConfig: t0 and t1 share the HR numbering scheme; every tree maps a
// legacy domain of each canonical domain to it.
func synthConfig() *config.Config {
	c := &config.Config{}
	for _, t := range synthTrees {
		c.Trees = append(c.Trees, extractconf.Tree{Name: t, Source: "ldif"})
	}
	c.Transform.Trees = map[string]transformconf.Tree{}
	for i, t := range synthTrees {
		tt := transformconf.Tree{EmailDomainAliases: map[string]string{}}
		tt.EmployeeIDScheme = t // own numbering
		if i < 2 {
			tt.EmployeeIDScheme = "hr"
		}
		for _, d := range synthDomains {
			tt.EmailDomainAliases["legacy-"+d] = d
		}
		c.Transform.Trees[t] = tt
	}
	c.Transform.Derive = map[string][]transformconf.DeriveRule{
		"role":   {{Value: "field_sales", When: transformconf.Condition{MemberOf: "g3"}}, {Value: "field_sales", When: transformconf.Condition{Attr: "title", Regex: "(?i)account executive"}}},
		"region": {{From: "country", Map: map[string]string{"US": "AMER", "DE": "EMEA", "BR": "LATAM"}}},
	}
	c.ApplyDefaults()
	return c
}

func newSynth(accounts int) synth {
	return synth{accounts: accounts, persons: accounts - accounts/10, groups: 200}
}

func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

type synthPerson struct {
	p              int
	tree           int
	given, surname string
	local          string // mail local part
}

// synthFolded holds the generator's per-name derivations, computed once:
// folded given names and surnames and the login of every pair.
type synthFolded struct {
	given, surname []string // lower-case ASCII folds
	login          [][]string
}

var synthFolds = sync.OnceValue(func() synthFolded {
	f := synthFolded{}
	for _, g := range synthGiven {
		f.given = append(f.given, strings.ToLower(asciiFold(g)))
		row := make([]string, len(synthSurname))
		for j, sn := range synthSurname {
			row[j] = strings.ToLower(asciiFold(g[:1] + sn))
		}
		f.login = append(f.login, row)
	}
	for _, sn := range synthSurname {
		f.surname = append(f.surname, strings.ToLower(asciiFold(sn)))
	}
	return f
})

func (s synth) person(p int) synthPerson {
	sp, _, _ := s.personIdx(p)
	return sp
}

// personIdx is person with the indexes of the given name and surname.
func (s synth) personIdx(p int) (synthPerson, int, int) {
	h := mix(uint64(p) + 0x9e3779b97f4a7c15)
	gi, si := int(h%uint64(len(synthGiven))), int((h>>20)%uint64(len(synthSurname)))
	sp := synthPerson{p: p, tree: p % len(synthTrees), given: synthGiven[gi], surname: synthSurname[si]}
	f := synthFolds()
	sp.local = f.given[gi] + "." + f.surname[si] + "." + strconv.FormatInt(int64(p), 16)
	return sp, gi, si
}

// accountTree is the tree index of account i.
func (s synth) accountTree(i int) int {
	t := s.label(i) % len(synthTrees)
	if i >= s.persons {
		t = (t + 1 + i%4) % len(synthTrees)
	}
	return t
}

// accountRef is the tree, partition, source id and DN of account i (what the
// graph needs), without generating the rest of it.
func (s synth) accountRef(i int) (tree, partition, sourceID, dn string) {
	p := s.label(i)
	h := mix(uint64(p) + 0x9e3779b97f4a7c15)
	gi, si := int(h%uint64(len(synthGiven))), int((h>>20)%uint64(len(synthSurname)))
	t := p % len(synthTrees)
	if i >= s.persons {
		t = (t + 1 + i%4) % len(synthTrees)
	}
	return synthTrees[t], synthPartitions[t], synthSourceID(i), "cn=" + synthFolds().login[gi][si] + ",ou=Users,ou=" + synthTrees[t]
}

func asciiFold(s string) string {
	if isASCII(s) && !strings.Contains(s, " ") {
		return s
	}
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		if r < 0x80 && r != ' ' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func (s synth) empID(sp synthPerson, tree int) string {
	if tree < 2 {
		d := strconv.Itoa(sp.p) // %07d: shared HR scheme
		if len(d) < 7 {
			d = strings.Repeat("0", 7-len(d)) + d
		}
		return d
	}
	return synthTrees[tree] + "-" + strconv.Itoa(sp.p*7+tree) // tree-local numbering
}

// label is the true person of account i.
func (s synth) label(i int) int {
	if i < s.persons {
		return i
	}
	return int(mix(uint64(i)) % uint64(s.persons))
}

// account generates account i and its true person.
func (s synth) account(i int) (contract.Account, int) {
	p := s.label(i)
	sp, gi, si := s.personIdx(p)
	tree := sp.tree
	variant := -1
	if i >= s.persons {
		variant = i % 7
		tree = (sp.tree + 1 + i%4) % len(synthTrees)
	}
	t := synthTrees[tree]
	rng := rand.New(rand.NewPCG(uint64(i), 7))
	mod := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.IntN(300*24)) * time.Hour)
	// the single-valued attributes share one backing array (fewer allocations)
	vals := []string{sp.given, sp.surname, sp.given + " " + sp.surname, synthFolds().login[gi][si],
		[]string{"US", "DE", "BR", "FR", "JP"}[rng.IntN(5)], []string{"Account Executive", "Engineer", "Sales Manager", "Analyst"}[rng.IntN(4)]}
	a := contract.Account{
		Tree: t, Partition: synthPartitions[tree], SourceID: synthSourceID(i),
		GivenName: vals[0:1:1], Surname: vals[1:2:2],
		DisplayName: vals[2:3:3],
		Login:       vals[3:4:4],
		Country:     vals[4:5:5],
		Title:       vals[5:6:6],
		ModifiedAt:  &mod,
	}
	a.DN = "cn=" + a.Login[0] + ",ou=Users,ou=" + t
	home := sp.local + "@" + synthDomains[sp.tree]
	own := sp.local + "@" + synthDomains[tree]
	switch variant {
	case -1: // the person's home account
		a.Mail = []string{home}
		a.EmployeeID = []string{s.empID(sp, tree)}
		if rng.IntN(20) == 0 {
			a.EmployeeID = nil // some accounts lack an employee id
		}
		if rng.IntN(50) == 0 {
			a.Disabled = []string{"TRUE"}
		}
		if p%1000 == 7 {
			// recycled address: also carries the mail of another person
			other := s.person(p + 3)
			a.Mail = append(a.Mail, other.local+"@"+synthDomains[other.tree])
		}
	case 0: // same employee id (shared scheme) with a trailing space, or the home mail
		if tree < 2 && sp.tree < 2 {
			a.EmployeeID = []string{s.empID(sp, tree) + " "}
			a.Mail = []string{own}
		} else {
			a.EmployeeID = []string{s.empID(sp, tree)}
			a.Mail = []string{strings.ToUpper(home)}
		}
	case 1: // home mail, case and spaces, no employee id
		a.Mail = []string{"  " + strings.ToUpper(home[:1]) + home[1:] + " "}
	case 2: // legacy domain alias of the home domain
		a.Mail = []string{sp.local + "@legacy-" + synthDomains[sp.tree]}
		a.EmployeeID = []string{s.empID(sp, tree)}
	case 3: // "Surname, Given" only, decomposed UTF-8, home mail
		a.GivenName, a.Surname = nil, nil
		a.DisplayName = []string{norm.NFD.String(sp.surname + ", " + sp.given)}
		a.Mail = []string{home}
	case 4: // two mails: own domain first, home second; disabled
		a.Mail = []string{own, home}
		a.Disabled = []string{"true"}
	case 5: // nickname-free short given name (initial) and the home mail
		a.GivenName = []string{sp.given[:1] + "."}
		a.Mail = []string{home}
	case 6: // a typo in the given name (two letters transposed), home mail in capitals
		g := []rune(sp.given)
		if len(g) >= 4 {
			g[1], g[2] = g[2], g[1]
		}
		a.GivenName = []string{string(g)}
		a.Mail = []string{strings.ToUpper(home)}
	}
	return a, p
}

// groups of one tree: g0 "All <tree>" holds every account of the tree (the
// 50k+ group), g1..g9 nest in g0, g10.. nest in g(k/10); g198 <-> g199 cycle.
func (s synth) treeGroups(tree int) []contract.Group {
	t := synthTrees[tree]
	out := make([]contract.Group, s.groups)
	for k := range out {
		out[k] = contract.Group{Tree: t, Partition: "P-" + t, SourceID: fmt.Sprintf("%s-g%d", t, k), Name: fmt.Sprintf("g%d", k), DN: fmt.Sprintf("cn=g%d,ou=Groups,ou=%s", k, t)}
	}
	return out
}

func (s synth) nestings(tree int, fn func(contract.Membership)) {
	t := synthTrees[tree]
	for k := 1; k < s.groups; k++ {
		parent := k / 10
		if k < 10 {
			parent = 0
		}
		fn(contract.Membership{Tree: t, Partition: "P-" + t, GroupSourceID: fmt.Sprintf("%s-g%d", t, parent), MemberSourceID: fmt.Sprintf("%s-g%d", t, k), MemberKind: "group", MemberPartition: "P-" + t})
	}
	fn(contract.Membership{Tree: t, Partition: "P-" + t, GroupSourceID: fmt.Sprintf("%s-g%d", t, s.groups-1), MemberSourceID: fmt.Sprintf("%s-g%d", t, s.groups-2), MemberKind: "group", MemberPartition: "P-" + t})
}

// synthGroupIDs caches "<tree>-g<k>" for the default 200 groups per tree.
var synthGroupIDs = sync.OnceValue(func() map[string][]string {
	m := map[string][]string{}
	for _, t := range synthTrees {
		ids := make([]string, 200)
		for k := range ids {
			ids[k] = t + "-g" + strconv.Itoa(k)
		}
		m[t] = ids
	}
	return m
})

func (s synth) groupSourceID(tree string, k int) string {
	if ids := synthGroupIDs()[tree]; k < len(ids) {
		return ids[k]
	}
	return tree + "-g" + strconv.Itoa(k)
}

// memberships of account i: 5 direct groups (g0 plus 4 others).
func (s synth) memberships(i int, a *contract.Account, fn func(contract.Membership)) {
	h := mix(uint64(i) * 31)
	seen := [5]int{}
	for j := 0; j < 5; j++ {
		k := 0
		if j > 0 {
			k = 1 + int((h>>(j*12))%uint64(s.groups-1))
		}
		dup := false
		for _, x := range seen[:j] {
			if x == k {
				dup = true
			}
		}
		seen[j] = k
		if dup {
			k = (k + j) % s.groups
		}
		fn(contract.Membership{Tree: a.Tree, Partition: a.Partition, GroupSourceID: s.groupSourceID(a.Tree, k), MemberSourceID: a.SourceID, MemberKind: "user", MemberPartition: a.Partition})
	}
}
