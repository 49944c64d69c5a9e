package ldap

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	goldap "github.com/go-ldap/ldap/v3"
)

// fuzzSeeds are well-formed server answers to a search, each a stream of
// LDAPMessages (entry, reference, done with or without paging).
func fuzzSeeds() [][]byte {
	done := lastPage(2)
	more := message(2, resultOp(goldap.ApplicationSearchResultDone, goldap.LDAPResultSuccess), func() goldap.Control {
		p := goldap.NewControlPaging(5)
		p.SetCookie([]byte("c"))
		return p
	}())
	noPaging := message(2, resultOp(goldap.ApplicationSearchResultDone, goldap.LDAPResultSuccess))
	failed := message(2, resultOp(goldap.ApplicationSearchResultDone, goldap.LDAPResultSizeLimitExceeded))
	entry := message(2, entryOp("a1"))
	ref := message(2, referenceOp("ldap://other.example/"))
	notice := message(0, resultOp(goldap.ApplicationExtendedResponse, goldap.LDAPResultUnavailable))
	join := func(p ...[]byte) []byte { return bytes.Join(p, nil) }
	return [][]byte{join(entry, done), join(entry, ref, done), join(entry, more), noPaging, failed, notice, entry[:len(entry)/2], {0x30, 0x84, 0x7f, 0xff, 0xff, 0xff}}
}

// FuzzDecodeResponse feeds arbitrary bytes to the BER reader and each
// message body to the decoder for its tag: errors are fine, panics and
// unbounded allocations are not.
func FuzzDecodeResponse(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := newWireConn(nil, 0)
		c.br.Reset(bytes.NewReader(data))
		var e rawEntry
		for i := 0; i < 64; i++ {
			_, tag, op, controls, err := c.readMessage()
			if err != nil {
				return
			}
			switch tag {
			case tagSearchEntry:
				_ = parseEntry(op, &e)
			case tagSearchRef:
				_, _ = parseReference(op)
			default:
				_, _, _ = parseResult(op)
			}
			_, _, _ = pagedCookie(controls)
		}
	})
}

// FuzzClient drives the whole client (dial, bind, paged search, mapping)
// against a net.Pipe server that answers the search with the fuzz input.
// A read that returns no error must have seen a successful last page.
func FuzzClient(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := source(t, "ldap://fake.example:389", "", "pw")
		s.dial = func(context.Context, string, string) (net.Conn, error) {
			client, server := net.Pipe()
			go func() {
				defer server.Close()
				_ = server.SetDeadline(time.Now().Add(5 * time.Second))
				for {
					p, err := ber.ReadPacket(server)
					if err != nil || len(p.Children) < 2 {
						return
					}
					id, _ := p.Children[0].Value.(int64)
					switch p.Children[1].Tag {
					case goldap.ApplicationBindRequest:
						if _, err := server.Write(message(id, resultOp(goldap.ApplicationBindResponse, goldap.LDAPResultSuccess))); err != nil {
							return
						}
					case goldap.ApplicationSearchRequest:
						// answer while still reading, so the client's
						// unbind is consumed and nothing waits on a deadline; the
						// end of the answer is the end of the connection
						go func() { _, _ = server.Write(data); server.Close() }()
					default:
						return
					}
				}
			}()
			return client, nil
		}
		var got countSink
		err := s.Read(context.Background(), &got)
		if err == nil && !bytes.Contains(data, []byte{0x65}) {
			t.Fatalf("Read returned no error on an answer without any SearchResultDone (%v)", &got)
		}
	})
}
