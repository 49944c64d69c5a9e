package ldap

// The LDAP wire client of the source: requests are encoded with go-ldap's
// own encoders (filter compiler, paging control, asn1-ber packets, once per
// page), responses are decoded here by a small BER reader that walks each
// message in place in one reused buffer. go-ldap's response path builds a
// tree of ber.Packet values and copies every value several times; at 100k
// entries it cost more CPU than the server spent producing them (see
// scripts/bench-extract.sh), so the hot path is ours. Only what the source
// needs is implemented: StartTLS, simple bind, one search at a time with the
// paged-results control, unbind.

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	goldap "github.com/go-ldap/ldap/v3"

	"github.com/otds-highspot/otds-highspot/internal/exitcode"
)

// BER tags (class | constructed | number) of the LDAP messages we read.
const (
	tagSequence     = 0x30
	tagSet          = 0x31
	tagInteger      = 0x02
	tagOctetString  = 0x04
	tagEnumerated   = 0x0a
	tagBindResponse = 0x61 // [APPLICATION 1]
	tagSearchEntry  = 0x64 // [APPLICATION 4]
	tagSearchDone   = 0x65 // [APPLICATION 5]
	tagSearchRef    = 0x73 // [APPLICATION 19]
	tagExtendedResp = 0x78 // [APPLICATION 24]
	tagControls     = 0xa0 // [0] in LDAPMessage
	oidStartTLS     = "1.3.6.1.4.1.1466.20037"
	oidNoticeOfDisc = "1.3.6.1.4.1.1466.20036"
	maxMessageBytes = 1 << 30 // a larger message is treated as a protocol error
	shrinkAbove     = 8 << 20 // release a message buffer grown past this after a big entry
)

// wireConn is one LDAP connection. It is used by one goroutine, except
// Close, which may be called from another to end a blocked read.
type wireConn struct {
	nc      net.Conn
	br      *bufio.Reader
	msgID   int64
	timeout time.Duration
	buf     []byte // the current message (reused)
}

func newWireConn(nc net.Conn, timeout time.Duration) *wireConn {
	return &wireConn{nc: nc, br: bufio.NewReaderSize(nc, 256<<10), timeout: timeout}
}

// Close closes the network connection (safe from another goroutine).
func (c *wireConn) Close() error { return c.nc.Close() }

// unbind tells the server we are leaving (best effort) and closes.
func (c *wireConn) unbind() {
	c.msgID++
	env := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAP Request")
	env.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, c.msgID, "MessageID"))
	env.AppendChild(ber.Encode(ber.ClassApplication, ber.TypePrimitive, goldap.ApplicationUnbindRequest, nil, "Unbind Request"))
	_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.nc.Write(env.Bytes())
	_ = c.nc.Close()
}

// send writes one request (op plus optional controls) with the next message id.
func (c *wireConn) send(op *ber.Packet, controls ...goldap.Control) (int64, error) {
	c.msgID++
	env := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAP Request")
	env.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, c.msgID, "MessageID"))
	env.AppendChild(op)
	if len(controls) > 0 {
		cp := ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, "Controls")
		for _, ctl := range controls {
			cp.AppendChild(ctl.Encode())
		}
		env.AppendChild(cp)
	}
	if c.timeout > 0 {
		if err := c.nc.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
			return 0, netErr(err)
		}
	}
	if _, err := c.nc.Write(env.Bytes()); err != nil {
		return 0, netErr(err)
	}
	return c.msgID, nil
}

func netErr(err error) error { return goldap.NewError(goldap.ErrorNetwork, err) }

// readMessage reads one LDAPMessage into c.buf and returns its message id,
// protocolOp tag and content, and the controls' content (nil when absent).
func (c *wireConn) readMessage() (id int64, opTag byte, op, controls []byte, err error) {
	tag, err := c.br.ReadByte()
	if err != nil {
		return 0, 0, nil, nil, readErr(err)
	}
	if tag != tagSequence {
		return 0, 0, nil, nil, protoErr("message starts with tag 0x%02x, not a SEQUENCE", tag)
	}
	n, err := readLength(c.br)
	if err != nil {
		return 0, 0, nil, nil, err
	}
	if n > maxMessageBytes {
		return 0, 0, nil, nil, protoErr("message of %d bytes exceeds the %d-byte limit", n, maxMessageBytes)
	}
	if cap(c.buf) > shrinkAbove && n <= shrinkAbove/4 {
		c.buf = nil // do not keep the buffer of one huge group for the rest of the read
	}
	if err := c.fill(n); err != nil {
		return 0, 0, nil, nil, err
	}
	d := c.buf
	t, v, d, err := tlv(d)
	if err != nil || t != tagInteger {
		return 0, 0, nil, nil, protoErr("message id missing")
	}
	id = intOf(v)
	opTag, op, d, err = tlv(d)
	if err != nil {
		return 0, 0, nil, nil, err
	}
	if len(d) > 0 {
		t, v, _, err := tlv(d)
		if err != nil {
			return 0, 0, nil, nil, err
		}
		if t == tagControls {
			controls = v
		}
	}
	return id, opTag, op, controls, nil
}

// fill reads the next n bytes into c.buf. A large message grows the buffer
// as its bytes arrive (doubling from 1 MiB), so a length field alone cannot
// make the client allocate up to maxMessageBytes (found by FuzzDecodeResponse).
func (c *wireConn) fill(n int) error {
	const step = 1 << 20
	if cap(c.buf) >= n || n <= step {
		if cap(c.buf) < n {
			c.buf = make([]byte, n)
		}
		c.buf = c.buf[:n]
		if _, err := io.ReadFull(c.br, c.buf); err != nil {
			return readErr(err)
		}
		return nil
	}
	c.buf = c.buf[:0]
	for len(c.buf) < n {
		chunk := min(n-len(c.buf), max(step, len(c.buf)))
		c.buf = slices.Grow(c.buf, chunk)
		m, err := io.ReadFull(c.br, c.buf[len(c.buf):len(c.buf)+chunk])
		c.buf = c.buf[:len(c.buf)+m]
		if err != nil {
			return readErr(err)
		}
	}
	return nil
}

func readErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return netErr(fmt.Errorf("the server closed the connection: %w", err))
	}
	return netErr(err)
}

func protoErr(format string, a ...any) error {
	return goldap.NewError(goldap.ErrorUnexpectedResponse, fmt.Errorf("ldap protocol: "+format, a...))
}

// readLength reads a BER definite length.
func readLength(r *bufio.Reader) (int, error) {
	b, err := r.ReadByte()
	if err != nil {
		return 0, readErr(err)
	}
	if b < 0x80 {
		return int(b), nil
	}
	k := int(b & 0x7f)
	if k == 0 || k > 4 {
		return 0, protoErr("unsupported length form 0x%02x", b)
	}
	n := 0
	for i := 0; i < k; i++ {
		b, err := r.ReadByte()
		if err != nil {
			return 0, readErr(err)
		}
		n = n<<8 | int(b)
	}
	return n, nil
}

// tlv splits the first element off d: its tag, its content and the rest.
func tlv(d []byte) (tag byte, v, rest []byte, err error) {
	if len(d) < 2 {
		return 0, nil, nil, protoErr("truncated element")
	}
	tag = d[0]
	if tag&0x1f == 0x1f {
		return 0, nil, nil, protoErr("multi-byte tag 0x%02x", tag)
	}
	n, i := int(d[1]), 2
	if n >= 0x80 {
		k := n & 0x7f
		if k == 0 || k > 4 || len(d) < 2+k {
			return 0, nil, nil, protoErr("bad length form 0x%02x", d[1])
		}
		n = 0
		for _, b := range d[2 : 2+k] {
			n = n<<8 | int(b)
		}
		i = 2 + k
	}
	if n < 0 || len(d)-i < n {
		return 0, nil, nil, protoErr("element of %d bytes overruns its container", n)
	}
	return tag, d[i : i+n], d[i+n:], nil
}

// intOf decodes a two's-complement INTEGER/ENUMERATED (up to 8 bytes).
func intOf(v []byte) int64 {
	var n int64
	if len(v) > 0 && v[0]&0x80 != 0 {
		n = -1
	}
	for _, b := range v {
		n = n<<8 | int64(b)
	}
	return n
}

// result is a decoded LDAPResult.
type result struct {
	code       int64
	matchedDN  string
	diagnostic string
}

func parseResult(op []byte) (result, []byte, error) {
	var r result
	t, v, rest, err := tlv(op)
	if err != nil || t != tagEnumerated {
		return r, nil, protoErr("result code missing")
	}
	r.code = intOf(v)
	if t, v, rest, err = tlv(rest); err != nil || t != tagOctetString {
		return r, nil, protoErr("matchedDN missing")
	}
	r.matchedDN = string(v)
	if t, v, rest, err = tlv(rest); err != nil || t != tagOctetString {
		return r, nil, protoErr("diagnosticMessage missing")
	}
	r.diagnostic = string(v)
	return r, rest, nil
}

// err turns a non-success result into a *goldap.Error (so callers can test
// the result code with errors.As).
func (r result) err(what string) error {
	if r.code == goldap.LDAPResultSuccess {
		return nil
	}
	msg := fmt.Sprintf("%s: LDAP result %d (%s)", what, r.code, goldap.LDAPResultCodeMap[uint16(r.code)])
	if r.diagnostic != "" {
		msg += ": " + r.diagnostic
	}
	return goldap.NewError(uint16(r.code), errors.New(msg))
}

// expect reads the response to request id, which must carry opTag; an
// unsolicited notice of disconnection (id 0) is an error.
func (c *wireConn) expect(id int64, want byte) (result, error) {
	for {
		got, tag, op, _, err := c.readMessage()
		if err != nil {
			return result{}, err
		}
		if got == 0 {
			r, _, _ := parseResult(op)
			return result{}, netErr(fmt.Errorf("the server ended the session (notice of disconnection, result %d: %s)", r.code, r.diagnostic))
		}
		if got != id {
			continue // a late response to an abandoned request
		}
		if tag != want {
			return result{}, protoErr("response tag 0x%02x, want 0x%02x", tag, want)
		}
		r, _, err := parseResult(op)
		return r, err
	}
}

// startTLS runs the StartTLS extended operation and the TLS handshake.
func (c *wireConn) startTLS(ctx context.Context, cfg *tls.Config) error {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, goldap.ApplicationExtendedRequest, nil, "Start TLS")
	op.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, oidStartTLS, "TLS Extended Command"))
	id, err := c.send(op)
	if err != nil {
		return err
	}
	r, err := c.expect(id, tagExtendedResp)
	if err != nil {
		return err
	}
	if err := r.err("StartTLS"); err != nil {
		return err
	}
	if c.br.Buffered() > 0 {
		return protoErr("data after the StartTLS response")
	}
	tc := tls.Client(c.nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return netErr(fmt.Errorf("TLS handshake: %w", err))
	}
	c.nc = tc
	c.br.Reset(tc)
	return nil
}

// bind runs a simple bind.
func (c *wireConn) bind(dn, password string) error {
	if password == "" {
		return goldap.NewError(goldap.ErrorEmptyPassword, errors.New("empty password: an unauthenticated bind is refused"))
	}
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, goldap.ApplicationBindRequest, nil, "Bind Request")
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 3, "Version"))
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, dn, "User Name"))
	op.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, password, "Password"))
	id, err := c.send(op)
	if err != nil {
		return err
	}
	r, err := c.expect(id, tagBindResponse)
	if err != nil {
		return err
	}
	return r.err("bind")
}

// searchRequest is one page's search.
type searchRequest struct {
	base      string
	filter    *ber.Packet // compiled once per read
	attrs     []string
	timeLimit int
	paging    *goldap.ControlPaging
}

func (c *wireConn) sendSearch(req searchRequest) (int64, error) {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, goldap.ApplicationSearchRequest, nil, "Search Request")
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, req.base, "Base DN"))
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, uint64(goldap.ScopeWholeSubtree), "Scope"))
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, uint64(goldap.NeverDerefAliases), "Deref Aliases"))
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, uint64(0), "Size Limit"))
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, uint64(req.timeLimit), "Time Limit"))
	op.AppendChild(ber.NewBoolean(ber.ClassUniversal, ber.TypePrimitive, ber.TagBoolean, false, "Types Only"))
	op.AppendChild(req.filter)
	ap := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "Attributes")
	for _, a := range req.attrs {
		ap.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, a, "Attribute"))
	}
	op.AppendChild(ap)
	return c.send(op, req.paging)
}

// rawEntry is one SearchResultEntry, in place in the message buffer: valid
// only until the next read.
type rawEntry struct {
	dn    []byte
	attrs []rawAttr // reused between entries
}

type rawAttr struct {
	name []byte
	vals [][]byte // reused
}

// parseEntry decodes a SearchResultEntry's content into e (reusing its slices).
func parseEntry(op []byte, e *rawEntry) error {
	t, dn, rest, err := tlv(op)
	if err != nil || t != tagOctetString {
		return protoErr("entry without objectName")
	}
	e.dn = dn
	e.attrs = e.attrs[:0]
	t, list, _, err := tlv(rest)
	if err != nil || t != tagSequence {
		return protoErr("entry %q without an attribute list", dn)
	}
	for len(list) > 0 {
		var pa []byte
		if t, pa, list, err = tlv(list); err != nil || t != tagSequence {
			return protoErr("entry %q: bad attribute", dn)
		}
		t, name, vs, err := tlv(pa)
		if err != nil || t != tagOctetString {
			return protoErr("entry %q: attribute without a type", dn)
		}
		if t, vs, _, err = tlv(vs); err != nil || t != tagSet {
			return protoErr("entry %q: attribute %q without a value set", dn, name)
		}
		if len(e.attrs) < cap(e.attrs) {
			e.attrs = e.attrs[:len(e.attrs)+1]
		} else {
			e.attrs = append(e.attrs, rawAttr{})
		}
		a := &e.attrs[len(e.attrs)-1]
		a.name, a.vals = name, a.vals[:0]
		for len(vs) > 0 {
			var v []byte
			if t, v, vs, err = tlv(vs); err != nil || t != tagOctetString {
				return protoErr("entry %q: attribute %q: bad value", dn, name)
			}
			a.vals = append(a.vals, v)
		}
	}
	return nil
}

// pagedCookie finds the paged-results control among a response's controls
// and returns its cookie; found is false when the control is absent.
func pagedCookie(controls []byte) (cookie []byte, found bool, err error) {
	for len(controls) > 0 {
		var ctl []byte
		t, ctl, rest, err := tlv(controls)
		if err != nil || t != tagSequence {
			return nil, false, protoErr("bad control")
		}
		controls = rest
		t, oid, ctl, err := tlv(ctl)
		if err != nil || t != tagOctetString {
			return nil, false, protoErr("control without a type")
		}
		if string(oid) != goldap.ControlTypePaging {
			continue
		}
		for len(ctl) > 0 { // skip criticality, take controlValue
			var v []byte
			if t, v, ctl, err = tlv(ctl); err != nil {
				return nil, false, err
			}
			if t != tagOctetString {
				continue
			}
			t, seq, _, err := tlv(v)
			if err != nil || t != tagSequence {
				return nil, false, protoErr("bad paged-results control value")
			}
			if t, _, seq, err = tlv(seq); err != nil || t != tagInteger {
				return nil, false, protoErr("paged-results control without a size")
			}
			if t, v, _, err = tlv(seq); err != nil || t != tagOctetString {
				return nil, false, protoErr("paged-results control without a cookie")
			}
			return append([]byte(nil), v...), true, nil
		}
		return nil, false, protoErr("paged-results control without a value")
	}
	return nil, false, nil
}

// searchPage sends one page's search and hands each entry to fn as it is
// decoded (the entry is valid only during the call). It returns the paged
// results cookie (empty: last page) once the SearchResultDone arrived with
// success; any other result is an error.
func (c *wireConn) searchPage(req searchRequest, fn func(*rawEntry) error) (cookie []byte, entries int, err error) {
	id, err := c.sendSearch(req)
	if err != nil {
		return nil, 0, err
	}
	if c.timeout > 0 {
		if err := c.nc.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
			return nil, 0, netErr(err)
		}
		defer func() { _ = c.nc.SetReadDeadline(time.Time{}) }()
	}
	var e rawEntry
	var refs []string // the first few, for the message
	nrefs := 0
	for {
		got, tag, op, controls, err := c.readMessage()
		if err != nil {
			return nil, entries, err
		}
		if got == 0 {
			r, _, _ := parseResult(op)
			return nil, entries, netErr(fmt.Errorf("the server ended the session (notice of disconnection, result %d: %s)", r.code, r.diagnostic))
		}
		if got != id {
			continue
		}
		switch tag {
		case tagSearchEntry:
			if err := parseEntry(op, &e); err != nil {
				return nil, entries, err
			}
			entries++
			if err := fn(&e); err != nil {
				return nil, entries, err
			}
		case tagSearchRef:
			// A continuation reference means part of the subtree lives on
			// another server: this read would be partial. References are
			// not followed; the search is read to its end (so the
			// connection stays usable) and then fails.
			uris, err := parseReference(op)
			if err != nil {
				return nil, entries, err
			}
			nrefs += len(uris)
			if len(refs) < 10 {
				refs = append(refs, uris...)
			}
		case tagSearchDone:
			r, _, err := parseResult(op)
			if err != nil {
				return nil, entries, err
			}
			if err := r.err("search"); err != nil {
				return nil, entries, err
			}
			if len(refs) > 0 {
				return nil, entries, &ReferralError{URIs: refs, Count: nrefs}
			}
			cookie, found, err := pagedCookie(controls)
			if err != nil {
				return nil, entries, err
			}
			if !found {
				return nil, entries, errNoPaging
			}
			return cookie, entries, nil
		default:
			return nil, entries, protoErr("unexpected response tag 0x%02x to a search", tag)
		}
	}
}

// ReferralError is a search that returned continuation references
// (SearchResultReference): entries under the base live on other servers,
// so what was read is not the whole tree.
type ReferralError struct {
	URIs  []string // the first ones, quoted
	Count int      // all of them
}

// ExitCode is exit 4 (source_gate): the server will answer the same way on a
// retry; a human points the tree at a server that holds all of it.
func (e *ReferralError) ExitCode() int { return exitcode.SourceGate }

func (e *ReferralError) Error() string {
	shown := e.URIs
	if len(shown) > 3 {
		shown = shown[:3]
	}
	more := ""
	if e.Count > len(shown) {
		more = fmt.Sprintf(" and %d more", e.Count-len(shown))
	}
	return fmt.Sprintf("the server returned %d continuation reference(s) (%s%s): part of the tree lives on another server, "+
		"so this read is not complete and is not published; point trees[].ldap.url at a server that holds the whole tree "+
		"(or set trees[].ldap.base_dn / partitions to a subtree without referrals)", e.Count, strings.Join(shown, ", "), more)
}

// parseReference decodes a SearchResultReference's content: one or more
// URIs (octet strings).
func parseReference(op []byte) ([]string, error) {
	var uris []string
	for len(op) > 0 {
		t, v, rest, err := tlv(op)
		if err != nil || t != tagOctetString {
			return nil, protoErr("search result reference without a URI")
		}
		uris = append(uris, strconv.QuoteToASCII(string(v)))
		op = rest
	}
	if len(uris) == 0 {
		return nil, protoErr("search result reference without a URI")
	}
	return uris, nil
}

var errNoPaging = errors.New("the server returned no paged-results control, so the read cannot be proven complete")
