package highspot

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/otds-highspot/otds-highspot/load/highspot/wire"
)

// decodeUserPage decodes a REST page of users, {"counts_total": N,
// "collection": [user, ...]}, in one pass over body: what decoding it as a
// wire.Collection[json.RawMessage] and then each item as a wire.User
// (decodeItems) gives, raws being sub-slices of body. It knows only the
// plain shape Highspot sends (keys spelled as documented, without escapes,
// items that are objects, values of the documented types); for any other
// body, valid or not, ok is false and the caller decodes it the general way,
// so whatever that accepts or reports (a malformed page, a field of the
// wrong type) stays exactly as it was. FuzzDecodeUserPage holds it to that.
func decodeUserPage(body []byte) (page[wire.User], bool) {
	d := pageDecoder{b: body}
	var pg page[wire.User]
	if !d.envelope(&pg.countsTotal, &pg.raws, &pg.items) {
		return page[wire.User]{}, false
	}
	if pg.items == nil { // no collection: as decodeItems makes them
		pg.items = []wire.User{}
	}
	pg.ids = make([]string, len(pg.items))
	for i := range pg.items {
		pg.ids[i] = pg.items[i].ID
	}
	return pg, true
}

// pageDecoder walks one page; every method returns false as soon as the
// input leaves the shape decodeUserPage knows.
type pageDecoder struct {
	b []byte
	i int
}

// maxSkipDepth bounds the nesting of the unknown values skipped (deeper
// pages go the general way).
const maxSkipDepth = 64

var (
	envelopeKeys = []string{"counts_total", "collection"}
	userKeys     = []string{"id", "name", "surname", "display_name", "email", "groups", "suspended", "verified"}
)

func (d *pageDecoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// next skips whitespace and reports the next byte (0 at the end).
func (d *pageDecoder) next() byte {
	d.ws()
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

// consume skips whitespace and c, or fails.
func (d *pageDecoder) consume(c byte) bool {
	if d.next() != c {
		return false
	}
	d.i++
	return true
}

func (d *pageDecoder) envelope(countsTotal *int, raws *[]json.RawMessage, items *[]wire.User) bool {
	if !d.consume('{') {
		return false
	}
	sawTotal, sawColl := false, false
	if d.next() == '}' {
		d.i++
	} else {
		for {
			key, ok := d.key(envelopeKeys)
			if !ok {
				return false
			}
			switch key {
			case "counts_total":
				if sawTotal {
					return false
				}
				sawTotal = true
				if !d.intOrNull(countsTotal) {
					return false
				}
			case "collection":
				if sawColl {
					return false
				}
				sawColl = true
				if !d.collection(raws, items) {
					return false
				}
			default:
				if !d.skip(0) {
					return false
				}
			}
			if d.consume(',') {
				continue
			}
			if !d.consume('}') {
				return false
			}
			break
		}
	}
	d.ws()
	return d.i == len(d.b)
}

// key reads an object key and its colon. A key with an escape or a
// non-ASCII byte, or one that differs from a known key only in case (which
// encoding/json would match), fails.
func (d *pageDecoder) key(known []string) (string, bool) {
	raw, plain, ok := d.str()
	if !ok || !plain {
		return "", false
	}
	for _, c := range raw {
		if c >= utf8.RuneSelf {
			return "", false
		}
	}
	if !d.consume(':') {
		return "", false
	}
	for _, k := range known {
		if string(raw) == k {
			return k, true
		}
		if bytes.EqualFold(raw, []byte(k)) {
			return "", false
		}
	}
	return "", true // an unknown key: its value is skipped
}

// str reads a string token (d.next() must be '"'): raw is its content
// between the quotes, plain says it holds no escape and only valid UTF-8
// (so it decodes to itself).
func (d *pageDecoder) str() (raw []byte, plain, ok bool) {
	if d.next() != '"' {
		return nil, false, false
	}
	start := d.i + 1
	plain, ascii := true, true
	for j := start; j < len(d.b); j++ {
		switch c := d.b[j]; {
		case c == '"':
			raw = d.b[start:j]
			d.i = j + 1
			if !ascii && !utf8.Valid(raw) {
				plain = false
			}
			return raw, plain, true
		case c == '\\':
			plain = false
			j++
			if j >= len(d.b) {
				return nil, false, false
			}
			switch d.b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(d.b) {
					return nil, false, false
				}
				for _, h := range d.b[j+1 : j+5] {
					if !isHex(h) {
						return nil, false, false
					}
				}
				j += 4
			default:
				return nil, false, false
			}
		case c < 0x20:
			return nil, false, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false, false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// stringOrNull reads a string value into *s (null leaves it, as
// encoding/json does). A string with escapes or invalid UTF-8 is unquoted
// by encoding/json itself.
func (d *pageDecoder) stringOrNull(s *string) bool {
	if d.next() == 'n' {
		return d.lit("null")
	}
	from := d.i
	raw, plain, ok := d.str()
	if !ok {
		return false
	}
	if plain {
		*s = string(raw)
		return true
	}
	return json.Unmarshal(d.b[from:d.i], s) == nil
}

// boolOrNull reads true or false into *v (null leaves it).
func (d *pageDecoder) boolOrNull(v *bool) bool {
	switch d.next() {
	case 't':
		*v = true
		return d.lit("true")
	case 'f':
		*v = false
		return d.lit("false")
	case 'n':
		return d.lit("null")
	}
	return false
}

// lit reads the literal s (what may follow it is checked by the caller,
// which expects a comma or a closing bracket).
func (d *pageDecoder) lit(s string) bool {
	if len(d.b)-d.i < len(s) || string(d.b[d.i:d.i+len(s)]) != s {
		return false
	}
	d.i += len(s)
	return true
}

// number reads a JSON number; integer says it has no fraction or exponent.
func (d *pageDecoder) number() (raw []byte, integer, ok bool) {
	d.ws()
	start, j := d.i, d.i
	if j < len(d.b) && d.b[j] == '-' {
		j++
	}
	switch {
	case j < len(d.b) && d.b[j] == '0':
		j++
	case j < len(d.b) && '1' <= d.b[j] && d.b[j] <= '9':
		for j < len(d.b) && '0' <= d.b[j] && d.b[j] <= '9' {
			j++
		}
	default:
		return nil, false, false
	}
	integer = true
	if j < len(d.b) && d.b[j] == '.' {
		integer = false
		j++
		if j >= len(d.b) || d.b[j] < '0' || d.b[j] > '9' {
			return nil, false, false
		}
		for j < len(d.b) && '0' <= d.b[j] && d.b[j] <= '9' {
			j++
		}
	}
	if j < len(d.b) && (d.b[j] == 'e' || d.b[j] == 'E') {
		integer = false
		j++
		if j < len(d.b) && (d.b[j] == '+' || d.b[j] == '-') {
			j++
		}
		if j >= len(d.b) || d.b[j] < '0' || d.b[j] > '9' {
			return nil, false, false
		}
		for j < len(d.b) && '0' <= d.b[j] && d.b[j] <= '9' {
			j++
		}
	}
	d.i = j
	return d.b[start:j], integer, true
}

// intOrNull reads an integer that fits an int into *v (null leaves it).
func (d *pageDecoder) intOrNull(v *int) bool {
	if d.next() == 'n' {
		return d.lit("null")
	}
	raw, integer, ok := d.number()
	if !ok || !integer {
		return false
	}
	n, err := strconv.ParseInt(string(raw), 10, strconv.IntSize)
	if err != nil {
		return false
	}
	*v = int(n)
	return true
}

// collection reads the array of users (null and non-object items fail).
func (d *pageDecoder) collection(raws *[]json.RawMessage, items *[]wire.User) bool {
	if !d.consume('[') {
		return false
	}
	*raws, *items = make([]json.RawMessage, 0, 100), make([]wire.User, 0, 100)
	if d.consume(']') {
		return true
	}
	for {
		if d.next() != '{' {
			return false
		}
		start := d.i
		var u wire.User
		if !d.user(&u) {
			return false
		}
		*raws = append(*raws, d.b[start:d.i:d.i])
		*items = append(*items, u)
		if d.consume(',') {
			continue
		}
		return d.consume(']')
	}
}

// user reads one user object; a later duplicate key wins, as in
// encoding/json.
func (d *pageDecoder) user(u *wire.User) bool {
	if !d.consume('{') {
		return false
	}
	if d.consume('}') {
		return true
	}
	for {
		key, ok := d.key(userKeys)
		if !ok {
			return false
		}
		switch key {
		case "id":
			ok = d.stringOrNull(&u.ID)
		case "name":
			ok = d.stringOrNull(&u.Name)
		case "surname":
			ok = d.stringOrNull(&u.Surname)
		case "display_name":
			ok = d.stringOrNull(&u.DisplayName)
		case "email":
			ok = d.stringOrNull(&u.Email)
		case "groups":
			ok = d.groups(&u.Groups)
		case "suspended":
			ok = d.boolOrNull(&u.Suspended)
		case "verified":
			ok = d.verified(&u.Verified)
		default:
			ok = d.skip(0)
		}
		if !ok {
			return false
		}
		if d.consume(',') {
			continue
		}
		return d.consume('}')
	}
}

// groups reads an array of strings (null: nil, [] an empty slice, as
// encoding/json; a null or non-string element fails).
func (d *pageDecoder) groups(g *[]string) bool {
	if d.next() == 'n' {
		*g = nil
		return d.lit("null")
	}
	if !d.consume('[') {
		return false
	}
	out := []string{}
	if d.consume(']') {
		*g = out
		return true
	}
	for {
		var s string
		if d.next() != '"' || !d.stringOrNull(&s) {
			return false
		}
		out = append(out, s)
		if d.consume(',') {
			continue
		}
		if !d.consume(']') {
			return false
		}
		*g = out
		return true
	}
}

// verified reads true or false as a new *bool, null as nil.
func (d *pageDecoder) verified(v **bool) bool {
	if d.next() == 'n' {
		*v = nil
		return d.lit("null")
	}
	var b bool
	if !d.boolOrNull(&b) {
		return false
	}
	*v = &b
	return true
}

// skip passes over any valid JSON value.
func (d *pageDecoder) skip(depth int) bool {
	switch c := d.next(); {
	case c == '"':
		_, _, ok := d.str()
		return ok
	case c == '-' || '0' <= c && c <= '9':
		_, _, ok := d.number()
		return ok
	case c == 't':
		return d.lit("true")
	case c == 'f':
		return d.lit("false")
	case c == 'n':
		return d.lit("null")
	case c == '[':
		if depth >= maxSkipDepth {
			return false
		}
		d.i++
		if d.consume(']') {
			return true
		}
		for {
			if !d.skip(depth + 1) {
				return false
			}
			if d.consume(',') {
				continue
			}
			return d.consume(']')
		}
	case c == '{':
		if depth >= maxSkipDepth {
			return false
		}
		d.i++
		if d.consume('}') {
			return true
		}
		for {
			if _, _, ok := d.str(); !ok || !d.consume(':') || !d.skip(depth+1) {
				return false
			}
			if d.consume(',') {
				continue
			}
			return d.consume('}')
		}
	}
	return false
}
