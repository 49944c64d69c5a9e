package transform

import (
	"sort"
	"strings"
	"sync"
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
	if isASCII(s) {
		return foldASCII(s)
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
	return strings.Fields(b.String())
}

// foldASCII is foldName of an ASCII string: lower-cased letter and digit runs
// (NFD changes nothing, no mark or special letter can occur).
func foldASCII(s string) []string {
	var out []string
	for i := 0; i < len(s); {
		for i < len(s) && !isAlnumASCII(s[i]) {
			i++
		}
		j := i
		lower := true
		for j < len(s) && isAlnumASCII(s[j]) {
			if s[j] >= 'A' && s[j] <= 'Z' {
				lower = false
			}
			j++
		}
		if j > i {
			t := s[i:j]
			if !lower {
				t = strings.ToLower(t)
			}
			out = append(out, t)
		}
		i = j
	}
	return out
}

func isAlnumASCII(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// collapse folds German transliterations: Müller = Mueller = Muller.
func collapse(t string) string {
	t = strings.ReplaceAll(t, "ae", "a")
	t = strings.ReplaceAll(t, "oe", "o")
	return strings.ReplaceAll(t, "ue", "u")
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
			if x == y || strings.HasPrefix(x, y) || strings.HasPrefix(y, x) || nickOf(x) == nickOf(y) || typo(x, y) || collapse(x) == collapse(y) {
				return true
			}
		}
	}
	return false
}

func known(t []string) bool { return len(t) > 0 }

// namesConflict reports whether two accounts clearly name different people.
// With an employee id (HR-assigned) both the given names and the surnames
// must differ; with any weaker key (an email can be recycled or shared) a
// known given name or surname that differs is enough. Initials, nicknames,
// transliterations and swapped fields count as the same.
func namesConflict(a, b nameParts, strongKey bool) bool {
	if known(a.given) && known(a.surname) && known(b.given) && known(b.surname) &&
		tokensCompatible(a.given, b.surname) && tokensCompatible(a.surname, b.given) {
		return false // swapped given/surname fields
	}
	g := known(a.given) && known(b.given) && !tokensCompatible(a.given, b.given)
	s := known(a.surname) && known(b.surname) && !tokensCompatible(a.surname, b.surname)
	if strongKey {
		return g && s
	}
	return g || s
}

// namesAgree reports whether both given names and surnames are known and compatible.
func namesAgree(a, b nameParts) bool {
	return known(a.given) && known(a.surname) && known(b.given) && known(b.surname) &&
		tokensCompatible(a.given, b.given) && tokensCompatible(a.surname, b.surname)
}

// nicknames maps common short forms to one canonical given name.
var nicknames = sync.OnceValue(func() map[string]string {
	table := map[string]string{
		"robert": "bob bobby rob robbie bert", "william": "bill billy will willy liam", "james": "jim jimmy jamie",
		"michael": "mike mick mickey", "elizabeth": "liz lizzy beth betty eliza elisabeth lisa", "katherine": "kate katie kathy catherine kathryn cathy",
		"thomas": "tom tommy", "richard": "rick dick rich richie", "joseph": "joe joey josef sepp", "david": "dave davy",
		"christopher": "chris kit", "christine": "chris christina tina", "anthony": "tony", "daniel": "dan danny",
		"matthew": "matt", "stephen": "steve steven stefan", "jennifer": "jen jenny", "susan": "sue susie suzanne",
		"patricia": "pat patty trish", "margaret": "maggie peggy meg greta", "johannes": "hans johann jan", "alexander": "alex sasha alexandre alejandro",
		"alexandra": "alex sandra", "samuel": "sam sammy", "samantha": "sam", "benjamin": "ben benny", "edward": "ed eddie ted",
		"nicholas": "nick nico nikolaus klaus", "andrew": "andy drew", "jonathan": "jon", "john": "jack johnny", "charles": "charlie chuck karl",
		"francis": "frank", "frances": "fran", "gregory": "greg", "jeffrey": "jeff geoffrey", "kenneth": "ken kenny", "lawrence": "larry",
		"ronald": "ron ronnie", "donald": "don donnie", "timothy": "tim timmy", "victoria": "vicky tori", "rebecca": "becky becca",
		"deborah": "debbie deb", "barbara": "barb babs", "dorothy": "dot dottie", "abigail": "abby", "wolfgang": "wolf",
	}
	canons := make([]string, 0, len(table))
	for c := range table {
		canons = append(canons, c)
	}
	sort.Strings(canons) // a short form of two names maps to the first, deterministically
	out := map[string]string{}
	for _, canon := range canons {
		c := foldName(canon)[0]
		out[c] = c
	}
	for _, canon := range canons {
		c := foldName(canon)[0]
		for _, n := range strings.Fields(table[canon]) {
			f := foldName(n)[0]
			if _, taken := out[f]; !taken {
				out[f] = c
			}
		}
	}
	return out
})

func nickOf(s string) string {
	if c, ok := nicknames()[s]; ok {
		return c
	}
	return s
}

// typo reports one substitution, insertion, deletion or transposition of
// adjacent letters between two tokens of at least 4 letters (Jonh / John).
func typo(a, b string) bool {
	ra, rb := []rune(a), []rune(b)
	if len(ra) < 4 || len(rb) < 4 {
		return false
	}
	if len(ra) > len(rb) {
		ra, rb = rb, ra
	}
	switch len(rb) - len(ra) {
	case 0:
		var diff []int
		for i := range ra {
			if ra[i] != rb[i] {
				diff = append(diff, i)
				if len(diff) > 2 {
					return false
				}
			}
		}
		switch len(diff) {
		case 1:
			return true
		case 2:
			i, j := diff[0], diff[1]
			return j == i+1 && ra[i] == rb[j] && ra[j] == rb[i]
		}
		return len(diff) == 0
	case 1:
		i := 0
		for i < len(ra) && ra[i] == rb[i] {
			i++
		}
		return string(ra[i:]) == string(rb[i+1:])
	}
	return false
}
