package transform

import (
	"time"

	"github.com/otds-highspot/otds-highspot/internal/contract"
)

// The stage keeps every normalized account in memory until the persons are
// assembled. It keeps them as heldAccounts: only the fields Resolve reads,
// the account key and DN shared with the graph, and the repeated values
// (tree, partition, title, department...) as one shared heldProfile per
// distinct combination. A row read from Parquet points into the text of its
// whole record batch column, so every kept string is either a copy or text
// kept anyway.

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
	AccountKey, DN, Login, PrimaryEmail, EmployeeID, EmployeeIDKey string
	GivenName, Surname, DisplayName                                string
	Emails                                                         []string
	Attributes                                                     map[string]string
	// Modified is the row's ModifiedAt when HasModified: a value, not a
	// pointer, so a million held rows are not a million more objects.
	Modified    time.Time
	HasModified bool
	IsService   bool
}

// fill sets the fields of a that h holds (the others are left as they are;
// ModifiedAt too, which the field table does not read).
func (h *heldAccount) fill(a *contract.AccountNormalized) {
	p := h.heldProfile
	a.AccountKey, a.DN, a.Login, a.PrimaryEmail, a.EmployeeID, a.EmployeeIDKey = h.AccountKey, h.DN, h.Login, h.PrimaryEmail, h.EmployeeID, h.EmployeeIDKey
	a.GivenName, a.Surname, a.DisplayName = h.GivenName, h.Surname, h.DisplayName
	a.Emails, a.Attributes, a.IsService = h.Emails, h.Attributes, h.IsService
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
}

func newKeeper(max int) *keeper {
	return &keeper{str: newInterner(max), profiles: map[heldProfile]*heldProfile{}, max: max}
}

// hold returns the part of an that Resolve reads, taking the account key and
// DN from g (nil = none; at = the account's expected graph position, -1 =
// unknown).
func (hd *keeper) hold(an *contract.AccountNormalized, g *Graph, at int) heldAccount {
	h := heldAccount{AccountKey: an.AccountKey, DN: an.DN, Login: an.Login, PrimaryEmail: an.PrimaryEmail, EmployeeID: an.EmployeeID,
		EmployeeIDKey: an.EmployeeIDKey, GivenName: hd.str.of(an.GivenName), Surname: hd.str.of(an.Surname), DisplayName: an.DisplayName,
		Emails: an.Emails, Attributes: an.Attributes, IsService: an.IsService}
	if an.ModifiedAt != nil {
		h.Modified, h.HasModified = *an.ModifiedAt, true
	}
	if g != nil {
		if ai, ok := g.accountIndex(an.AccountKey, at); ok {
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
