package ldif

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/otds-highspot/otds-highspot/extract/entry"
	"github.com/otds-highspot/otds-highspot/extract/extractconf"
	"github.com/otds-highspot/otds-highspot/extract/ldif/ldiftest"
	"github.com/otds-highspot/otds-highspot/internal/config"
	"github.com/otds-highspot/otds-highspot/internal/exitcode"
)

// FixturePath is the repository's OTDS fixture (the same data slapd and the
// REST stand-in load).
const fixturePath = "../../fixtures/otds/trees.ldif"

// withPath adds an ldif path when the test's YAML does not name one (the
// tests hand the source their own reader; validation wants a path).
func withPath(yml string) string {
	if strings.Contains(yml, "ldif:") {
		return yml
	}
	return yml + "    ldif: {path: test.ldif}\n"
}

func testTree(t testing.TB, name, yml string) extractconf.Tree {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte("version: 1\nstore: {url: ./a}\ntrees:\n  - name: "+name+"\n    source: ldif\n"+withPath(yml)))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg.Trees[0]
}

func fileOpener(_ context.Context, path string) (io.ReadCloser, error) { return os.Open(path) }

func stringOpener(s string) Opener {
	return func(context.Context, string) (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(s)), nil }
}

func quietLog() logrus.FieldLogger { l, _ := test.NewNullLogger(); return l }

func readTree(t *testing.T, tree extractconf.Tree, open Opener) *ldiftest.Sink {
	t.Helper()
	src, err := New(tree, open, quietLog())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	var sink ldiftest.Sink
	if err := src.Read(context.Background(), &sink); err != nil {
		t.Fatalf("Read: %v", err)
	}
	return &sink
}

func TestSourceFixture(t *testing.T) {
	tree := testTree(t, "all", "    ldif: {path: "+fixturePath+"}\n    extra_attributes: {territory: oTExtraAttr1}\n")
	s := readTree(t, tree, fileOpener)
	// 31 users and 25 groups in the file, minus otds.admin's otadmin and otdsadmins.
	if got, want := len(s.Accounts), 30; got != want {
		t.Errorf("accounts: got %d, want %d", got, want)
	}
	if got, want := len(s.Groups), 24; got != want {
		t.Errorf("groups: got %d, want %d", got, want)
	}
	if len(s.Rejects) != 0 {
		t.Errorf("rejects: got %v, want none", s.Rejects)
	}
	j := s.FindAccount("Acme Corp", "jmueller")
	if j == nil {
		t.Fatalf("jmueller not read")
	}
	if got, want := j.DisplayName, []string{"Jürgen Müller"}; !reflect.DeepEqual(got, want) {
		t.Errorf("jmueller display name: got %q, want %q", got, want)
	}
	if got, want := j.ObjectGUID, "be209e7a-d064-527a-8de5-017a17591121"; got != want {
		t.Errorf("jmueller guid: got %q, want %q", got, want)
	}
	if got, want := j.SourceID, "7350375b-a982-5156-8ed4-1bd5fd761ec3"; got != want {
		t.Errorf("jmueller source id: got %q, want %q", got, want)
	}
	if j.ModifiedAt == nil || j.ModifiedAt.Year() < 2018 {
		t.Errorf("jmueller modified_at: got %v, want a parsed GeneralizedTime", j.ModifiedAt)
	}
	if m := s.FindAccount("Beta GmbH", "mschulz"); m == nil || len(m.Mail) != 2 || m.Extra["territory"][0] != "EMEA-DACH" {
		t.Errorf("mschulz: got %+v, want two mail values and territory EMEA-DACH", m)
	}
	if l := s.FindAccount("Beta GmbH", "lfischer"); l == nil || !reflect.DeepEqual(l.Disabled, []string{"TRUE"}) {
		t.Errorf("lfischer disabled: got %+v, want raw [TRUE]", l)
	}
	if g := s.FindGroup("Acme Corp", "R&D, Europe"); g == nil || !strings.HasPrefix(g.DN, `cn=R&D\, Europe,`) {
		t.Errorf("escaped group: got %+v, want DN as written", g)
	}
	cp := s.FindGroup("Acme Corp", "Channel Partners")
	if cp == nil {
		t.Fatalf("Channel Partners not read")
	}
	var dangling bool
	var n int64
	for _, m := range s.Members {
		if m.GroupSourceID == cp.SourceID {
			n++
			dangling = dangling || strings.HasPrefix(m.MemberDN, "cn=former.partner,")
		}
	}
	if !dangling || n != cp.MemberCount {
		t.Errorf("Channel Partners members: got %d values (dangling seen %v), want %d incl. cn=former.partner", n, dangling, cp.MemberCount)
	}
}

func TestSourcePartitions(t *testing.T) {
	tests := []struct {
		name string
		yml  string
		want map[string]int // partition -> accounts
	}{
		{"include one", "    partitions: [\"beta gmbh\"]\n", map[string]int{"Beta GmbH": 9}},
		{"exclude nothing", "    exclude_partitions: []\n    partitions: [otds.admin]\n", map[string]int{"otds.admin": 1}},
		{"exclude gamma", "    exclude_partitions: [otds.admin, Gamma Contractors]\n", map[string]int{"Acme Corp": 16, "Beta GmbH": 9}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := readTree(t, testTree(t, "p", "    ldif: {path: "+fixturePath+"}\n"+tc.yml), fileOpener)
			got := map[string]int{}
			for _, a := range s.Accounts {
				got[a.Partition]++
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("accounts per partition: got %v, want %v", got, tc.want)
			}
		})
	}
}

const base = "ou=Root,ou=P1,ou=IdentityProviders,dc=identity,dc=opentext,dc=net"

func TestSourceRejects(t *testing.T) {
	text := strings.Join([]string{
		"version: 1",
		"",
		"dn: cn=ok," + base, "objectClass: oTPerson", "cn: ok", "mail: ok@x.example", "entryUUID: 00000000-0000-0000-0000-000000000001", "",
		"dn: cn=badutf8," + base, "objectClass: oTPerson", "cn: badutf8", "mail: b@x", "sn:: /v8=", "entryUUID: 00000000-0000-0000-0000-000000000002", "",
		"dn: cn=noid," + base, "objectClass: oTPerson", "cn: noid", "",
		"dn: cn=url," + base, "objectClass: oTPerson", "jpegPhoto:< file:///x", "",
		"dn: cn=change," + base, "changetype: delete", "",
		"dn: cn=ou-url," + base, "objectClass: organizationalUnit", "description:< file:///x", "",
		"dn: cn=g," + base, "objectClass: oTGroup", "cn: g", "entryUUID: 00000000-0000-0000-0000-000000000003", "oTMember: cn=ok," + base, "",
		"dn: cn=badguid," + base, "objectClass: oTGroup", "cn: badguid", "oTObjectGUID: xyz", "entryUUID: 00000000-0000-0000-0000-000000000004", "",
		"dn: cn=badtime," + base, "objectClass: oTPerson", "cn: badtime", "mail: t@x.example", "modifyTimestamp: yesterday", "entryUUID: 00000000-0000-0000-0000-000000000005", "",
		"dn: cn=nomail," + base, "objectClass: oTPerson", "cn: nomail", "mail:  ", "entryUUID: 00000000-0000-0000-0000-000000000006", "",
		"dn: cn=x,ou=Root,ou=otds.admin,ou=IdentityProviders,dc=identity,dc=opentext,dc=net", "objectClass: oTPerson", "jpegPhoto:< file:///x", "",
		"dn: cn=outside,dc=elsewhere", "objectClass: oTPerson", "cn: outside", "entryUUID: 00000000-0000-0000-0000-000000000007", "",
	}, "\r\n")
	tree := testTree(t, "r", "    required_attributes: [login]\n")
	tree.RequiredAttributes = []string{"login", "mail"}
	s := readTree(t, tree, stringOpener(text))
	var got []string
	for _, r := range s.Rejects {
		got = append(got, strings.SplitN(r.DN, ",", 2)[0]+":"+r.Code)
	}
	// entry.Mapper keeps an unrecognized GUID as "" and an unparsable
	// timestamp as null (B1's shared mapping), so badguid and badtime are rows.
	want := []string{"cn=badutf8:bad_utf8", "cn=noid:missing_attribute", "cn=url:url_value", "cn=change:change_record",
		"cn=nomail:missing_attribute"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rejects: got %q, want %q", got, want)
	}
	if len(s.Accounts) != 2 || len(s.Groups) != 2 || len(s.Members) != 1 {
		t.Errorf("rows: got %d accounts, %d groups, %d members, want 2, 2, 1", len(s.Accounts), len(s.Groups), len(s.Members))
	}
	for _, r := range s.Rejects {
		if r.Tree != "r" || r.Reason == "" {
			t.Errorf("reject %+v: want tree r and a reason", r)
		}
	}
}

func TestSourceCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	src, err := New(testTree(t, "c", "    ldif: {path: "+fixturePath+"}\n"), fileOpener, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	var sink ldiftest.Sink
	if err := src.Read(ctx, &sink); !errors.Is(err, context.Canceled) {
		t.Errorf("Read with a cancelled context: got %v, want context.Canceled", err)
	}
}

func TestSourceOpenError(t *testing.T) {
	src, err := New(testTree(t, "o", "    ldif: {path: /nonexistent/x.ldif}\n"), fileOpener, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	var sink ldiftest.Sink
	err = src.Read(context.Background(), &sink)
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/x.ldif") || !strings.Contains(err.Error(), "trees[].ldif.path") {
		t.Errorf("Read of a missing file: got %v, want an error naming the path and the config key", err)
	}
	if got := exitcode.Of(err); got != exitcode.Usage {
		t.Errorf("Read of a missing file: exit %d, want %d (configuration, not transient)", got, exitcode.Usage)
	}
}

// TestSourceValidatesValues: every mail value that is not an address by
// validate.Email becomes a bad_email reject (the account is still
// published, without that value), and a display name with control
// characters is published cleaned with a control_characters reject; none is
// dropped silently (issue 12).
func TestSourceValidatesValues(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	cases := []struct {
		name, mail, display string
		wantMail            []string
		wantDisplay         string
		wantCodes           []string
	}{
		{"valid", "Ann.Evil@x.example", "Ann Evil", []string{"Ann.Evil@x.example"}, "Ann Evil", nil},
		{"nul in display name", "ann@x.example", "Ann\x00Evil", []string{"ann@x.example"}, "AnnEvil", []string{"control_characters"}},
		{"newline in display name", "ann@x.example", "Ann\nEvil", []string{"ann@x.example"}, "Ann Evil", []string{"control_characters"}},
		{"two at", "two@at@x.example", "Ann", nil, "Ann", []string{"bad_email"}},
		{"display-name form", "Ann <x@y.example>", "Ann", nil, "Ann", []string{"bad_email"}},
		{"list", "a; b", "Ann", nil, "Ann", []string{"bad_email"}},
		{"newline", "ann@x.example\nx", "Ann", nil, "Ann", []string{"bad_email"}},
		{"nul", "ann\x00@x.example", "Ann", nil, "Ann", []string{"bad_email"}},
		{"quote", `"ann"@x.example`, "Ann", nil, "Ann", []string{"bad_email"}},
		{"dot dot slash", "../ann@x.example", "Ann", nil, "Ann", []string{"bad_email"}},
		{"both", "a; b", "Ann\x1bEvil", nil, "AnnEvil", []string{"bad_email", "control_characters"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text := "version: 1\n\ndn: cn=u," + base + "\nobjectClass: oTPerson\ncn: u\nmail:: " + b64(c.mail) +
				"\ndisplayName:: " + b64(c.display) + "\nentryUUID: 00000000-0000-0000-0000-000000000001\n"
			s := readTree(t, testTree(t, "v", ""), stringOpener(text))
			if len(s.Accounts) != 1 {
				t.Fatalf("got %d accounts, want 1 (a bad value never drops the account)", len(s.Accounts))
			}
			a := s.Accounts[0]
			if !reflect.DeepEqual(a.Mail, c.wantMail) {
				t.Errorf("mail: got %q, want %q", a.Mail, c.wantMail)
			}
			if len(a.DisplayName) != 1 || a.DisplayName[0] != c.wantDisplay {
				t.Errorf("display_name: got %q, want %q", a.DisplayName, c.wantDisplay)
			}
			var codes []string
			for _, r := range s.Rejects {
				codes = append(codes, r.Code)
				if r.Reason == "" || r.Detail == "" || r.SourceID == "" {
					t.Errorf("reject %+v: want a reason, the value as detail and the source id", r)
				}
			}
			if !reflect.DeepEqual(codes, c.wantCodes) {
				t.Errorf("reject codes: got %q, want %q", codes, c.wantCodes)
			}
		})
	}
}

// TestSourceLimits: trees[].limits drop a value too large and the values
// past max_values_per_attribute with a reject row each, and fail the read
// (never drop members silently) for a group above max_members_per_group.
func TestSourceLimits(t *testing.T) {
	limits := "    limits: {max_value_bytes: 20, max_values_per_attribute: 2, max_members_per_group: 2}\n"
	acc := "version: 1\n\ndn: cn=u," + base + "\nobjectClass: oTPerson\ncn: u\nentryUUID: 00000000-0000-0000-0000-000000000001\n" +
		"title: a title far longer than twenty bytes\nmail: a@x.example\nmail: b@x.example\nmail: c@x.example\n"
	s := readTree(t, testTree(t, "l", limits), stringOpener(acc))
	if len(s.Accounts) != 1 {
		t.Fatalf("got %d accounts, want 1", len(s.Accounts))
	}
	a := s.Accounts[0]
	if len(a.Title) != 0 || !reflect.DeepEqual(a.Mail, []string{"a@x.example", "b@x.example"}) {
		t.Errorf("got title %q and mail %q, want no title and the first two mail values", a.Title, a.Mail)
	}
	var codes []string
	for _, r := range s.Rejects {
		codes = append(codes, r.Code)
	}
	if want := []string{"too_many_values", "value_too_large"}; !reflect.DeepEqual(codes, want) {
		t.Errorf("reject codes: got %q, want %q", codes, want)
	}

	grp := "version: 1\n\ndn: cn=g," + base + "\nobjectClass: oTGroup\ncn: g\nentryUUID: 00000000-0000-0000-0000-000000000002\n" +
		"oTMember: cn=a," + base + "\noTMember: cn=b," + base + "\noTMember: cn=c," + base + "\n"
	src, err := New(testTree(t, "l", limits), stringOpener(grp), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	err = src.Read(context.Background(), &ldiftest.Sink{})
	var le *entry.LimitError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "max_members_per_group") {
		t.Errorf("group with 3 members: got %v, want a *entry.LimitError naming max_members_per_group", err)
	}
	if code := exitcode.Of(err); code != exitcode.SourceGate {
		t.Errorf("group with 3 members: exit code %d, want %d (source_gate: a retry reads the same group)", code, exitcode.SourceGate)
	}
}
