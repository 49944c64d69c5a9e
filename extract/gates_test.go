package extract

import (
	"strings"
	"testing"

	"github.com/otds-highspot/otds-highspot/extract/extractconf"
)

func TestGates(t *testing.T) {
	tree := extractconf.Tree{Name: "acme", Health: extractconf.Health{MinAccounts: 5, NullRate: map[string]float64{"mail": 0.2}}}
	for _, tc := range []struct {
		name               string
		accounts, previous int64
		nullMail, rejects  int64
		strict             bool
		wantTripped        []string
	}{
		{"healthy", 100, 100, 10, 3, false, nil},
		{"empty", 0, 0, 0, 0, false, []string{"min_accounts"}},
		{"below min", 4, 0, 0, 0, false, []string{"min_accounts"}},
		{"drop 10% is allowed", 90, 100, 0, 0, false, nil},
		{"drop 30%", 70, 100, 0, 0, false, []string{"max_drop_percent"}},
		{"growth", 200, 100, 0, 0, false, nil},
		{"null rate", 100, 100, 21, 0, false, []string{"null_rate.mail"}},
		{"strict with rejects", 100, 100, 0, 1, true, []string{"strict"}},
		{"strict without rejects", 100, 100, 0, 0, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, g := range Gates(tree, tc.accounts, tc.previous, map[string]int64{"mail": tc.nullMail}, tc.rejects, tc.strict) {
				if g.Tripped {
					got = append(got, g.Name)
					if !strings.Contains(g.Message, "tree acme") {
						t.Errorf("gate %s message %q: want it to name the tree", g.Name, g.Message)
					}
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.wantTripped, ",") {
				t.Errorf("tripped: got %v, want %v", got, tc.wantTripped)
			}
		})
	}
}
