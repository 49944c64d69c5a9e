// Package ldif owns the ldif source: a streaming reader of OTDS/OpenDJ LDIF
// exports (RFC 2849 content records: folded lines, base64 values, comments,
// CRLF) and the Source that turns oTPerson/oTGroup entries into rows through
// the shared entry mapping (extract/entry), exactly as the ldap source does.
package ldif

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Entry is one LDIF content record. Values are raw bytes as read (after
// base64 decoding), so they may be binary or not UTF-8; the Mapper decides.
type Entry struct {
	DN   string
	Line int // line number of the dn: line (1-based)
	// attrs holds the attributes in first-seen order, one per lower-cased
	// name (a small slice searched by id, not a map per entry: the map's
	// hashing and its ~2.6 KB of zeroed slots were a third of reading).
	attrs []attrVals
	// tab gives the id of a lower-cased name; nil until a reader sets it or
	// Add needs it. An attribute has id >= 0 exactly when its lower-cased
	// name is in tab.
	tab *nameTable
}

// attrVals is one attribute of an entry.
type attrVals struct {
	an   *attrName
	vals [][]byte
}

// nameTable maps lower-cased attribute names to ids. A table is never
// changed once an entry holds it: the reader replaces it by a larger copy
// when it meets a new name (rare after the first records), so entries may
// be read on another goroutine than the reader's.
type nameTable struct{ ids map[string]int32 }

// maxNameIDs bounds the names a reader gives ids; later new names (a file
// with a new attribute name per record) are found by comparing names.
const maxNameIDs = 1024

// Get returns the raw values of attribute name (case-insensitive), nil if
// absent; e.Get is an entry.Getter.
func (e *Entry) Get(name string) [][]byte {
	var buf [64]byte
	b, ok := foldASCII(buf[:0], name)
	if !ok {
		return e.getLower(strings.ToLower(name))
	}
	if e.tab != nil {
		if id, ok := e.tab.ids[string(b)]; ok { // no allocation: a map key
			for i := range e.attrs {
				if e.attrs[i].an.id == id {
					return e.attrs[i].vals
				}
			}
			return nil
		}
	}
	for i := range e.attrs {
		if a := &e.attrs[i]; a.an.id < 0 && a.an.lower == string(b) {
			return a.vals
		}
	}
	return nil
}

// nameID returns the id of name (case-insensitive) in e's name table, -1
// when it has none (Get then compares names). An id, once given by a
// reader, stays the name's in every later table of that reader.
func (e *Entry) nameID(name string) int32 {
	if e.tab == nil {
		return -1
	}
	var buf [64]byte
	b, ok := foldASCII(buf[:0], name)
	if !ok {
		b = []byte(strings.ToLower(name))
	}
	if id, ok := e.tab.ids[string(b)]; ok {
		return id
	}
	return -1
}

// getLower is Get for a lower-cased name.
func (e *Entry) getLower(lower string) [][]byte {
	if i := e.find(lower); i >= 0 {
		return e.attrs[i].vals
	}
	return nil
}

// find returns the index in attrs of the lower-cased name, -1 if absent.
func (e *Entry) find(lower string) int {
	id := int32(-1)
	if e.tab != nil {
		if v, ok := e.tab.ids[lower]; ok {
			id = v
		}
	}
	for i := range e.attrs {
		a := e.attrs[i].an
		if a.id == id && (id >= 0 || a.lower == lower) {
			return i
		}
	}
	return -1
}

// foldASCII appends name lower-cased to dst; ok is false when name is not
// ASCII or does not fit dst's capacity (then use strings.ToLower).
func foldASCII(dst []byte, name string) ([]byte, bool) {
	if len(name) > cap(dst)-len(dst) {
		return dst, false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 0x80 {
			return dst, false
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst, true
}

// Strings returns the values of attribute name as strings.
func (e *Entry) Strings(name string) []string {
	v := e.Get(name)
	if v == nil {
		return nil
	}
	out := make([]string, len(v))
	for i, b := range v {
		out[i] = string(b)
	}
	return out
}

// Names returns the attribute names in file order, as spelled on first use.
func (e *Entry) Names() []string {
	out := make([]string, len(e.attrs))
	for i := range e.attrs {
		out[i] = e.attrs[i].an.name
	}
	return out
}

// Add appends a value to attribute name.
func (e *Entry) Add(name string, value []byte) {
	lower := strings.ToLower(name)
	id := int32(-1)
	if e.tab != nil {
		if v, ok := e.tab.ids[lower]; ok {
			id = v
		}
	}
	e.addIn(&attrName{name: name, lower: lower, id: id}, value, nil)
}

// addIn appends a value to the attribute of a (whose id agrees with
// e.tab); the first value of an attribute takes a one-slot slice of slab
// (capacity 1, so a second value reallocates instead of writing past it)
// when slab is not nil.
func (e *Entry) addIn(a *attrName, value []byte, slab *valSlab) {
	// values of one attribute mostly come together: look at the last first
	if n := len(e.attrs); n > 0 && e.attrs[n-1].an.lower == a.lower {
		e.attrs[n-1].vals = append(e.attrs[n-1].vals, value)
		return
	}
	for i := range e.attrs {
		b := e.attrs[i].an
		if b == a || (b.id == a.id && (a.id >= 0 || b.lower == a.lower)) {
			e.attrs[i].vals = append(e.attrs[i].vals, value)
			return
		}
	}
	var v [][]byte
	if slab != nil {
		v = slab.one(value)
	} else {
		v = [][]byte{value}
	}
	e.attrs = append(e.attrs, attrVals{an: a, vals: v})
}

// valSlab hands out one-value slices from shared chunks (one allocation per
// 1024 attributes instead of one per attribute). Chunks are never reused, so
// the slices of entries handed out stay valid.
type valSlab struct{ chunk [][]byte }

func (s *valSlab) one(value []byte) [][]byte {
	if len(s.chunk) == cap(s.chunk) {
		s.chunk = make([][]byte, 0, 1024)
	}
	s.chunk = append(s.chunk, value)
	n := len(s.chunk)
	return s.chunk[n-1 : n : n]
}

// HasObjectClass reports whether the entry's objectClass holds class
// (case-insensitive).
func (e *Entry) HasObjectClass(class string) bool {
	for _, v := range e.Get("objectClass") {
		if strings.EqualFold(strings.TrimSpace(string(v)), class) {
			return true
		}
	}
	return false
}

// RecordError is a malformed record. The reader has skipped the whole record,
// so the caller may reject it and call Next again.
type RecordError struct {
	Line   int    // line where the record starts
	DN     string // "" when the dn itself was unreadable
	Code   string // bad_line | bad_base64 | bad_utf8 | url_value | change_record | missing_dn
	Reason string
	// Entry holds what was parsed of the record (for its objectClass), may be nil.
	Entry *Entry
}

func (e *RecordError) Error() string {
	if e.DN != "" {
		return fmt.Sprintf("ldif line %d (%s): %s", e.Line, e.DN, e.Reason)
	}
	return fmt.Sprintf("ldif line %d: %s", e.Line, e.Reason)
}

// MaxLineBytes bounds one physical line (a longer line is a read error).
const MaxLineBytes = 64 << 20

// Reader reads LDIF content records one at a time, never the file whole.
type Reader struct {
	sc      *bufio.Scanner
	line    int  // physical lines read
	first   bool // no record returned yet (version: allowed)
	pending []byte
	hasPend bool
	// arena holds the bytes of lines and values; chunks are never reused, so
	// values handed out stay valid (one allocation per 64 KiB, not per value).
	arena []byte
	// names interns attribute names: spelled -> lower-cased and id.
	names map[string]*attrName
	// tab gives ids to lower-cased names (see nameTable).
	tab *nameTable
	// nattrs is the attribute count of the last entry (a capacity hint).
	nattrs int
	slab   valSlab // first values of attributes
	// prevName is the name of the last attribute line (intern's guess)
	prevName *attrName
	pendAt   int
	eof      bool
}

// NewReader reads LDIF from r.
func NewReader(r io.Reader) *Reader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLineBytes)
	return &Reader{sc: sc, first: true, names: map[string]*attrName{}, tab: &nameTable{ids: map[string]int32{}}}
}

// copyBytes copies b into the arena.
func (r *Reader) copyBytes(b []byte) []byte {
	if len(r.arena)+len(b) > cap(r.arena) {
		r.arena = make([]byte, 0, max(64<<10, len(b)))
	}
	start := len(r.arena)
	r.arena = append(r.arena, b...)
	return r.arena[start:len(r.arena):len(r.arena)]
}

// attrName is an attribute name as spelled, lower-cased, and the id of the
// lower-cased name in the reader's nameTable (-1: none).
type attrName struct {
	name, lower string
	id          int32
	// next is the name read after this one the last time (written by the
	// reader's goroutine only): files repeat the order of attributes from
	// record to record, so it is nearly always the next name again.
	next *attrName
}

// intern returns the attribute name, its lower-cased form and id, allocating
// only for names not seen before.
func (r *Reader) intern(b []byte) *attrName {
	if p := r.prevName; p != nil && p.next != nil && p.next.name == string(b) {
		r.prevName = p.next
		return p.next
	}
	a := r.lookup(b)
	if r.prevName != nil {
		r.prevName.next = a
	}
	r.prevName = a
	return a
}

// lookup is intern without the guess.
func (r *Reader) lookup(b []byte) *attrName {
	if a, ok := r.names[string(b)]; ok {
		return a
	}
	a := &attrName{name: string(b), lower: strings.ToLower(string(b)), id: -1}
	if id, ok := r.tab.ids[a.lower]; ok {
		a.id = id
	} else if len(r.tab.ids) < maxNameIDs {
		// a new table: entries already returned keep the one they hold
		ids := make(map[string]int32, len(r.tab.ids)+1)
		for k, v := range r.tab.ids {
			ids[k] = v
		}
		a.id = int32(len(ids))
		ids[a.lower] = a.id
		r.tab = &nameTable{ids: ids}
	}
	if len(r.names) < 4096 {
		r.names[a.name] = a
	}
	return a
}

// logical reads the next logical line (folded lines joined, CR stripped,
// comments dropped). It returns blank=true for an empty line (record
// separator) and io.EOF at the end.
func (r *Reader) logical() (text []byte, at int, blank bool, err error) {
	for {
		var cur []byte
		var curAt int
		if r.hasPend {
			cur, curAt, r.pending, r.hasPend = r.pending, r.pendAt, nil, false
		} else {
			if r.eof {
				return nil, r.line, false, io.EOF
			}
			if !r.sc.Scan() {
				r.eof = true
				if err := r.sc.Err(); err != nil {
					return nil, r.line, false, fmt.Errorf("read ldif after line %d: %w", r.line, err)
				}
				return nil, r.line, false, io.EOF
			}
			r.line++
			cur = r.copyBytes(bytes.TrimSuffix(r.sc.Bytes(), []byte("\r")))
			curAt = r.line
		}
		if len(cur) == 0 {
			return nil, curAt, true, nil
		}
		// Join continuation lines (a line starting with one space).
		for !r.eof {
			if !r.sc.Scan() {
				r.eof = true
				if err := r.sc.Err(); err != nil {
					return nil, r.line, false, fmt.Errorf("read ldif after line %d: %w", r.line, err)
				}
				break
			}
			r.line++
			next := bytes.TrimSuffix(r.sc.Bytes(), []byte("\r"))
			if len(next) > 0 && next[0] == ' ' {
				cur = append(cur, next[1:]...)
				continue
			}
			r.pending, r.pendAt, r.hasPend = r.copyBytes(next), r.line, true
			break
		}
		if cur[0] == '#' {
			continue // comment (folded comments included)
		}
		return cur, curAt, false, nil
	}
}

// Next returns the next content record, a *RecordError for a malformed record
// (skipped; call Next again), another error when reading failed, or io.EOF.
func (r *Reader) Next() (*Entry, error) {
	var e *Entry
	var rerr *RecordError
	start := 0
	for {
		text, at, blank, err := r.logical()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if blank {
			if e == nil && rerr == nil {
				continue // blank lines between records
			}
			break
		}
		if rerr != nil {
			continue // skip the rest of a bad record
		}
		nameB, value, isB64, isURL, ok := splitAttr(text)
		var an *attrName
		name := ""
		if ok {
			an = r.intern(nameB)
			name = an.name
		}
		if e == nil {
			start = at
			if !ok {
				rerr = &RecordError{Line: at, Code: "bad_line", Reason: fmt.Sprintf("expected \"dn:\", got %q", truncate(string(text), 60))}
				continue
			}
			if strings.EqualFold(name, "version") && r.first {
				r.first = false
				continue
			}
			if !strings.EqualFold(name, "dn") {
				rerr = &RecordError{Line: at, Code: "missing_dn", Reason: fmt.Sprintf("record does not start with dn: (got %q)", name)}
				continue
			}
			dn, err := r.decodeValue(value, isB64, isURL)
			if err != nil {
				rerr = &RecordError{Line: at, Code: codeOf(err), Reason: "dn: " + err.Error()}
				continue
			}
			if !utf8.Valid(dn) {
				rerr = &RecordError{Line: at, Code: "bad_utf8", Reason: "dn is not valid UTF-8", DN: strings.ToValidUTF8(string(dn), "\uFFFD")}
				continue
			}
			e = &Entry{DN: string(dn), Line: at, attrs: make([]attrVals, 0, max(r.nattrs, 8))}
			continue
		}
		if !ok {
			rerr = &RecordError{Line: at, DN: e.DN, Code: "bad_line", Reason: fmt.Sprintf("attribute line without a colon: %q", truncate(string(text), 60)), Entry: e}
			continue
		}
		if an.lower == "changetype" || an.lower == "control" {
			rerr = &RecordError{Line: start, DN: e.DN, Code: "change_record", Reason: "LDIF change records are not an export; only content records are read", Entry: e}
			continue
		}
		v, err := r.decodeValue(value, isB64, isURL)
		if err != nil {
			rerr = &RecordError{Line: at, DN: e.DN, Code: codeOf(err), Reason: fmt.Sprintf("attribute %s: %v", name, err), Entry: e}
			continue
		}
		e.addIn(an, v, &r.slab)
	}
	r.first = false
	if e != nil {
		// the table that holds every id given to e's names
		e.tab = r.tab
		r.nattrs = len(e.attrs)
	}
	if rerr != nil {
		if rerr.Line == 0 {
			rerr.Line = start
		}
		return nil, rerr
	}
	if e == nil {
		return nil, io.EOF
	}
	return e, nil
}

type codedError struct{ code, msg string }

func (c codedError) Error() string { return c.msg }

func codeOf(err error) string {
	var c codedError
	if errors.As(err, &c) {
		return c.code
	}
	return "bad_line"
}

func (r *Reader) decodeValue(value []byte, isB64, isURL bool) ([]byte, error) {
	switch {
	case isURL:
		return nil, codedError{"url_value", fmt.Sprintf("URL values (%q) are not supported; export with the values inline", truncate(strings.TrimSpace(string(value)), 60))}
	case isB64:
		v := bytes.TrimSpace(value)
		// decoded into the arena (never reused), not a slice per value
		dl := base64.StdEncoding.DecodedLen(len(v))
		if len(r.arena)+dl > cap(r.arena) {
			r.arena = make([]byte, 0, max(64<<10, dl))
		}
		start := len(r.arena)
		b := r.arena[start : start+dl]
		n, err := base64.StdEncoding.Decode(b, v)
		if err != nil {
			return nil, codedError{"bad_base64", fmt.Sprintf("bad base64 value: %v", err)}
		}
		r.arena = r.arena[:start+n]
		return b[:n:n], nil
	}
	// The line is owned by the reader (arena or a fresh fold buffer), so the
	// value can be a slice of it.
	return bytes.TrimLeft(value, " "), nil
}

// splitAttr splits "name: value", "name:: b64" or "name:< url".
func splitAttr(line []byte) (name []byte, value []byte, isB64, isURL, ok bool) {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return nil, nil, false, false, false
	}
	name = line[:i]
	rest := line[i+1:]
	switch {
	case len(rest) > 0 && rest[0] == ':':
		return name, rest[1:], true, false, true
	case len(rest) > 0 && rest[0] == '<':
		return name, rest[1:], false, true, true
	}
	return name, rest, false, false, true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
