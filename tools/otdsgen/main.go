// Command otdsgen writes deterministic synthetic OTDS trees at scale, as
// slapd-loadable LDIF (the REST stand-in and the ldif source load the same
// files), plus labels.csv (account DN -> true person id) to measure the
// person resolver's precision and recall.
//
//	otdsgen -accounts 1000000 -trees 5 -dup-share 0.1 -seed 1 -out /tmp/otds1m
//
// Each tree is one OTDS partition (a subsidiary) with its own mail domain.
// Per tree: an "All Staff" group holding every account directly (so a tree
// of 50k+ accounts has a 50k+ member group), department groups nested in
// division groups nested in "All Employees", territory groups, and many
// small project groups with a skewed popularity (a few large, most of 2-30
// members), some nested in each other and, rarely, a two-group cycle.
// A share of people (-dup-share) also have an account in one (sometimes two)
// other trees, with realistic variations: the other tree's mail domain or no
// mail, the employee id with spaces or other case or missing, display name
// "Last, First". About 1% of accounts are service accounts (oTExtraAttr9:
// true, no names), 3% are disabled, 0.5% locked.
//
// Day 2: the same flags plus -churn 0.01 write the next day's trees: 1% of
// people changed, a quarter each joiners (new people), leavers (gone),
// movers (another department) and newly disabled; every other account is
// byte for byte the same as on day 1.
//
// Output (-out DIR): base.ldif (suffix and containers), tree-NN.ldif per tree
// (-single: everything in trees.ldif), labels.csv. Load into slapd with
// slapadd in that order. Entries carry entryUUID, createTimestamp,
// modifyTimestamp and binary oTObjectGUID.
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

const suffix = "dc=identity,dc=opentext,dc=net"

type options struct {
	accounts int
	trees    int
	dupShare float64
	groups   string
	seed     uint64
	out      string
	single   bool
	churn    float64   // day 2: share of people changed (joiners, leavers, movers, newly disabled)
	cum      []float64 // home-tree distribution (treeCum)
}

func main() {
	var o options
	flag.IntVar(&o.accounts, "accounts", 10000, "total accounts over all trees")
	flag.IntVar(&o.trees, "trees", 3, "number of trees (partitions), 1-64")
	flag.Float64Var(&o.dupShare, "dup-share", 0.1, "share of people with an account in another tree too (0..1)")
	flag.StringVar(&o.groups, "groups", "auto", "small project groups per tree, or auto (accounts/40)")
	flag.Uint64Var(&o.seed, "seed", 1, "random seed; the same flags and seed give byte-identical output")
	flag.StringVar(&o.out, "out", "", "output directory (created)")
	flag.BoolVar(&o.single, "single", false, "write one trees.ldif instead of base.ldif + tree-NN.ldif")
	flag.Float64Var(&o.churn, "churn", 0, "day 2: the same trees with this share of people changed (0..0.5), a quarter each joiners, leavers, movers (other department) and newly disabled")
	flag.Parse()
	start := time.Now()
	st, err := run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "otdsgen:", err)
		os.Exit(2)
	}
	fmt.Fprintf(os.Stderr, "otdsgen: %d accounts (%d people, %d duplicates, %d service), %d groups, %d memberships, largest group %d, in %s -> %s\n",
		st.accounts, st.people, st.dups, st.service, st.groups, st.members, st.largest, time.Since(start).Round(time.Millisecond), o.out)
}

type stats struct {
	accounts, people, dups, service, groups, members, largest int
}

// ---------------------------------------------------------------- randomness

// mix is splitmix64: a fast, deterministic hash of a counter.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// rng is a tiny deterministic generator for one entity.
type rng struct{ s uint64 }

func newRNG(parts ...uint64) *rng {
	h := uint64(0x5eed)
	for _, p := range parts {
		h = mix(h ^ p)
	}
	return &rng{h}
}

func (r *rng) next() uint64   { r.s = mix(r.s); return r.s }
func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }
func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }
func (r *rng) chance(p float64) bool {
	return r.float() < p
}
func pick[T any](r *rng, xs []T) T { return xs[r.intn(len(xs))] }

// ---------------------------------------------------------------- data lists

var firstNames = []string{"John", "Jane", "Alice", "Bob", "Maria", "Jürgen", "Ayşe", "José", "Chloé", "Søren", "Zoë", "Ana Lúcia",
	"Michael", "Sarah", "David", "Laura", "Peter", "Anna", "Thomas", "Julia", "Daniel", "Lisa", "Markus", "Sophie", "Kevin",
	"Emma", "Lukas", "Mia", "James", "Olivia", "Robert", "Emily", "William", "Hannah", "Richard", "Lea", "Joseph", "Clara",
	"Charles", "Nina", "Ming", "Wei", "Yuki", "Hiroshi", "Priya", "Rahul", "Fatima", "Omar", "Ingrid", "Lars", "Élodie",
	"François", "Małgorzata", "Paweł", "Björn", "Åsa", "Dmitri", "Olga", "Giulia", "Marco", "Sven", "Katrin", "Tobias",
	"Noah", "Liam", "Ava", "Isabella", "Ethan", "Mason", "Lucas", "Amelia", "Harper", "Benjamin", "Evelyn", "Henry"}

var lastNames = []string{"Smith", "Doe", "Müller", "Schmidt", "García", "Martínez", "Kaya", "Große", "Conceição", "Jensen",
	"Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson", "Taylor", "Thomas", "Moore", "Martin",
	"Jackson", "White", "Harris", "Clark", "Lewis", "Walker", "Hall", "Young", "King", "Wright", "Scott", "Green", "Baker",
	"Adams", "Nelson", "Hill", "Campbell", "Mitchell", "Roberts", "Carter", "Phillips", "Evans", "Turner", "Torres",
	"Parker", "Collins", "Edwards", "Stewart", "Flores", "Morris", "Nguyen", "Murphy", "Rivera", "Cook", "Rogers", "Morgan",
	"Peterson", "Cooper", "Reed", "Bailey", "Bell", "Gómez", "Kelly", "Howard", "Ward", "Cox", "Díaz", "Richardson", "Wood",
	"Watson", "Brooks", "Bennett", "Gray", "James", "Reyes", "Cruz", "Hughes", "Price", "Myers", "Long", "Foster", "Sanders",
	"Ross", "Morales", "Powell", "Sullivan", "Russell", "Ortiz", "Jenkins", "Gutiérrez", "Perry", "Butler", "Barnes",
	"Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Schröder",
	"Neumann", "Schwarz", "Zimmermann", "Braun", "Krüger", "Hofmann", "Hartmann", "Lange", "Schmitt", "Werner", "Krause",
	"Lehmann", "Köhler", "Tanaka", "Suzuki", "Sato", "Wang", "Li", "Zhang", "Chen", "Liu", "Patel", "Sharma", "Kowalski",
	"Nowak", "Wiśniewski", "Dubois", "Lefèvre", "Rossi", "Russo", "Ferrari", "Johansson", "Nilsson", "Ivanov", "O'Brien"}

var partitionNames = []string{"Acme Corp", "Beta GmbH", "Gamma Contractors", "Delta SA", "Epsilon Ltd", "Zeta KK",
	"Eta BV", "Theta AB", "Iota Srl", "Kappa Oy", "Lambda Inc", "Mu AG"}

var departments = []struct{ division, name string }{
	{"Sales", "Field Sales"}, {"Sales", "Inside Sales"}, {"Sales", "Sales Management"}, {"Sales", "Channel Sales"},
	{"Sales", "Presales"}, {"Sales", "Sales Operations"}, {"Marketing", "Product Marketing"}, {"Marketing", "Demand Generation"},
	{"Engineering", "Software Engineering"}, {"Engineering", "Quality Assurance"}, {"Services", "Customer Success"},
	{"Services", "Support"}, {"Operations", "Finance"}, {"Operations", "Human Resources"}, {"Operations", "IT"},
}

var titles = map[string][]string{
	"Sales":       {"Account Executive", "Enterprise Account Executive", "Sales Manager", "Sales Development Representative", "Regional Vice President"},
	"Marketing":   {"Marketing Manager", "Product Marketing Manager", "Campaign Specialist"},
	"Engineering": {"Software Engineer", "Senior Software Engineer", "QA Engineer", "Engineering Manager"},
	"Services":    {"Customer Success Manager", "Support Engineer", "Solutions Consultant"},
	"Operations":  {"Financial Analyst", "HR Business Partner", "IT Administrator", "Operations Manager"},
}

var territories = []struct{ territory, country, city string }{
	{"AMER-East", "US", "New York"}, {"AMER-West", "US", "San Francisco"}, {"AMER-Central", "US", "Chicago"},
	{"AMER-Canada", "CA", "Toronto"}, {"EMEA-DACH", "DE", "München"}, {"EMEA-UK", "GB", "London"},
	{"EMEA-Benelux", "NL", "Amsterdam"}, {"EMEA-France", "FR", "Paris"}, {"LATAM", "BR", "São Paulo"}, {"APJ", "JP", "Tokyo"},
}

var units = []string{"Enterprise", "Commercial", "Mittelstand", "Channel", "Operations", "Marketing"}

var projectWords = []string{"Falcon", "Orion", "Atlas", "Phoenix", "Nova", "Titan", "Apollo", "Vega", "Zephyr", "Aurora",
	"Helios", "Comet", "Nimbus", "Polaris", "Quasar", "Sirius", "Lynx", "Cobalt", "Onyx", "Jade"}

var projectKinds = []string{"Project", "Team", "Deal Room", "Account Team", "Working Group", "Pilot", "Enablement", "Territory Team"}

// ---------------------------------------------------------------- model

type tree struct {
	idx       int
	partition string
	domain    string
	synced    bool // AD-synchronized (GUID from "AD"), else GUID bytes = entryUUID
	userBase  string
	groupBase string
	logins    []string // account index -> escaped RDN value (login)
	used      map[string]int
	mailUsed  map[string]int
	groups    []*group
	allStaff  *group
	depts     []*group
	terrs     []*group
	projects  []*group
	// project popularity: cumulative weights for choosing a project group
	cum []float64
}

type group struct {
	name     string
	dn       string // computed once
	users    []int32
	children []*group
	parents  []*group
}

// person identity (deterministic from the person index).
type person struct {
	id             int
	first, last    string
	service        bool
	disabled       bool
	locked         bool
	dept           int
	terr           int
	unit           string
	title          string
	empID          string
	trees          uint64 // bit per tree
	home           int
	nProjects      int
	created, moded int64
	leaver         bool // -churn: gone on day 2 (names still reserved so nobody else's change)
	newlyDisabled  bool // -churn: disabled on day 2
}

// Day-2 changes of one person under -churn.
const (
	churnNone = iota
	churnLeaver
	churnMover
	churnDisabled
)

// churnOf tells what -churn does to person p on day 2: a quarter of the churn
// share each leaves, moves department or is disabled (joiners are added as
// new people after the day-1 population).
func (o *options) churnOf(p int) int {
	if o.churn == 0 {
		return churnNone
	}
	u := newRNG(o.seed, 9, uint64(p)).float()
	switch {
	case u < o.churn/4:
		return churnLeaver
	case u < o.churn/2:
		return churnMover
	case u < o.churn*3/4:
		return churnDisabled
	}
	return churnNone
}

func churnNote(c float64) string {
	if c == 0 {
		return ""
	}
	return fmt.Sprintf(" churn=%g", c)
}

// dayTwo applies -churn to a day-1 person.
func (o *options) dayTwo(pe *person) {
	changed := true
	switch o.churnOf(pe.id) {
	case churnLeaver:
		pe.leaver = true
	case churnMover:
		pe.dept = (pe.dept + 1 + newRNG(o.seed, 10, uint64(pe.id)).intn(len(departments)-1)) % len(departments)
	case churnDisabled:
		changed = !pe.disabled
		pe.newlyDisabled = changed
		pe.disabled, pe.locked = true, false
	default:
		changed = false
	}
	if changed {
		pe.moded = time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC).Unix()
	}
}

func (o *options) validate() error {
	switch {
	case o.out == "":
		return errors.New("-out DIR is required")
	case o.accounts < 1:
		return errors.New("-accounts must be >= 1")
	case o.trees < 1 || o.trees > 64:
		return errors.New("-trees must be 1-64")
	case o.dupShare < 0 || o.dupShare > 1:
		return errors.New("-dup-share must be 0..1")
	case o.churn < 0 || o.churn > 0.5:
		return errors.New("-churn must be 0..0.5")
	}
	if o.groups != "auto" {
		if n, err := strconv.Atoi(o.groups); err != nil || n < 0 {
			return fmt.Errorf("-groups %q: use auto or a number >= 0", o.groups)
		}
	}
	return nil
}

func (o *options) personOf(p int) person {
	r := newRNG(o.seed, 1, uint64(p))
	pe := person{id: p}
	pe.first, pe.last = pick(r, firstNames), pick(r, lastNames)
	pe.service = r.chance(0.01)
	pe.disabled = r.chance(0.03)
	pe.locked = !pe.disabled && r.chance(0.005)
	pe.dept = r.intn(len(departments))
	pe.terr = r.intn(len(territories))
	pe.unit = pick(r, units)
	pe.title = pick(r, titles[departments[pe.dept].division])
	pe.empID = fmt.Sprintf("E%07d", 1000000+p)
	// skewed home tree: tree i has weight 1/(i+1)^0.6
	pe.home = weightedTree(r.float(), o.cum)
	pe.trees = 1 << pe.home
	if !pe.service && o.trees > 1 && r.chance(o.dupShare) {
		other := (pe.home + 1 + r.intn(o.trees-1)) % o.trees
		pe.trees |= 1 << other
		if o.trees > 2 && r.chance(0.1) {
			third := (pe.home + 1 + r.intn(o.trees-1)) % o.trees
			pe.trees |= 1 << third
		}
	}
	// projects: geometric, mean ~1.3
	for pe.nProjects < 8 && r.chance(0.57) {
		pe.nProjects++
	}
	pe.created = time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC).Unix() + int64(r.intn(9*365*86400))
	pe.moded = pe.created + int64(r.intn(365*86400))
	return pe
}

// treeCum returns the cumulative home-tree distribution: tree i has weight
// 1/(i+1)^0.6 (the first subsidiaries are the larger ones).
func treeCum(n int) []float64 {
	cum := make([]float64, n)
	total := 0.0
	for i := 0; i < n; i++ {
		total += 1 / math.Pow(float64(i+1), 0.6)
		cum[i] = total
	}
	for i := range cum {
		cum[i] /= total
	}
	return cum
}

func weightedTree(u float64, cum []float64) int {
	for i, c := range cum {
		if u < c {
			return i
		}
	}
	return len(cum) - 1
}

// ---------------------------------------------------------------- output

// ldifWriter writes LDIF values, base64-encoding what is not a SAFE-STRING.
type ldifWriter struct {
	w    *bufio.Writer
	b64  []byte
	safe map[string]bool // memo of safe() for repeated DN values
}

// safeBase is safe() memoized (base DNs and group DNs repeat millions of times).
func (l *ldifWriter) safeBase(v string) bool {
	ok, seen := l.safe[v]
	if !seen {
		if l.safe == nil {
			l.safe = map[string]bool{}
		}
		ok = safe(v)
		l.safe[v] = ok
	}
	return ok
}

// dn writes name: v for a DN value that repeats (memoized safety check).
func (l *ldifWriter) dn(name, v string) {
	if !l.safeBase(v) {
		l.attr(name, v)
		return
	}
	l.w.WriteString(name)
	l.w.WriteString(": ")
	l.w.WriteString(v)
	l.w.WriteByte('\n')
}

func safe(v string) bool {
	if v == "" {
		return true
	}
	if c := v[0]; c == ' ' || c == ':' || c == '<' {
		return false
	}
	if v[len(v)-1] == ' ' {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == 0 || c == '\n' || c == '\r' || c >= 0x80 {
			return false
		}
	}
	return true
}

func (l *ldifWriter) attr(name, v string) {
	if safe(v) {
		l.w.WriteString(name)
		l.w.WriteString(": ")
		l.w.WriteString(v)
		l.w.WriteByte('\n')
		return
	}
	l.binary(name, []byte(v))
}

// dnAttr writes name: cn=<rdn>,<base> without building the string when it
// is a SAFE-STRING.
func (l *ldifWriter) dnAttr(name, rdn, base string) {
	if !safe(rdn) || !l.safeBase(base) {
		l.attr(name, "cn="+rdn+","+base)
		return
	}
	l.w.WriteString(name)
	l.w.WriteString(": cn=")
	l.w.WriteString(rdn)
	l.w.WriteByte(',')
	l.w.WriteString(base)
	l.w.WriteByte('\n')
}

func (l *ldifWriter) binary(name string, v []byte) {
	n := base64.StdEncoding.EncodedLen(len(v))
	if cap(l.b64) < n {
		l.b64 = make([]byte, n)
	}
	base64.StdEncoding.Encode(l.b64[:n], v)
	l.w.WriteString(name)
	l.w.WriteString(":: ")
	l.w.Write(l.b64[:n])
	l.w.WriteByte('\n')
}

func genTime(unix int64) string { return time.Unix(unix, 0).UTC().Format("20060102150405Z") }

func uuidOf(seed uint64, parts ...uint64) ([]byte, string) {
	r := newRNG(append([]uint64{seed, 99}, parts...)...)
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], r.next())
	binary.BigEndian.PutUint64(b[8:], r.next())
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return b[:], h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// escapeRDN escapes an RDN value (RFC 4514).
func escapeRDN(v string) string {
	var b strings.Builder
	for i, r := range v {
		switch {
		case strings.ContainsRune(",+\"\\<>;=", r), r == '#' && i == 0, r == ' ' && (i == 0 || i == len(v)-1):
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

var fold = strings.NewReplacer("ä", "ae", "ö", "oe", "ü", "ue", "ß", "ss", "é", "e", "è", "e", "ê", "e", "á", "a",
	"à", "a", "ã", "a", "â", "a", "å", "a", "í", "i", "ı", "i", "ó", "o", "ø", "o", "ú", "u", "ç", "c", "ñ", "n",
	"ş", "s", "ś", "s", "ł", "l", "ł", "l", "ż", "z", "ź", "z", "ń", "n", "'", "", " ", "")

func ascii(s string) string {
	s = fold.Replace(strings.ToLower(s))
	var b strings.Builder
	for _, r := range s {
		if r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-') {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func writeContainer(l *ldifWriter, dn, ou string, classes []string, seed uint64, k uint64) {
	_, id := uuidOf(seed, 7, k)
	l.w.WriteString("dn: ")
	l.w.WriteString(dn)
	l.w.WriteByte('\n')
	for _, c := range classes {
		l.attr("objectClass", c)
	}
	if strings.HasPrefix(dn, "dc=") {
		l.attr("dc", "identity")
		l.attr("o", "OTDS synthetic (otdsgen)")
	} else {
		l.attr("ou", ou)
	}
	l.attr("entryUUID", id)
	l.attr("createTimestamp", "20180301090000Z")
	l.attr("modifyTimestamp", "20180301090000Z")
	l.w.WriteByte('\n')
}

func createFile(dir, name string) (*os.File, *ldifWriter, error) {
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		return nil, nil, err
	}
	return f, &ldifWriter{w: bufio.NewWriterSize(f, 1<<20)}, nil
}

func closeFile(f *os.File, l *ldifWriter) error {
	if err := l.w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func run(o options) (stats, error) {
	var st stats
	if err := o.validate(); err != nil {
		return st, err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return st, err
	}
	o.cum = treeCum(o.trees)
	// Pass 1: people until the account budget is spent (exact -accounts).
	var masks []uint64 // person index -> trees the person has an account in
	total := 0
	for p := 0; total < o.accounts; p++ {
		pe := o.personOf(p)
		m := pe.trees
		n := popcount(m)
		if total+n > o.accounts { // trim the last person's extra accounts
			m = 1 << pe.home
			n = 1
		}
		masks = append(masks, m)
		total += n
		if n > 1 {
			st.dups += n - 1
		}
	}
	// -churn: joiners are new people after the day-1 population, so every
	// day-1 account keeps its name, mail and manager.
	day1 := len(masks)
	for p, joiners := day1, int(math.Round(float64(day1)*o.churn/4)); p < day1+joiners; p++ {
		m := o.personOf(p).trees
		masks = append(masks, m)
		if n := popcount(m); n > 1 {
			st.dups += n - 1
		}
	}
	st.people = len(masks)

	trees := make([]*tree, o.trees)
	perTree := make([]int, o.trees) // day 1: joiners do not change the group layout
	for _, m := range masks[:day1] {
		for t := 0; t < o.trees; t++ {
			if m&(1<<t) != 0 {
				perTree[t]++
			}
		}
	}
	for t := range trees {
		name := partitionNames[t%len(partitionNames)]
		if t >= len(partitionNames) {
			name = fmt.Sprintf("%s %d", name, t/len(partitionNames)+1)
		}
		dom := ascii(strings.Fields(name)[0]) + map[bool]string{true: ".com", false: ".de"}[t%3 != 1]
		if t >= len(partitionNames) {
			dom = fmt.Sprintf("%s%d.com", ascii(strings.Fields(name)[0]), t)
		}
		pbase := "ou=Root,ou=" + escapeRDN(name) + ",ou=IdentityProviders," + suffix
		tr := &tree{idx: t, partition: name, domain: dom, synced: t%3 != 2, userBase: "ou=Users," + pbase, groupBase: "ou=Groups," + pbase,
			used: map[string]int{}, mailUsed: map[string]int{}}
		tr.logins = make([]string, 0, perTree[t])
		tr.buildGroups(&o, perTree[t])
		trees[t] = tr
	}

	labels, err := os.Create(filepath.Join(o.out, "labels.csv"))
	if err != nil {
		return st, err
	}
	lw := bufio.NewWriterSize(labels, 1<<20)
	lw.WriteString("dn,person_id,tree,partition,kind\n")

	var single *os.File
	var sl *ldifWriter
	if o.single {
		if single, sl, err = createFile(o.out, "trees.ldif"); err != nil {
			return st, err
		}
	} else {
		f, l, err := createFile(o.out, "base.ldif")
		if err != nil {
			return st, err
		}
		sl = l
		single = f
	}
	fmt.Fprintf(sl.w, "# SYNTHETIC OTDS-like data from otdsgen (accounts=%d trees=%d dup-share=%g groups=%s seed=%d%s)\n\n", o.accounts, o.trees, o.dupShare, o.groups, o.seed, churnNote(o.churn))
	writeContainer(sl, suffix, "", []string{"top", "dcObject", "organization"}, o.seed, 1)
	writeContainer(sl, "ou=IdentityProviders,"+suffix, "IdentityProviders", []string{"top", "organizationalUnit"}, o.seed, 2)
	if !o.single {
		if err := closeFile(single, sl); err != nil {
			return st, err
		}
	}

	discard := &ldifWriter{w: bufio.NewWriter(io.Discard)}
	for _, tr := range trees {
		l := sl
		var f *os.File
		if !o.single {
			if f, l, err = createFile(o.out, fmt.Sprintf("tree-%02d.ldif", tr.idx)); err != nil {
				return st, err
			}
		}
		pdn := "ou=" + escapeRDN(tr.partition) + ",ou=IdentityProviders," + suffix
		k := uint64(tr.idx+1) * 1000
		writeContainer(l, pdn, tr.partition, []string{"top", "organizationalUnit"}, o.seed, k)
		writeContainer(l, "ou=Root,"+pdn, "Root", []string{"top", "organizationalUnit", "oTOrgUnit"}, o.seed, k+1)
		writeContainer(l, tr.userBase, "Users", []string{"top", "organizationalUnit", "oTOrgUnit"}, o.seed, k+2)
		writeContainer(l, tr.groupBase, "Groups", []string{"top", "organizationalUnit", "oTOrgUnit"}, o.seed, k+3)
		for p, m := range masks {
			if m&(1<<tr.idx) == 0 {
				continue
			}
			pe := o.personOf(p)
			if p < day1 {
				o.dayTwo(&pe)
			}
			if pe.leaver { // reserve the names, write nothing
				tr.writeUser(&o, discard, &pe, m)
				continue
			}
			dn := tr.writeUser(&o, l, &pe, m)
			kind := "person"
			if pe.service {
				kind = "service"
				st.service++
			}
			lw.WriteString(csvField(dn))
			lw.WriteString(",P")
			lw.WriteString(pid(p))
			lw.WriteByte(',')
			lw.WriteString(strconv.Itoa(tr.idx))
			lw.WriteByte(',')
			lw.WriteString(csvField(tr.partition))
			lw.WriteByte(',')
			lw.WriteString(kind)
			lw.WriteByte('\n')
			st.accounts++
		}
		for gi, g := range tr.groups {
			tr.writeGroup(&o, l, gi, g)
			st.groups++
			n := len(g.users) + len(g.children)
			st.members += n
			st.largest = max(st.largest, n)
		}
		if !o.single {
			if err := closeFile(f, l); err != nil {
				return st, err
			}
		}
		tr.groups, tr.logins = nil, nil // free
	}
	if o.single {
		if err := closeFile(single, sl); err != nil {
			return st, err
		}
	}
	if err := lw.Flush(); err != nil {
		return st, err
	}
	return st, labels.Close()
}

// pid is the 8-digit person number.
func pid(p int) string {
	s := strconv.Itoa(p)
	if len(s) < 8 {
		s = strings.Repeat("0", 8-len(s)) + s
	}
	return s
}

func popcount(x uint64) int {
	n := 0
	for ; x != 0; x &= x - 1 {
		n++
	}
	return n
}

func csvField(s string) string {
	if strings.ContainsAny(s, ",\"\n") {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}

// buildGroups lays out the tree's groups (memberships are filled while the
// users are written).
func (tr *tree) buildGroups(o *options, n int) {
	add := func(name string) *group {
		g := &group{name: name, dn: "cn=" + escapeRDN(name) + "," + tr.groupBase}
		tr.groups = append(tr.groups, g)
		return g
	}
	nest := func(parent, child *group) {
		parent.children = append(parent.children, child)
		child.parents = append(child.parents, parent)
	}
	allEmp := add("All Employees")
	tr.allStaff = add("All Staff")
	divs := map[string]*group{}
	for _, d := range departments {
		if divs[d.division] == nil {
			divs[d.division] = add(d.division)
			nest(allEmp, divs[d.division])
		}
		g := add(d.name)
		nest(divs[d.division], g)
		tr.depts = append(tr.depts, g)
	}
	for _, t := range territories {
		tr.terrs = append(tr.terrs, add(t.territory))
	}
	np := n / 40
	if o.groups != "auto" {
		np, _ = strconv.Atoi(o.groups)
	}
	r := newRNG(o.seed, 3, uint64(tr.idx))
	total := 0.0
	for i := 0; i < np; i++ {
		g := add(fmt.Sprintf("%s %s %d", pick(r, projectKinds), pick(r, projectWords), i+1))
		tr.projects = append(tr.projects, g)
		// Zipf-like popularity: weight 1/(rank+1)^1.1
		total += 1 / math.Pow(float64(i+1), 1.1)
		tr.cum = append(tr.cum, total)
	}
	for i := range tr.cum {
		tr.cum[i] /= total
	}
	// Nesting among projects: ~10% nested under an earlier project.
	for i := 1; i < len(tr.projects); i++ {
		if r.chance(0.1) {
			nest(tr.projects[r.intn(i)], tr.projects[i])
		}
	}
	// Rarely, a two-group cycle.
	if len(tr.projects) >= 20 && r.chance(0.5) {
		a, b := add("Loop-A"), add("Loop-B")
		nest(a, b)
		nest(b, a)
	}
	tr.allStaff.users = make([]int32, 0, n)
}

func (tr *tree) pickProject(r *rng) *group {
	u := r.float()
	lo, hi := 0, len(tr.cum)-1
	for lo < hi {
		m := (lo + hi) / 2
		if tr.cum[m] < u {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return tr.projects[lo]
}

// writeUser writes one account of person pe in this tree and records its
// memberships; it returns the DN.
func (tr *tree) writeUser(o *options, l *ldifWriter, pe *person, mask uint64) string {
	idx := int32(len(tr.logins))
	home := pe.home == tr.idx
	r := newRNG(o.seed, 2, uint64(pe.id), uint64(tr.idx))
	first, last := pe.first, pe.last
	var login string
	if pe.service {
		login = fmt.Sprintf("svc-%s-%d", pick(r, []string{"backup", "sync", "report", "crm", "etl", "scan"}), pe.id)
	} else {
		base := ascii(first[:1] + last)
		if tr.idx%3 == 2 { // non-synchronized partner partition: logins are e-mail addresses
			base = ascii(first) + "." + ascii(last) + "@" + tr.domain
		}
		login = base
		if n := tr.used[base]; n > 0 {
			if i := strings.IndexByte(base, '@'); i >= 0 {
				login = base[:i] + strconv.Itoa(n+1) + base[i:]
			} else {
				login = base + strconv.Itoa(n+1)
			}
		}
		tr.used[base]++
	}
	rdn := escapeRDN(login)
	tr.logins = append(tr.logins, rdn)
	dn := "cn=" + rdn + "," + tr.userBase
	uuidBytes, uuid := uuidOf(o.seed, 5, uint64(pe.id), uint64(tr.idx))

	w := l.w
	l.attr("dn", dn)
	l.attr("objectClass", "top")
	l.attr("objectClass", "oTPerson")
	l.attr("cn", login)
	terr := territories[pe.terr]
	dept := departments[pe.dept]
	if !pe.service {
		l.attr("givenName", first)
		l.attr("sn", last)
		display := first + " " + last
		if !home && r.chance(0.5) {
			display = last + ", " + first
		}
		l.attr("displayName", display)
		// mail: home tree always (except 2%); duplicates: other domain, sometimes missing or upper case
		if (home && !r.chance(0.02)) || (!home && !r.chance(0.15)) {
			mb := ascii(first) + "." + ascii(last)
			n := tr.mailUsed[mb]
			tr.mailUsed[mb]++
			if n > 0 {
				mb += strconv.Itoa(n + 1)
			}
			mail := mb + "@" + tr.domain
			if !home && r.chance(0.2) {
				mail = strings.ToUpper(mail[:1]) + mail[1:strings.IndexByte(mail, '@')] + strings.ToUpper(mail[strings.IndexByte(mail, '@'):])
			}
			l.attr("mail", mail)
			if r.chance(0.02) {
				l.attr("mail", mb+"@alias."+tr.domain)
			}
		}
		emp := pe.empID
		switch {
		case home:
		case r.chance(0.3):
			emp = ""
		case r.chance(0.4):
			emp = " " + emp + " "
		case r.chance(0.5):
			emp = strings.ToLower(emp)
		}
		if emp != "" {
			l.attr("employeeNumber", emp)
		}
		l.attr("title", pe.title)
		l.attr("oTDepartment", dept.name)
		l.attr("c", terr.country)
		l.attr("l", terr.city)
		if idx > 0 {
			l.dnAttr("manager", tr.logins[int(idx)/8], tr.userBase)
		}
		l.attr("oTExtraAttr1", terr.territory)
		l.attr("oTExtraAttr2", pe.unit)
	} else {
		l.attr("oTExtraAttr9", "true")
		l.attr("description", "service account")
	}
	l.attr("oTCompany", tr.partition)
	l.attr("oTExternalID1", login)
	l.attr("oTExternalID2", login+"@"+tr.partition)
	if !pe.service {
		l.attr("oTExternalID3", ascii(first[:1]+last)+"@"+tr.domain)
	}
	guid := uuidBytes
	if tr.synced {
		guid, _ = uuidOf(o.seed, 6, uint64(pe.id), uint64(tr.idx))
	}
	l.binary("oTObjectGUID", guid)
	if pe.newlyDisabled {
		l.attr("ds-pwp-account-disabled", "true") // no draw: the person's groups stay those of day 1
	} else if pe.disabled {
		l.attr("ds-pwp-account-disabled", map[bool]string{true: "true", false: "TRUE"}[r.chance(0.8)])
	}
	if pe.locked {
		l.attr("accountLockedOut", "true")
	}
	if pe.leaver {
		return dn
	}
	// memberships
	gs := []*group{tr.allStaff}
	if !pe.service {
		gs = append(gs, tr.depts[pe.dept], tr.terrs[pe.terr])
		if len(tr.projects) > 0 {
			for i := 0; i < pe.nProjects; i++ {
				g := tr.pickProject(r)
				dup := false
				for _, x := range gs {
					dup = dup || x == g
				}
				if !dup {
					gs = append(gs, g)
				}
			}
		}
	}
	for _, g := range gs {
		g.users = append(g.users, idx)
		l.dn("oTMemberOf", g.dn)
	}
	l.attr("entryUUID", uuid)
	l.attr("createTimestamp", genTime(pe.created))
	l.attr("modifyTimestamp", genTime(pe.moded))
	w.WriteByte('\n')
	return dn
}

func (tr *tree) writeGroup(o *options, l *ldifWriter, gi int, g *group) {
	gdn := g.dn
	idBytes, id := uuidOf(o.seed, 8, uint64(tr.idx), uint64(gi))
	l.attr("dn", gdn)
	l.attr("objectClass", "top")
	l.attr("objectClass", "oTGroup")
	l.attr("cn", g.name)
	l.attr("oTExternalID1", g.name)
	l.attr("oTExternalID2", g.name+"@"+tr.partition)
	l.binary("oTObjectGUID", idBytes)
	for _, c := range g.children {
		l.dn("oTMember", c.dn)
	}
	for _, u := range g.users {
		l.dnAttr("oTMember", tr.logins[u], tr.userBase)
	}
	for _, p := range g.parents {
		l.dn("oTMemberOf", p.dn)
	}
	l.attr("entryUUID", id)
	l.attr("createTimestamp", "20190101090000Z")
	l.attr("modifyTimestamp", "20250110120000Z")
	l.w.WriteByte('\n')
}
