package validate

import (
	"net/mail"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzEmail: an accepted address is canonical (Email is idempotent on it),
// holds no control character or white space, has one @ and a dotted domain,
// respects the length limits, and is what net/mail parses it to (the rule
// the Highspot sandbox applies): nothing Email accepts is refused there.
func FuzzEmail(f *testing.F) {
	for _, s := range []string{"John.Doe@Acme.com", "two@at@x", "Ann <x@y.example>", "a; b", "a@x.example\nx", "a\x00@x.example",
		`"a"@x.example`, "../a@x.example", "o'brien@x.example", "Jürgen@Müller.de", "mailto:a@b.c", "a@[1.2.3.4]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, problem := Email(s)
		if (got == "") == (problem == "") {
			t.Fatalf("Email(%q) = %q, %q: want exactly one of address and problem", s, got, problem)
		}
		if got == "" {
			return
		}
		if again, p := Email(got); again != got {
			t.Fatalf("Email(%q) = %q but Email(%q) = %q (%s): not idempotent", s, got, got, again, p)
		}
		if HasControl(got) || strings.ContainsAny(got, " \t<>,;\"") || strings.Count(got, "@") != 1 || !utf8.ValidString(got) {
			t.Fatalf("Email(%q) = %q: holds a character the grammar forbids", s, got)
		}
		at := strings.IndexByte(got, '@')
		if len(got) > MaxAddress || at > MaxLocalPart || !strings.Contains(got[at:], ".") {
			t.Fatalf("Email(%q) = %q: breaks a length limit or has no dotted domain", s, got)
		}
		a, err := mail.ParseAddress(got)
		if err != nil || a.Address != got {
			t.Fatalf("Email(%q) = %q, but net/mail gives %v, %v (Highspot would refuse it)", s, got, a, err)
		}
	})
}

// FuzzCleanText: the result holds no control character, cleaning is
// idempotent, valid UTF-8 stays valid, and unchanged means unchanged.
func FuzzCleanText(f *testing.F) {
	for _, s := range []string{"Ann\x00Evil", "Ann\nEvil", "Jürgen", "a\u202eb", "\xff\x00", "\u0085"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, changed := CleanText(s)
		if !changed && got != s {
			t.Fatalf("CleanText(%q) = %q but reports no change", s, got)
		}
		if changed != HasControl(s) {
			t.Fatalf("CleanText(%q): changed %v, HasControl %v", s, changed, HasControl(s))
		}
		if HasControl(got) {
			t.Fatalf("CleanText(%q) = %q still has a control character", s, got)
		}
		if again, ch := CleanText(got); ch || again != got {
			t.Fatalf("CleanText not idempotent on %q: %q", got, again)
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("CleanText(%q) = %q: broke valid UTF-8", s, got)
		}
	})
}
