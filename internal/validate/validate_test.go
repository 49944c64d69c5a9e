package validate

import (
	"strings"
	"testing"
)

func TestEmail(t *testing.T) {
	long := strings.Repeat("a", 64)
	cases := []struct {
		name, in, want string // want "" = refused
	}{
		{"plain", "John.Doe@Acme.com", "john.doe@acme.com"},
		{"trimmed", "  Paul.White@ACME.com ", "paul.white@acme.com"},
		{"mailto", "mailto:ann@x.example", "ann@x.example"},
		{"apostrophe and plus", "o'brien+tag@x.example", "o'brien+tag@x.example"},
		{"all atext", "!#$%&'*+-/=?^_`{|}~@x.example", "!#$%&'*+-/=?^_`{|}~@x.example"},
		{"non-ascii", "Jürgen@Müller.de", "jürgen@müller.de"},
		{"local part 64", long + "@x.example", long + "@x.example"},
		{"two at", "two@at@x.example", ""},
		{"display name", "Ann <x@y.example>", ""},
		{"list semicolon", "a; b", ""},
		{"list comma", "a@x.example,b@x.example", ""},
		{"newline", "ann@x.exa\nmple", ""},
		{"trailing newline", "ann@x.example\n", ""},
		{"nul", "ann\x00@x.example", ""},
		{"quote", `"ann"@x.example`, ""},
		{"quoted with space", `"a b"@x.example`, ""},
		{"dot dot slash", "../../etc/passwd@x.example", ""},
		{"inner dot dot slash", "a/../b@x.example", ""},
		{"domain dot dot", "a@x..example", ""},
		{"domain traversal", "a@../x.example", ""},
		{"no at", "ann.x.example", ""},
		{"empty local", "@x.example", ""},
		{"empty domain", "ann@", ""},
		{"single label", "ann@localhost", ""},
		{"literal", "ann@[192.0.2.1]", ""},
		{"hyphen label", "ann@-x.example", ""},
		{"numeric tld", "ann@x.123", ""},
		{"local part 65", long + "a@x.example", ""},
		{"address 255", long + "@" + strings.Repeat(strings.Repeat("b", 62)+".", 3) + "example", ""},
		{"label 64", "a@" + long + ".example", ""},
		{"inner space", "ann smith@x.example", ""},
		{"tab", "ann\t@x.example", ""},
		{"c1 control", "ann\u0085@x.example", ""},
		{"bidi override", "ann\u202e@x.example", ""},
		{"nbsp inside", "ann\u00a0b@x.example", ""},
		{"empty", "  ", ""},
		{"leading dot", ".ann@x.example", ""},
		{"trailing dot domain", "ann@x.example.", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, problem := Email(c.in)
			if got != c.want {
				t.Errorf("Email(%q) = %q (%s), want %q", c.in, got, problem, c.want)
			}
			if (got == "") != (problem != "") {
				t.Errorf("Email(%q): got %q and problem %q; want exactly one", c.in, got, problem)
			}
			if got != "" {
				if again, p := Email(got); again != got {
					t.Errorf("Email(Email(%q)) = %q (%s), want %q (idempotent)", c.in, again, p, got)
				}
			}
		})
	}
}

func TestCleanText(t *testing.T) {
	cases := []struct {
		name, in, want string
		changed        bool
	}{
		{"plain", "Ann Evil", "Ann Evil", false},
		{"non-ascii", "Jürgen Müller", "Jürgen Müller", false},
		{"nul", "Ann\x00Evil", "AnnEvil", true},
		{"newline", "Ann\nEvil", "Ann Evil", true},
		{"tab cr", "Ann\t\rEvil", "Ann  Evil", true},
		{"escape", "Ann\x1b[31mEvil", "Ann[31mEvil", true},
		{"del", "Ann\x7fEvil", "AnnEvil", true},
		{"c1", "Ann\u0080\u009fEvil", "AnnEvil", true},
		{"nel", "Ann\u0085Evil", "Ann Evil", true},
		{"line separator", "Ann\u2028Evil", "Ann Evil", true},
		{"bidi", "Ann\u202eliveE\u2069", "AnnliveE", true},
		{"invalid utf8 kept", "Ann\xffEvil", "Ann\xffEvil", false},
		{"invalid bytes around a control", "\xc2\x01\x80", "\uFFFD\uFFFD", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, changed := CleanText(c.in)
			if got != c.want || changed != c.changed {
				t.Errorf("CleanText(%q) = %q, %v; want %q, %v", c.in, got, changed, c.want, c.changed)
			}
			if HasControl(got) {
				t.Errorf("CleanText(%q) = %q still has a control character", c.in, got)
			}
		})
	}
}
