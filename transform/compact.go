package transform

import "github.com/otds-highspot/otds-highspot/internal/records"

// The stage keeps every normalized account in memory until the persons are
// assembled. A row read from Parquet points into the text of its whole
// record batch column (one string per column per batch), so one kept field
// keeps that column's text of every row of the batch alive. holdRow trims a
// row, once it is written, to what Resolve reads, and re-points its fields
// at text that is kept anyway: the graph's account key and DN, and one copy
// of each repeated value (tree, partition, title, department, names...).

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

// holdRow trims an written accounts_normalized row to the fields Resolve
// reads (Resolve never reads SourceID, LoginQualified, ManagerDN,
// ServiceReason or Groups), taking the account key and DN from the graph
// (at = the account's expected graph position, -1 = unknown) and repeated
// values from in.
func holdRow(an *records.AccountNormalized, g *Graph, at int, in *interner) {
	an.SourceID, an.LoginQualified, an.ManagerDN, an.ServiceReason, an.Groups = "", "", "", "", nil
	if ai, ok := g.accountIndex(an.AccountKey, at); ok {
		an.AccountKey = g.accKeys[ai]
		if dn := g.accDNs[ai]; dn == an.DN {
			an.DN = dn
		}
	}
	for _, f := range []*string{&an.Tree, &an.Partition, &an.GivenName, &an.Surname, &an.Title, &an.Department, &an.Company,
		&an.Country, &an.Status, &an.Region, &an.BusinessUnit, &an.Territory, &an.Role} {
		*f = in.of(*f)
	}
}
