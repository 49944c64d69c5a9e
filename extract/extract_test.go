package extract_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/otds-highspot/otds-highspot/extract"
	"github.com/otds-highspot/otds-highspot/extract/extractconf"
	"github.com/otds-highspot/otds-highspot/extract/ldap"
	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/config"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/internal/store"
)

var update = flag.Bool("update", false, "rewrite extract/testdata golden files")

func ldapEnv(t *testing.T) map[string]string {
	t.Helper()
	url := os.Getenv("OTDS_TEST_LDAP_URL")
	if url == "" {
		t.Skip("OTDS_TEST_LDAP_URL unset; start slapd with scripts/slapd.sh up && eval \"$(scripts/slapd.sh env)\"")
	}
	env := map[string]string{"OTDS_TEST_LDAP_URL": url}
	for k, def := range map[string]string{
		"OTDS_TEST_LDAP_BIND_DN": "cn=Directory Manager", "OTDS_TEST_LDAP_PASSWORD": "secret",
		"OTDS_TEST_LDAP_READER_DN":       "cn=otds-reader,ou=ServiceAccounts,dc=identity,dc=opentext,dc=net",
		"OTDS_TEST_LDAP_READER_PASSWORD": "reader-secret",
	} {
		env[k] = os.Getenv(k)
		if env[k] == "" {
			env[k] = def
		}
	}
	return env
}

func testConfig(t *testing.T, yaml string) *config.Config {
	t.Helper()
	c, err := config.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return c
}

func treesYAML(url, bindDN, pwVar string, pageSize int, extra string) string {
	var b strings.Builder
	b.WriteString("version: 1\nextract: {concurrency: 2}\ntrees:\n")
	for _, tr := range []struct{ name, part string }{{"acme", "Acme Corp"}, {"beta", "Beta GmbH"}, {"gamma", "Gamma Contractors"}} {
		fmt.Fprintf(&b, "  - name: %s\n    source: ldap\n    partitions: [%q]\n    extra_attributes: {territory: oTExtraAttr1, business_unit: oTExtraAttr2}\n", tr.name, tr.part)
		fmt.Fprintf(&b, "    ldap:\n      url: %s\n      bind_dn: %q\n      bind_password: {env: %s}\n      page_size: %d\n%s", url, bindDN, pwVar, pageSize, extra)
	}
	return b.String()
}

func newEnv(t *testing.T, st store.Store, at time.Time) artifact.Env {
	log := logrus.New()
	log.SetOutput(os.Stderr)
	log.SetLevel(logrus.WarnLevel)
	return artifact.Env{Store: st, RunID: artifact.NewRunID(at), ConfigHash: "test", Version: "test", Host: "test",
		TempDir: t.TempDir(), Log: log, Now: func() time.Time { return at }}
}

func ldapFactory(getenv func(string) string, hook func(*ldap.Source)) func(extractconf.Tree) (extract.Source, error) {
	return func(tree extractconf.Tree) (extract.Source, error) {
		s, err := ldap.New(tree, getenv, logrus.New())
		if err != nil {
			return nil, err
		}
		if hook != nil {
			hook(s)
		}
		return s, nil
	}
}

type snapshot struct {
	Accounts    []contract.Account    `json:"accounts"`
	Groups      []contract.Group      `json:"groups"`
	Memberships []contract.Membership `json:"memberships"`
	Rejects     []contract.Reject     `json:"rejects"`
}

func readSnapshot(t *testing.T, st store.Store, runID, tree string) snapshot {
	t.Helper()
	ctx := context.Background()
	m, _, err := artifact.ReadManifest(ctx, st, runID, contract.ExtractStage(tree))
	if err != nil {
		t.Fatalf("read manifest of %s: %v", tree, err)
	}
	var s snapshot
	if s.Accounts, err = artifact.ReadAll[contract.Account](ctx, st, m, contract.AccountsSpec); err != nil {
		t.Fatalf("read accounts: %v", err)
	}
	if s.Groups, err = artifact.ReadAll[contract.Group](ctx, st, m, contract.GroupsSpec); err != nil {
		t.Fatalf("read groups: %v", err)
	}
	if s.Memberships, err = artifact.ReadAll[contract.Membership](ctx, st, m, contract.MembershipsSpec); err != nil {
		t.Fatalf("read memberships: %v", err)
	}
	if s.Rejects, err = artifact.ReadAll[contract.Reject](ctx, st, m, contract.RejectsSpec); err != nil {
		t.Fatalf("read rejects: %v", err)
	}
	sort.Slice(s.Accounts, func(i, j int) bool { return s.Accounts[i].DN < s.Accounts[j].DN })
	sort.Slice(s.Groups, func(i, j int) bool { return s.Groups[i].DN < s.Groups[j].DN })
	sort.Slice(s.Memberships, func(i, j int) bool {
		a, b := s.Memberships[i], s.Memberships[j]
		return a.GroupDN+"\x00"+a.MemberDN < b.GroupDN+"\x00"+b.MemberDN
	})
	sort.Slice(s.Rejects, func(i, j int) bool { return s.Rejects[i].DN+s.Rejects[i].Detail < s.Rejects[j].DN+s.Rejects[j].Detail })
	return s
}

// TestExtractFixturesIntegration: the fixture's three partitions, read as
// three trees from slapd, give exactly the golden rows.
func TestExtractFixturesIntegration(t *testing.T) {
	e := ldapEnv(t)
	cfg := testConfig(t, treesYAML(e["OTDS_TEST_LDAP_URL"], e["OTDS_TEST_LDAP_BIND_DN"], "OTDS_TEST_LDAP_PASSWORD", 7, ""))
	st, _ := store.NewFileStore(t.TempDir())
	env := newEnv(t, st, time.Date(2025, 6, 1, 6, 0, 0, 0, time.UTC))
	getenv := func(k string) string { return e[k] }
	res, err := extract.Run(context.Background(), env, cfg, extract.Options{NewSource: ldapFactory(getenv, nil), Getenv: getenv})
	if err != nil {
		t.Fatalf("Run: got %v, want success", err)
	}
	got := map[string]snapshot{}
	for _, tr := range res.Trees {
		if tr.Status != extract.StatusPublished {
			t.Errorf("tree %s: got status %s, want published", tr.Tree, tr.Status)
		}
		got[tr.Tree] = readSnapshot(t, st, env.RunID, tr.Tree)
	}
	if n := len(got["acme"].Accounts); n != 16 {
		t.Errorf("acme accounts: got %d, want 16", n)
	}
	// the dangling member and nothing else is rejected
	if r := got["acme"].Rejects; len(r) != 1 || r[0].Code != "dangling_member" {
		t.Errorf("acme rejects: got %+v, want one dangling_member", r)
	}
	// cross-partition member kept with its partition, unresolved
	cross := 0
	for _, m := range got["acme"].Memberships {
		if m.MemberPartition == "Gamma Contractors" {
			cross++
		}
	}
	if cross != 2 {
		t.Errorf("acme cross-partition memberships: got %d, want 2", cross)
	}
	data, _ := json.MarshalIndent(got, "", "  ")
	golden := filepath.Join("testdata", "fixtures.golden.json")
	if *update {
		if err := os.WriteFile(golden, append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden (run with -update to create it): %v", err)
	}
	if strings.TrimSpace(string(want)) != strings.TrimSpace(string(data)) {
		t.Errorf("extracted rows differ from %s; inspect with -update and git diff", golden)
	}
}

// TestReaderSizeLimitIntegration: the reader account has a size limit of 10;
// paging still reads every entry (same rows as the admin read).
func TestReaderSizeLimitIntegration(t *testing.T) {
	e := ldapEnv(t)
	getenv := func(k string) string { return e[k] }
	counts := map[string]int64{}
	for _, who := range []struct{ dn, pw string }{{e["OTDS_TEST_LDAP_BIND_DN"], "OTDS_TEST_LDAP_PASSWORD"}, {e["OTDS_TEST_LDAP_READER_DN"], "OTDS_TEST_LDAP_READER_PASSWORD"}} {
		y := fmt.Sprintf("version: 1\ntrees:\n  - name: all\n    source: ldap\n    ldap:\n      url: %s\n      bind_dn: %q\n      bind_password: {env: %s}\n      page_size: 9\n",
			e["OTDS_TEST_LDAP_URL"], who.dn, who.pw)
		st, _ := store.NewFileStore(t.TempDir())
		env := newEnv(t, st, time.Date(2025, 6, 1, 6, 0, 0, 0, time.UTC))
		res, err := extract.Run(context.Background(), env, testConfig(t, y), extract.Options{NewSource: ldapFactory(getenv, nil)})
		if err != nil {
			t.Fatalf("Run as %s: %v", who.dn, err)
		}
		counts[who.dn] = res.Trees[0].Accounts*1000 + res.Trees[0].Groups
	}
	if got, want := counts[e["OTDS_TEST_LDAP_READER_DN"]], int64(30*1000+24); got != want {
		t.Errorf("reader (size limit 10) accounts*1000+groups: got %d, want %d (all but otds.admin)", got, want)
	}
	if counts[e["OTDS_TEST_LDAP_READER_DN"]] != counts[e["OTDS_TEST_LDAP_BIND_DN"]] {
		t.Errorf("reader and admin reads differ: %v", counts)
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestKillMidReadIntegration: slapd killed after the first page: the tree is
// not published and the run classifies as transient (3).
func TestKillMidReadIntegration(t *testing.T) {
	ldapEnv(t)
	root, _ := filepath.Abs("..")
	dir := t.TempDir()
	port := freePort(t)
	up := exec.Command(filepath.Join(root, "scripts", "slapd.sh"), "up", "--dir", dir, "--port", strconv.Itoa(port))
	if out, err := up.CombinedOutput(); err != nil {
		t.Fatalf("start private slapd: %v\n%s", err, out)
	}
	pidBytes, err := os.ReadFile(filepath.Join(dir, "slapd.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(pidBytes)))
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	y := fmt.Sprintf("version: 1\ntrees:\n  - name: acme\n    source: ldap\n    ldap:\n      url: ldap://127.0.0.1:%d\n      bind_dn: cn=Directory Manager\n      bind_password: {env: PW}\n      page_size: 3\n      timeout: 5s\n", port)
	getenv := func(string) string { return "secret" }
	killed := false
	hook := func(s *ldap.Source) {
		s.PageHook = func(page, n int) {
			if page == 1 && !killed {
				killed = true
				if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
					t.Errorf("kill slapd %d: %v", pid, err)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	st, _ := store.NewFileStore(t.TempDir())
	env := newEnv(t, st, time.Date(2025, 6, 1, 6, 0, 0, 0, time.UTC))
	res, err := extract.Run(context.Background(), env, testConfig(t, y), extract.Options{NewSource: ldapFactory(getenv, hook)})
	if !killed {
		t.Fatalf("the page hook never ran")
	}
	if got, want := exitcode.Of(err), exitcode.Transient; got != want {
		t.Fatalf("exit code: got %d (%v), want %d", got, err, want)
	}
	if res.Trees[0].Status != extract.StatusFailed {
		t.Errorf("status: got %s, want failed", res.Trees[0].Status)
	}
	if _, _, err := artifact.ReadManifest(context.Background(), st, env.RunID, "extract.acme"); !errors.Is(err, artifact.ErrNotPublished) {
		t.Errorf("manifest after a killed read: got %v, want ErrNotPublished", err)
	}
}

// TestDropGateIntegration: a second run that sees 31% fewer accounts trips
// the drop gate (exit 4) and publishes nothing; the message names tree,
// figure and threshold.
func TestDropGateIntegration(t *testing.T) {
	e := ldapEnv(t)
	getenv := func(k string) string { return e[k] }
	st, _ := store.NewFileStore(t.TempDir())
	day1 := newEnv(t, st, time.Date(2025, 6, 1, 6, 0, 0, 0, time.UTC))
	cfg1 := testConfig(t, treesYAML(e["OTDS_TEST_LDAP_URL"], e["OTDS_TEST_LDAP_BIND_DN"], "OTDS_TEST_LDAP_PASSWORD", 50, ""))
	if _, err := extract.Run(context.Background(), day1, cfg1, extract.Options{Trees: []string{"acme"}, NewSource: ldapFactory(getenv, nil)}); err != nil {
		t.Fatalf("day 1: %v", err)
	}
	// 5 of 16 acme accounts filtered out: a 31.25% drop
	drop := "      user_filter: \"(!(|(cn=asmith)(cn=bwayne)(cn=jmueller)(cn=rjones)(cn=mgarcia)))\"\n"
	cfg2 := testConfig(t, treesYAML(e["OTDS_TEST_LDAP_URL"], e["OTDS_TEST_LDAP_BIND_DN"], "OTDS_TEST_LDAP_PASSWORD", 50, drop))
	day2 := newEnv(t, st, time.Date(2025, 6, 2, 6, 0, 0, 0, time.UTC))
	res, err := extract.Run(context.Background(), day2, cfg2, extract.Options{Trees: []string{"acme"}, NewSource: ldapFactory(getenv, nil)})
	if got, want := exitcode.Of(err), exitcode.SourceGate; got != want {
		t.Fatalf("exit code: got %d (%v), want %d", got, err, want)
	}
	for _, s := range []string{"tree acme", "31.2%", "max_drop_percent 10"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q: want it to contain %q", err, s)
		}
	}
	if res.Trees[0].Status != extract.StatusGated || res.Trees[0].Previous != 16 || res.Trees[0].Accounts != 11 {
		t.Errorf("result: got %+v, want gated with 16 -> 11", res.Trees[0])
	}
	if _, _, err := artifact.ReadManifest(context.Background(), st, day2.RunID, "extract.acme"); !errors.Is(err, artifact.ErrNotPublished) {
		t.Errorf("day 2 manifest: got %v, want ErrNotPublished", err)
	}
}
