package policyconf

import (
	"strings"
	"testing"
)

// Validate works on the section alone: the tree names are all it needs of
// the rest of the file (internal/config's policy tests go through Parse).
func TestValidateTakesTheTreeNames(t *testing.T) {
	zero := 0
	p := Policy{
		Scope:         ScopeRule{Name: "all", When: "true"},
		ManagedGroups: []string{"HS AMER"},
		Thresholds:    []Threshold{{Op: "suspend_user", Tree: "nope", MaxCount: &zero}},
	}
	p.ApplyDefaults()
	for _, tc := range []struct {
		name  string
		trees []string
		want  string
	}{
		{"unknown tree named", []string{"acme", "beta"}, `policy.thresholds[0].tree: unknown tree "nope"; use one of acme, beta`},
		{"no trees known: not checked", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, e := range p.Validate("policy", tc.trees) {
				got = append(got, e.Key+": "+e.Msg)
			}
			joined := strings.Join(got, "\n")
			if tc.want == "" && strings.Contains(joined, ".tree") {
				t.Errorf("got %q, want no tree error", joined)
			}
			if tc.want != "" && !strings.Contains(joined, tc.want) {
				t.Errorf("got %q, want it to contain %q", joined, tc.want)
			}
		})
	}
}
