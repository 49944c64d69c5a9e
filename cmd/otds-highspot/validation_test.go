package main

import (
	"encoding/base64"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otds-highspot/otds-highspot/fixtures"
)

// hostileEntry is one in-scope Acme user (an Account Executive) whose mail
// or display name is hostile; values are base64 in the LDIF so any byte goes.
func hostileEntry(n int, mail, display string) string {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	return fmt.Sprintf("dn: cn=evil%d,ou=Users,ou=Root,ou=Acme Corp,ou=IdentityProviders,dc=identity,dc=opentext,dc=net\n"+
		"objectClass: top\nobjectClass: oTPerson\ncn: evil%d\ngivenName: Evil\nsn: Number%d\n"+
		"displayName:: %s\nmail:: %s\ntitle: Account Executive\nc: US\n"+
		"entryUUID: 00000000-0000-4000-8000-0000000e%04d\n\n", n, n, n, b64(display), b64(mail), n)
}

// TestHostileDirectoryValuesNeverReachHighspot runs the whole pipeline on
// the demo fixture plus accounts with hostile values (issue 12): a display
// name with NUL is cleaned, and mail values that are not addresses
// (two @, display-name form, a list, newline, NUL, quote, ../) become
// bad_email rejects instead of being dropped silently or planned and
// refused by Highspot on every run (exit 6 forever); the dropped values
// count in the null-rate gate.
func TestHostileDirectoryValuesNeverReachHighspot(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run skipped in -short mode")
	}
	dir := t.TempDir()
	base, err := fs.ReadFile(fixtures.FS(), "otds/trees.ldif")
	if err != nil {
		t.Fatal(err)
	}
	bad := []string{"two@at@acme.com", "Ann <evil3@acme.com>", "a; b", "evil5@acme.com\nx", "evil6\x00@acme.com",
		`"evil7"@acme.com`, "../../evil8@acme.com"}
	ldif := string(base) + "\n" + hostileEntry(1, "ann.evil@acme.com", "Ann\x00Evil")
	for i, m := range bad {
		ldif += hostileEntry(i+2, m, "Evil Number")
	}
	path := writeFile(t, dir, "trees.ldif", ldif)
	demo, err := fixtures.DemoConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(demo), "url: ./artifacts", "url: "+filepath.Join(dir, "artifacts"), 1)
	cfg = strings.Replace(cfg, "sandbox: {surface: rest}", "sandbox: {surface: rest, state_file: "+filepath.Join(dir, "hs.json")+"}", 1)
	cfg = strings.ReplaceAll(cfg, "fixtures:otds/trees.ldif", path)
	c := writeFile(t, dir, "c.yaml", cfg)

	// the null-rate gate counts an account whose only mail value was
	// dropped as having no mail: 7 of 24 acme accounts is above 20%
	gated := strings.Replace(cfg, "    partitions: [\"Acme Corp\"]\n", "    partitions: [\"Acme Corp\"]\n    health: {null_rate: {mail: 0.2}}\n", 1)
	if gated == cfg {
		t.Fatal("could not add the null-rate limit to the acme tree")
	}
	g := writeFile(t, dir, "gated.yaml", gated)
	r := run(t, nil, "--config", g, "--run-id", "20261104T000000Z-0000", "extract", "--tree", "acme")
	if r.code != 4 || !strings.Contains(r.stderr+r.stdout, "have no mail") {
		t.Errorf("extract with a 20%% mail null-rate limit: exit %d, want 4 naming the null rate of mail\n%s%s", r.code, r.stdout, r.stderr)
	}

	r = run(t, nil, "--config", c, "--run-id", "20261104T000000Z-0001", "run")
	if r.code != 0 {
		t.Fatalf("run: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, w := range []string{fmt.Sprintf("bad_email %d", len(bad)), "control_characters 1"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("run summary lacks %q:\n%s", w, r.stdout)
		}
	}
	state, err := os.ReadFile(filepath.Join(dir, "hs.json"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(state)
	if !strings.Contains(s, `"AnnEvil"`) || !strings.Contains(s, "ann.evil@acme.com") {
		t.Errorf("the account with a NUL in its display name was not provisioned cleaned (display name AnnEvil)")
	}
	for _, w := range []string{`\u0000`, "evil3@", "evil5@", "evil6", "evil7", "evil8", "two@at"} {
		if strings.Contains(s, w) {
			t.Errorf("Highspot state holds %q: a hostile value reached Highspot", w)
		}
	}
}
