package ldif

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"
	"github.com/sirupsen/logrus"

	"github.com/otds-highspot/otds-highspot/extract"
	"github.com/otds-highspot/otds-highspot/extract/entry"
	"github.com/otds-highspot/otds-highspot/extract/extractconf"
	"github.com/otds-highspot/otds-highspot/extract/ldap/ldapconf"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/internal/store"
)

// Opener opens the LDIF export at path (a local file or a store object).
type Opener func(ctx context.Context, path string) (io.ReadCloser, error)

// Source reads one tree from an LDIF export, streamed.
type Source struct {
	tree   extractconf.Tree
	open   Opener
	log    logrus.FieldLogger
	mapper *entry.Mapper
	base   *ldap.DN
	// baseText is the base DN as configured (for the fast suffix check).
	baseText string
}

// New returns the ldif source of tree (config defaults applied). open is
// given tree.LDIF.Path.
func New(tree extractconf.Tree, open func(ctx context.Context, path string) (io.ReadCloser, error), log logrus.FieldLogger) (extract.Source, error) {
	if open == nil {
		return nil, fmt.Errorf("tree %s: ldif source needs an open function", tree.Name)
	}
	baseDN := tree.LDIF.BaseDN
	if baseDN == "" {
		baseDN = ldapconf.DefaultBaseDN
	}
	base, err := ldap.ParseDN(baseDN)
	if err != nil {
		return nil, fmt.Errorf("tree %s: ldif.base_dn %q does not parse: %w", tree.Name, baseDN, err)
	}
	if tree.LDIF.UserObjectClass == "" {
		tree.LDIF.UserObjectClass = ldapconf.DefaultUserClass
	}
	if tree.LDIF.GroupObjectClass == "" {
		tree.LDIF.GroupObjectClass = ldapconf.DefaultGroupClass
	}
	s := &Source{tree: tree, open: open, log: log.WithField("tree", tree.Name), mapper: nil, base: base, baseText: baseDN}
	s.mapper = entry.NewMapper(&s.tree)
	return s, nil
}

// attrGetter is Entry.Get for a mapper, which asks for the same names in
// the same order entry after entry: it remembers, by the position of a
// call in that sequence, the name asked, its id in the reader's name table
// and where the entry held it, so a call is a comparison of the name (the
// same string each time), not a case fold and a map lookup and a search.
// Results are Entry.Get's. One per reader: ids are the reader's.
type attrGetter struct {
	e     *Entry
	asked []askedAttr
	next  int // position of the next call
}

type askedAttr struct {
	name string
	id   int32 // -1: not in the name table when asked (Entry.Get then)
	pos  int   // index in the entry's attributes where it was last found
}

// reset starts the calls for entry e.
func (g *attrGetter) reset(e *Entry) { g.e, g.next = e, 0 }

// get is g.e.Get(name).
func (g *attrGetter) get(name string) [][]byte {
	e := g.e
	i := g.next
	g.next++
	if i < len(g.asked) && g.asked[i].name == name {
		a := &g.asked[i]
		if a.id < 0 || e.tab == nil {
			return e.Get(name)
		}
		if a.pos < len(e.attrs) && e.attrs[a.pos].an.id == a.id {
			return e.attrs[a.pos].vals
		}
		for j := range e.attrs {
			if e.attrs[j].an.id == a.id {
				a.pos = j
				return e.attrs[j].vals
			}
		}
		return nil
	}
	// a name not asked at this position before: remember it there
	a := askedAttr{name: name, id: e.nameID(name)}
	if i < len(g.asked) {
		g.asked[i] = a
	} else if i == len(g.asked) && i < maxAsked {
		g.asked = append(g.asked, a)
	}
	return e.Get(name)
}

// maxAsked bounds the calls per entry an attrGetter remembers.
const maxAsked = 256

// Counts of what one Read saw, for the log.
type counts struct{ accounts, groups, members, rejects, skipped int }

// Read streams the export and emits accounts, groups, member values and
// rejects. It returns nil only when the whole file was read.
func (s *Source) Read(ctx context.Context, sink extract.Sink) error {
	// cancelled on return: a parse still reading a store object stops
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rc, err := s.open(ctx, s.tree.LDIF.Path)
	if err != nil {
		err = fmt.Errorf("tree %s: open ldif %q: %w", s.tree.Name, s.tree.LDIF.Path, err)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, store.ErrNotFound) || errors.Is(err, fs.ErrPermission) {
			// A configuration problem: retrying cannot make the file appear.
			return exitcode.Wrap(exitcode.Usage, fmt.Errorf("%w; fix trees[].ldif.path of tree %s (a local path relative to the config file, store:KEY or fixtures:PATH) or put the export there", err, s.tree.Name))
		}
		return err
	}
	defer rc.Close()
	// Parsing runs in its own goroutine, mapping in this one (each about
	// half of the source's CPU), so that a tree read alone keeps two cores
	// busy with its sink. Records pass in order, in batches.
	p := newParser(ctx, cancel, NewReader(rc))
	defer p.stop() // before rc.Close: the parser may be reading rc
	var c counts
	// one getter per kind: accounts and groups ask for different names
	st := &readState{}
	for n := 0; ; n++ {
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("tree %s: read ldif %q: %w", s.tree.Name, s.tree.LDIF.Path, err)
			}
		}
		e, err := p.next()
		if errors.Is(err, io.EOF) {
			break
		}
		var rerr *RecordError
		if errors.As(err, &rerr) {
			if err := s.rejectRecord(rerr, sink, &c); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("tree %s: read ldif %q: %w", s.tree.Name, s.tree.LDIF.Path, err)
		}
		if err := s.entry(e, sink, &c, st); err != nil {
			return fmt.Errorf("tree %s: %w", s.tree.Name, err)
		}
	}
	s.log.WithFields(logrus.Fields{"accounts": c.accounts, "groups": c.groups, "member_values": c.members, "rejects": c.rejects, "skipped": c.skipped}).Debug("ldif read complete")
	return nil
}

// parser runs Reader.Next in its own goroutine and hands the records over
// in order, in batches through a channel. Memory stays bounded by bytes, not
// records (a group entry can hold hundreds of thousands of members): the
// parser waits while the records handed over and not yet mapped hold
// parseBytes of values, so it is ahead by at most that, or by one larger
// record. Its last record is the reader's io.EOF or error; next returns it
// and every call after it.
type parser struct {
	ctx      context.Context
	ch       chan parsedBatch
	free     chan []parsed
	freed    chan struct{} // a batch was mapped (inflight went down)
	inflight atomic.Int64  // bytes of the batches handed over, not yet mapped
	cur      parsedBatch
	pos      int
	end      error // the reader's last error, once reached
	cancel   context.CancelFunc
	done     chan struct{}
}

// parsed is one Reader.Next result.
type parsed struct {
	e   *Entry
	err error
}

// parsedBatch is records handed over at once and the bytes they hold.
type parsedBatch struct {
	recs  []parsed
	bytes int64
}

const (
	parseBatch = 128     // records handed over at once at most
	parseBytes = 1 << 20 // bytes of values parsed ahead of the mapping
)

// newParser parses r until ctx is done; cancel cancels ctx (and so a read
// of a store object opened with it).
func newParser(ctx context.Context, cancel context.CancelFunc, r *Reader) *parser {
	p := &parser{ctx: ctx, ch: make(chan parsedBatch, 4), free: make(chan []parsed, 6), freed: make(chan struct{}, 1),
		cancel: cancel, done: make(chan struct{})}
	go p.run(ctx, r)
	return p
}

// size is about the memory of e's DN and values.
func (e *Entry) size() int64 {
	if e == nil {
		return 0
	}
	n := int64(len(e.DN)) + 32*int64(len(e.attrs))
	for _, a := range e.attrs {
		for _, v := range a.vals {
			n += 24 + int64(len(v))
		}
	}
	return n
}

func (p *parser) run(ctx context.Context, r *Reader) {
	defer close(p.done)
	defer close(p.ch)
	b := parsedBatch{recs: make([]parsed, 0, parseBatch)}
	for {
		for p.inflight.Load() >= parseBytes {
			select {
			case <-p.freed:
			case <-ctx.Done():
				return // next reports the context's error
			}
		}
		e, err := r.Next()
		b.recs = append(b.recs, parsed{e, err})
		b.bytes += e.size()
		var rerr *RecordError
		if errors.As(err, &rerr) {
			b.bytes += rerr.Entry.size()
		}
		last := err != nil && rerr == nil
		if len(b.recs) < parseBatch && b.bytes < parseBytes/4 && !last {
			continue
		}
		if ctx.Err() != nil {
			return
		}
		p.inflight.Add(b.bytes)
		select {
		case p.ch <- b:
		case <-ctx.Done():
			return
		}
		if last {
			return
		}
		b = parsedBatch{}
		select {
		case b.recs = <-p.free:
		default:
			b.recs = make([]parsed, 0, parseBatch)
		}
	}
}

// next returns the next record as Reader.Next would.
func (p *parser) next() (*Entry, error) {
	if p.end != nil {
		return nil, p.end
	}
	if p.pos == len(p.cur.recs) {
		if p.cur.recs != nil {
			clear(p.cur.recs) // drop the entries
			select {
			case p.free <- p.cur.recs[:0]:
			default:
			}
			p.inflight.Add(-p.cur.bytes)
			select {
			case p.freed <- struct{}{}:
			default:
			}
		}
		b, ok := <-p.ch
		if !ok {
			// stopped before the reader's end: only by the context
			<-p.done
			p.end = p.ctx.Err()
			if p.end == nil {
				p.end = context.Canceled
			}
			return nil, p.end
		}
		p.cur, p.pos = b, 0
	}
	r := p.cur.recs[p.pos]
	p.pos++
	var rerr *RecordError
	if r.err != nil && !errors.As(r.err, &rerr) {
		p.end = r.err
	}
	return r.e, r.err
}

// stop ends the parsing goroutine and waits for it (the reader is not used
// after stop returns).
func (p *parser) stop() {
	p.cancel()
	<-p.done
}

// kind classifies an entry: "account", "group" or "" (not in scope).
func (s *Source) kind(e *Entry) string {
	switch {
	case e.HasObjectClass(s.tree.LDIF.UserObjectClass):
		return "account"
	case e.HasObjectClass(s.tree.LDIF.GroupObjectClass):
		return "group"
	}
	return ""
}

// inBaseText is inBase for a DN string, with a fast path for the common
// case (the DN ends in ",<base as configured>", case-insensitively); a DN
// that does not parse counts as in base (entry.Emit rejects it).
func (s *Source) inBaseText(dn string) bool {
	if n := len(s.baseText); len(dn) > n && dn[len(dn)-n-1] == ',' && strings.EqualFold(dn[len(dn)-n:], s.baseText) {
		return true
	}
	parsed, err := ldap.ParseDN(dn)
	return err != nil || s.inBase(parsed)
}

// inBase reports whether dn is at or below the configured base DN.
func (s *Source) inBase(dn *ldap.DN) bool { return s.base.AncestorOfFold(dn) || s.base.EqualFold(dn) }

// readState is what one Read reuses from entry to entry.
type readState struct {
	gets [2]attrGetter // accounts, groups
	cs   countingSink
}

func (s *Source) entry(e *Entry, sink extract.Sink, c *counts, st *readState) error {
	kind := s.kind(e)
	if kind == "" {
		c.skipped++
		return nil
	}
	// Entries outside the base DN are out of scope (as for an LDAP search
	// base); a DN that does not parse is rejected by entry.Emit.
	if !s.inBaseText(e.DN) {
		c.skipped++
		return nil
	}
	cs := &st.cs
	*cs = countingSink{Sink: sink, c: c}
	g := &st.gets[0]
	if kind == "group" {
		g = &st.gets[1]
	}
	g.reset(e)
	err := entry.Emit(s.mapper, e.DN, kind, g.get, cs)
	g.e = nil
	if err != nil {
		return err
	}
	if !cs.emitted {
		c.skipped++ // partition not published by this tree
	}
	return nil
}

// countingSink counts rows for the completion log.
type countingSink struct {
	extract.Sink
	c       *counts
	emitted bool
}

func (s *countingSink) Account(a contract.Account) error {
	s.c.accounts++
	s.emitted = true
	return s.Sink.Account(a)
}

func (s *countingSink) Group(g contract.Group) error {
	s.c.groups++
	s.emitted = true
	return s.Sink.Group(g)
}

// AccountNorm and GroupNorm pass the DN's Norm on (entry.NormSink), so the
// stage's sink does not parse the DN again.
func (s *countingSink) AccountNorm(a contract.Account, norm string) error {
	ns, ok := s.Sink.(entry.NormSink)
	if !ok {
		return s.Account(a)
	}
	s.c.accounts++
	s.emitted = true
	return ns.AccountNorm(a, norm)
}

func (s *countingSink) GroupNorm(g contract.Group, norm string) error {
	ns, ok := s.Sink.(entry.NormSink)
	if !ok {
		return s.Group(g)
	}
	s.c.groups++
	s.emitted = true
	return ns.GroupNorm(g, norm)
}

func (s *countingSink) Member(groupDN, groupSourceID, partition, memberDN, memberSourceID string) error {
	s.c.members++
	return s.Sink.Member(groupDN, groupSourceID, partition, memberDN, memberSourceID)
}

func (s *countingSink) Reject(r contract.Reject) error {
	s.c.rejects++
	s.emitted = true
	return s.Sink.Reject(r)
}

// rejectRecord reports a malformed record when it could be in scope: entries
// whose object class shows they are not users or groups, and entries outside
// the tree's partitions, are skipped silently.
func (s *Source) rejectRecord(rerr *RecordError, sink extract.Sink, c *counts) error {
	kind := "entry"
	partition := ""
	id := ""
	if rerr.Entry != nil {
		if len(rerr.Entry.Get("objectClass")) > 0 {
			kind = s.kind(rerr.Entry)
			if kind == "" {
				c.skipped++
				return nil
			}
		}
		if v := rerr.Entry.Get(s.tree.Attributes["uuid"]); len(v) > 0 && utf8.Valid(v[0]) {
			id = string(v[0])
		}
	}
	if rerr.DN != "" {
		if dn, err := ldap.ParseDN(rerr.DN); err == nil {
			partition = entry.Partition(dn)
			if !s.inBase(dn) || !s.tree.IncludesPartition(partition) {
				c.skipped++
				return nil
			}
		}
	}
	c.rejects++
	s.log.WithFields(logrus.Fields{"line": rerr.Line, "code": rerr.Code}).Warn("ldif record rejected")
	return sink.Reject(contract.Reject{Tree: s.tree.Name, Partition: partition, DN: rerr.DN, SourceID: id, Kind: kind, Code: rerr.Code,
		Reason: rerr.Reason, Detail: fmt.Sprintf("ldif line %d", rerr.Line)})
}
