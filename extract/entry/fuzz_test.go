package entry

import "testing"

// FuzzNormDN is differential: whenever the fast path of NormDN takes a DN,
// ParseDN must accept it too and Norm and Partition must agree.
func FuzzNormDN(f *testing.F) {
	for _, s := range []string{"cn=jdoe,ou=Users,ou=Root,ou=Acme Corp,ou=IdentityProviders,dc=identity,dc=opentext,dc=net",
		`cn=R&D\, Europe,ou=IdentityProviders,dc=x`, "CN = A , OU=IdentityProviders", "cn=a+sn=b,dc=x", "cn=,dc=x", "=x", " , ",
		"cn=J\u00fcrgen,ou=IDENTITYPROVIDERS,dc=x", "cn=a,ou=P,ou=IdentityProviders,ou=Q,ou=IdentityProviders"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dn string) {
		n, p, ok := normPlain(dn)
		if !ok {
			_, _, _ = NormDN(dn) // the slow path must not panic either
			return
		}
		parsed, err := ParseDN(dn)
		if err != nil {
			t.Fatalf("fast path took %q (norm %q) but ParseDN refuses it: %v", dn, n, err)
		}
		if want := Norm(parsed); n != want {
			t.Fatalf("NormDN(%q): fast path %q, ParseDN+Norm %q", dn, n, want)
		}
		if want := Partition(parsed); p != want {
			t.Fatalf("partition of %q: fast path %q, ParseDN %q", dn, p, want)
		}
	})
}

// FuzzDNCache is differential: a DNCache gives NormDN's norm, partition and
// error-ness for each DN of a sequence (the parent of one DN cached while the
// next is computed).
func FuzzDNCache(f *testing.F) {
	for _, p := range [][2]string{
		{"cn=a,ou=Users,ou=Root,ou=Acme Corp,ou=IdentityProviders,dc=x", "cn=b,ou=Users,ou=Root,ou=Acme Corp,ou=IdentityProviders,dc=x"},
		{"ou=Acme,ou=IdentityProviders,dc=x", "ou=Beta,ou=IdentityProviders,dc=x"},
		{`cn=R\,D,ou=P,ou=IdentityProviders,dc=x`, "cn=D,ou=P,ou=IdentityProviders,dc=x"},
		{"cn=a,cn=b\\,c,dc=x", "cn=d,cn=b\\,c,dc=x"},
		{"cn=a,ou=IdentityProviders,ou=Q,ou=IdentityProviders", "ou=P,ou=IdentityProviders,ou=Q,ou=IdentityProviders"},
		{"cn=Zo\u00eb,ou=IDENTITYPROVIDERS", "x=,ou=IdentityProviders"},
		{" , ", "cn=a, "},
	} {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		var c DNCache
		for _, dn := range []string{a, b, a, b} {
			got, gotPart, gotErr := c.AppendNorm([]byte("x"), dn)
			want, wantPart, wantErr := NormDN(dn)
			if (gotErr == nil) != (wantErr == nil) || gotErr == nil && (string(got) != "x"+want || gotPart != wantPart) {
				t.Fatalf("AppendNorm(%q) after %q: got %q, %q, %v; want %q, %q, %v", dn, a, got, gotPart, gotErr, "x"+want, wantPart, wantErr)
			}
		}
	})
}
