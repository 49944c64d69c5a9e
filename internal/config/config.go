// Package config owns the YAML configuration as a whole: strict decoding
// (unknown keys are errors with file:line), the top-level assembly, defaults
// and validation that do no I/O, and secret references.
//
// A section owned by a stage or a source lives beside it, with its struct,
// defaults, Validate and docs, and is only embedded here: extract: and
// trees[] are extract/extractconf, a tree's ldap:, rest: and ldif: are
// extract/ldap/ldapconf, extract/otdsrest/restconf and extract/ldif/ldifconf,
// transform: is transform/transformconf, policy: is transform/plan/policyconf,
// highspot: is load/highspot/hsconf and apply: is load/apply/applyconf. Those
// packages import internal/config/section (errors with a key, secret
// references), never this package. The sections still kept here have their
// own file: store.go (storage plumbing) and operate.go (run-level switches). This package checks what spans sections (unique
// tree names, the tree names transform: refers to) and Parse adds file:line
// to every section's errors.
package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/otds-highspot/otds-highspot/extract/extractconf"
	"github.com/otds-highspot/otds-highspot/internal/config/section"
	"github.com/otds-highspot/otds-highspot/load/apply/applyconf"
	"github.com/otds-highspot/otds-highspot/load/highspot/hsconf"
	"github.com/otds-highspot/otds-highspot/transform/plan/policyconf"
	"github.com/otds-highspot/otds-highspot/transform/transformconf"
)

// Config is the whole configuration file.
type Config struct {
	// Version of the configuration format; only 1 exists.
	Version   int                  `yaml:"version"`
	Store     Store                `yaml:"store"`
	Extract   extractconf.Config   `yaml:"extract"`
	Trees     []extractconf.Tree   `yaml:"trees"`
	Transform transformconf.Config `yaml:"transform"`
	Highspot  hsconf.Config        `yaml:"highspot"`
	Apply     applyconf.Config     `yaml:"apply"`
	Policy    policyconf.Policy    `yaml:"policy"`
	Operate   Operate              `yaml:"operate"`

	// Path is the file the configuration was read from ("" when embedded).
	Path string `yaml:"-"`
	// Hash is the sha256 of the file's bytes, recorded in every manifest.
	Hash string `yaml:"-"`
}

// Error is one configuration problem: where it is and what to do. Each
// section's Validate returns them with Key set; Parse adds File and Line.
type Error = section.Error

// Errors is a list of configuration problems, reported together.
type Errors = section.Errors

// SecretRef points at a secret without holding it (section.SecretRef).
type SecretRef = section.SecretRef

// Secret holds a resolved secret value, redacted in every print (section.Secret).
type Secret = section.Secret

// NewSecret wraps a value.
func NewSecret(v string) Secret { return section.NewSecret(v) }

// Load reads, decodes (strictly), defaults and validates the file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w (pass an existing file with --config)", path, err)
	}
	return Parse(path, data)
}

// Parse decodes, defaults and validates configuration bytes; name is used in
// error messages.
func Parse(name string, data []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var root yaml.Node
	_ = yaml.Unmarshal(data, &root)
	if err := dec.Decode(&c); err != nil {
		return nil, decodeError(name, err, &root)
	}
	c.Path = name
	sum := sha256.Sum256(data)
	c.Hash = hex.EncodeToString(sum[:])
	c.ApplyDefaults()
	if errs := c.Validate(); len(errs) > 0 {
		for i := range errs {
			errs[i].File = name
			if errs[i].Line == 0 {
				errs[i].Line = lineOf(&root, errs[i].Key)
			}
		}
		// File order; problems without a line last.
		sort.SliceStable(errs, func(i, j int) bool {
			li, lj := errs[i].Line, errs[j].Line
			if li == 0 || lj == 0 {
				return li != 0 && lj == 0
			}
			return li < lj
		})
		return nil, errs
	}
	return &c, nil
}

var (
	yamlLineRE   = regexp.MustCompile(`^line (\d+): (.*)$`)
	yamlInlineRE = regexp.MustCompile(`line (\d+): `)
)

// decodeError turns yaml.v3's errors into Errors with file:line and advice.
func decodeError(name string, err error, root *yaml.Node) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		var out Errors
		for _, m := range te.Errors {
			e := Error{File: name, Msg: m}
			if g := yamlLineRE.FindStringSubmatch(m); g != nil {
				fmt.Sscanf(g[1], "%d", &e.Line)
				e.Msg = g[2]
			}
			if strings.Contains(e.Msg, "not found in type") {
				field := strings.TrimPrefix(strings.SplitN(e.Msg, " not found", 2)[0], "field ")
				e.Key = field
				if p := pathAt(root, e.Line, field); p != "" {
					e.Key = p
				}
				e.Msg = "unknown key; check its spelling and indentation against docs/configuration.md"
			} else if p := pathAtLine(root, e.Line); p != "" {
				e.Key = p
			}
			out = append(out, e)
		}
		return out
	}
	msg := err.Error()
	e := Error{File: name, Msg: strings.TrimPrefix(msg, "yaml: ")}
	if g := yamlInlineRE.FindStringSubmatch(msg); g != nil {
		fmt.Sscanf(g[1], "%d", &e.Line)
		e.Msg = strings.Replace(e.Msg, g[0], "", 1)
	}
	if strings.Contains(msg, "EOF") {
		e.Msg = "the file is empty; start from deploy/example.yaml"
	} else {
		e.Msg += " (the file is not valid YAML)"
	}
	return Errors{e}
}

// lineOf finds the line of a dotted key path (a.b[2].c) in the YAML tree, or 0.
func lineOf(root *yaml.Node, key string) int {
	if root == nil || key == "" {
		return 0
	}
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	for _, part := range splitKey(key) {
		switch {
		case part.index >= 0 && n.Kind == yaml.SequenceNode:
			if part.index >= len(n.Content) {
				return line
			}
			n = n.Content[part.index]
			line = n.Line
		case n.Kind == yaml.MappingNode:
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == part.name {
					line = n.Content[i].Line
					n = n.Content[i+1]
					found = true
					break
				}
			}
			if !found {
				return line
			}
			if part.index >= 0 && n.Kind == yaml.SequenceNode && part.index < len(n.Content) {
				n = n.Content[part.index]
				line = n.Line
			}
		default:
			return line
		}
	}
	return line
}

// pathAt finds the dotted path of the mapping key named name on line.
func pathAt(root *yaml.Node, line int, name string) string {
	var walk func(n *yaml.Node, path string) string
	walk = func(n *yaml.Node, path string) string {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				if p := walk(c, path); p != "" {
					return p
				}
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				kp := k.Value
				if path != "" {
					kp = path + "." + k.Value
				}
				if k.Line == line && (name == "" || k.Value == name) {
					return kp
				}
				if p := walk(n.Content[i+1], kp); p != "" {
					return p
				}
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				if p := walk(c, fmt.Sprintf("%s[%d]", path, i)); p != "" {
					return p
				}
			}
		}
		return ""
	}
	if root == nil || line <= 0 {
		return ""
	}
	return walk(root, "")
}

// pathAtLine finds the dotted path of the first mapping key on line.
func pathAtLine(root *yaml.Node, line int) string { return pathAt(root, line, "") }

type keyPart struct {
	name  string
	index int
}

func splitKey(key string) []keyPart {
	var out []keyPart
	for _, p := range strings.Split(key, ".") {
		kp := keyPart{name: p, index: -1}
		if i := strings.IndexByte(p, '['); i >= 0 && strings.HasSuffix(p, "]") {
			kp.name = p[:i]
			fmt.Sscanf(p[i+1:len(p)-1], "%d", &kp.index)
		}
		out = append(out, kp)
	}
	return out
}

// ApplyDefaults fills every unset value with its documented default.
func (c *Config) ApplyDefaults() {
	if c.Version == 0 {
		c.Version = 1
	}
	c.Store.applyDefaults()
	c.Extract.ApplyDefaults()
	for i := range c.Trees {
		c.Trees[i].ApplyDefaults()
	}
	c.Transform.ApplyDefaults()
	c.Highspot.ApplyDefaults()
	c.Apply.ApplyDefaults()
	c.Policy.ApplyDefaults()
	c.Operate.applyDefaults()
}

// Validate checks the whole configuration without any I/O (no network, no
// file reads) and returns every problem found.
func (c *Config) Validate() Errors {
	var errs Errors
	if c.Version != 1 {
		errs = append(errs, Error{Key: "version", Msg: fmt.Sprintf("unsupported version %d; only 1 exists", c.Version)})
	}
	errs = append(errs, c.Store.validate("store")...)
	errs = append(errs, c.Extract.Validate("extract")...)
	if len(c.Trees) == 0 {
		errs = append(errs, Error{Key: "trees", Msg: "no trees configured; add at least one under trees: (see docs/configuration.md)"})
	}
	seen := map[string]int{}
	for i := range c.Trees {
		k := fmt.Sprintf("trees[%d]", i)
		if j, dup := seen[c.Trees[i].Name]; dup {
			errs = append(errs, Error{Key: k + ".name", Msg: fmt.Sprintf("tree name %q is used twice (also trees[%d]); tree names must be unique", c.Trees[i].Name, j)})
		}
		seen[c.Trees[i].Name] = i
		errs = append(errs, c.Trees[i].Validate(k)...)
	}
	errs = append(errs, c.Transform.Validate("transform", c.TreeNames())...)
	errs = append(errs, c.Highspot.Validate("highspot")...)
	errs = append(errs, c.Apply.Validate("apply")...)
	errs = append(errs, c.Policy.Validate("policy", c.TreeNames())...)
	errs = append(errs, c.Operate.validate("operate")...)
	return errs
}

// TreeNames lists the configured tree names in configuration order.
func (c *Config) TreeNames() []string {
	out := make([]string, len(c.Trees))
	for i, t := range c.Trees {
		out[i] = t.Name
	}
	return out
}

// Tree returns the named tree's configuration.
func (c *Config) Tree(name string) (*extractconf.Tree, bool) {
	for i := range c.Trees {
		if c.Trees[i].Name == name {
			return &c.Trees[i], true
		}
	}
	return nil, false
}
