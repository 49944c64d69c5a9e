package ldap

import (
	"bytes"
	"runtime"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	goldap "github.com/go-ldap/ldap/v3"
)

// message encodes an LDAPMessage the way a server would (asn1-ber).
func message(id int64, op *ber.Packet, controls ...goldap.Control) []byte {
	env := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	env.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, ""))
	env.AppendChild(op)
	if len(controls) > 0 {
		cp := ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, "")
		for _, c := range controls {
			cp.AppendChild(c.Encode())
		}
		env.AppendChild(cp)
	}
	return env.Bytes()
}

func TestDecodeEntryAndDone(t *testing.T) {
	big := bytes.Repeat([]byte("m"), 70000) // long-form lengths
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, goldap.ApplicationSearchResultEntry, nil, "")
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "cn=a,dc=x", ""))
	attrs := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	for _, a := range []struct {
		name string
		vals []string
	}{{"objectClass", []string{"top", "oTPerson"}}, {"mail", []string{"a@x", string(big)}}, {"empty", nil}} {
		pa := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
		pa.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, a.name, ""))
		set := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSet, nil, "")
		for _, v := range a.vals {
			set.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, v, ""))
		}
		pa.AppendChild(set)
		attrs.AppendChild(pa)
	}
	op.AppendChild(attrs)
	done := ber.Encode(ber.ClassApplication, ber.TypeConstructed, goldap.ApplicationSearchResultDone, nil, "")
	done.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, uint64(goldap.LDAPResultSizeLimitExceeded), ""))
	done.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", ""))
	done.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "too many", ""))
	paging := goldap.NewControlPaging(10)
	paging.SetCookie([]byte("next"))

	c := newWireConn(nil, 0)
	c.br.Reset(bytes.NewReader(append(message(7, op), message(7, done, paging)...)))
	id, tag, body, _, err := c.readMessage()
	if err != nil || id != 7 || tag != tagSearchEntry {
		t.Fatalf("read entry: got id %d tag %#x err %v, want 7 %#x nil", id, tag, err, tagSearchEntry)
	}
	var e rawEntry
	if err := parseEntry(body, &e); err != nil {
		t.Fatalf("parseEntry: %v", err)
	}
	if got, want := string(e.dn), "cn=a,dc=x"; got != want {
		t.Errorf("dn: got %q, want %q", got, want)
	}
	if len(e.attrs) != 3 || string(e.attrs[1].name) != "mail" || len(e.attrs[1].vals) != 2 || !bytes.Equal(e.attrs[1].vals[1], big) || len(e.attrs[2].vals) != 0 {
		t.Errorf("attributes: got %d attrs, want objectClass(2), mail(2, one of 70000 bytes), empty(0)", len(e.attrs))
	}
	_, tag, body, ctls, err := c.readMessage()
	if err != nil || tag != tagSearchDone {
		t.Fatalf("read done: got tag %#x err %v", tag, err)
	}
	r, _, err := parseResult(body)
	if err != nil || r.err("search") == nil || r.diagnostic != "too many" {
		t.Errorf("result: got %+v (err %v), want a size-limit error with its message", r, err)
	}
	cookie, found, err := pagedCookie(ctls)
	if err != nil || !found || string(cookie) != "next" {
		t.Errorf("paged cookie: got %q found %v err %v, want \"next\"", cookie, found, err)
	}
	if _, _, _, _, err := c.readMessage(); err == nil {
		t.Errorf("read past the end: got no error, want a network error")
	}
}

func TestDecodeRejectsTruncated(t *testing.T) {
	for _, d := range [][]byte{{0x04}, {0x04, 0x05, 'a'}, {0x04, 0x85, 1, 1, 1, 1, 1}, {0x1f, 0x01, 0}} {
		if _, _, _, err := tlv(d); err == nil {
			t.Errorf("tlv(% x): got no error, want one", d)
		}
	}
}

// TestDeclaredLengthDoesNotAllocate: a message header declaring close to
// the 1 GiB limit, followed by a few bytes and the end of the stream, fails
// without allocating what the header declared (FuzzDecodeResponse found the
// reader allocating the declared length before reading anything).
func TestDeclaredLengthDoesNotAllocate(t *testing.T) {
	data := append([]byte{0x30, 0x84, 0x3f, 0xff, 0xff, 0x00}, bytes.Repeat([]byte{0x02}, 100)...)
	c := newWireConn(nil, 0)
	c.br.Reset(bytes.NewReader(data))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, _, _, err := c.readMessage()
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("got no error for a truncated message")
	}
	if got := (after.TotalAlloc - before.TotalAlloc) >> 20; got > 16 {
		t.Errorf("allocated %d MiB for a 106-byte input, want at most 16", got)
	}
}
