// Package validate owns the rules a directory value must pass before it may
// reach Highspot: one email grammar (Email) and one rule for control
// characters in text values (CleanText). Extract applies both and writes a
// rejects row for every value it drops or cleans; transform and plan apply
// them again, so a snapshot written before a rule existed cannot carry such a
// value any further. docs/operations.md ("Validation of directory values")
// states the rules for users.
package validate

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Length limits of RFC 5321 (section 4.5.3.1), in octets.
const (
	MaxLocalPart = 64
	MaxDomain    = 255
	MaxAddress   = 254 // a path is 256 octets including "<" and ">"
)

// Email checks a mail value against the project's mailbox grammar and
// returns its canonical form (trimmed, "mailto:" removed, lower-cased, NFC),
// or "" and the problem in plain language. The grammar is RFC 5321's Mailbox
// with these decisions:
//
//   - a local part is a dot-atom (RFC 5321 atext: letters, digits and
//     !#$%&'*+-/=?^_`{|}~, separated by single dots, no leading or trailing
//     dot); quoted local parts ("a b"@x.com) are refused;
//   - non-ASCII letters are allowed in both parts (RFC 6531), as long as
//     they are graphic and not white space;
//   - the domain is two or more dot-separated labels of letters, digits and
//     inner hyphens, 1-63 octets each, the last one not all digits; address
//     literals ([192.0.2.1]) are refused;
//   - no display-name or list forms (Ann <a@x.com>, a@x.com; b@x.com):
//     white space, <, >, ",", ";", quotes and a second "@" are refused;
//   - no control character anywhere (C0, DEL, C1), not even at the ends;
//   - at most 64 octets of local part, 255 of domain and 254 in all.
func Email(s string) (canonical, problem string) {
	if HasControl(s) {
		return "", "contains a control character"
	}
	s = strings.TrimSpace(s)
	if len(s) >= 7 && strings.EqualFold(s[:7], "mailto:") {
		s = s[7:]
	}
	if s == "" {
		return "", "is empty"
	}
	if len(s) > 4*MaxAddress {
		return "", "is longer than 254 octets"
	}
	s = strings.ToLower(s)
	if !isASCII(s) {
		if !utf8.ValidString(s) {
			return "", "is not valid UTF-8"
		}
		s = norm.NFC.String(s)
	}
	if p := EmailProblem(s); p != "" {
		return "", p
	}
	return s, ""
}

// EmailProblem is the grammar check of Email on a value already in
// canonical form ("" = a valid address). It does not allocate.
func EmailProblem(s string) string {
	if strings.ContainsAny(s, "<>") {
		return "has a display-name form (<...>); only the bare address is accepted"
	}
	if strings.ContainsAny(s, ",;") {
		return "holds a list (, or ;); one address per value"
	}
	if strings.ContainsRune(s, '"') {
		return "has a quote; quoted local parts are not accepted"
	}
	at := strings.IndexByte(s, '@')
	switch {
	case at < 0:
		return "has no @"
	case strings.IndexByte(s[at+1:], '@') >= 0:
		return "has more than one @"
	case at == 0:
		return "has an empty local part"
	case at == len(s)-1:
		return "has an empty domain"
	}
	if len(s) > MaxAddress {
		return "is longer than 254 octets"
	}
	local, domain := s[:at], s[at+1:]
	if len(local) > MaxLocalPart {
		return "has a local part longer than 64 octets"
	}
	if len(domain) > MaxDomain {
		return "has a domain longer than 255 octets"
	}
	if p := localProblem(local); p != "" {
		return p
	}
	return domainProblem(domain)
}

func localProblem(l string) string {
	if l[0] == '.' || l[len(l)-1] == '.' || strings.Contains(l, "..") {
		return "has a local part with a leading, trailing or double dot"
	}
	for i, r := range l {
		switch {
		case r < utf8.RuneSelf:
			if !atext(byte(r)) && r != '.' {
				if r == ' ' || r == '\t' {
					return "has white space"
				}
				return "has a character not allowed in a local part: " + l[i:i+1]
			}
		case r == utf8.RuneError || !unicode.IsGraphic(r) || unicode.IsSpace(r):
			return "has a non-graphic or white-space character in the local part"
		}
	}
	return ""
}

func atext(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

func domainProblem(d string) string {
	if d[0] == '[' {
		return "has an address literal as domain; a domain name is required"
	}
	labels, last := 0, ""
	for rest := d; ; {
		label := rest
		i := strings.IndexByte(rest, '.')
		if i >= 0 {
			label, rest = rest[:i], rest[i+1:]
		}
		if label == "" {
			return "has an empty domain label (leading, trailing or double dot)"
		}
		if len(label) > 63 {
			return "has a domain label longer than 63 octets"
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "has a domain label that starts or ends with a hyphen"
		}
		for _, r := range label {
			switch {
			case r < utf8.RuneSelf:
				c := byte(r)
				if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
					if c == ' ' || c == '\t' {
						return "has white space"
					}
					return "has a character not allowed in a domain: " + string(r)
				}
			case r == utf8.RuneError || !unicode.IsGraphic(r) || unicode.IsSpace(r):
				return "has a non-graphic or white-space character in the domain"
			}
		}
		labels++
		last = label
		if i < 0 {
			break
		}
	}
	if labels < 2 {
		return "has a domain without a dot"
	}
	if strings.Trim(last, "0123456789") == "" {
		return "has an all-numeric top-level domain"
	}
	return ""
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// HasControl reports whether s holds a character CleanText changes: a C0
// control (U+0000-U+001F), DEL, a C1 control (U+0080-U+009F), a line or
// paragraph separator (U+2028, U+2029) or a bidirectional embedding,
// override or isolate (U+202A-U+202E, U+2066-U+2069). It does not allocate.
func HasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c < 0x20 || c == 0x7f:
			return true
		case c == 0xc2 || c == 0xe2:
			r, _ := utf8.DecodeRuneInString(s[i:])
			if isControl(r) {
				return true
			}
		}
	}
	return false
}

func isControl(r rune) bool {
	return r < 0x20 || r == 0x7f || 0x80 <= r && r <= 0x9f ||
		r == 0x2028 || r == 0x2029 || 0x202a <= r && r <= 0x202e || 0x2066 <= r && r <= 0x2069
}

// CleanText applies the control-character rule to a text value (names,
// titles and every other attribute that is not an address or a DN): tab,
// line feed, vertical tab, form feed, carriage return, NEL (U+0085) and the
// line and paragraph separators become a space; every other control
// character HasControl names is removed. changed is false (and s returned
// as is) when there was nothing to clean. In a value that is cleaned, an
// invalid UTF-8 byte becomes U+FFFD (extract rejects invalid UTF-8 before
// this rule applies).
func CleanText(s string) (cleaned string, changed bool) {
	if !HasControl(s) {
		return s, false
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			// an invalid byte becomes U+FFFD: kept as is, it could join the
			// bytes around a removed control into a new one ("\xc2\x01\x80"
			// would become U+0080; found by FuzzCleanText)
			b.WriteString("\uFFFD")
			i++
			continue
		}
		switch {
		case r == '\t' || r == '\n' || r == '\v' || r == '\f' || r == '\r' || r == 0x85 || r == 0x2028 || r == 0x2029:
			b.WriteByte(' ')
		case isControl(r):
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String(), true
}
