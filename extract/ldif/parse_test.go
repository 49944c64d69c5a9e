package ldif

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otds-highspot/otds-highspot/extract/entry"
	"github.com/otds-highspot/otds-highspot/internal/contract"
)

// accountsLDIF is n accounts cn=u<i> below base; every badEvery-th (> 0) has
// a URL value (a record error, rejected), and a group with members cn=u0,
// cn=u1 and cn=u2 comes after account groupAt (>= 0).
func accountsLDIF(n, badEvery, groupAt int) string {
	var b strings.Builder
	b.WriteString("version: 1\n\n")
	for i := range n {
		fmt.Fprintf(&b, "dn: cn=u%d,%s\nobjectClass: oTPerson\ncn: u%d\nmail: u%d@x.example\nentryUUID: 00000000-0000-0000-0000-%012d\n", i, base, i, i, i)
		if badEvery > 0 && i%badEvery == badEvery-1 {
			b.WriteString("jpegPhoto:< file:///x\n")
		}
		b.WriteString("\n")
		if i == groupAt {
			fmt.Fprintf(&b, "dn: cn=g,%s\nobjectClass: oTGroup\ncn: g\nentryUUID: 10000000-0000-0000-0000-000000000000\n", base)
			for j := range 3 {
				fmt.Fprintf(&b, "oTMember: cn=u%d,%s\n", j, base)
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

// orderSink records every call in order, as "kind:cn"; after cancelAfter
// accounts (> 0) it calls cancel.
type orderSink struct {
	mu          sync.Mutex
	calls       []string
	accounts    int
	cancelAfter int
	cancel      context.CancelFunc
}

func (s *orderSink) add(kind, dn string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, kind+":"+strings.SplitN(dn, ",", 2)[0])
}

func (s *orderSink) Account(a contract.Account) error {
	s.add("a", a.DN)
	s.accounts++
	if s.cancelAfter > 0 && s.accounts == s.cancelAfter {
		s.cancel()
	}
	return nil
}
func (s *orderSink) Group(g contract.Group) error      { s.add("g", g.DN); return nil }
func (s *orderSink) Reject(r contract.Reject) error    { s.add("r", r.DN); return nil }
func (s *orderSink) Member(_, _, _, m, _ string) error { s.add("m", m); return nil }

// trackedReader is an export that fails with err after limit bytes (limit
// < 0: never), or with block set waits there until the context it was opened
// with is done (as a store object's body does), and notes Close and any Read
// running after it.
type trackedReader struct {
	r          io.Reader
	limit      int
	err        error
	block      bool
	ctx        context.Context
	mu         sync.Mutex
	closed     bool
	readClosed bool
}

func (t *trackedReader) noteClosed() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		t.readClosed = true
	}
}

func (t *trackedReader) Read(p []byte) (int, error) {
	t.noteClosed()
	defer t.noteClosed()
	if t.limit >= 0 {
		if t.limit == 0 && t.block {
			<-t.ctx.Done()
			return 0, t.ctx.Err()
		}
		if t.limit == 0 {
			return 0, t.err
		}
		p = p[:min(len(p), t.limit)]
	}
	n, err := t.r.Read(p)
	if t.limit >= 0 {
		t.limit -= n
	}
	return n, err
}

func (t *trackedReader) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	return nil
}

func (t *trackedReader) opener() Opener {
	return func(ctx context.Context, _ string) (io.ReadCloser, error) { t.ctx = ctx; return t, nil }
}

// checkStopped fails the test when the export was not closed, was read after
// Close, or a parsing goroutine is still running after Read returned.
func checkStopped(t *testing.T, tr *trackedReader) {
	t.Helper()
	// stop waits for the goroutine; it may still be leaving its function
	for i := 0; ; i++ {
		buf := make([]byte, 1<<20)
		if !strings.Contains(string(buf[:runtime.Stack(buf, true)]), "ldif.(*parser).run") {
			break
		}
		if i == 200 {
			t.Fatalf("a parsing goroutine still runs after Read returned")
		}
		time.Sleep(5 * time.Millisecond)
	}
	tr.mu.Lock()
	closed, readClosed := tr.closed, tr.readClosed
	tr.mu.Unlock()
	if !closed || readClosed {
		t.Errorf("export: closed %v, read after close %v; want closed and not read after", closed, readClosed)
	}
}

// TestSourceParsesInOrder: records parsed in their own goroutine reach the
// sink in file order over many batches, rejects and members included.
func TestSourceParsesInOrder(t *testing.T) {
	const n = 5*parseBatch + 17
	tr := &trackedReader{r: strings.NewReader(accountsLDIF(n, 7, 300)), limit: -1}
	src, err := New(testTree(t, "o", ""), tr.opener(), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	var s orderSink
	if err := src.Read(context.Background(), &s); err != nil {
		t.Fatalf("Read: %v", err)
	}
	var want []string
	for i := range n {
		k := "a"
		if i%7 == 6 {
			k = "r"
		}
		want = append(want, fmt.Sprintf("%s:cn=u%d", k, i))
		if i == 300 {
			want = append(want, "g:cn=g", "m:cn=u0", "m:cn=u1", "m:cn=u2")
		}
	}
	if got := strings.Join(s.calls, " "); got != strings.Join(want, " ") {
		t.Errorf("sink calls differ from file order:\ngot  %.300s\nwant %.300s", got, strings.Join(want, " "))
	}
	checkStopped(t, tr)
}

// TestSourceReadErrorMidFile: a read error in the middle of the export
// fails the read with the tree, the path and the cause, after the records
// before it and none after; the parser stops.
func TestSourceReadErrorMidFile(t *testing.T) {
	text := accountsLDIF(2000, 0, -1)
	boom := errors.New("disk on fire")
	tr := &trackedReader{r: strings.NewReader(text), limit: len(text) / 2, err: boom}
	src, err := New(testTree(t, "e", ""), tr.opener(), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	var s orderSink
	err = src.Read(context.Background(), &s)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), `tree e: read ldif "test.ldif": read ldif after line`) {
		t.Errorf("Read: got %v, want the tree, the path and %q", err, boom)
	}
	// the records whose blank line was read before the error
	if want := strings.Count(text[:len(text)/2], "\n\n") - 1; len(s.calls) != want {
		t.Errorf("got %d rows, want the %d records before the error", len(s.calls), want)
	}
	for i, c := range s.calls {
		if want := fmt.Sprintf("a:cn=u%d", i); c != want {
			t.Fatalf("row %d: got %s, want %s (file order)", i, c, want)
		}
	}
	checkStopped(t, tr)
}

// TestSourceMapErrorStopsParsing: an entry the mapping fails on (a group
// above max_members_per_group) fails the read at that entry, with
// thousands of records still unparsed behind it and the parser waiting for
// the export (a store object) to send more; the parser stops before the
// export is closed.
func TestSourceMapErrorStopsParsing(t *testing.T) {
	text := accountsLDIF(20*parseBatch, 0, 10)
	tr := &trackedReader{r: strings.NewReader(text), limit: strings.Index(text, "cn=u500,"), block: true}
	src, err := New(testTree(t, "m", "    limits: {max_members_per_group: 2}\n"), tr.opener(), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	var s orderSink
	err = src.Read(context.Background(), &s)
	var le *entry.LimitError
	if !errors.As(err, &le) || !strings.HasPrefix(err.Error(), "tree m: ") {
		t.Errorf("Read: got %v, want a *entry.LimitError naming tree m", err)
	}
	if len(s.calls) != 11 || s.calls[10] != "a:cn=u10" {
		t.Errorf("got %d rows ending %q, want the 11 accounts before the group", len(s.calls), s.calls[len(s.calls)-1])
	}
	checkStopped(t, tr)
}

// TestSourceCancelMidRead: cancelling the context in the middle of a read
// ends it with the context's error, soon after, and the parser stops.
func TestSourceCancelMidRead(t *testing.T) {
	tr := &trackedReader{r: strings.NewReader(accountsLDIF(40*parseBatch, 0, -1)), limit: -1}
	src, err := New(testTree(t, "c", ""), tr.opener(), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := orderSink{cancelAfter: 100, cancel: cancel}
	err = src.Read(ctx, &s)
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "tree c: read ldif") {
		t.Errorf("Read: got %v, want context.Canceled naming tree c", err)
	}
	// the context is checked every 1024 records
	if s.accounts >= 100+1024+1 {
		t.Errorf("got %d accounts after cancelling at 100, want the read to stop within 1024 records", s.accounts)
	}
	checkStopped(t, tr)
}

// normSink is an orderSink that takes the Norm of each DN (entry.NormSink).
type normSink struct {
	orderSink
	norms map[string]string // DN -> the Norm handed over
}

func (s *normSink) AccountNorm(a contract.Account, norm string) error {
	s.norms[a.DN] = norm
	return s.Account(a)
}

func (s *normSink) GroupNorm(g contract.Group, norm string) error {
	s.norms[g.DN] = norm
	return s.Group(g)
}

// TestSourcePassesNorm: a sink that indexes by DN (entry.NormSink, as the
// stage's is) gets each account's and group's Norm with the row, so it does
// not parse the DN again.
func TestSourcePassesNorm(t *testing.T) {
	src, err := New(testTree(t, "n", ""), stringOpener(accountsLDIF(3, 0, 1)), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	s := normSink{norms: map[string]string{}}
	if err := src.Read(context.Background(), &s); err != nil {
		t.Fatalf("Read: %v", err)
	}
	if len(s.norms) != 4 {
		t.Errorf("got the Norm of %d entries, want 4 (3 accounts, 1 group)", len(s.norms))
	}
	for dn, got := range s.norms {
		if want, _, _ := entry.NormDN(dn); got != want {
			t.Errorf("Norm of %s: got %q, want %q", dn, got, want)
		}
	}
}

// readCounter counts the bytes read from an export.
type readCounter struct {
	r io.Reader
	n atomic.Int64
}

func (c *readCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// groupSink notes how much of the export was read when each group arrives.
type groupSink struct {
	orderSink
	rc     *readCounter
	readAt []int64
}

func (s *groupSink) Group(g contract.Group) error {
	s.readAt = append(s.readAt, s.rc.n.Load())
	return nil
}
func (s *groupSink) Member(_, _, _, _, _ string) error { return nil }

// TestSourceParsesAheadByBytes: the parser runs ahead of the mapping by
// about parseBytes of values, not by a number of records: with group
// entries of 2 MiB each (large groups hold hundreds of thousands of
// members), it has not read the next group when the first is mapped.
func TestSourceParsesAheadByBytes(t *testing.T) {
	const groups, members = 4, 20000
	var b strings.Builder
	var ends []int
	for g := range groups {
		fmt.Fprintf(&b, "dn: cn=g%d,%s\nobjectClass: oTGroup\ncn: g%d\nentryUUID: 10000000-0000-0000-0000-%012d\n", g, base, g, g)
		for i := range members {
			fmt.Fprintf(&b, "oTMember: cn=member-with-a-longer-name-%d,ou=Users,%s\n", i, base)
		}
		b.WriteString("\n")
		ends = append(ends, b.Len())
	}
	rc := &readCounter{r: strings.NewReader(b.String())}
	src, err := New(testTree(t, "b", ""), func(context.Context, string) (io.ReadCloser, error) { return io.NopCloser(rc), nil }, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	s := groupSink{rc: rc}
	if err := src.Read(context.Background(), &s); err != nil {
		t.Fatalf("Read: %v", err)
	}
	if len(s.readAt) != groups {
		t.Fatalf("got %d groups, want %d", len(s.readAt), groups)
	}
	// the reader's buffer reads a little past a record
	if limit := int64(ends[0] + parseBytes/2); s.readAt[0] > limit {
		t.Errorf("when the first group (%d bytes) was mapped, %d bytes of the export were read, want at most %d", ends[0], s.readAt[0], limit)
	}
}
