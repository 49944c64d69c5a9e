package entry

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/otds-highspot/otds-highspot/extract/extractconf"
	"github.com/otds-highspot/otds-highspot/internal/contract"
)

func TestPartitionAndNorm(t *testing.T) {
	for _, tc := range []struct {
		dn, wantPart string
	}{
		{`cn=jdoe,ou=Users,ou=Root,ou=Acme Corp,ou=IdentityProviders,dc=identity,dc=opentext,dc=net`, "Acme Corp"},
		{`cn=R&D\, Europe,ou=Groups,ou=Root,ou=Acme Corp,ou=IdentityProviders,dc=identity,dc=opentext,dc=net`, "Acme Corp"},
		{`CN=x,OU=Root,OU=otds.admin,OU=identityproviders,DC=identity,DC=opentext,DC=net`, "otds.admin"},
		{`cn=otds-reader,ou=ServiceAccounts,dc=identity,dc=opentext,dc=net`, ""},
		{`ou=IdentityProviders,dc=identity,dc=opentext,dc=net`, ""},
	} {
		dn, err := ParseDN(tc.dn)
		if err != nil {
			t.Fatalf("ParseDN(%q): %v", tc.dn, err)
		}
		if got := Partition(dn); got != tc.wantPart {
			t.Errorf("Partition(%q): got %q, want %q", tc.dn, got, tc.wantPart)
		}
	}
	same := [][2]string{
		{`cn=R&D\, Europe,ou=Groups,dc=x`, `CN=R&D\2C Europe, OU=groups,DC=X`},
		{`cn=a+uid=b,dc=x`, `uid=b+cn=A,dc=x`},
	}
	for _, p := range same {
		a, _ := ParseDN(p[0])
		b, _ := ParseDN(p[1])
		if Norm(a) != Norm(b) {
			t.Errorf("Norm(%q) != Norm(%q), want equal", p[0], p[1])
		}
	}
	a, _ := ParseDN(`cn=a\,b,dc=x`)
	b, _ := ParseDN(`cn=a,cn=b,dc=x`)
	if Norm(a) == Norm(b) {
		t.Errorf("Norm of %q and %q: got equal, want different", a, b)
	}
}

func TestGUID(t *testing.T) {
	raw, _ := base64.StdEncoding.DecodeString("BPLRK7eqR5e06xtua9XOLg==")
	want := "04f2d12b-b7aa-4797-b4eb-1b6e6bd5ce2e"
	for name, in := range map[string][]byte{
		"raw 16 bytes": raw, "base64 text": []byte("BPLRK7eqR5e06xtua9XOLg=="),
		"uuid text": []byte("04F2D12B-B7AA-4797-B4EB-1B6E6BD5CE2E"),
	} {
		if got := GUID(in); got != want {
			t.Errorf("GUID(%s): got %q, want %q", name, got, want)
		}
	}
	for name, in := range map[string][]byte{"empty": nil, "short": []byte("abc"), "17 bytes": make([]byte, 17)} {
		if got := GUID(in); got != "" {
			t.Errorf("GUID(%s): got %q, want empty", name, got)
		}
	}
}

func TestParseTime(t *testing.T) {
	want := time.Date(2025, 1, 24, 10, 19, 21, 0, time.UTC)
	for _, in := range []string{"20250124101921Z", "20250124111921+0100", "2025-01-24T10:19:21Z", "20250124101921.000Z"} {
		got, err := ParseTime(in)
		if err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("ParseTime(%q): got %v, %v; want %v UTC", in, got, err, want)
		}
	}
	if _, err := ParseTime("yesterday"); err == nil {
		t.Errorf("ParseTime(yesterday): got no error, want one")
	}
}

// TestNormDNFastPathMatchesParseDN: NormDN (fast path for plain DNs) gives the
// same Norm, Partition and error-ness as ParseDN + Norm + Partition.
func TestNormDNFastPathMatchesParseDN(t *testing.T) {
	dns := []string{
		"cn=jdoe,ou=Root,ou=Acme Corp,ou=IdentityProviders,dc=identity,dc=opentext,dc=net",
		"CN=JDoe , OU=Root,ou= Acme Corp ,OU=identityproviders,dc=identity",
		"cn=Zoë Ünal,ou=Beta GmbH,ou=IdentityProviders,dc=x",
		"cn=ZOË,ou=Beta,ou=IdentityProviders,dc=x",
		`cn=R&D\, Europe,ou=Groups,ou=Acme,ou=IdentityProviders,dc=x`,
		"cn=a+sn=b,ou=P,ou=IdentityProviders,dc=x",
		"cn=C# devs,ou=P,ou=IdentityProviders,dc=x",
		"cn=a=b,dc=x",
		"cn=x\t,dc=y",
		"ou=IdentityProviders,dc=x",
		"cn=a,ou=IdentityProviders",
		"cn=a,,dc=x",
		"cn=a,dc=x,",
		"=a,dc=x",
		"nonsense",
		"cn=a;dc=x",
		"cn=\"q\",dc=x",
		"  ",
		"cn=a, dc=x",
	}
	for _, dn := range dns {
		gotNorm, gotPart, gotErr := NormDN(dn)
		parsed, err := ParseDN(dn)
		var wantNorm, wantPart string
		if err == nil {
			wantNorm, wantPart = Norm(parsed), Partition(parsed)
		}
		if gotNorm != wantNorm || gotPart != wantPart || (gotErr == nil) != (err == nil) {
			t.Errorf("NormDN(%q): got %q, %q, %v; want %q, %q, %v", dn, gotNorm, gotPart, gotErr, wantNorm, wantPart, err)
		}
		// AppendNormDN appends the same norm after what dst holds.
		gotApp, appErr := AppendNormDN([]byte("prefix"), dn)
		if (appErr == nil) != (err == nil) || (err == nil && string(gotApp) != "prefix"+wantNorm) {
			t.Errorf("AppendNormDN(\"prefix\", %q): got %q, %v; want %q, %v", dn, gotApp, appErr, "prefix"+wantNorm, err)
		}
	}
}

// TestDNCache: a DNCache gives NormDN's results whatever the DN before it
// (the same parent, another one, one with escapes).
func TestDNCache(t *testing.T) {
	dns := []string{
		"cn=jdoe,ou=Users,ou=Root,ou=Acme Corp,ou=IdentityProviders,dc=identity,dc=opentext,dc=net",
		"cn=ASmith,ou=Users,ou=Root,ou=Acme Corp,ou=IdentityProviders,dc=identity,dc=opentext,dc=net",
		`cn=Smith\, John,ou=Users,ou=Root,ou=Acme Corp,ou=IdentityProviders,dc=identity,dc=opentext,dc=net`,
		"cn=C# devs,ou=Users,ou=Root,ou=Acme Corp,ou=IdentityProviders,dc=identity,dc=opentext,dc=net",
		"cn=a+sn=b,ou=Users,ou=Root,ou=Acme Corp,ou=IdentityProviders,dc=identity,dc=opentext,dc=net",
		"ou=Acme Corp,ou=IdentityProviders,dc=identity,dc=opentext,dc=net",
		"ou=Beta GmbH,ou=IdentityProviders,dc=identity,dc=opentext,dc=net",
		"ou= Spaced ,OU=identityproviders,dc=x",
		"cn=Zoë,ou=Users,ou=Beta GmbH,ou=IdentityProviders,dc=x",
		"cn=x,ou=P,ou=IdentityProviders,ou=Q,ou=IdentityProviders",
		"ou=P,ou=IdentityProviders,ou=Q,ou=IdentityProviders",
		`cn=q,cn=R\,D,dc=x`,
		`cn=r,cn=R\,D,dc=x`,
		"cn=a,,dc=x",
		"=a,dc=x",
		"cn=a,dc=x,",
		"nonsense,dc=x",
		"cn=a",
		",dc=x",
	}
	var c DNCache
	for _, seq := range [][]string{dns, append(append([]string(nil), dns...), dns...)} {
		for _, dn := range seq {
			got, gotPart, gotErr := c.AppendNorm([]byte("prefix"), dn)
			want, wantPart, wantErr := NormDN(dn)
			if (gotErr == nil) != (wantErr == nil) || gotErr == nil && (string(got) != "prefix"+want || gotPart != wantPart) {
				t.Errorf("AppendNorm(%q): got %q, %q, %v; want %q, %q, %v", dn, got, gotPart, gotErr, "prefix"+want, wantPart, wantErr)
			}
		}
	}
}

// TestParseGeneralizedMatchesParseTime: the fast path gives ParseTime's
// time for every value it takes and leaves the rest to it.
func TestParseGeneralizedMatchesParseTime(t *testing.T) {
	for _, in := range []string{
		"20250124101921Z", "20240229235959Z", "20230229120000Z", "20250431000000Z", "20251301000000Z",
		"20250100000000Z", "20250101240000Z", "20250101006000Z", "20250101000060Z", "00010101000000Z",
		"99991231235959Z", "2025012410192Z", "20250124101921+0100", "2025012410192XZ", " 20250124101921Z",
		"20250124101921.5Z", "202501241019Z", "",
	} {
		got, ok := parseGeneralized([]byte(in))
		want, err := ParseTime(in)
		if ok && (err != nil || !got.Equal(want) || got.Location() != want.Location()) {
			t.Errorf("parseGeneralized(%q): got %v, want %v, %v", in, got, want, err)
		}
		if !ok && err == nil && len(in) == 15 && in[14] == 'Z' && strings.Trim(in[:14], "0123456789") == "" {
			t.Errorf("parseGeneralized(%q): not taken, want %v", in, want)
		}
	}
	mod, cre := times([][]byte{[]byte("20250124101921Z")}, [][]byte{[]byte("bad")})
	if mod == nil || cre != nil || !mod.Equal(time.Date(2025, 1, 24, 10, 19, 21, 0, time.UTC)) {
		t.Errorf("times(good, bad): got %v, %v; want 2025-01-24T10:19:21Z, nil", mod, cre)
	}
}

// TestAccountAllocs: mapping an account allocates its row's values, not
// copies of the row (contract.Account was moved to the heap twice).
func TestAccountAllocs(t *testing.T) {
	tree := extractconf.Tree{Name: "t", Attributes: extractconf.DefaultAttributes()}
	m := NewMapper(&tree)
	vals := map[string][][]byte{
		"entryuuid": {[]byte("5422b010-ce4b-4336-8c67-2cb0d31534e8")}, "mail": {[]byte("a@b.com")},
		"givenname": {[]byte("Bob")}, "sn": {[]byte("K")}, "createtimestamp": {[]byte("20180301090000Z")},
		"modifytimestamp": {[]byte("20180301090000Z")}, "otobjectguid": {[]byte("\x04\xf2\xd1\x2b\xb7\xaa\x47\x97\xb4\xeb\x1b\x6e\x6b\xd5\xce\x2e")}, // as the LDIF reader decodes it
	}
	get := func(a string) [][]byte { // allocates nothing
		for k, v := range vals {
			if strings.EqualFold(k, a) {
				return v
			}
		}
		return nil
	}
	dn := "cn=bob,ou=Users,ou=Root,ou=Acme Corp,ou=IdentityProviders,dc=x"
	allocs := testing.AllocsPerRun(100, func() {
		h, _, rej := m.Head(dn, get, "account")
		if rej != nil {
			t.Fatalf("Head: %v", rej.Reason)
		}
		if _, _, rej := m.Account(h, get); rej != nil {
			t.Fatalf("Account: %v", rej.Reason)
		}
	})
	// Head: norm, source id; Account: guid text, times, values, their slice
	if allocs > 6 {
		t.Errorf("Head+Account of one entry: got %.0f allocations, want at most 6", allocs)
	}
}

// TestAccountExtras: extra attributes are published with the account's
// columns, and their rejects come in the order they always did (after the
// columns' and the timestamps').
func TestAccountExtras(t *testing.T) {
	base := map[string][][]byte{
		"entryuuid": {[]byte("u1")}, "mail": {[]byte("a@b.com")}, "givenname": {[]byte("Bob")},
		"otextraattr1": {[]byte("EMEA"), []byte("DACH")}, "createtimestamp": {[]byte("20180301090000Z")},
	}
	for _, tc := range []struct {
		name     string
		set      map[string][][]byte
		required []string
		wantCode string
		wantIn   string // in the reject's reason
		want     map[string][]string
	}{
		{name: "present and absent", want: map[string][]string{"territory": {"EMEA", "DACH"}}},
		{name: "bad utf-8 in an extra", set: map[string][][]byte{"otextraattr2": {[]byte("ok"), {0xff}}},
			wantCode: CodeBadUTF8, wantIn: "attribute oTExtraAttr2 (business_unit)"},
		{name: "required extra missing", required: []string{"business_unit"}, wantCode: CodeMissing, wantIn: "oTExtraAttr2 (business_unit)"},
		{name: "required extra blank", required: []string{"business_unit"}, set: map[string][][]byte{"otextraattr2": {[]byte(" \t")}},
			wantCode: CodeMissing, wantIn: "oTExtraAttr2 (business_unit)"},
		{name: "a column's reject first", set: map[string][][]byte{"otextraattr2": {{0xff}}, "sn": {{0xfe}}},
			wantCode: CodeBadUTF8, wantIn: "attribute sn (surname)"},
		{name: "the timestamps' reject first", required: []string{"modified"}, set: map[string][][]byte{"otextraattr2": {{0xff}}},
			wantCode: CodeMissing, wantIn: "timestamp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tree := extractconf.Tree{Name: "t", Attributes: extractconf.DefaultAttributes(), RequiredAttributes: tc.required,
				ExtraAttributes: map[string]string{"territory": "oTExtraAttr1", "business_unit": "oTExtraAttr2"}}
			m := NewMapper(&tree)
			vals := map[string][][]byte{}
			for k, v := range base {
				vals[k] = v
			}
			for k, v := range tc.set {
				vals[k] = v
			}
			get := func(a string) [][]byte { return vals[strings.ToLower(a)] }
			h, _, rej := m.Head("cn=bob,ou=Users,ou=Acme,ou=IdentityProviders,dc=x", get, "account")
			if rej != nil {
				t.Fatalf("Head: %s", rej.Reason)
			}
			acc, _, rej := m.Account(h, get)
			if tc.wantCode != "" {
				if rej == nil || rej.Code != tc.wantCode || !strings.Contains(rej.Reason, tc.wantIn) {
					t.Fatalf("got reject %+v, want code %s with %q", rej, tc.wantCode, tc.wantIn)
				}
				return
			}
			if rej != nil {
				t.Fatalf("got reject %s, want none", rej.Reason)
			}
			if len(acc.Extra) != len(tc.want) || acc.Extra == nil {
				t.Fatalf("Extra: got %q, want %q", acc.Extra, tc.want)
			}
			for k, w := range tc.want {
				if got := acc.Extra[k]; strings.Join(got, "|") != strings.Join(w, "|") || len(got) != len(w) {
					t.Errorf("Extra[%s]: got %q, want %q", k, got, w)
				}
			}
		})
	}
}

// recordSink records Emit's calls.
type recordSink struct {
	members []string
	groups  int
}

func (s *recordSink) Account(contract.Account) error { return nil }
func (s *recordSink) Group(contract.Group) error     { s.groups++; return nil }
func (s *recordSink) Reject(r contract.Reject) error {
	return fmt.Errorf("reject %s: %s", r.Code, r.Reason)
}
func (s *recordSink) Member(_, _, _, memberDN, _ string) error {
	s.members = append(s.members, memberDN)
	return nil
}

// TestEmitMembers: every member value reaches the sink, in order, whether
// its chunk of copied values holds many, one larger than a chunk, or an
// empty one.
func TestEmitMembers(t *testing.T) {
	var want [][]byte
	for i := range 3000 {
		want = append(want, fmt.Appendf(nil, "cn=user%05d,ou=Users,ou=Root,ou=Acme,ou=IdentityProviders,dc=x", i))
		switch i {
		case 10:
			want = append(want, []byte{})
		case 1500:
			want = append(want, bytes.Repeat([]byte("x"), memberChunkBytes+1))
		}
	}
	tree := extractconf.Tree{Name: "t", Attributes: extractconf.DefaultAttributes()}
	m := NewMapper(&tree)
	vals := map[string][][]byte{"entryuuid": {[]byte("g1")}, "cn": {[]byte("All")}, "otmember": want}
	get := func(a string) [][]byte { return vals[strings.ToLower(a)] }
	var s recordSink
	if err := Emit(m, "cn=All,ou=Groups,ou=Acme,ou=IdentityProviders,dc=x", "group", get, &s); err != nil {
		t.Fatalf("Emit: %v", err)
	}
	if s.groups != 1 || len(s.members) != len(want) {
		t.Fatalf("got %d groups and %d members, want 1 and %d", s.groups, len(s.members), len(want))
	}
	for i := range want {
		if s.members[i] != string(want[i]) {
			t.Fatalf("member %d: got %.40q, want %.40q", i, s.members[i], want[i])
		}
	}
}
