package section

import (
	"fmt"
	"os"
	"strings"
)

// SecretRef points at a secret without holding it: the name of an environment
// variable or the path of a file. Secrets are never values in YAML.
//
//	password: {env: OTDS_BIND_PASSWORD}
//	password: {file: /run/secrets/otds}
type SecretRef struct {
	Env  string `yaml:"env"`
	File string `yaml:"file"`
}

// IsZero reports whether no reference is set.
func (r SecretRef) IsZero() bool { return r.Env == "" && r.File == "" }

// String describes the reference (never the value).
func (r SecretRef) String() string {
	switch {
	case r.Env != "":
		return "env:" + r.Env
	case r.File != "":
		return "file:" + r.File
	}
	return "(none)"
}

// Validate checks the reference: at most one of env and file, and one of
// them when required.
func (r SecretRef) Validate(key string, required bool) Errors {
	switch {
	case r.Env != "" && r.File != "":
		return Errors{{Key: key, Msg: "set either env or file, not both"}}
	case required && r.IsZero():
		return Errors{{Key: key, Msg: "a secret reference is required: {env: VAR_NAME} or {file: /path/to/secret}"}}
	}
	return nil
}

// Resolve reads the secret through getenv (injected, so library code never
// calls os.Getenv) or from the file. A missing variable or file is an error
// that says which key and what to do.
func (r SecretRef) Resolve(key string, getenv func(string) string) (Secret, error) {
	switch {
	case r.Env != "":
		v := getenv(r.Env)
		if v == "" {
			return Secret{}, fmt.Errorf("%s: environment variable %s is empty or unset; export it before running", key, r.Env)
		}
		return NewSecret(v), nil
	case r.File != "":
		b, err := os.ReadFile(r.File)
		if err != nil {
			return Secret{}, fmt.Errorf("%s: read secret file: %w", key, err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return Secret{}, fmt.Errorf("%s: secret file %s is empty", key, r.File)
		}
		return NewSecret(v), nil
	}
	return Secret{}, fmt.Errorf("%s: no secret configured; set {env: VAR} or {file: PATH}", key)
}

// Secret holds a secret value. Every way of printing it (String, GoString,
// %v, %+v, %#v, JSON, YAML, text marshalling) prints "**redacted**"; only
// Reveal returns the value, at the point of use.
type Secret struct{ v *string }

// NewSecret wraps a value.
func NewSecret(v string) Secret { return Secret{v: &v} }

// Reveal returns the secret value.
func (s Secret) Reveal() string {
	if s.v == nil {
		return ""
	}
	return *s.v
}

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.v == nil || *s.v == "" }

const redacted = "**redacted**"

func (s Secret) String() string                    { return redacted }
func (s Secret) GoString() string                  { return redacted }
func (s Secret) Format(f fmt.State, _ rune)        { _, _ = f.Write([]byte(redacted)) }
func (s Secret) MarshalJSON() ([]byte, error)      { return []byte(`"` + redacted + `"`), nil }
func (s Secret) MarshalText() ([]byte, error)      { return []byte(redacted), nil }
func (s Secret) MarshalYAML() (interface{}, error) { return redacted, nil }
