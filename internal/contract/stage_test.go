package contract

import "testing"

func TestExtractStage(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stage Stage
		tree  string
		ok    bool
	}{
		{"tree stage", ExtractStage("acme"), "acme", true},
		{"dotted tree", ExtractStage("a.b"), "a.b", true},
		{"bare extract", Extract, "", false},
		{"empty tree", Stage("extract."), "", false},
		{"other stage", Transform, "", false},
		{"prefix lookalike", Stage("extractor.acme"), "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tree, ok := tc.stage.ExtractTree()
			if tree != tc.tree || ok != tc.ok {
				t.Errorf("%q.ExtractTree() = %q, %v; want %q, %v", tc.stage, tree, ok, tc.tree, tc.ok)
			}
		})
	}
	if got := ExtractStage("acme").String(); got != "extract.acme" {
		t.Errorf(`ExtractStage("acme") = %q, want "extract.acme"`, got)
	}
}

func TestApplyAttemptStage(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want Stage
	}{{1, "apply.attempt-001"}, {12, "apply.attempt-012"}, {1000, "apply.attempt-1000"}} {
		if got := ApplyAttemptStage(tc.n); got != tc.want {
			t.Errorf("ApplyAttemptStage(%d): got %q, want %q", tc.n, got, tc.want)
		}
	}
}
