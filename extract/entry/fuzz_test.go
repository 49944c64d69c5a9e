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
