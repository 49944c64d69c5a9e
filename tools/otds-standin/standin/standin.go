// Package standin owns a local stand-in of the OTDS REST API, built from the
// public JSON shapes (shared reference otds.md §2): ticket sign-in
// (POST /otdsws/rest/authentication/credentials, OTDSTicket header or
// cookie), OAuth2 client credentials (POST /otdsws/oauth2/token, Bearer),
// GET /otdsws/rest/partitions, /users and /groups per partition with
// page_size / next_page_cookie and attrsAsKeys both ways, and
// GET /otdsws/rest/groups/{id}/members. Its data is loaded from an LDIF export
// (the same fixture slapd and the ldif source read), converted the way OTDS
// REST presents it. Knobs: ticket expiry after N requests or a duration (401
// or 400 status 1034), injected 5xx, and connections dropped mid-page.
//
// It is a test double for the otds-rest source, not an OTDS emulator: it
// implements reads only.
package standin

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/otds-highspot/otds-highspot/extract/entry"
	"github.com/otds-highspot/otds-highspot/extract/ldif"
)

// Object is one user or group as the stand-in serves it.
type Object struct {
	Kind      string // user | group
	Partition string
	Name      string
	UUID      string
	DN        string // LDAP DN from the LDIF
	Norm      string // entry.Norm of DN
	Desc      string
	// Attrs in LDIF order, converted to REST form (see convert).
	Names  []string
	Values map[string][]string
	// memberDNs are the group's raw oTMember values (resolved after load).
	memberDNs []string
	Members   []*Object // resolved direct members (groups only)
	memberOf  []string  // raw oTMemberOf values (resolved after load)
}

// Data is the directory the stand-in serves.
type Data struct {
	Partitions []string
	Users      map[string][]*Object // partition -> users in file order
	Groups     map[string][]*Object
	ByUUID     map[string]*Object
	byName     map[string]*Object // "name@partition" (case-folded) -> group
	// Dangling counts member values that point nowhere (dropped: OTDS keeps
	// no member that does not exist).
	Dangling int
}

// Load reads the users (oTPerson) and groups (oTGroup) under
// ou=IdentityProviders of an LDIF export. Malformed records are skipped.
func Load(r io.Reader) (*Data, error) {
	d := &Data{Users: map[string][]*Object{}, Groups: map[string][]*Object{}, ByUUID: map[string]*Object{}, byName: map[string]*Object{}}
	byNorm := map[string]*Object{}
	seenPart := map[string]bool{}
	rd := ldif.NewReader(r)
	for {
		e, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var re *ldif.RecordError
		if errors.As(err, &re) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("standin: load ldif: %w", err)
		}
		kind := ""
		switch {
		case e.HasObjectClass("oTPerson"):
			kind = "user"
		case e.HasObjectClass("oTGroup"):
			kind = "group"
		default:
			continue
		}
		dn, err := entry.ParseDN(e.DN)
		if err != nil {
			continue
		}
		p := entry.Partition(dn)
		uuid := first(e.Strings("entryUUID"))
		if p == "" || uuid == "" {
			continue
		}
		o := &Object{Kind: kind, Partition: p, Name: first(e.Strings("cn")), UUID: uuid, DN: e.DN, Norm: entry.Norm(dn),
			Desc: first(e.Strings("description")), Values: map[string][]string{}}
		for _, n := range e.Names() {
			switch strings.ToLower(n) {
			case "objectclass", "userpassword", "creatorsname", "modifiersname", "otmember":
				if strings.EqualFold(n, "oTMember") {
					o.memberDNs = e.Strings(n)
				}
				continue
			case "otmemberof":
				o.memberOf = e.Strings(n)
				continue
			}
			o.add(n, convert(n, e.Get(n))...)
		}
		if !seenPart[p] {
			seenPart[p] = true
			d.Partitions = append(d.Partitions, p)
		}
		if kind == "user" {
			d.Users[p] = append(d.Users[p], o)
		} else {
			d.Groups[p] = append(d.Groups[p], o)
			d.byName[strings.ToLower(o.Name+"@"+p)] = o
		}
		d.ByUUID[uuid] = o
		byNorm[o.Norm] = o
	}
	// Resolve members and oTMemberOf (to pseudo-DNs), derive the REST flags.
	for _, m := range []map[string][]*Object{d.Users, d.Groups} {
		for _, objs := range m {
			for _, o := range objs {
				for _, v := range o.memberDNs {
					if t := byNorm[norm(v)]; t != nil {
						o.Members = append(o.Members, t)
					} else {
						d.Dangling++
					}
				}
				o.memberDNs = nil
				var mo []string
				for _, v := range o.memberOf {
					if t := byNorm[norm(v)]; t != nil && t.Kind == "group" {
						mo = append(mo, "oTGroup="+t.UUID+",dc=identity,dc=opentext,dc=net")
					}
				}
				if len(mo) > 0 {
					o.add("oTMemberOf", mo...)
				}
				o.memberOf = nil
				if o.Kind == "user" {
					o.set("accountDisabled", boolText(o.Values["ds-pwp-account-disabled"]))
					o.set("accountLockedOut", boolText(o.Values["accountlockedout"]))
					delete(o.Values, "ds-pwp-account-disabled")
					o.dropName("ds-pwp-account-disabled")
				}
				o.set("entryDN", o.DN)
			}
		}
	}
	return d, nil
}

func norm(s string) string {
	dn, err := entry.ParseDN(s)
	if err != nil {
		return "\x00unparsable:" + s
	}
	return entry.Norm(dn)
}

func (o *Object) add(name string, vs ...string) {
	k := strings.ToLower(name)
	if _, ok := o.Values[k]; !ok {
		o.Names = append(o.Names, name)
	}
	o.Values[k] = append(o.Values[k], vs...)
}

func (o *Object) set(name string, v string) {
	k := strings.ToLower(name)
	if _, ok := o.Values[k]; !ok {
		o.Names = append(o.Names, name)
	}
	o.Values[k] = []string{v}
}

func (o *Object) dropName(name string) {
	for i, n := range o.Names {
		if strings.EqualFold(n, name) {
			o.Names = append(o.Names[:i], o.Names[i+1:]...)
			return
		}
	}
}

func boolText(vs []string) string {
	for _, v := range vs {
		if strings.EqualFold(strings.TrimSpace(v), "true") {
			return "true"
		}
	}
	return "false"
}

// convert turns raw LDIF values into REST JSON strings: GeneralizedTime
// timestamps become RFC 3339, binary oTObjectGUID becomes base64, other
// values are text (invalid UTF-8 replaced, as JSON would).
func convert(name string, vals [][]byte) []string {
	out := make([]string, len(vals))
	for i, v := range vals {
		switch strings.ToLower(name) {
		case "otobjectguid":
			out[i] = base64.StdEncoding.EncodeToString(v)
			continue
		case "createtimestamp", "modifytimestamp", "otlastlogintimestamp", "passwordchangedtime":
			if t, err := entry.ParseTime(string(v)); err == nil {
				out[i] = t.Format(time.RFC3339)
				continue
			}
		}
		if !utf8.Valid(v) {
			out[i] = strings.ToValidUTF8(string(v), "\uFFFD")
			continue
		}
		out[i] = string(v)
	}
	return out
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}
