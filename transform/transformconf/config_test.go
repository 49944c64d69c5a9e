package transformconf

import "testing"

func TestValidatePerTreeSettingsNameATree(t *testing.T) {
	tests := []struct {
		name  string
		trees []string
		want  []string // error keys
	}{
		{"configured tree", []string{"acme", "beta"}, nil},
		{"unknown tree", []string{"beta"}, []string{"transform.trees.acme"}},
		{"no trees to check against", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{Trees: map[string]Tree{"acme": {EmployeeIDScheme: "acme"}}}
			c.ApplyDefaults()
			errs := c.Validate("transform", tc.trees)
			var got []string
			for _, e := range errs {
				got = append(got, e.Key)
			}
			if len(got) != len(tc.want) || (len(got) > 0 && got[0] != tc.want[0]) {
				t.Errorf("got errors at %v (%v), want at %v", got, errs, tc.want)
			}
		})
	}
}
