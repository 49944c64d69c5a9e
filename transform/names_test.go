package transform

import (
	"strings"
	"testing"
)

func TestNamesConflict(t *testing.T) {
	cases := []struct {
		name           string
		g1, s1, g2, s2 string
		strong         bool
		want           bool
	}{
		{"same", "John", "Doe", "John", "Doe", false, false},
		{"initial", "J.", "Doe", "John", "Doe", false, false},
		{"nickname", "Bob", "Miller", "Robert", "Miller", false, false},
		{"transliteration", "Jürgen", "Müller", "Juergen", "Mueller", false, false},
		{"decomposed", "Ju\u0308rgen", "Mu\u0308ller", "Jürgen", "Müller", false, false},
		{"typo", "Jonh", "Smith", "John", "Smith", false, false},
		{"swapped fields", "Doe", "John", "John", "Doe", false, false},
		{"surname change, weak key", "Jane", "Doe", "Jane", "Smith", false, true},
		{"surname change, employee id", "Jane", "Doe", "Jane", "Smith", true, false},
		{"other given name, weak key", "Ella", "Tanaka", "Ethan", "Tanaka", false, true},
		{"other given name, employee id", "Ella", "Tanaka", "Ethan", "Tanaka", true, false},
		{"different people, employee id", "Samuel", "Brown", "Eve", "Novak", true, true},
		{"unknown names", "", "", "Eve", "Novak", false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := namesConflict(namesOf(c.g1, c.s1), namesOf(c.g2, c.s2), c.strong)
			if got != c.want {
				t.Errorf("namesConflict(%s %s, %s %s, strong=%v): got %v, want %v", c.g1, c.s1, c.g2, c.s2, c.strong, got, c.want)
			}
		})
	}
}

// TestCleanNameFastPath: the one-pass ASCII path of cleanName gives what the
// general path (trim, NFC, collapse white space) gives.
func TestCleanNameFastPath(t *testing.T) {
	general := func(s string) string {
		s = clean(s)
		if strings.Contains(s, "  ") || strings.ContainsAny(s, "\t\n\r") {
			s = strings.Join(strings.Fields(s), " ")
		}
		return s
	}
	for _, in := range []string{"", " ", "a", "John", " John", "John ", "John  Doe", "John Doe", "John\tDoe", "a\vb", "a\fb", "a\x01b", "Doe, John", "Jürgen", " Jürgen  Müller ", "a \n", "\u00a0a", "x y z"} {
		if got, want := cleanName(in), general(in); got != want {
			t.Errorf("cleanName(%q): got %q, want %q", in, got, want)
		}
	}
}

// cleanInputs are strings around the printable-ASCII shortcut of clean:
// spaces at the ends, the other ASCII white space and controls, DEL, C1
// controls, separators, and text that NFC changes.
var cleanInputs = []string{"", " ", "  ", "a", " a", "a ", "  a b  ", "John Doe", "~!", "a\tb", "\ta", "a\n", "a\vb", "a\fb",
	"a\rb", "a\x01b", "a\x1fb", "a\x7fb", "\x7f", "a\u0085b", "a\u0080b", "a\u2028b", "a\u202eb", "a\u2066b", "\u00a0a\u00a0",
	"Jürgen", " Ju\u0308rgen ", "e\u0301", "\xff", "a\xc2", "\u3000a\u3000", "cn=x,ou=Users,o=Acme Corp"}

// TestCleanFastPath: the one-pass printable-ASCII path of clean gives what
// the general path (control rule, trim, NFC) gives.
func TestCleanFastPath(t *testing.T) {
	for _, in := range cleanInputs {
		if got, want := clean(in), cleanGeneral(in); got != want {
			t.Errorf("clean(%q): got %q, want %q", in, got, want)
		}
	}
	for c := 0; c < 0x100; c++ { // every byte alone, at an end and inside
		for _, in := range []string{string(rune(c)), string([]byte{byte(c)}), " " + string([]byte{byte(c)}) + "x", "x" + string([]byte{byte(c)}) + " "} {
			if got, want := clean(in), cleanGeneral(in); got != want {
				t.Errorf("clean(%q): got %q, want %q", in, got, want)
			}
		}
	}
}

func FuzzClean(f *testing.F) {
	for _, in := range cleanInputs {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if got, want := clean(in), cleanGeneral(in); got != want {
			t.Errorf("clean(%q): got %q, want %q", in, got, want)
		}
	})
}

func BenchmarkClean(b *testing.B) {
	in := []string{"t0", "00000000-0000-4000-8000-000000123456", "cn=jdoe123,ou=Users,o=Acme Corp,dc=example,dc=com", "John", "Doe", "Sales Engineer"}
	for _, c := range []struct {
		name string
		fn   func(string) string
	}{{"clean", clean}, {"general", cleanGeneral}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, s := range in {
					_ = c.fn(s)
				}
			}
		})
	}
}

// TestQualifiedFold: qualifiedFold is EqualFold of the joined name, with
// ASCII and other names, case and Unicode folds (the Kelvin sign folds to
// k, the long s to s) and names whose ':' is elsewhere.
func TestQualifiedFold(t *testing.T) {
	cases := []struct{ tree, group, name string }{
		{"t0", "Sales", "t0:sales"},
		{"t0", "Sales", "T0:SALES"},
		{"t0", "Sales", "t0:salex"},
		{"t0", "Sales", "t0;sales"},
		{"t0:", "Sales", "t0::sales"},
		{"t0", ":Sales", "t0::sales"},
		{"t0", "Sales", "t0s:ales"},
		{"k", "ss", "k:ss"},
		{"\u212a", "ss", "k:ss"},      // the Kelvin sign: 3 bytes, so not of name's length
		{"k", "\u017f\u017f", "k:ss"}, // long s
		{"\u212a", "ss", "\u212a:ss"}, // a non-ASCII name
		{"k", "\u017f\u017f", "\u212a:ss"},
		{"tö", "Grüne", "TÖ:grüne"},
	}
	for _, c := range cases {
		if len(c.name) != len(c.tree)+1+len(c.group) {
			continue // memberOf compares only names of the joined length
		}
		want := strings.EqualFold(c.tree+":"+c.group, c.name)
		if got := qualifiedFold(c.tree, c.group, c.name, isASCII(c.name)); got != want {
			t.Errorf("qualifiedFold(%q, %q, %q): got %v, want %v", c.tree, c.group, c.name, got, want)
		}
	}
}

// TestFoldNameASCII: the ASCII path of foldName gives what the general path
// (NFD, marks dropped, letters and digits kept) gives.
func TestFoldNameASCII(t *testing.T) {
	general := func(s string) []string {
		var b strings.Builder
		for _, r := range strings.ToLower(s) {
			switch {
			case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
				b.WriteRune(r)
			default:
				b.WriteByte(' ')
			}
		}
		return strings.Fields(b.String())
	}
	for _, in := range []string{"", " ", "John", "DOE, John", "o'Brien-Smith", "J.", "  a  b ", "x1 Y2", "a\tb\nc", "Anne-Marie"} {
		got, want := foldName(in), general(in)
		if strings.Join(got, "|") != strings.Join(want, "|") || len(got) != len(want) {
			t.Errorf("foldName(%q): got %q, want %q", in, got, want)
		}
	}
}

// TestDropSpaceLowerJoin: the one-pass helpers give what the strings
// package compositions they replace give.
func TestDropSpaceLowerJoin(t *testing.T) {
	for _, in := range []string{"", "ABC123", " 12 34 ", "a\tb", "a\vb", "x\u00a0y", "Ä b", "0001234"} {
		if got, want := dropSpace(in), strings.Join(strings.Fields(in), ""); got != want {
			t.Errorf("dropSpace(%q): got %q, want %q", in, got, want)
		}
	}
	for _, in := range [][3]string{{"JDoe", "@", "P-t0"}, {"", "@", ""}, {"Jürgen", "@", "P"}, {"a", "@", "B-Ü"}} {
		if got, want := lowerJoin(in[0], in[1], in[2]), strings.ToLower(in[0]+in[1]+in[2]); got != want {
			t.Errorf("lowerJoin(%q): got %q, want %q", in, got, want)
		}
	}
}
