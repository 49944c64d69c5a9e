package ldap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	goldap "github.com/go-ldap/ldap/v3"

	"github.com/otds-highspot/otds-highspot/extract/entry"
	"github.com/otds-highspot/otds-highspot/internal/exitcode"
)

// fakeServer answers the client over net.Pipe: a successful bind, then for
// each search request the messages search(id) returns; unbind ends it.
// Requests are read with asn1-ber (the client's own encoder is go-ldap's).
func fakeServer(search func(id int64) [][]byte) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(context.Context, string, string) (net.Conn, error) {
		client, server := net.Pipe()
		go func() {
			defer server.Close()
			for {
				p, err := ber.ReadPacket(server)
				if err != nil || len(p.Children) < 2 {
					return
				}
				id, _ := p.Children[0].Value.(int64)
				var out [][]byte
				switch p.Children[1].Tag {
				case goldap.ApplicationBindRequest:
					out = [][]byte{message(id, resultOp(goldap.ApplicationBindResponse, goldap.LDAPResultSuccess))}
				case goldap.ApplicationSearchRequest:
					out = search(id)
				default:
					return
				}
				for _, m := range out {
					if _, err := server.Write(m); err != nil {
						return
					}
				}
			}
		}()
		return client, nil
	}
}

func resultOp(app uint8, code uint16) *ber.Packet {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ber.Tag(app), nil, "")
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, uint64(code), ""))
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", ""))
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", ""))
	return op
}

// entryOp is a SearchResultEntry of a user under the default base.
func entryOp(cn string) *ber.Packet {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, goldap.ApplicationSearchResultEntry, nil, "")
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString,
		"cn="+cn+",ou=Users,ou=Root,ou=P1,ou=IdentityProviders,dc=identity,dc=opentext,dc=net", ""))
	attrs := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	for _, a := range [][2]string{{"objectClass", "oTPerson"}, {"cn", cn}, {"mail", cn + "@x.example"}, {"entryUUID", "00000000-0000-0000-0000-0000000000" + cn}} {
		pa := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
		pa.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, a[0], ""))
		set := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSet, nil, "")
		set.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, a[1], ""))
		pa.AppendChild(set)
		attrs.AppendChild(pa)
	}
	op.AppendChild(attrs)
	return op
}

func referenceOp(uris ...string) *ber.Packet {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, goldap.ApplicationSearchResultReference, nil, "")
	for _, u := range uris {
		op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, u, ""))
	}
	return op
}

// lastPage is a successful SearchResultDone with an empty paging cookie.
func lastPage(id int64) []byte {
	return message(id, resultOp(goldap.ApplicationSearchResultDone, goldap.LDAPResultSuccess), goldap.NewControlPaging(0))
}

// TestSearchContinuationReferenceFailsTheRead: a SearchResultReference in
// the middle of a search makes the read fail with a clear error naming the
// reference; it is never skipped (issue 12: a partial read must never look
// complete). Without the reference the same conversation reads fine.
func TestSearchContinuationReferenceFailsTheRead(t *testing.T) {
	cases := []struct {
		name    string
		refs    []string
		wantErr string
	}{
		{"no reference", nil, ""},
		{"one reference", []string{"ldap://other.example/ou=Moved,dc=identity,dc=opentext,dc=net"},
			"1 continuation reference(s) (\"ldap://other.example/ou=Moved"},
		{"many references", []string{"ldap://a.example/", "ldap://b.example/", "ldap://c.example/", "ldap://d.example/"},
			"4 continuation reference(s) (\"ldap://a.example/\", \"ldap://b.example/\", \"ldap://c.example/\" and 1 more)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := source(t, "ldap://fake.example:389", "", "pw")
			s.dial = fakeServer(func(id int64) [][]byte {
				out := [][]byte{message(id, entryOp("a1"))}
				if len(c.refs) > 0 {
					out = append(out, message(id, referenceOp(c.refs...)))
				}
				return append(out, message(id, entryOp("a2")), lastPage(id))
			})
			var got countSink
			err := s.Read(context.Background(), &got)
			if c.wantErr == "" {
				if err != nil || got.accounts != 2 {
					t.Fatalf("got %v and %v, want 2 accounts and no error", err, &got)
				}
				return
			}
			var re *ReferralError
			if err == nil || !errors.As(err, &re) || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), "not complete") {
				t.Fatalf("got error %v, want a *ReferralError saying %q and that the read is not complete", err, c.wantErr)
			}
			if code := exitcode.Of(fmt.Errorf("tree a: %w", err)); code != exitcode.SourceGate {
				t.Errorf("exit code %d, want %d (source_gate: a retry reads the same references)", code, exitcode.SourceGate)
			}
		})
	}
}

// TestPagedSearchPageLimit: a server that always answers with another
// cookie fails the read at trees[].limits.max_pages instead of paging
// forever.
func TestPagedSearchPageLimit(t *testing.T) {
	s := source(t, "ldap://fake.example:389", "    limits: {max_pages: 3}\n", "pw")
	pages := 0
	s.dial = fakeServer(func(id int64) [][]byte {
		pages++
		p := goldap.NewControlPaging(5)
		p.SetCookie([]byte("again"))
		return [][]byte{message(id, entryOp("a1")), message(id, resultOp(goldap.ApplicationSearchResultDone, goldap.LDAPResultSuccess), p)}
	})
	err := s.Read(context.Background(), &countSink{})
	var le *entry.LimitError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "max_pages") {
		t.Fatalf("got %v, want a *entry.LimitError naming max_pages", err)
	}
	if pages > 4 {
		t.Errorf("the server answered %d searches, want at most 4 (3 pages and an abandon)", pages)
	}
}
