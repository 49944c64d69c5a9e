package entry

import (
	"encoding/base64"
	"testing"
	"time"
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
