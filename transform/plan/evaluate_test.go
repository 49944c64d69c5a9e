package plan

import (
	"context"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/config"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/store"
)

// TestEvaluatorBatchesAreDesired: the persons evaluated a batch at a time
// (as Run streams them) give exactly what Desired gives for all at once.
func TestEvaluatorBatchesAreDesired(t *testing.T) {
	pol := loadPolicy(t, "testdata/policy.yaml")
	persons := append(day1(), day2()...) // repeated persons and addresses too
	want := mustEval(t, persons, pol)
	for _, size := range []int{1, 2, 5, len(persons)} {
		e := newEvaluator(pol)
		for lo := 0; lo < len(persons); lo += size {
			if err := e.add(persons[lo:min(lo+size, len(persons))]); err != nil {
				t.Fatal(err)
			}
		}
		if got := e.done(); !reflect.DeepEqual(got, want) {
			t.Errorf("batches of %d: got %+v, want %+v", size, got, want)
		}
	}
}

// TestEvaluatePersonsReadsWhatThePolicyReads: the plan's read of persons
// skips the groups, trees and attributes columns its policy does not read,
// and evaluates exactly as Desired does over the whole persons: with rules
// that read groups (in_group, person.groups), trees, attributes (attr,
// person.attributes) or use person whole, and with none of them.
func TestEvaluatePersonsReadsWhatThePolicyReads(t *testing.T) {
	base, err := os.ReadFile("testdata/bench-policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const benchScope = `person.role in ["field_sales", "inside_sales", "sales_management"]`
	const benchField = `person.role == "field_sales" || person.in_group("acme:Field Sales")`
	persons := append(day1(), day2()...)
	for i := range persons {
		if i%2 == 0 {
			persons[i].Attributes = map[string]string{"tier": "gold"}
			persons[i].Trees = append(persons[i].Trees, "beta")
		}
	}
	cases := []struct {
		name, scope, field string
		skipped            []string
	}{
		{"role, region and business unit only", benchScope, `person.role == "field_sales"`, []string{"groups", "trees", "attributes"}},
		{"in_group", benchScope, benchField, []string{"trees", "attributes"}},
		{"person.groups", benchScope, `"acme:Field Sales" in person.groups`, []string{"trees", "attributes"}},
		{"person.trees", `person.role != "" && "beta" in person.trees`, `person.role == "field_sales"`, []string{"groups", "attributes"}},
		{"attr", `person.attr("tier") == "gold" || person.role == "inside_sales"`, `person.role == "field_sales"`, []string{"groups", "trees"}},
		{"person.attributes", `"tier" in person.attributes`, `person.role == "field_sales"`, []string{"groups", "trees"}},
		{"person whole", `person != null && person.role != ""`, `person.role == "field_sales"`, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text := strings.Replace(string(base), benchScope, c.scope, 1)
			text = strings.Replace(text, benchField, c.field, 1)
			cfg, err := config.Parse("policy.yaml", []byte(text))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			pol, err := NewPolicy(&cfg.Policy)
			if err != nil {
				t.Fatalf("policy: %v", err)
			}
			if got := pol.unreadColumns(); !slices.Equal(got, c.skipped) {
				t.Errorf("skipped columns: got %q, want %q", got, c.skipped)
			}
			want := mustEval(t, persons, pol)
			st, err := store.NewFileStore(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			env := artifact.Env{Store: st, RunID: "20260301T020000Z-aaaa", TempDir: t.TempDir()}
			publish(t, env, string(contract.Transform), contract.PersonsSpec, persons, nil)
			tm, _, err := artifact.ReadManifest(context.Background(), st, env.RunID, contract.Transform)
			if err != nil {
				t.Fatal(err)
			}
			got, err := evaluatePersons(context.Background(), env, tm, env.RunID, pol, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v,\nwant %+v", got, want)
			}
		})
	}
}
