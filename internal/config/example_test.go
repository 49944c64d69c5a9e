package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/otds-highspot/otds-highspot/internal/config"
	"github.com/otds-highspot/otds-highspot/load/highspot/hsconf"
	"github.com/otds-highspot/otds-highspot/transform/transformconf"
)

// Shipped configuration files and the reference, relative to this package.
var (
	exampleConfig = filepath.Join("..", "..", "deploy", "example.yaml")
	demoConfig    = filepath.Join("..", "..", "fixtures", "demo", "config.yaml")
	configDoc     = filepath.Join("..", "..", "docs", "configuration.md")
)

// TestShippedConfigsValidate lints the configurations the project ships, so
// `make test` fails when a config change breaks them.
func TestShippedConfigsValidate(t *testing.T) {
	for _, path := range []string{exampleConfig, demoConfig} {
		t.Run(filepath.Base(filepath.Dir(path))+"/"+filepath.Base(path), func(t *testing.T) {
			c, err := config.Load(path)
			if err != nil {
				t.Fatalf("config.Load(%s): got %v, want a valid configuration", path, err)
			}
			if got := len(c.Trees); got != 3 {
				t.Errorf("trees: got %d, want 3", got)
			}
			if _, errs := c.Policy.Compile("policy"); len(errs) > 0 {
				t.Errorf("policy.Compile: got %v, want no errors", errs)
			}
		})
	}
}

// TestExampleCoversEverySection checks that deploy/example.yaml is the
// complete example it claims to be: every top-level section, every tree
// source, the REST target and an S3 store.
func TestExampleCoversEverySection(t *testing.T) {
	data, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	present := map[string]bool{}
	top := root.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		present[top.Content[i].Value] = true
	}
	ct := reflect.TypeOf(config.Config{})
	for i := 0; i < ct.NumField(); i++ {
		if name := yamlName(ct.Field(i)); name != "" && !present[name] {
			t.Errorf("section %s: got absent from %s, want present", name, exampleConfig)
		}
	}
	c, err := config.Load(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	sources := map[string]bool{}
	for _, tr := range c.Trees {
		sources[tr.Source] = true
	}
	for _, s := range []string{"ldap", "otds-rest", "ldif"} {
		if !sources[s] {
			t.Errorf("tree source %s: got none, want one tree using it", s)
		}
	}
	if got := c.Highspot.Target; got != "rest" {
		t.Errorf("highspot.target: got %q, want rest", got)
	}
	if got := c.Store.URL; !strings.HasPrefix(got, "s3://") {
		t.Errorf("store.url: got %q, want an s3:// URL", got)
	}
}

// sharedTypes are documented once, in their own section, by their keys; the
// places that use them are documented by their own path.
var sharedTypes = map[reflect.Type]bool{
	reflect.TypeOf(transformconf.Condition{}): true,
	reflect.TypeOf(config.SecretRef{}):        true,
	reflect.TypeOf(hsconf.Endpoint{}):         true,
}

func yamlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" || name == "" {
		return ""
	}
	return name
}

// configKeys walks the yaml tags of config.Config. paths are the documented
// key paths (slices add "[]", maps with structured values add ".<name>");
// maps are the paths whose values are maps (any key below them is valid);
// leaves are the keys of the shared types.
func configKeys() (paths, maps, leaves map[string]bool) {
	paths, maps, leaves = map[string]bool{}, map[string]bool{}, map[string]bool{}
	var walk func(t reflect.Type, prefix string)
	sharedLeaves := func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			if n := yamlName(t.Field(i)); n != "" {
				leaves[n] = true
			}
		}
	}
	var elem func(t reflect.Type, path string)
	elem = func(t reflect.Type, path string) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch {
		case sharedTypes[t]:
			sharedLeaves(t)
		case t.Kind() == reflect.Struct:
			walk(t, path)
		case t.Kind() == reflect.Slice:
			elem(t.Elem(), path+"[]")
		case t.Kind() == reflect.Map:
			maps[path] = true
			elem(t.Elem(), path+".<name>")
		}
	}
	walk = func(t reflect.Type, prefix string) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := yamlName(f)
			if name == "" {
				continue
			}
			path := name
			if prefix != "" {
				path = prefix + "." + name
			}
			paths[path] = true
			elem(f.Type, path)
		}
	}
	walk(reflect.TypeOf(config.Config{}), "")
	// A slice or map of scalars records a path with a suffix nobody writes
	// (trees[].partitions[]): only struct elements add documented paths.
	for p := range paths {
		if strings.HasSuffix(p, "[]") || strings.HasSuffix(p, ".<name>") {
			delete(paths, p)
		}
	}
	return paths, maps, leaves
}

// TestDocsMentionEveryKey fails when a key exists in the Go structs but not
// in docs/configuration.md, so the reference cannot fall behind the code.
// Every key path must appear in backticks (`trees[].ldap.url`); the keys of
// the shared types (conditions, secret references, endpoint templates) must
// appear in backticks on their own (`member_of`).
func TestDocsMentionEveryKey(t *testing.T) {
	data, err := os.ReadFile(configDoc)
	if err != nil {
		t.Fatalf("read %s: %v", configDoc, err)
	}
	doc := string(data)
	paths, _, leaves := configKeys()
	if len(paths) < 150 {
		t.Fatalf("walked %d key paths, want the whole configuration (>= 150); is the walk broken?", len(paths))
	}
	var missing []string
	for p := range paths {
		if !strings.Contains(doc, "`"+p+"`") {
			missing = append(missing, p)
		}
	}
	for l := range leaves {
		if !strings.Contains(doc, "`"+l+"`") {
			missing = append(missing, l+" (shared type key)")
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("%s: got no mention of `%s`, want it documented", configDoc, strings.TrimSuffix(m, " (shared type key)"))
	}
}

var docKeyRE = regexp.MustCompile("`((?:version|store|extract|trees|transform|highspot|apply|policy|operate)(?:\\[\\d*\\])?(?:\\.[a-z0-9_<>]+(?:\\[\\d*\\])?)*)`")

var indexRE = regexp.MustCompile(`\[\d+\]`)

// TestDocsNameOnlyRealKeys is the converse: a backticked key path in the
// reference must exist in the structs (a renamed or removed key must not
// linger in the docs).
func TestDocsNameOnlyRealKeys(t *testing.T) {
	data, err := os.ReadFile(configDoc)
	if err != nil {
		t.Fatalf("read %s: %v", configDoc, err)
	}
	paths, maps, _ := configKeys()
	known := func(p string) bool {
		if paths[p] || maps[p] {
			return true
		}
		// below a map any key is valid (trees[].health.null_rate.mail)
		for m := range maps {
			if strings.HasPrefix(p, m+".") {
				return true
			}
		}
		return false
	}
	seen := map[string]bool{}
	for _, m := range docKeyRE.FindAllStringSubmatch(string(data), -1) {
		p := indexRE.ReplaceAllString(m[1], "[]")
		// a path into a slice element names the element itself
		p = strings.TrimSuffix(p, "[]")
		if seen[p] || !strings.Contains(p, ".") && !paths[p] {
			continue
		}
		seen[p] = true
		if !known(p) {
			t.Errorf("%s mentions `%s`: got no such key in internal/config, want a real key path", configDoc, m[1])
		}
	}
}

// TestConfigKeysWalk pins the walk itself on a few known paths, so the docs
// test cannot pass by walking nothing.
func TestConfigKeysWalk(t *testing.T) {
	paths, maps, leaves := configKeys()
	for _, p := range []string{
		"store.s3.object_lock.mode", "trees[].ldap.bind_password", "trees[].health.null_rate",
		"transform.trees.<name>.email_domain_aliases", "transform.derive.<name>[].from",
		"transform.service.rules[].when", "highspot.rest.endpoints.suspend",
		"policy.thresholds[].max_percent", "apply.breaker.threshold", "operate.prune.orphan_grace",
	} {
		if !paths[p] {
			t.Errorf("path %s: got absent, want walked", p)
		}
	}
	if !maps["trees[].extra_attributes"] {
		t.Errorf("map trees[].extra_attributes: got absent, want recorded")
	}
	for _, l := range []string{"member_of", "env", "file", "method", "body"} {
		if !leaves[l] {
			t.Errorf("shared key %s: got absent, want walked", l)
		}
	}
}
