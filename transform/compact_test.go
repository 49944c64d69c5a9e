package transform

import (
	"reflect"
	"strings"
	"testing"

	"github.com/otds-highspot/otds-highspot/internal/contract"
)

// TestHeldAccountKeepsSurvivorshipFields checks that every survivorship
// attribute of the field table reads the same value from a held account
// (filled back into a row) as from the row it was held from: a field added
// to the table but not to heldAccount would lose its survivor value.
func TestHeldAccountKeepsSurvivorshipFields(t *testing.T) {
	var an contract.AccountNormalized
	v := reflect.ValueOf(&an).Elem()
	for i := 0; i < v.NumField(); i++ {
		if f := v.Field(i); f.Kind() == reflect.String {
			f.SetString("value of " + v.Type().Field(i).Name)
		}
	}
	h := newKeeper(4).hold(&an, nil, -1)
	var got contract.AccountNormalized
	h.fill(&got)
	for _, pa := range personAttrs() {
		if g, w := pa.get(&got), pa.get(&an); g != w {
			t.Errorf("attribute %s: got %q from the held account, want %q", pa.name, g, w)
		}
	}
	for _, c := range []struct {
		name      string
		got, want string
	}{
		{"account key", got.AccountKey, an.AccountKey},
		{"tree", got.Tree, an.Tree},
		{"dn", got.DN, an.DN},
		{"login", got.Login, an.Login},
		{"employee id key", got.EmployeeIDKey, an.EmployeeIDKey},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
}

// TestKeeperHoldAllocations checks that holding an account whose repeated
// values were seen before allocates nothing: a million held accounts must
// not be a million more objects for the collector (a profile escaping on
// every call did that).
func TestKeeperHoldAllocations(t *testing.T) {
	an := contract.AccountNormalized{AccountKey: "t0/1", Tree: "t0", Partition: "Acme", Title: "Engineer", Department: "R&D",
		Company: "Acme", Country: "DE", Status: StatusEnabled, GivenName: "Ada", Surname: "Lovelace"}
	k := newKeeper(16)
	k.hold(&an, nil, -1) // the first sight of the values keeps copies
	if got := testing.AllocsPerRun(100, func() { k.hold(&an, nil, -1) }); got != 0 {
		t.Errorf("hold of an account with known values: got %v allocations, want 0", got)
	}
}

// TestIDSet checks that the set of person ids answers by the exact text:
// the usual ids are kept as numbers, and an id that only decodes to the
// same number (upper case, another prefix or length) is not a member.
func TestIDSet(t *testing.T) {
	s := newIDSet(4)
	for _, id := range []string{"p-0123456789abcdef", "p-legacy", "P-0123456789ABCDEF"} {
		s.add(id)
	}
	for _, c := range []struct {
		id   string
		want bool
	}{
		{"p-0123456789abcdef", true},
		{"p-legacy", true},
		{"P-0123456789ABCDEF", true},
		{"p-0123456789ABCDEF", false},
		{"p-0123456789abcdee", false},
		{"p-0123456789abcde", false},
		{"q-0123456789abcdef", false},
		{"", false},
	} {
		if got := s.has(c.id); got != c.want {
			t.Errorf("has(%q): got %v, want %v", c.id, got, c.want)
		}
	}
}

// TestHeldAccountText checks that the text fields and emails a held account
// keeps in the shared text read back as they were, nil and empty lists apart.
func TestHeldAccountText(t *testing.T) {
	long := strings.Repeat("x", 300) + "@example.com" // a length of two uvarint bytes
	k := newKeeper(4)
	for _, c := range []struct {
		name   string
		emails []string
	}{
		{"nil emails", nil},
		{"empty emails", []string{}},
		{"one", []string{"ada@example.com"}},
		{"several", []string{"a@x.io", "", long, "ada@example.com", "\x80\xff@odd"}},
	} {
		an := contract.AccountNormalized{Login: "ada", PrimaryEmail: "ada@example.com", EmployeeIDKey: "hr:42", GivenName: "Ada",
			Surname: "Lovelace", DisplayName: "Ada " + c.name, Emails: c.emails}
		h := k.hold(&an, nil, -1)
		got := h.emails()
		if !reflect.DeepEqual(got, c.emails) {
			t.Errorf("%s: got emails %q (nil %v), want %q (nil %v)", c.name, got, got == nil, c.emails, c.emails == nil)
		}
		var back contract.AccountNormalized
		h.fill(&back)
		back.Emails = an.Emails
		if !reflect.DeepEqual(back, an) {
			t.Errorf("%s: got %+v back, want %+v", c.name, back, an)
		}
	}
}
