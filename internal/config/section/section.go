// Package section holds what every configuration section needs and nothing
// else, so that a stage or source can own its section (struct, defaults,
// Validate, docs) beside its code without importing internal/config:
// Error/Errors (a key and what to do; internal/config adds file:line),
// SecretRef/Secret and the name checks shared by sections.
package section

import (
	"fmt"
	"strings"
)

// Error is one configuration problem: where it is and what to do.
type Error struct {
	File string // file name, "" when unknown
	Line int    // 1-based line, 0 when unknown
	Key  string // dotted key path, e.g. trees[1].ldap.url
	Msg  string // what is wrong and what to do
}

func (e Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is a list of configuration problems, reported together.
type Errors []Error

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return "invalid configuration:\n  " + strings.Join(msgs, "\n  ")
}

// ValidAttrName reports whether s is an LDAP attribute or object class name
// (a letter, then letters, digits, '-', ';' or '.'; at most 128 bytes).
func ValidAttrName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || (i > 0 && (r >= '0' && r <= '9' || r == '-' || r == ';' || r == '.'))
		if !ok {
			return false
		}
	}
	return true
}
