package transform

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Names are never a match key. They are only used as a veto: two accounts
// whose given names AND surnames are both known and both incompatible are
// not merged by any key (the key is more likely shared or reused).

type nameParts struct {
	given, surname []string // folded tokens
}

func foldName(s string) []string {
	if s == "" {
		return nil
	}
	var b strings.Builder
	for _, r := range norm.NFD.String(strings.ToLower(s)) {
		switch {
		case unicode.Is(unicode.Mn, r):
		case r == 'ß':
			b.WriteString("ss")
		case r == 'æ':
			b.WriteString("ae")
		case r == 'ø':
			b.WriteByte('o')
		case r == 'ł':
			b.WriteByte('l')
		case r == 'ı':
			b.WriteByte('i')
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		default:
			b.WriteByte(' ')
		}
	}
	toks := strings.Fields(b.String())
	for i, t := range toks {
		// German transliteration: Müller = Mueller = Muller.
		t = strings.ReplaceAll(t, "ae", "a")
		t = strings.ReplaceAll(t, "oe", "o")
		t = strings.ReplaceAll(t, "ue", "u")
		toks[i] = t
	}
	return toks
}

func namesOf(given, surname string) nameParts {
	return nameParts{given: foldName(given), surname: foldName(surname)}
}

// tokensCompatible: unknown on either side, a shared token, or one token a
// prefix of the other (initials, short forms).
func tokensCompatible(a, b []string) bool {
	if len(a) == 0 || len(b) == 0 {
		return true
	}
	for _, x := range a {
		for _, y := range b {
			if x == y || strings.HasPrefix(x, y) || strings.HasPrefix(y, x) {
				return true
			}
		}
	}
	return false
}

func known(t []string) bool { return len(t) > 0 }

// namesConflict reports whether two accounts clearly name different people.
func namesConflict(a, b nameParts) bool {
	if !known(a.given) || !known(a.surname) || !known(b.given) || !known(b.surname) {
		return false
	}
	if tokensCompatible(a.given, b.given) || tokensCompatible(a.surname, b.surname) {
		return false
	}
	// swapped given/surname fields
	if tokensCompatible(a.given, b.surname) && tokensCompatible(a.surname, b.given) {
		return false
	}
	return true
}

// namesAgree reports whether both given names and surnames are known and compatible.
func namesAgree(a, b nameParts) bool {
	return known(a.given) && known(a.surname) && known(b.given) && known(b.surname) &&
		tokensCompatible(a.given, b.given) && tokensCompatible(a.surname, b.surname)
}
