package config

import (
	"os"
	"strings"
	"testing"
)

// FuzzParse decodes arbitrary YAML as a configuration: an error must name
// the file, a success must validate again the same way, and nothing panics
// or hangs (alias bombs, deep nesting).
func FuzzParse(f *testing.F) {
	for _, p := range []string{"../../fixtures/demo/config.yaml", "../../deploy/example.yaml"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{"version: 1\n", "version: 1\ntrees:\n  - {name: a, source: ldif, ldif: {path: x.ldif}}\n",
		"a: &a [*a, *a]\n", "version: 1\ntrees: [{name: a, source: ldap, ldap: {url: 'ldap://x', page_size: -1}}]\n", "\t", "version: 2\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yaml", data)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if cfg == nil {
			t.Fatal("Parse returned neither a config nor an error")
		}
	})
}
