package otdsrest

import (
	"context"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/otds-highspot/otds-highspot/extract/extractconf"
	"github.com/otds-highspot/otds-highspot/extract/ldif"
	"github.com/otds-highspot/otds-highspot/extract/ldif/ldiftest"
	"github.com/otds-highspot/otds-highspot/internal/config"
	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/tools/otds-standin/standin"
)

// fixturePath is the repository's OTDS fixture: slapd, the ldif source and
// the stand-in all load it.
const fixturePath = "../../fixtures/otds/trees.ldif"

func quietLog() logrus.FieldLogger { l, _ := test.NewNullLogger(); return l }

func loadFixture(t *testing.T) *standin.Data {
	t.Helper()
	f, err := os.Open(fixturePath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := standin.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// startStandin serves the fixture; the server is closed with the test.
func startStandin(t *testing.T, opt standin.Options) (*standin.Server, *httptest.Server) {
	t.Helper()
	s := standin.New(loadFixture(t), opt)
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	return s, hs
}

func parseTree(t testing.TB, yml string) extractconf.Tree {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte("version: 1\nstore: {url: ./a}\ntrees:\n"+yml))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg.Trees[0]
}

func restTree(t *testing.T, url, extra string) extractconf.Tree {
	return parseTree(t, "  - name: rest\n    source: otds-rest\n    extra_attributes: {territory: oTExtraAttr1, business_unit: oTExtraAttr2}\n"+
		"    rest:\n      url: "+url+"/otdsws\n      username: admin\n      password: {env: OTDS_PW}\n"+extra)
}

func getenv(k string) string {
	if k == "OTDS_PW" || k == "OTDS_SECRET" {
		return "secret"
	}
	return ""
}

// fast makes retries quick in tests.
func fast(t *testing.T, tree extractconf.Tree, client *http.Client) *Source {
	t.Helper()
	s, err := newSource(tree, getenv, client, quietLog())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	s.backoff.Base, s.backoff.Max = time.Millisecond, 5*time.Millisecond
	return s
}

func readREST(t *testing.T, s *Source) (*ldiftest.Sink, error) {
	t.Helper()
	var sink ldiftest.Sink
	err := s.Read(context.Background(), &sink)
	return &sink, err
}

func readLDIF(t *testing.T, yml string) *ldiftest.Sink {
	t.Helper()
	tree := parseTree(t, "  - name: rest\n    source: ldif\n    extra_attributes: {territory: oTExtraAttr1, business_unit: oTExtraAttr2}\n    ldif: {path: "+fixturePath+"}\n"+yml)
	src, err := ldif.New(tree, func(_ context.Context, p string) (io.ReadCloser, error) { return os.Open(p) }, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	var sink ldiftest.Sink
	if err := src.Read(context.Background(), &sink); err != nil {
		t.Fatalf("ldif Read: %v", err)
	}
	return &sink
}

func diff(t *testing.T, what string, got, want []string) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	g, w := map[string]bool{}, map[string]bool{}
	for _, x := range got {
		g[x] = true
	}
	for _, x := range want {
		w[x] = true
	}
	for _, x := range got {
		if !w[x] {
			t.Errorf("%s: only in REST: %s", what, x)
		}
	}
	for _, x := range want {
		if !g[x] {
			t.Errorf("%s: only in LDIF: %s", what, x)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%s: got %d rows, want %d", what, len(got), len(want))
	}
}

// TestRESTEqualsLDIF is the equivalence test: the same fixture read through
// the REST stand-in (small pages, tickets expiring every few requests, both
// expiry styles, oauth2) and through the ldif source gives the same rows in
// the comparison form of ldiftest.Canonical.
func TestRESTEqualsLDIF(t *testing.T) {
	want := ldiftest.Canonical(readLDIF(t, ""))
	if len(want.Accounts) != 30 || len(want.Groups) != 24 || len(want.Dangling) != 1 {
		t.Fatalf("ldif fixture: got %d accounts, %d groups, %d dangling, want 30, 24, 1", len(want.Accounts), len(want.Groups), len(want.Dangling))
	}
	tests := []struct {
		name  string
		opt   standin.Options
		extra string
	}{
		{"ticket, pages of 3, expiry every 5 requests (401)", standin.Options{Faults: standin.Faults{TicketMaxUses: 5}}, "      page_size: 3\n"},
		{"ticket, expiry as 400 status 1034, values-list form", standin.Options{IgnoreAttrsAsKeys: true, Faults: standin.Faults{TicketMaxUses: 4, Expiry400: true}}, "      page_size: 7\n"},
		{"oauth2, partitions discovered, default page size", standin.Options{Faults: standin.Faults{TicketMaxUses: 10}},
			"      auth: oauth2\n      client_id: etl\n      client_secret: {env: OTDS_SECRET}\n"},
		{"transient 5xx and dropped connections are retried", standin.Options{Faults: standin.Faults{FailRate: 0.2, Seed: 7, DropEvery: 9}}, "      page_size: 5\n      retries: 8\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, hs := startStandin(t, tc.opt)
			tree := restTree(t, hs.URL, tc.extra)
			if tree.Rest.Auth == "oauth2" {
				tree.Rest.Username = ""
			}
			sink, err := readREST(t, fast(t, tree, hs.Client()))
			if err != nil {
				t.Fatalf("REST Read: %v", err)
			}
			got := ldiftest.Canonical(sink)
			diff(t, "accounts", got.Accounts, want.Accounts)
			diff(t, "groups", got.Groups, want.Groups)
			diff(t, "memberships", got.Memberships, want.Memberships)
			diff(t, "rejects", got.Rejects, want.Rejects)
			if len(got.Dangling) != 0 {
				t.Errorf("REST dangling members: got %v, want none (OTDS keeps no member that does not exist)", got.Dangling)
			}
			stats := st.Stats()
			if tc.opt.TicketMaxUses > 0 && (stats.Expired == 0 || stats.SignIns < 2) {
				t.Errorf("stand-in stats %+v: want expired tickets and several sign-ins", stats)
			}
			if tc.opt.FailRate > 0 && (stats.Failed == 0 || stats.Dropped == 0) {
				t.Errorf("stand-in stats %+v: want injected failures and drops", stats)
			}
		})
	}
}

func TestPagingUsesPageSize(t *testing.T) {
	st, hs := startStandin(t, standin.Options{})
	sink, err := readREST(t, fast(t, restTree(t, hs.URL, "      page_size: 4\n      partitions: [Acme Corp]\n"), hs.Client()))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(sink.Accounts), 16; got != want {
		t.Errorf("accounts: got %d, want %d", got, want)
	}
	stats := st.Stats()
	for _, n := range stats.PageSizes {
		if n != 4 {
			t.Fatalf("page sizes: got %v, want all 4", stats.PageSizes)
		}
	}
	// 16 users in pages of 4 = 4 user pages; groups and members add more.
	if stats.DataRequests < 5 {
		t.Errorf("data requests: got %d, want several pages", stats.DataRequests)
	}
	for _, a := range sink.Accounts {
		if a.Partition != "Acme Corp" {
			t.Errorf("account %s: partition %q, want only Acme Corp", a.DN, a.Partition)
		}
	}
}

func TestPseudoDNs(t *testing.T) {
	_, hs := startStandin(t, standin.Options{PseudoDNs: true})
	sink, err := readREST(t, fast(t, restTree(t, hs.URL, "      partitions: [Gamma Contractors]\n"), hs.Client()))
	if err != nil {
		t.Fatal(err)
	}
	if len(sink.Accounts) == 0 {
		t.Fatal("no accounts")
	}
	for _, a := range sink.Accounts {
		if !strings.HasPrefix(a.DN, "oTPerson="+a.SourceID+",") || a.Partition != "Gamma Contractors" {
			t.Errorf("account: got DN %q partition %q, want the pseudo-DN and partition from userPartitionID", a.DN, a.Partition)
		}
	}
}

func TestPersistent5xxFails(t *testing.T) {
	st, hs := startStandin(t, standin.Options{Faults: standin.Faults{FailRate: 1}})
	_, err := readREST(t, fast(t, restTree(t, hs.URL, "      retries: 3\n"), hs.Client()))
	if err == nil || !strings.Contains(err.Error(), "after 4 attempts") || !strings.Contains(err.Error(), "503") {
		t.Fatalf("Read against a failing server: got %v, want an error after 4 attempts naming the 503", err)
	}
	if got := st.Stats().Failed; got != 4 {
		t.Errorf("failed requests: got %d, want 4 (1 + 3 retries)", got)
	}
}

func TestBadCredentials(t *testing.T) {
	_, hs := startStandin(t, standin.Options{Users: map[string]string{"admin": "other"}})
	_, err := readREST(t, fast(t, restTree(t, hs.URL, ""), hs.Client()))
	if err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "secret") {
		t.Fatalf("Read with a wrong password: got %v, want a 401 sign-in error that does not show the password", err)
	}
	if got := exitcode.Of(err); got != exitcode.Auth {
		t.Errorf("wrong password: exit %d, want %d (auth: never retried, it may lock the account)", got, exitcode.Auth)
	}
}

func TestExpiredRightAfterSignInFails(t *testing.T) {
	// Every ticket expires on first use: one re-authentication, then an error.
	_, hs := startStandin(t, standin.Options{Faults: standin.Faults{TicketTTL: time.Nanosecond}})
	_, err := readREST(t, fast(t, restTree(t, hs.URL, "      partitions: [Acme Corp]\n"), hs.Client()))
	if err == nil || !strings.Contains(err.Error(), "right after signing in again") {
		t.Fatalf("Read: got %v, want a refused-after-re-sign-in error", err)
	}
	if got := exitcode.Of(err); got != exitcode.Auth {
		t.Errorf("refused after re-sign-in: exit %d, want %d (auth)", got, exitcode.Auth)
	}
}

func TestUnknownPartitionFails(t *testing.T) {
	_, hs := startStandin(t, standin.Options{})
	_, err := readREST(t, fast(t, restTree(t, hs.URL, "      partitions: [Nope]\n"), hs.Client()))
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("Read of an unknown partition: got %v, want a 404 error", err)
	}
}

func TestContextCancel(t *testing.T) {
	st := standin.New(loadFixture(t), standin.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var n int
	h := st.Handler()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		if n == 4 {
			cancel() // cancel mid-read
		}
		h.ServeHTTP(w, r)
	}))
	defer hs.Close()
	s := fast(t, restTree(t, hs.URL, "      page_size: 2\n"), hs.Client())
	var sink ldiftest.Sink
	if err := s.Read(ctx, &sink); !errors.Is(err, context.Canceled) {
		t.Fatalf("Read with a cancelled context: got %v, want context.Canceled", err)
	}
}

func TestNewResolvesSecrets(t *testing.T) {
	tree := restTree(t, "http://127.0.0.1:1", "")
	_, err := New(tree, func(string) string { return "" }, nil, quietLog())
	if err == nil || !strings.Contains(err.Error(), "OTDS_PW") {
		t.Fatalf("New without the password variable: got %v, want an error naming OTDS_PW", err)
	}
}

func TestTLS(t *testing.T) {
	st := standin.New(loadFixture(t), standin.Options{})
	hs := httptest.NewTLSServer(st.Handler())
	defer hs.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hs.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, extra string
		wantErr     string
	}{
		{"ca_file trusted", "      ca_file: " + ca + "\n      partitions: [Beta GmbH]\n", ""},
		{"insecure", "      insecure: true\n      partitions: [Beta GmbH]\n", ""},
		{"unknown CA refused", "      partitions: [Beta GmbH]\n", "certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := fast(t, restTree(t, hs.URL, tc.extra), nil)
			sink, err := readREST(t, s)
			switch {
			case tc.wantErr == "" && (err != nil || len(sink.Accounts) != 9):
				t.Errorf("got %v with %d accounts, want 9 accounts", err, len(sink.Accounts))
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("got %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}
