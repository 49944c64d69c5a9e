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

// TestChurn: -churn gives day 2 of the same trees: about a quarter of the
// churn share each joins, leaves, moves department or is disabled, and every
// other account is written byte for byte as on day 1.
func TestChurn(t *testing.T) {
	o := options{accounts: 20000, trees: 5, dupShare: 0.1, groups: "auto", seed: 3}
	day1, st1 := gen(t, o)
	o.churn = 0.04
	day2, st2 := gen(t, o)

	// entries by DN, as their LDIF text
	entries := func(dir string) map[string]string {
		m := map[string]string{}
		for i := 0; i < 5; i++ {
			b, err := os.ReadFile(filepath.Join(dir, "tree-0"+string(rune('0'+i))+".ldif"))
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range strings.Split(string(b), "\n\n") {
				if first, _, ok := strings.Cut(strings.TrimSpace(e), "\n"); ok && strings.Contains(e, "objectClass: oTPerson") {
					m[first] = e
				}
			}
		}
		return m
	}
	a, b := entries(day1), entries(day2)
	var left, joined, moved, disabled, changedOther int
	for dn, e1 := range a {
		e2, ok := b[dn]
		switch {
		case !ok:
			left++
		case e1 == e2:
		case !strings.Contains(e1, "ds-pwp-account-disabled") && strings.Contains(e2, "ds-pwp-account-disabled: true"):
			disabled++
		case strings.Contains(e2, "modifyTimestamp: 20260102000000Z") && dept(e1) != dept(e2):
			moved++
		default:
			changedOther++
		}
	}
	for dn := range b {
		if _, ok := a[dn]; !ok {
			joined++
		}
	}
	people := float64(st1.people)
	for _, c := range []struct {
		name string
		got  int
	}{{"leavers", left}, {"joiners", joined}, {"movers", moved}, {"newly disabled", disabled}} {
		// a quarter of 4% of the people each (accounts: duplicates count more; disabled: minus those already disabled)
		if want := people * 0.01; float64(c.got) < want*0.6 || float64(c.got) > want*1.6 {
			t.Errorf("%s: got %d accounts, want about %.0f", c.name, c.got, want)
		}
	}
	if changedOther != 0 {
		t.Errorf("got %d accounts changed for no churn reason, want 0 (day 1 names, mail and groups are kept)", changedOther)
	}
	if st2.accounts != len(b) || st1.accounts != len(a) {
		t.Errorf("stats: got %d and %d accounts, parsed %d and %d", st1.accounts, st2.accounts, len(a), len(b))
	}
}

func dept(entry string) string {
	for _, l := range strings.Split(entry, "\n") {
		if v, ok := strings.CutPrefix(l, "oTDepartment: "); ok {
			return v
		}
	}
	return ""
}
