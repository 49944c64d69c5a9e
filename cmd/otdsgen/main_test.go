package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirupsen/logrus/hooks/test"

	"github.com/otds-highspot/otds-highspot/extract/ldif"
	"github.com/otds-highspot/otds-highspot/extract/ldif/ldiftest"
	"github.com/otds-highspot/otds-highspot/internal/config"
)

func gen(t *testing.T, o options) (string, stats) {
	t.Helper()
	o.out = t.TempDir()
	st, err := run(o)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return o.out, st
}

func TestDeterministic(t *testing.T) {
	o := options{accounts: 3000, trees: 4, dupShare: 0.2, groups: "auto", seed: 42}
	a, _ := gen(t, o)
	b, _ := gen(t, o)
	for _, f := range []string{"base.ldif", "tree-00.ldif", "tree-03.ldif", "labels.csv"} {
		x, err1 := os.ReadFile(filepath.Join(a, f))
		y, err2 := os.ReadFile(filepath.Join(b, f))
		if err1 != nil || err2 != nil || !bytes.Equal(x, y) {
			t.Errorf("%s: two runs with the same seed differ (or failed: %v %v)", f, err1, err2)
		}
	}
	o.seed = 43
	c, _ := gen(t, o)
	x, _ := os.ReadFile(filepath.Join(a, "tree-00.ldif"))
	y, _ := os.ReadFile(filepath.Join(c, "tree-00.ldif"))
	if bytes.Equal(x, y) {
		t.Errorf("seeds 42 and 43 gave the same tree-00.ldif, want different data")
	}
}

// TestReadsBack reads the generated trees with the ldif source: every
// account and group is a row, no rejects, no member that points nowhere, and
// labels.csv names every account with realistic duplicates.
func TestReadsBack(t *testing.T) {
	dir, st := gen(t, options{accounts: 5000, trees: 3, dupShare: 0.1, groups: "auto", seed: 7, single: true})
	cfg, err := config.Parse("t.yaml", []byte("version: 1\nstore: {url: ./a}\ntrees:\n  - name: gen\n    source: ldif\n    ldif: {path: "+filepath.Join(dir, "trees.ldif")+"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	log, _ := test.NewNullLogger()
	src, err := ldif.New(cfg.Trees[0], func(_ context.Context, p string) (io.ReadCloser, error) { return os.Open(p) }, log)
	if err != nil {
		t.Fatal(err)
	}
	var sink ldiftest.Sink
	if err := src.Read(context.Background(), &sink); err != nil {
		t.Fatal(err)
	}
	if got, want := len(sink.Accounts), 5000; got != want || st.accounts != want {
		t.Errorf("accounts: got %d read, %d reported, want %d", got, st.accounts, want)
	}
	if got := len(sink.Groups); got != st.groups || got < 3*30 {
		t.Errorf("groups: got %d read, %d reported, want equal and >= 90", got, st.groups)
	}
	if len(sink.Rejects) != 0 {
		t.Errorf("rejects: got %v, want none", sink.Rejects[:min(3, len(sink.Rejects))])
	}
	seen := map[string]bool{}
	for _, dn := range append(accountDNs(&sink), groupDNs(&sink)...) {
		if seen[ldiftest.CanonDN(dn)] {
			t.Fatalf("duplicate DN %q (slapadd would refuse the file)", dn)
		}
		seen[ldiftest.CanonDN(dn)] = true
	}
	rows := ldiftest.Canonical(&sink)
	if len(rows.Dangling) != 0 || len(rows.Memberships) != st.members {
		t.Errorf("memberships: got %d resolved, %d dangling, want %d resolved and none dangling", len(rows.Memberships), len(rows.Dangling), st.members)
	}
	var disabled, service int
	for _, a := range sink.Accounts {
		if len(a.Disabled) > 0 {
			disabled++
		}
		if len(a.ServiceAccount) > 0 {
			service++
		}
		if a.ObjectGUID == "" || a.ModifiedAt == nil || a.CreatedAt == nil {
			t.Fatalf("account %s: want GUID and timestamps, got %+v", a.DN, a)
		}
	}
	if disabled == 0 || service == 0 {
		t.Errorf("got %d disabled and %d service accounts, want some of each", disabled, service)
	}
	// labels: one line per account; some people in two trees.
	f, err := os.Open(filepath.Join(dir, "labels.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got := len(recs) - 1; got != 5000 {
		t.Errorf("labels: got %d rows, want 5000", got)
	}
	dns := map[string]bool{}
	for _, a := range sink.Accounts {
		dns[a.DN] = true
	}
	perPerson := map[string]int{}
	for _, r := range recs[1:] {
		if !dns[r[0]] {
			t.Fatalf("labels.csv names %q, which is not an account", r[0])
		}
		perPerson[r[1]]++
	}
	dups := 0
	for _, n := range perPerson {
		if n > 1 {
			dups += n - 1
		}
	}
	if dups != st.dups || dups < 300 || dups > 700 {
		t.Errorf("duplicate accounts: got %d in labels, %d reported, want about 10%% of 5000", dups, st.dups)
	}
	// the largest group is a tree's All Staff (every account directly).
	if st.largest < 1500 {
		t.Errorf("largest group: got %d members, want the first tree's All Staff (> 1500)", st.largest)
	}
	// variations: a duplicate with display name "Last, First" exists.
	var comma bool
	for _, a := range sink.Accounts {
		comma = comma || (len(a.DisplayName) > 0 && strings.Contains(a.DisplayName[0], ", "))
	}
	if !comma {
		t.Errorf("no display name in \"Last, First\" form, want some among duplicates")
	}
}

func accountDNs(s *ldiftest.Sink) []string {
	var out []string
	for _, a := range s.Accounts {
		out = append(out, a.DN)
	}
	return out
}

func groupDNs(s *ldiftest.Sink) []string {
	var out []string
	for _, g := range s.Groups {
		out = append(out, g.DN)
	}
	return out
}
