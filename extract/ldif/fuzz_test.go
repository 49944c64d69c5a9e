package ldif

import (
	"context"
	"os"
	"testing"

	"github.com/otds-highspot/otds-highspot/extract/ldif/ldiftest"
)

// FuzzSource reads arbitrary text as an LDIF export through the whole
// source (reader, entry mapping, rejects): a malformed record is a reject
// or an error, never a panic, and every published account passed the value
// rules (no control character survives in a display name).
func FuzzSource(f *testing.F) {
	if b, err := os.ReadFile(fixturePath); err == nil && len(b) > 4096 {
		f.Add(string(b[:4096]))
	}
	for _, s := range []string{
		"version: 1\n\ndn: cn=a," + base + "\nobjectClass: oTPerson\ncn: a\nmail: a@x.example\nentryUUID: 1\n",
		"dn:: Y249YQ==\nobjectClass: oTGroup\ncn: g\noTMember: cn=a," + base + "\nentryUUID: 2\n",
		"dn: cn=a," + base + "\n continued\n#comment\nobjectClass: oTPerson\ndisplayName:: QW5uAEV2aWw=\nmail: a; b\nentryUUID: 3\n",
		"dn: cn=x\nchangetype: modify\n-\n", "dn: cn=u\njpegPhoto:< file:///etc/passwd\n", "\n\n\r\n", "dn:: ////\n",
	} {
		f.Add(s)
	}
	tree := testTree(f, "fuzz", "")
	f.Fuzz(func(t *testing.T, text string) {
		src, err := New(tree, stringOpener(text), quietLog())
		if err != nil {
			t.Fatal(err)
		}
		var sink ldiftest.Sink
		_ = src.Read(context.Background(), &sink)
		for _, a := range sink.Accounts {
			for _, d := range a.DisplayName {
				for _, c := range []byte(d) {
					if c < 0x20 || c == 0x7f {
						t.Fatalf("account %q published with a control character in its display name %q", a.DN, d)
					}
				}
			}
		}
	})
}
