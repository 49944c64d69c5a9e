// Package analytics owns the optional analytics copy: persons,
// accounts_normalized and person_links with every PII column replaced by a
// keyed hash token (HMAC-SHA256, hex, truncated), for teams that must not see
// raw identities. Non-PII columns are copied as they are.
//
// The same value and key always give the same token, in every table and every
// run, so joins (person_id, account_key, emails) still work; without the key a
// token cannot be reversed or recomputed from a guessed value. Email-like
// columns are case-folded and trimmed before hashing. Empty values stay
// empty.
//
// The copies reuse the source row types (records.Person, ...), so their
// columns and types are those of the source tables; only the PII values are
// tokens. Tokenize is the pure core; Run does the I/O.
package analytics

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/otds-highspot/otds-highspot/internal/records"
)

// StageName is the stage that publishes the analytics tables.
const StageName = "analytics"

// TokenHexLen is the length of a token: 32 hex digits (128 bits).
const TokenHexLen = 32

// Table specs of the analytics copies.
var (
	PersonsSpec            = records.Spec{Name: "analytics_persons", Version: 1}
	AccountsNormalizedSpec = records.Spec{Name: "analytics_accounts_normalized", Version: 1}
	PersonLinksSpec        = records.Spec{Name: "analytics_person_links", Version: 1}
)

// DefaultColumns are the PII columns hashed per source table. A map column
// has its values hashed (keys are kept: they are attribute names).
var DefaultColumns = map[string][]string{
	records.PersonsSpec.Name: {
		"person_id", "primary_email", "emails", "employee_id", "given_name", "surname",
		"display_name", "account_keys", "source_of",
	},
	records.AccountsNormalizedSpec.Name: {
		"account_key", "dn", "source_id", "login", "login_qualified", "emails", "primary_email",
		"employee_id", "employee_id_key", "given_name", "surname", "display_name", "manager_dn",
	},
	records.PersonLinksSpec.Name: {
		"account_key", "dn", "person_id", "key", "detail",
	},
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

// emailColumn says whether a column holds email addresses (case-folded
// before hashing so that Ann@X.com and ann@x.com join).
func emailColumn(name string) bool { return strings.Contains(name, "email") }

// Tokenizer hashes the chosen columns of one row type.
type Tokenizer[T any] struct {
	h      *Hasher
	fields []tokField
}

type tokField struct {
	index int
	fold  bool
}

// NewTokenizer prepares hashing of columns (parquet column names) of T. An
// unknown column, or one whose type cannot hold a token (not a string, list
// of strings or map of strings), is an error.
func NewTokenizer[T any](h *Hasher, columns []string) (*Tokenizer[T], error) {
	typ := reflect.TypeFor[T]()
	byName := map[string]reflect.StructField{}
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("parquet"), ",")
		if name != "" && name != "-" {
			byName[name] = f
		}
	}
	tz := &Tokenizer[T]{h: h}
	seen := map[string]bool{}
	for _, c := range columns {
		if seen[c] {
			continue
		}
		seen[c] = true
		f, ok := byName[c]
		if !ok {
			return nil, fmt.Errorf("column %q is not a column of %s; known: %s", c, typ.Name(), strings.Join(sortedKeys(byName), ", "))
		}
		switch t := f.Type; {
		case t.Kind() == reflect.String,
			t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String,
			t.Kind() == reflect.Map && t.Key().Kind() == reflect.String && t.Elem().Kind() == reflect.String:
		default:
			return nil, fmt.Errorf("column %q of %s has type %s; only text columns can be hashed", c, typ.Name(), t)
		}
		tz.fields = append(tz.fields, tokField{index: f.Index[0], fold: emailColumn(c)})
	}
	return tz, nil
}

// Apply returns a copy of row with the chosen columns tokenized. Lists are
// hashed element by element (and re-sorted, so their order says nothing
// about the raw values); maps have their values hashed.
func (tz *Tokenizer[T]) Apply(row T) T {
	v := reflect.ValueOf(&row).Elem()
	for _, f := range tz.fields {
		fv := v.Field(f.index)
		switch fv.Kind() {
		case reflect.String:
			fv.SetString(tz.token(fv.String(), f.fold))
		case reflect.Slice:
			if fv.IsNil() {
				continue
			}
			out := make([]string, fv.Len())
			for i := range out {
				out[i] = tz.token(fv.Index(i).String(), f.fold)
			}
			sort.Strings(out)
			fv.Set(reflect.ValueOf(slices.Compact(out)))
		case reflect.Map:
			if fv.IsNil() {
				continue
			}
			out := make(map[string]string, fv.Len())
			it := fv.MapRange()
			for it.Next() {
				out[it.Key().String()] = tz.token(it.Value().String(), f.fold)
			}
			fv.Set(reflect.ValueOf(out))
		}
	}
	return row
}

func (tz *Tokenizer[T]) token(s string, fold bool) string {
	if fold {
		s = strings.ToLower(strings.TrimSpace(s))
	}
	return tz.h.Token(s)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
