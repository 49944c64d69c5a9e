package transform

import (
	"encoding/binary"
	"slices"
	"strings"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/contract"
)

// The stage keeps every normalized account in memory until the persons are
// assembled. It keeps them as heldAccounts: only the fields Resolve reads,
// the account key and DN shared with the graph, and the repeated values
// (tree, partition, title, department...) as one shared heldProfile per
// distinct combination. A row read from Parquet points into the text of its
// whole record batch column, so every kept string is either a copy or text
// kept anyway. The account's own text fields (login, emails, ids, names) are
// copied one after another into large shared strings, so a held account
// points at one text instead of seven strings and a list: a million held
// accounts are millions of pointers and objects fewer for the collector to
// follow at every cycle.

// heldProfile is the repeated part of a held account: accounts with the same
// values share one.
type heldProfile struct {
	Tree, Partition, Title, Department, Company, Country, Status, Region, BusinessUnit, Territory, Role string
}

// heldAccount is the part of a contract.AccountNormalized that Resolve reads
// (it never reads SourceID, LoginQualified, ManagerDN, ServiceReason or
// Groups: an account's groups come from the caller's groupNamesAt). The
// profile's fields read as the account's own (a.Tree).
type heldAccount struct {
	*heldProfile
	AccountKey, DN string
	// text holds login, primary email, employee id, employee id key, given
	// name, surname, display name and the emails one after another (a part
	// of a keeper's shared text); ends[i] is where field i ends, the last
	// ends with text. Each email is a uvarint 2×length and its text, or
	// the uvarint 1 when it is the primary email (usually the first).
	text       string
	ends       [heldTextFields - 1]uint32
	Attributes map[string]string
	// Modified is the row's ModifiedAt when HasModified: a value, not a
	// pointer, so a million held rows are not a million more objects.
	Modified    time.Time
	HasModified bool
	IsService   bool
	emailsSet   bool // the row's Emails was not nil (see emails)
	// graphIdx is the account's index in the graph (-1 = none): where
	// prevLinks finds its previous person id.
	graphIdx int32
}

// The fields of heldAccount.text, in order.
const (
	heldLogin = iota
	heldPrimaryEmail
	heldEmployeeID
	heldEmployeeIDKey
	heldGivenName
	heldSurname
	heldDisplayName
	heldEmails
	heldTextFields
)

// field returns text field i of h.
func (h *heldAccount) field(i int) string {
	lo, hi := 0, len(h.text)
	if i > 0 {
		lo = int(h.ends[i-1])
	}
	if i < len(h.ends) {
		hi = int(h.ends[i])
	}
	return h.text[lo:hi]
}

// appendEmails appends the row's Emails to dst.
func (h *heldAccount) appendEmails(dst []string) []string {
	e := h.field(heldEmails)
	primary := ""
	if len(e) > 0 {
		primary = h.field(heldPrimaryEmail)
	}
	for len(e) > 0 {
		var n uint64
		i := 0
		for shift := 0; ; shift += 7 { // the uvarint length (binary.AppendUvarint)
			b := e[i]
			i++
			n |= uint64(b&0x7f) << shift
			if b < 0x80 {
				break
			}
		}
		if n == 1 {
			dst = append(dst, primary)
			e = e[i:]
			continue
		}
		n >>= 1
		dst = append(dst, e[i:i+int(n)])
		e = e[i+int(n):]
	}
	return dst
}

// emails returns the row's Emails (a new slice; nil when the row's was nil).
func (h *heldAccount) emails() []string {
	if !h.emailsSet {
		return nil
	}
	return h.appendEmails([]string{})
}

func (h *heldAccount) Login() string         { return h.field(heldLogin) }
func (h *heldAccount) EmployeeIDKey() string { return h.field(heldEmployeeIDKey) }
func (h *heldAccount) GivenName() string     { return h.field(heldGivenName) }
func (h *heldAccount) Surname() string       { return h.field(heldSurname) }

// fill sets the fields of a that h holds (the others are left as they are;
// ModifiedAt and Emails too, which the field table does not read).
func (h *heldAccount) fill(a *contract.AccountNormalized) {
	p := h.heldProfile
	a.AccountKey, a.DN = h.AccountKey, h.DN
	a.Login, a.PrimaryEmail, a.EmployeeID, a.EmployeeIDKey = h.field(heldLogin), h.field(heldPrimaryEmail), h.field(heldEmployeeID), h.field(heldEmployeeIDKey)
	a.GivenName, a.Surname, a.DisplayName = h.field(heldGivenName), h.field(heldSurname), h.field(heldDisplayName)
	a.Attributes, a.IsService = h.Attributes, h.IsService
	a.Tree, a.Partition, a.Title, a.Department, a.Company, a.Country = p.Tree, p.Partition, p.Title, p.Department, p.Company, p.Country
	a.Status, a.Region, a.BusinessUnit, a.Territory, a.Role = p.Status, p.Region, p.BusinessUnit, p.Territory, p.Role
}

// interner keeps one copy of each repeated value, up to max distinct values
// (after that a new value is kept as is, so a column of unique values does
// not grow a map as large as itself).
type interner struct {
	m   map[string]string
	max int
}

func newInterner(max int) *interner { return &interner{m: map[string]string{}, max: max} }

func (in *interner) of(s string) string {
	if s == "" {
		return ""
	}
	if v, ok := in.m[s]; ok {
		return v
	}
	if len(in.m) >= in.max {
		return s
	}
	s = string([]byte(s)) // a copy: not a view of the batch's column text
	in.m[s] = s
	return s
}

// keeper makes heldAccounts, sharing repeated values and profiles between
// them (up to max distinct of each; past that a new one is kept unshared).
type keeper struct {
	str      *interner
	profiles map[heldProfile]*heldProfile
	max      int
	text     strings.Builder // the current shared text (see heldAccount.text)
}

// heldTextChunk is the size of one shared text of held accounts' fields.
const heldTextChunk = 1 << 20

// keepText sets h.text and h.ends to a copy of fields and emails in the
// shared text.
func (hd *keeper) keepText(h *heldAccount, fields *[heldEmails]string, emails []string) {
	n := 0
	for _, f := range fields {
		n += len(f)
	}
	for _, e := range emails {
		n += binary.MaxVarintLen64 + len(e)
	}
	if n == 0 {
		return
	}
	if hd.text.Cap()-hd.text.Len() < n {
		// a new shared text: the old one stays as it is (its written bytes
		// never change), and is freed with the last account that points into it
		hd.text = strings.Builder{}
		hd.text.Grow(max(heldTextChunk, n))
	}
	start := hd.text.Len()
	for i, f := range fields {
		hd.text.WriteString(f)
		h.ends[i] = uint32(hd.text.Len() - start)
	}
	var lb [binary.MaxVarintLen64]byte
	for _, e := range emails {
		if e == fields[heldPrimaryEmail] {
			hd.text.WriteByte(1)
			continue
		}
		hd.text.Write(binary.AppendUvarint(lb[:0], 2*uint64(len(e))))
		hd.text.WriteString(e)
	}
	h.text = hd.text.String()[start:]
}

func newKeeper(max int) *keeper {
	return &keeper{str: newInterner(max), profiles: map[heldProfile]*heldProfile{}, max: max}
}

// hold returns the part of an that Resolve reads, taking the account key and
// DN from g (nil = none; at = the account's expected graph position, -1 =
// unknown).
func (hd *keeper) hold(an *contract.AccountNormalized, g *Graph, at int) heldAccount {
	h := heldAccount{AccountKey: an.AccountKey, DN: an.DN, Attributes: an.Attributes, IsService: an.IsService, emailsSet: an.Emails != nil}
	hd.keepText(&h, &[heldEmails]string{heldLogin: an.Login, heldPrimaryEmail: an.PrimaryEmail, heldEmployeeID: an.EmployeeID,
		heldEmployeeIDKey: an.EmployeeIDKey, heldGivenName: an.GivenName, heldSurname: an.Surname, heldDisplayName: an.DisplayName}, an.Emails)
	if an.ModifiedAt != nil {
		h.Modified, h.HasModified = *an.ModifiedAt, true
	}
	h.graphIdx = -1
	if g != nil {
		if ai, ok := g.accountIndex(an.AccountKey, at); ok {
			h.graphIdx = ai
			h.AccountKey = g.accKeys[ai]
			if dn := g.accDNs[ai]; dn == an.DN {
				h.DN = dn
			}
		}
	}
	p := heldProfile{Tree: an.Tree, Partition: an.Partition, Title: an.Title, Department: an.Department, Company: an.Company,
		Country: an.Country, Status: an.Status, Region: an.Region, BusinessUnit: an.BusinessUnit, Territory: an.Territory, Role: an.Role}
	if sp, ok := hd.profiles[p]; ok {
		h.heldProfile = sp
		return h
	}
	for _, f := range []*string{&p.Tree, &p.Partition, &p.Title, &p.Department, &p.Company, &p.Country, &p.Status, &p.Region,
		&p.BusinessUnit, &p.Territory, &p.Role} {
		*f = hd.str.of(*f)
	}
	sp := new(heldProfile) // only a new profile is allocated (&p would make every call's p escape)
	*sp = p
	if len(hd.profiles) < hd.max {
		hd.profiles[p] = sp
	}
	h.heldProfile = sp
	return h
}

// prevLinks is the previous run's links as Resolve reads them: the person id
// of each account of this run by graph index (a slice, not a map of a
// million keys for the collector to walk at every cycle), the few accounts
// not in the graph (leavers, or every account when there is no graph) by
// key, and the set of every person id named.
type prevLinks struct {
	byAcc []string          // graph account index -> person id ("" = none)
	byKey map[string]string // account key -> person id, accounts without a graph index
	n     int               // links read
	ids   idSet
}

// newPrevLinks makes an empty prevLinks for the accounts of g (nil = none).
func newPrevLinks(g *Graph, n int) *prevLinks {
	p := &prevLinks{byKey: map[string]string{}, ids: newIDSet(n)}
	if g != nil {
		p.byAcc = make([]string, len(g.accKeys))
	}
	return p
}

// add records one previous link (a later link of the same account wins).
func (p *prevLinks) add(g *Graph, accountKey, personID string) {
	p.n++
	p.ids.add(personID)
	if g != nil {
		if ai, ok := g.accIdx.get(g.accKeys, accountKey); ok {
			p.byAcc[ai] = personID
			return
		}
	}
	p.byKey[strings.Clone(accountKey)] = personID // not a view of a batch's column text
}

// addAll is add of each row in order, the rows' accounts looked up
// together (keyIndex.lookupKeys); keys, hs and acc are scratch, reused.
func (p *prevLinks) addAll(g *Graph, rows []prevLinkRow, sc *prevScratch) {
	if g == nil {
		for _, l := range rows {
			p.add(nil, l.AccountKey, l.PersonID)
		}
		return
	}
	sc.keys = sc.keys[:0]
	for i := range rows {
		sc.keys = append(sc.keys, rows[i].AccountKey)
	}
	sc.hs = slices.Grow(sc.hs[:0], len(rows))[:len(rows)]
	sc.acc = slices.Grow(sc.acc[:0], len(rows))[:len(rows)]
	g.accIdx.lookupKeys(g.accKeys, sc.keys, sc.hs, sc.acc)
	clear(sc.keys) // not kept alive: they point into the batch's text
	for i, l := range rows {
		p.n++
		p.ids.add(l.PersonID)
		if ai := sc.acc[i]; ai >= 0 {
			p.byAcc[ai] = l.PersonID
			continue
		}
		p.byKey[strings.Clone(l.AccountKey)] = l.PersonID
	}
}

// prevScratch is prevLinks.addAll's scratch.
type prevScratch struct {
	keys []string
	hs   []uint64
	acc  []int32
}

// of returns a's previous person id ("" = none; p may be nil).
func (p *prevLinks) of(a *heldAccount) string {
	if p == nil {
		return ""
	}
	if a.graphIdx >= 0 && int(a.graphIdx) < len(p.byAcc) {
		return p.byAcc[a.graphIdx]
	}
	return p.byKey[a.AccountKey]
}

// empty reports whether there were no previous links.
func (p *prevLinks) empty() bool { return p == nil || p.n == 0 }

// idSet is a set of person ids: the usual "p-<16 lowercase hex digits>" by
// value (a map without pointers, which the collector need not scan), any
// other id by its text.
type idSet struct {
	hex   map[uint64]struct{}
	other map[string]struct{}
}

func newIDSet(n int) idSet {
	return idSet{hex: make(map[uint64]struct{}, n), other: map[string]struct{}{}}
}

// hexID returns the value of a "p-" + 16 lowercase hex digits id.
func hexID(id string) (uint64, bool) {
	if len(id) != 18 || id[0] != 'p' || id[1] != '-' {
		return 0, false
	}
	var v uint64
	for i := 2; i < 18; i++ {
		c := id[i]
		switch {
		case '0' <= c && c <= '9':
			v = v<<4 | uint64(c-'0')
		case 'a' <= c && c <= 'f':
			v = v<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

func (s idSet) add(id string) {
	if v, ok := hexID(id); ok {
		s.hex[v] = struct{}{}
		return
	}
	s.other[strings.Clone(id)] = struct{}{}
}

func (s idSet) has(id string) bool {
	if v, ok := hexID(id); ok {
		_, found := s.hex[v]
		return found
	}
	_, found := s.other[id]
	return found
}
