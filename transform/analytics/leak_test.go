package analytics_test

import (
	"context"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/config"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/store"
	"github.com/otds-highspot/otds-highspot/transform/analytics"
)

// vocabulary are the columns the defaults copy in clear: values the program
// writes from a closed set (configured tree names, statuses, rule names), never
// directory text. Widening DefaultAllow must be a decision made here too.
var vocabulary = map[string]map[string]string{
	"persons":             {"status": "enabled", "primary_tree": "acme", "trees": "acme", "is_service": ""},
	"accounts_normalized": {"tree": "acme", "status": "enabled", "is_service": ""},
	"person_links":        {"tree": "acme", "rule": "external_id"},
}

// fill sets every text column of row to the identifier (lists: two values,
// maps: the identifier under external_id, mail and a plain key), vocabulary
// columns to their vocabulary value, timestamps and booleans to set values.
func fill[T any](table, id string) T {
	var row T
	v := reflect.ValueOf(&row).Elem()
	for i := 0; i < v.NumField(); i++ {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("parquet"), ",")
		f := v.Field(i)
		text := id
		if w, ok := vocabulary[table][name]; ok {
			text = w
		}
		switch f.Kind() {
		case reflect.String:
			f.SetString(text)
		case reflect.Slice:
			if f.Type().Elem().Kind() == reflect.String {
				f.Set(reflect.ValueOf([]string{text, "x-" + text}))
			}
		case reflect.Map:
			f.Set(reflect.ValueOf(map[string]string{"external_id": text, "mail": strings.ToUpper(text), "cost_center": "cc " + text}))
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Pointer:
			t := time.Date(2026, 3, 1, 14, 30, 5, 0, time.UTC)
			f.Set(reflect.ValueOf(&t))
		}
	}
	return row
}

// cells lists every string cell of row (strings, list elements, map keys and
// values) with its column.
func cells(row any) map[string][]string {
	out := map[string][]string{}
	v := reflect.ValueOf(row)
	for i := 0; i < v.NumField(); i++ {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("parquet"), ",")
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			out[name] = append(out[name], f.String())
		case reflect.Slice:
			for j := 0; j < f.Len(); j++ {
				if f.Index(j).Kind() == reflect.String {
					out[name] = append(out[name], f.Index(j).String())
				}
			}
		case reflect.Map:
			it := f.MapRange()
			for it.Next() {
				out[name] = append(out[name], it.Key().String(), it.Value().String())
			}
		}
	}
	return out
}

// TestAnalyticsNeverLeaksAnIdentifier puts a known identifier into every
// source column and map value of persons, accounts_normalized and
// person_links, runs the analytics stage with the defaults, and scans every
// string cell of every analytics table: the identifier appears nowhere, in
// any case (before: with external_id as a match key,
// analytics_persons.attributes held `external_id: jdoe@acme.com` in clear
// in every row). Allowing one map key puts that key, and only it, in clear.
func TestAnalyticsNeverLeaksAnIdentifier(t *testing.T) {
	const id = "JDoe@Acme.com"
	for table, allow := range analytics.DefaultAllow {
		var want []string
		for c := range vocabulary[table] {
			want = append(want, c)
		}
		sort.Strings(want)
		got := slices.Sorted(slices.Values(allow))
		if !slices.Equal(got, want) {
			t.Fatalf("DefaultAllow[%s] = %v, want %v: a column copied in clear by default must hold program vocabulary only", table, got, want)
		}
	}

	ctx := context.Background()
	st, err := store.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const runID = "20260301T020000Z-leak"
	env := artifact.Env{Store: st, RunID: runID, TempDir: t.TempDir()}
	s := artifact.NewStage(env, "transform")
	pw, _ := artifact.OpenTable[contract.Person](s, contract.PersonsSpec)
	aw, _ := artifact.OpenTable[contract.AccountNormalized](s, contract.AccountsNormalizedSpec)
	lw, err := artifact.OpenTable[contract.PersonLink](s, contract.PersonLinksSpec)
	if err != nil {
		t.Fatal(err)
	}
	for range 28 {
		for _, err := range []error{
			pw.Write(fill[contract.Person]("persons", id)),
			aw.Write(fill[contract.AccountNormalized]("accounts_normalized", id)),
			lw.Write(fill[contract.PersonLink]("person_links", id)),
		} {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, _, err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name      string
		allow     map[string][]string
		clearKeys int // cells per persons row allowed to show the identifier
	}{
		{"defaults", nil, 0},
		{"attributes.cost_center allowed", map[string][]string{"persons": {"status", "primary_tree", "trees", "is_service", "attributes.cost_center"}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := env
			env.RunID = runID
			if tc.allow != nil {
				env.RunID = runID + "2"
				copyTransform(t, st, runID, env.RunID)
			}
			opts, err := analytics.OptionsFromConfig(config.Analytics{Enabled: true, Key: config.SecretRef{Env: "K"}, Allow: tc.allow},
				func(string) string { return key })
			if err != nil {
				t.Fatal(err)
			}
			if _, err := analytics.Run(ctx, env, opts); err != nil {
				t.Fatal(err)
			}
			m, _, err := artifact.ReadManifest(ctx, st, env.RunID, contract.Analytics)
			if err != nil {
				t.Fatal(err)
			}
			leaks := map[string]int{}
			scan := func(table string, row any) {
				for col, vals := range cells(row) {
					for _, v := range vals {
						if strings.Contains(strings.ToLower(v), "jdoe") {
							leaks[table+"."+col]++
						}
					}
				}
			}
			rows := 0
			check := func(err error) {
				if err != nil {
					t.Fatal(err)
				}
			}
			check(artifact.ReadTable(ctx, st, m, analytics.PersonsSpec, func(r contract.Person) error { rows++; scan("analytics_persons", r); return nil }))
			check(artifact.ReadTable(ctx, st, m, analytics.AccountsNormalizedSpec, func(r contract.AccountNormalized) error {
				rows++
				scan("analytics_accounts_normalized", r)
				return nil
			}))
			check(artifact.ReadTable(ctx, st, m, analytics.PersonLinksSpec, func(r contract.PersonLink) error { rows++; scan("analytics_person_links", r); return nil }))
			if rows != 3*28 {
				t.Fatalf("scanned %d rows, want %d", rows, 3*28)
			}
			want := map[string]int{}
			if tc.clearKeys > 0 {
				want["analytics_persons.attributes"] = 28 * tc.clearKeys
			}
			if !reflectDeepEqual(leaks, want) {
				t.Errorf("cells holding the identifier in clear: got %v, want %v", leaks, want)
			}
		})
	}
}

func reflectDeepEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// copyTransform republishes run from's transform tables under run to.
func copyTransform(t *testing.T, st store.Store, from, to string) {
	t.Helper()
	ctx := context.Background()
	m, _, err := artifact.ReadManifest(ctx, st, from, "transform")
	if err != nil {
		t.Fatal(err)
	}
	s := artifact.NewStage(artifact.Env{Store: st, RunID: to, TempDir: t.TempDir()}, "transform")
	pw, _ := artifact.OpenTable[contract.Person](s, contract.PersonsSpec)
	aw, _ := artifact.OpenTable[contract.AccountNormalized](s, contract.AccountsNormalizedSpec)
	lw, _ := artifact.OpenTable[contract.PersonLink](s, contract.PersonLinksSpec)
	for _, err := range []error{
		artifact.ReadTable(ctx, st, m, contract.PersonsSpec, pw.Write),
		artifact.ReadTable(ctx, st, m, contract.AccountsNormalizedSpec, aw.Write),
		artifact.ReadTable(ctx, st, m, contract.PersonLinksSpec, lw.Write),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}
