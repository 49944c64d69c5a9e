// Package analytics owns the optional analytics copy: persons,
// accounts_normalized and person_links for teams that must not see raw
// identities. It is deny by default: every column is hashed, generalised or
// copied in clear only because it is on the allow-list (DefaultAllow, or
// operate.analytics.allow per table):
//
//   - text (strings, lists of strings, map values) not allowed becomes a keyed
//     hash token (HMAC-SHA256, hex, truncated); a map column's entries are
//     allowed one key at a time ("attributes.cost_center"), the others hashed;
//   - timestamps not allowed are generalised to their day (UTC midnight);
//   - any other column not allowed (booleans, numbers) is zeroed.
//
// The same value and key always give the same token, in every table and every
// run, so joins (person_id, account_key, emails) and group-bys still work;
// without the key a token cannot be reversed or recomputed from a guessed
// value. Email-like columns and map keys are case-folded and trimmed before
// hashing. Empty values stay empty.
//
// The copies reuse the source row types (contract.Person, ...), so their
// columns and types are those of the source tables. Tokenize is the pure
// core; Run does the I/O.
package analytics

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/contract"
)

// TokenHexLen is the length of a token: 32 hex digits (128 bits).
const TokenHexLen = 32

// Table specs of the analytics copies.
var (
	PersonsSpec            = contract.Spec{Name: "analytics_persons", Version: 1}
	AccountsNormalizedSpec = contract.Spec{Name: "analytics_accounts_normalized", Version: 1}
	PersonLinksSpec        = contract.Spec{Name: "analytics_person_links", Version: 1}
)

// DefaultAllow are the columns copied in clear per source table when
// operate.analytics.allow does not name the table: only values the program
// itself writes from a closed vocabulary (tree names from the configuration,
// statuses, match rule names). Everything else taken from the directory,
// including title, department, region, role, groups and every attribute, is
// hashed unless a deployment allows it.
var DefaultAllow = map[string][]string{
	contract.PersonsSpec.Name:            {"status", "is_service", "primary_tree", "trees"},
	contract.AccountsNormalizedSpec.Name: {"tree", "status", "is_service"},
	contract.PersonLinksSpec.Name:        {"tree", "rule"},
}

// Hasher makes tokens with one key.
type Hasher struct {
	mac hash.Hash
}

// NewHasher returns a Hasher for key (at least 16 bytes).
func NewHasher(key []byte) (*Hasher, error) {
	if len(key) < 16 {
		return nil, fmt.Errorf("analytics key is %d bytes; use at least 16 random bytes (e.g. `openssl rand -hex 32`)", len(key))
	}
	return &Hasher{mac: hmac.New(sha256.New, key)}, nil
}

// Token hashes one value: "" stays "". A Hasher is not safe for concurrent use.
func (h *Hasher) Token(v string) string {
	if v == "" {
		return ""
	}
	h.mac.Reset()
	h.mac.Write([]byte(v))
	return hex.EncodeToString(h.mac.Sum(nil))[:TokenHexLen]
}

// emailColumn says whether a column (or map key) holds email addresses
// (case-folded before hashing so that Ann@X.com and ann@x.com join).
func emailColumn(name string) bool {
	n := strings.ToLower(name)
	return strings.Contains(n, "email") || strings.Contains(n, "mail")
}

// Tokenizer applies the deny-by-default policy to rows of one type.
type Tokenizer[T any] struct {
	h      *Hasher
	fields []tokField
}

type tokField struct {
	index   int
	kind    int             // what to do with the column
	fold    bool            // case-fold before hashing
	allowed map[string]bool // map columns: keys copied in clear
}

// Column treatments.
const (
	keep = iota
	hashText
	dayOnly
	zero
)

var timePtrType = reflect.TypeFor[*time.Time]()

// NewTokenizer prepares the policy for T: the columns (parquet names) in
// allow are copied in clear, "column.key" entries allow single keys of a map
// column; every other column is hashed, generalised or zeroed (see the
// package comment). An entry naming no column of T, or a key of a column
// that is not a map, is an error.
func NewTokenizer[T any](h *Hasher, allow []string) (*Tokenizer[T], error) {
	typ := reflect.TypeFor[T]()
	byName := map[string]reflect.StructField{}
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("parquet"), ",")
		if name != "" && name != "-" {
			byName[name] = f
		}
	}
	whole := map[string]bool{}
	keys := map[string]map[string]bool{}
	for _, a := range allow {
		col, key, hasKey := strings.Cut(a, ".")
		f, ok := byName[col]
		if !ok {
			return nil, fmt.Errorf("allow %q: %q is not a column of %s; known: %s", a, col, typ.Name(), strings.Join(slices.Sorted(maps.Keys(byName)), ", "))
		}
		if !hasKey {
			whole[col] = true
			continue
		}
		if f.Type.Kind() != reflect.Map || key == "" {
			return nil, fmt.Errorf("allow %q: only map columns have keys (%s is %s)", a, col, f.Type)
		}
		if keys[col] == nil {
			keys[col] = map[string]bool{}
		}
		keys[col][key] = true
	}
	tz := &Tokenizer[T]{h: h}
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		f := byName[name]
		tf := tokField{index: f.Index[0], fold: emailColumn(name), allowed: keys[name]}
		t := f.Type
		switch {
		case whole[name]:
			tf.kind = keep
		case t.Kind() == reflect.String,
			t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String,
			t.Kind() == reflect.Map && t.Key().Kind() == reflect.String && t.Elem().Kind() == reflect.String:
			tf.kind = hashText
		case t == timePtrType:
			tf.kind = dayOnly
		default:
			tf.kind = zero
		}
		if tf.kind != keep {
			tz.fields = append(tz.fields, tf)
		}
	}
	return tz, nil
}

// Apply returns a copy of row with the policy applied. Lists are hashed
// element by element (and re-sorted, so their order says nothing about the
// raw values); maps keep their keys, allowed keys keep their values, the
// other values are hashed.
func (tz *Tokenizer[T]) Apply(row T) T {
	v := reflect.ValueOf(&row).Elem()
	for _, f := range tz.fields {
		fv := v.Field(f.index)
		switch f.kind {
		case zero:
			fv.SetZero()
		case dayOnly:
			if fv.IsNil() {
				continue
			}
			d := fv.Interface().(*time.Time).UTC().Truncate(24 * time.Hour)
			fv.Set(reflect.ValueOf(&d))
		case hashText:
			tz.hash(fv, f)
		}
	}
	return row
}

func (tz *Tokenizer[T]) hash(fv reflect.Value, f tokField) {
	switch fv.Kind() {
	case reflect.String:
		fv.SetString(tz.token(fv.String(), f.fold))
	case reflect.Slice:
		if fv.IsNil() {
			return
		}
		out := make([]string, fv.Len())
		for i := range out {
			out[i] = tz.token(fv.Index(i).String(), f.fold)
		}
		sort.Strings(out)
		fv.Set(reflect.ValueOf(slices.Compact(out)))
	case reflect.Map:
		if fv.IsNil() {
			return
		}
		out := make(map[string]string, fv.Len())
		it := fv.MapRange()
		for it.Next() {
			k, val := it.Key().String(), it.Value().String()
			if !f.allowed[k] {
				val = tz.token(val, f.fold || emailColumn(k))
			}
			out[k] = val
		}
		fv.Set(reflect.ValueOf(out))
	}
}

func (tz *Tokenizer[T]) token(s string, fold bool) string {
	if fold {
		s = strings.ToLower(strings.TrimSpace(s))
	}
	return tz.h.Token(s)
}
