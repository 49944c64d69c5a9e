package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDoctorPassesOnlyWhatRunCanDo: a configuration that passes doctor runs
// to the end; each broken variant (an override file missing from the store,
// an analytics key unset or too short, a managed group missing in Highspot,
// an unreadable CA bundle) is a doctor finding, and run indeed fails on the
// ones it meets.
func TestDoctorPassesOnlyWhatRunCanDo(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run skipped in -short mode")
	}
	const goodKey = "0123456789abcdef0123456789abcdef"
	cases := []struct {
		name       string
		edit       func(cfg string) string
		env        map[string]string
		noOverride bool     // do not upload the override file
		seedOut    []string // managed groups missing in Highspot
		finding    string   // doctor's FAIL line ("" = doctor passes)
		runCode    int      // -1: do not run
	}{
		{name: "all there", env: map[string]string{"ANALYTICS_KEY": goodKey}, runCode: 0},
		{name: "override file missing", env: map[string]string{"ANALYTICS_KEY": goodKey}, noOverride: true,
			finding: "[FAIL] transform overrides file", runCode: 2},
		{name: "analytics key unset", env: map[string]string{}, finding: "[FAIL] analytics key", runCode: 2},
		{name: "analytics key too short", env: map[string]string{"ANALYTICS_KEY": "short"}, finding: "[FAIL] analytics key", runCode: -1},
		{name: "managed group missing", env: map[string]string{"ANALYTICS_KEY": goodKey}, seedOut: []string{"Region - APAC"},
			finding: "managed groups are missing in Highspot: Region - APAC", runCode: 6},
		{name: "CA bundle not PEM", env: map[string]string{"ANALYTICS_KEY": goodKey},
			edit: func(cfg string) string {
				return strings.Replace(cfg, "trees:\n", "trees:\n  - {name: corp, source: ldap, ldap: {url: \"ldaps://127.0.0.1:1\", base_dn: \"dc=x\", bind_dn: \"cn=r\", bind_password: {env: ANALYTICS_KEY}, ca_file: CAFILE, timeout: 1s}}\n", 1)
			},
			finding: "[FAIL] trees.corp.ldap.ca_file", runCode: -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newDemoWorld(t)
			cfg, err := os.ReadFile(w.cfg)
			if err != nil {
				t.Fatal(err)
			}
			text := strings.Replace(string(cfg), "transform:\n", "transform:\n  overrides: {file: overrides/links.yaml}\n", 1)
			text += "\noperate:\n  analytics: {enabled: true, key: {env: ANALYTICS_KEY}}\n"
			if c.edit != nil {
				text = strings.ReplaceAll(c.edit(text), "CAFILE", writeFile(t, w.dir, "ca.pem", "not a certificate\n"))
			}
			w.cfg = writeFile(t, w.dir, "config.yaml", text)
			if !c.noOverride {
				if err := os.MkdirAll(filepath.Join(w.dir, "artifacts", "overrides"), 0o755); err != nil {
					t.Fatal(err)
				}
				writeFile(t, filepath.Join(w.dir, "artifacts", "overrides"), "links.yaml", "force_split: [[\"acme/no-such-account\"]]\n")
			}
			w.seedWithout(t, c.seedOut...)

			args := []string{"--config", w.cfg, "--log-level", "error"}
			r := run(t, c.env, append(args, "doctor")...)
			if c.finding == "" {
				if r.code != 0 || !strings.Contains(r.stdout, "all checks passed") {
					t.Fatalf("doctor: exit %d, want 0\n%s%s", r.code, r.stdout, r.stderr)
				}
			} else if r.code != 2 || !strings.Contains(r.stdout, c.finding) {
				t.Fatalf("doctor: exit %d, want 2 with %q\n%s%s", r.code, c.finding, r.stdout, r.stderr)
			}
			if c.runCode < 0 {
				return
			}
			if r := run(t, c.env, append(args, "--run-id", "20261107T000000Z-0008", "run")...); r.code != c.runCode {
				t.Errorf("run: exit %d, want %d\n%s%s", r.code, c.runCode, r.stdout, r.stderr)
			}
		})
	}
}
