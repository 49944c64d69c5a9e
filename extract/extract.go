package extract

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/otds-highspot/otds-highspot/extract/entry"
	"github.com/otds-highspot/otds-highspot/extract/extractconf"
	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/config"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/exitcode"
)

// Options select and wire a run of the extract stage.
type Options struct {
	// Trees is the subset of configured trees to read; empty = all.
	Trees []string
	// NewSource builds the source of a tree. Required: the default factory
	// for ldap, otds-rest and ldif lives in extract/sources (sources.Factory),
	// because the sources import this package.
	NewSource func(tree extractconf.Tree) (Source, error)
	// Getenv resolves secret references (injected; never os.Getenv here).
	Getenv func(string) string
	// Strict turns rejects into a failed tree (also cfg.Extract.Strict).
	Strict bool
	// Progress, when set, is called every few thousand entries with the
	// tree and the accounts and groups read so far (the CLI draws it on a
	// terminal). It may be called from several trees' goroutines at once.
	Progress func(tree string, entries int64)
}

// progressEvery is how many entries pass between Progress calls.
const progressEvery = 2000

// RowGroupRows is the Parquet row-group size of the extract tables.
const RowGroupRows = 32 * 1024

// Tree statuses.
const (
	StatusPublished = "published"
	StatusFailed    = "failed" // the read did not complete (exit 3)
	StatusGated     = "gated"  // a source-health gate tripped or strict mode rejected (exit 4)
)

// Gate is one evaluated source-health gate.
type Gate = contract.Gate

// TreeResult is the outcome of one tree.
type TreeResult struct {
	Tree   string `json:"tree"`
	Status string `json:"status"`
	contract.TreeCounts
	Duration time.Duration `json:"duration_ns"`
	ExitCode int           `json:"exit_code"`
	Error    string        `json:"error,omitempty"`
	Ref      *artifact.Ref `json:"ref,omitempty"`
	Err      error         `json:"-"`
}

// Result is the outcome of a run: one TreeResult per tree, in config order.
type Result struct {
	Trees []TreeResult `json:"trees"`
}

// Run reads the selected trees concurrently (at most cfg.Extract.Concurrency
// at once), each into its own stage "extract.<tree>", and publishes a tree
// only when its read completed and its health gates passed. The returned
// error, when any tree failed, names every failed tree and carries the most
// severe exit code (4 source gate over 3 transient).
func Run(ctx context.Context, env artifact.Env, cfg *config.Config, opts Options) (*Result, error) {
	if opts.NewSource == nil {
		return nil, exitcode.New(exitcode.Unexpected, "extract: no source factory; pass extract/sources.Factory as Options.NewSource")
	}
	trees, err := selectTrees(cfg, opts.Trees)
	if err != nil {
		return nil, err
	}
	strict := opts.Strict || cfg.Extract.Strict
	conc := cfg.Extract.Concurrency
	if conc < 1 {
		conc = 1
	}
	res := &Result{Trees: make([]TreeResult, len(trees))}
	// Trees start in config order, each as soon as a slot is free (list
	// the largest first: the last tree to start runs alone at the end).
	// Goroutines racing for the slots started them in the scheduler's
	// order, which often put the largest last.
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	for i := range trees {
		started := false
		if ctx.Err() == nil {
			select {
			case sem <- struct{}{}:
				started = true
			case <-ctx.Done():
			}
		}
		if !started {
			res.Trees[i] = failed(trees[i].Name, exitcode.Transient, fmt.Errorf("tree %s: not started: %w", trees[i].Name, ctx.Err()))
			continue
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			res.Trees[i] = runTree(ctx, env, trees[i], opts, strict)
		}(i)
	}
	wg.Wait()
	var errs []error
	code := exitcode.OK
	for _, tr := range res.Trees {
		if tr.Err == nil {
			continue
		}
		errs = append(errs, tr.Err)
		if severity(tr.ExitCode) > severity(code) {
			code = tr.ExitCode
		}
	}
	if len(errs) > 0 {
		return res, exitcode.Wrap(code, errors.Join(errs...))
	}
	return res, nil
}

func severity(code int) int {
	switch code {
	case exitcode.OK:
		return 0
	case exitcode.Transient:
		return 1
	case exitcode.SourceGate:
		return 2
	case exitcode.Auth:
		return 4 // a human must fix the credentials before any retry
	}
	return 3 // usage / unexpected
}

func failed(tree string, code int, err error) TreeResult {
	return TreeResult{Tree: tree, Status: StatusFailed, ExitCode: code, Err: err, Error: err.Error(), TreeCounts: contract.TreeCounts{RejectsByCode: map[string]int64{}}}
}

func selectTrees(cfg *config.Config, names []string) ([]extractconf.Tree, error) {
	if len(names) == 0 {
		return cfg.Trees, nil
	}
	var out []extractconf.Tree
	for _, n := range names {
		t, ok := cfg.Tree(n)
		if !ok {
			return nil, exitcode.New(exitcode.Usage, "extract: unknown tree %q; configured trees are %s", n, strings.Join(cfg.TreeNames(), ", "))
		}
		out = append(out, *t)
	}
	return out, nil
}

var errIndexFull = errors.New("the member-resolution index is full (over 4 GiB of ids or 4G entries): split the tree by partition")

// ref is what the stage remembers of one entry for member resolution: its
// source id (a slice of the ids arena), kind and partition, in 12 bytes.
// With byDN (8-byte hash -> 4-byte index) that is about 50 bytes per entry
// with a UUID source id (kept as its 16 bytes), the only per-entry memory of
// a read.
type ref struct {
	off  uint32 // id = entryRefs.id(ref): chunk off>>idChunkBits, from off&idChunkMask
	n    uint16 // bytes in the arena
	kind uint8  // 1 user, 2 group
	uuid bool   // the id is a lower-case UUID kept as its 16 bytes
	part uint16
}

// Chunk sizes of entryRefs: 8Ki refs (96 KiB) and 256 KiB of ids a chunk;
// 16Ki id chunks (4 GiB) at most.
const (
	refChunk    = 8 << 10
	idChunkBits = 18
	idChunk     = 1 << idChunkBits
	idChunkMask = idChunk - 1
)

// entryRefs holds the refs of a read and their ids in fixed-size chunks.
// Growing it never copies what it holds: a slice grown by append holds its
// old and new arrays at once until the next collection, so the index of a
// large tree cost up to three times its size at the moment it grew, which
// made the peak RSS of a read grow with the tree.
type entryRefs struct {
	refs [][]ref  // chunks of refChunk refs
	ids  [][]byte // chunks of idChunk bytes; an id never spans two
	n    int
}

// add appends an entry and returns its index.
func (e *entryRefs) add(id string, kind uint8, part uint16) (uint32, error) {
	if len(id) > math.MaxUint16 || e.n >= math.MaxUint32 {
		return 0, fmt.Errorf("%w (%d entries, an id of %d bytes)", errIndexFull, e.n, len(id))
	}
	var packed [16]byte
	raw := id
	isUUID := packUUID(&packed, id)
	if isUUID {
		raw = string(packed[:]) // does not escape: appended below
	}
	last := len(e.ids) - 1
	if last < 0 || len(e.ids[last])+len(raw) > idChunk {
		if len(e.ids) >= 1<<(32-idChunkBits) {
			return 0, fmt.Errorf("%w (%d entries, %d bytes of ids)", errIndexFull, e.n, len(e.ids)*idChunk)
		}
		e.ids = append(e.ids, make([]byte, 0, max(idChunk, len(id))))
		last++
	}
	off := uint32(last)<<idChunkBits | uint32(len(e.ids[last]))
	e.ids[last] = append(e.ids[last], raw...)
	if e.n%refChunk == 0 {
		e.refs = append(e.refs, make([]ref, 0, refChunk))
	}
	c := len(e.refs) - 1
	e.refs[c] = append(e.refs[c], ref{off: off, n: uint16(len(raw)), kind: kind, uuid: isUUID, part: part})
	i := uint32(e.n)
	e.n++
	return i, nil
}

// at returns the ref of entry i.
func (e *entryRefs) at(i uint32) ref { return e.refs[i/refChunk][i%refChunk] }

// id returns the source id of r.
func (e *entryRefs) id(r ref) string {
	c, o := r.off>>idChunkBits, r.off&idChunkMask
	b := e.ids[c][o : o+uint32(r.n)]
	if !r.uuid {
		return string(b)
	}
	return entry.UUIDText(b)
}

// packUUID puts the 16 bytes of id into dst when id is a UUID written the
// way it is read back (36 characters, lower-case hex, dashes at 8, 13, 18
// and 23): the id text is then rebuilt exactly.
func packUUID(dst *[16]byte, id string) bool {
	if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-' {
		return false
	}
	j := 0
	for i := 0; i < 36; {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i++
			continue
		}
		hi, ok1 := lowerHex(id[i])
		lo, ok2 := lowerHex(id[i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[j] = hi<<4 | lo
		i, j = i+2, j+1
	}
	return true
}

func lowerHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// treeSink writes rows as they arrive and keeps compact indexes.
type treeSink struct {
	progress  func(entries int64) // nil unless Options.Progress is set
	tree      extractconf.Tree
	seed      maphash.Seed
	accounts  *artifact.TableWriter[contract.Account]
	groups    *artifact.TableWriter[contract.Group]
	rejects   *artifact.TableWriter[contract.Reject]
	members   *artifact.TableWriter[contract.Membership] // rows resolved during the read
	byDN      dnIndex                                    // hash of the DN's Norm -> index in refs
	normBuf   []byte                                     // hashNormDN's buffer
	byID      map[uint64]uint32                          // hash of the source id -> index in refs; built on first use
	refs      entryRefs
	parts     []string
	partIdx   map[string]uint16
	spill     *os.File
	spillW    *bufio.Writer
	spilled   int64
	rejCodes  map[string]int64
	nulls     map[string]int64
	skipped   int64
	nullAttrs []nullCheck
	nullRow   contract.Account // the row nullAttrs look at
}

func (s *treeSink) hash(v string) uint64 { return maphash.String(s.seed, v) }

// hashNormDN is s.hash(norm) for dn's entry.Norm, built in a reused buffer
// (one per sink: the sink is written by one goroutine).
func (s *treeSink) hashNormDN(dn string) (uint64, error) {
	var err error
	s.normBuf, err = entry.AppendNormDN(s.normBuf[:0], dn)
	if err != nil {
		return 0, err
	}
	return maphash.Bytes(s.seed, s.normBuf), nil
}

func (s *treeSink) partition(p string) uint16 {
	if i, ok := s.partIdx[p]; ok {
		return i
	}
	i := uint16(len(s.parts))
	s.parts = append(s.parts, p)
	s.partIdx[p] = i
	return i
}

// index records an entry; false when its DN was seen before (duplicate).
// norm is the entry's entry.Norm ("" = compute it here).
func (s *treeSink) index(dn, norm, partition, id string, kind uint8) (bool, error) {
	if norm == "" {
		n, _, err := entry.NormDN(dn)
		if err != nil {
			return false, err
		}
		norm = n
	}
	h := s.hash(norm)
	if _, dup := s.byDN.get(h); dup {
		return false, nil
	}
	i, err := s.refs.add(id, kind, s.partition(partition))
	if err != nil {
		return false, err
	}
	s.byDN.put(h, i)
	// Entries read so far (after this one: the first call reports 1, not 0).
	if s.progress != nil && (s.refs.n == 1 || s.refs.n%progressEvery == 0) {
		s.progress(int64(s.refs.n))
	}
	return true, nil
}

// id returns the source id of r (bytes of the arena).
func (s *treeSink) id(r ref) string { return s.refs.id(r) }

// byIDIndex builds byID from refs (only sources that name members by id,
// such as OTDS REST, need it; a later entry with the same id wins).
func (s *treeSink) byIDIndex() map[uint64]uint32 {
	if s.byID == nil {
		s.byID = make(map[uint64]uint32, s.refs.n)
		for i := range uint32(s.refs.n) {
			s.byID[s.hash(s.id(s.refs.at(i)))] = i
		}
	}
	return s.byID
}

func (s *treeSink) Account(a contract.Account) error { return s.AccountNorm(a, "") }

// AccountNorm is Account with the DN's Norm already computed (entry.NormSink).
func (s *treeSink) AccountNorm(a contract.Account, norm string) error {
	if !s.tree.IncludesPartition(a.Partition) {
		s.skipped++
		return nil
	}
	ok, err := s.index(a.DN, norm, a.Partition, a.SourceID, 1)
	if err != nil {
		if errors.Is(err, errIndexFull) {
			return err
		}
		return s.Reject(contract.Reject{Tree: s.tree.Name, Partition: a.Partition, DN: a.DN, SourceID: a.SourceID, Kind: "account", Code: entry.CodeBadDN, Reason: "the DN does not parse: " + err.Error()})
	}
	if !ok {
		return s.Reject(contract.Reject{Tree: s.tree.Name, Partition: a.Partition, DN: a.DN, SourceID: a.SourceID, Kind: "account", Code: entry.CodeDuplicateDN, Reason: "another entry with the same DN was already read; this one is not published"})
	}
	if len(s.nullAttrs) > 0 {
		// a copy in the sink: a's own address moved every row to the heap
		s.nullRow = a
		for _, n := range s.nullAttrs {
			if n.isNull(&s.nullRow) {
				s.nulls[n.name]++
			}
		}
		s.nullRow = contract.Account{}
	}
	return s.accounts.Write(a)
}

func (s *treeSink) Group(g contract.Group) error { return s.GroupNorm(g, "") }

// GroupNorm is Group with the DN's Norm already computed (entry.NormSink).
func (s *treeSink) GroupNorm(g contract.Group, norm string) error {
	if !s.tree.IncludesPartition(g.Partition) {
		s.skipped++
		return nil
	}
	ok, err := s.index(g.DN, norm, g.Partition, g.SourceID, 2)
	if err != nil {
		if errors.Is(err, errIndexFull) {
			return err
		}
		return s.Reject(contract.Reject{Tree: s.tree.Name, Partition: g.Partition, DN: g.DN, SourceID: g.SourceID, Kind: "group", Code: entry.CodeBadDN, Reason: "the DN does not parse: " + err.Error()})
	}
	if !ok {
		return s.Reject(contract.Reject{Tree: s.tree.Name, Partition: g.Partition, DN: g.DN, SourceID: g.SourceID, Kind: "group", Code: entry.CodeDuplicateDN, Reason: "another entry with the same DN was already read; this one is not published"})
	}
	return s.groups.Write(g)
}

// Member spills the membership to a local file; it is resolved after the read.
// A member named by DN whose entry was already read is resolved at once
// (the result is the same as after the read: the first entry of a DN is the
// indexed one); the others wait in the spill file for resolve.
func (s *treeSink) Member(groupDN, groupSourceID, partition, memberDN, memberSourceID string) error {
	if !s.tree.IncludesPartition(partition) {
		return nil
	}
	var h uint64
	hashed := false
	if memberSourceID == "" {
		var err error
		h, err = s.hashNormDN(memberDN)
		hashed = err == nil
	}
	return s.member(groupDN, groupSourceID, partition, memberDN, memberSourceID, h, hashed)
}

// member is Member of an included partition with the member DN's
// hashNormDN computed (hashed false: a member named by id, or a DN that
// does not parse).
func (s *treeSink) member(groupDN, groupSourceID, partition, memberDN, memberSourceID string, h uint64, hashed bool) error {
	if hashed && s.members != nil {
		if i, ok := s.byDN.get(h); ok {
			found := s.refs.at(i)
			return s.members.Write(contract.Membership{Tree: s.tree.Name, Partition: partition, GroupDN: groupDN,
				GroupSourceID: groupSourceID, MemberDN: memberDN, MemberSourceID: s.id(found),
				MemberKind: memberKinds[found.kind], MemberPartition: s.parts[found.part]})
		}
	}
	for _, v := range []string{groupDN, groupSourceID, partition, memberDN, memberSourceID} {
		if _, err := s.spillW.Write(binary.AppendUvarint(s.spillW.AvailableBuffer(), uint64(len(v)))); err != nil {
			return fmt.Errorf("spill membership: %w", err)
		}
		if _, err := s.spillW.WriteString(v); err != nil {
			return fmt.Errorf("spill membership: %w", err)
		}
	}
	s.spilled++
	return nil
}

func (s *treeSink) Reject(r contract.Reject) error {
	if r.Tree == "" {
		r.Tree = s.tree.Name
	}
	s.rejCodes[r.Code]++
	return s.rejects.Write(r)
}

// spillReader reads spilled memberships back: the five fields of a record
// are read into one buffer and become substrings of one string (one
// allocation per membership instead of five).
type spillReader struct {
	r    *bufio.Reader
	buf  []byte
	ends [5]int
}

func (sr *spillReader) next() ([5]string, error) {
	var out [5]string
	sr.buf = sr.buf[:0]
	for i := range out {
		n, err := binary.ReadUvarint(sr.r)
		if err != nil {
			if i == 0 && err == io.EOF {
				return out, io.EOF
			}
			return out, fmt.Errorf("read spilled membership: %w", err)
		}
		start := len(sr.buf)
		sr.buf = append(sr.buf, make([]byte, n)...)
		if _, err := io.ReadFull(sr.r, sr.buf[start:]); err != nil {
			return out, fmt.Errorf("read spilled membership: %w", err)
		}
		sr.ends[i] = len(sr.buf)
	}
	all := string(sr.buf)
	start := 0
	for i, end := range sr.ends {
		out[i] = all[start:end]
		start = end
	}
	return out, nil
}

var memberKinds = [3]string{"", "user", "group"}

// resolve turns the spilled member references into membership rows (or
// dangling-member rejects).
func (s *treeSink) resolve(ctx context.Context, w *artifact.TableWriter[contract.Membership]) error {
	if err := s.spillW.Flush(); err != nil {
		return fmt.Errorf("spill membership: %w", err)
	}
	if _, err := s.spill.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("rewind membership spill: %w", err)
	}
	r := &spillReader{r: bufio.NewReaderSize(s.spill, 1<<16)}
	for n := 0; ; n++ {
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		v, err := r.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		groupDN, groupID, partition, memberDN, memberID := v[0], v[1], v[2], v[3], v[4]
		m := contract.Membership{Tree: s.tree.Name, Partition: partition, GroupDN: groupDN, GroupSourceID: groupID, MemberDN: memberDN}
		rej := contract.Reject{Tree: s.tree.Name, Partition: partition, DN: groupDN, SourceID: groupID, Kind: "membership", Detail: memberDN}
		var found ref
		var ok bool
		if memberID != "" {
			var i uint32
			if i, ok = s.byIDIndex()[s.hash(memberID)]; ok {
				found = s.refs.at(i)
				ok = s.id(found) == memberID
			}
			if !ok {
				rej.Code, rej.Reason, rej.Detail = entry.CodeDanglingMember, "the member id points at no account or group of this tree", memberID
				if err := s.Reject(rej); err != nil {
					return err
				}
				continue
			}
		} else {
			norm, mp, err := entry.NormDN(memberDN)
			if err != nil {
				rej.Code, rej.Reason = entry.CodeBadDN, "the member DN does not parse: "+err.Error()
				if err := s.Reject(rej); err != nil {
					return err
				}
				continue
			}
			var i uint32
			if i, ok = s.byDN.get(s.hash(norm)); ok {
				found = s.refs.at(i)
			} else {
				if mp != "" && !s.tree.IncludesPartition(mp) {
					// a member in a partition this tree does not publish: keep
					// it, unresolved; transform resolves it across trees by DN
					m.MemberPartition = mp
					if err := w.Write(m); err != nil {
						return err
					}
					continue
				}
				rej.Code, rej.Reason = entry.CodeDanglingMember, "the member DN points at no account or group of this tree"
				if err := s.Reject(rej); err != nil {
					return err
				}
				continue
			}
		}
		m.MemberSourceID = s.id(found)
		m.MemberKind = memberKinds[found.kind]
		m.MemberPartition = s.parts[found.part]
		if err := w.Write(m); err != nil {
			return err
		}
	}
}

// nullCheck is one health.null_rate limit: the logical name and the field
// of the table that says where its values are (an extra attribute has none:
// its values are in Account.Extra).
type nullCheck struct {
	name  string
	field *contract.Field
}

func (c nullCheck) isNull(a *contract.Account) bool {
	if c.field != nil {
		return c.field.IsMissing(a)
	}
	for _, s := range a.Extra[c.name] {
		if strings.TrimSpace(s) != "" {
			return false
		}
	}
	return true
}

func runTree(ctx context.Context, env artifact.Env, tree extractconf.Tree, opts Options, strict bool) (tr TreeResult) {
	start := time.Now()
	tr = TreeResult{Tree: tree.Name, TreeCounts: contract.TreeCounts{RejectsByCode: map[string]int64{}}}
	log := env.Log
	if log != nil {
		log = log.WithField("tree", tree.Name)
	}
	defer func() {
		tr.Duration = time.Since(start)
		if tr.Err != nil {
			tr.Error = tr.Err.Error()
			if log != nil {
				log.WithField("exit_code", tr.ExitCode).Errorf("extract: %v", tr.Err)
			}
		} else if log != nil {
			log.WithFields(map[string]any{"accounts": tr.Accounts, "groups": tr.Groups, "memberships": tr.Memberships,
				"rejects": tr.Rejects, "duration": tr.Duration.Round(time.Millisecond).String()}).Debug("extract: tree published")
		}
	}()
	fail := func(code int, err error) TreeResult {
		tr.Status, tr.ExitCode, tr.Err = StatusFailed, code, err
		if code == exitcode.SourceGate {
			tr.Status = StatusGated
		}
		return tr
	}
	src, err := opts.NewSource(tree)
	if err != nil {
		return fail(codeOr(err, exitcode.Usage), fmt.Errorf("tree %s: build %s source: %w", tree.Name, tree.Source, err))
	}
	stage := artifact.NewStage(env, contract.ExtractStage(tree.Name))
	stage.EncodeInline() // the tree's sink writes its tables on a goroutine of its own
	// accounts rows are wide (17 list columns): 32Ki-row groups halve the
	// Arrow builder memory against the 64Ki default at no measurable cost
	stage.SetLimits(artifact.Limits{RowGroupRows: RowGroupRows})
	committed := false
	defer func() {
		if !committed {
			stage.Abort()
		}
	}()
	sink := &treeSink{tree: tree, seed: maphash.MakeSeed(),
		partIdx: map[string]uint16{}, rejCodes: tr.RejectsByCode, nulls: map[string]int64{}}
	if opts.Progress != nil {
		sink.progress = func(n int64) { opts.Progress(tree.Name, n) }
	}
	names := make([]string, 0, len(tree.Health.NullRate))
	for n := range tree.Health.NullRate {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := nullCheck{name: n}
		if f, ok := contract.FieldByName(n); ok && f.Checked {
			c.field = f
		}
		sink.nullAttrs = append(sink.nullAttrs, c)
	}
	if sink.accounts, err = artifact.OpenTable[contract.Account](stage, contract.AccountsSpec); err == nil {
		if sink.groups, err = artifact.OpenTable[contract.Group](stage, contract.GroupsSpec); err == nil {
			if sink.rejects, err = artifact.OpenTable[contract.Reject](stage, contract.RejectsSpec); err == nil {
				sink.members, err = artifact.OpenTable[contract.Membership](stage, contract.MembershipsSpec)
			}
		}
	}
	if err != nil {
		return fail(exitcode.Unexpected, fmt.Errorf("tree %s: open tables: %w", tree.Name, err))
	}
	sink.spill, err = os.CreateTemp(env.TempDir, "extract-members-*.bin")
	if err != nil {
		return fail(exitcode.Unexpected, fmt.Errorf("tree %s: create membership spill file (check --temp-dir / TMPDIR): %w", tree.Name, err))
	}
	defer func() { sink.spill.Close(); os.Remove(sink.spill.Name()) }()
	sink.spillW = bufio.NewWriterSize(sink.spill, 1<<16)

	async := newAsyncSink(sink)
	err = src.Read(ctx, async)
	if werr := async.wait(); err == nil {
		err = werr
	}
	if err != nil {
		code := codeOr(err, exitcode.Transient)
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			code = exitcode.Cancelled
		}
		return fail(code, fmt.Errorf("tree %s: read incomplete, nothing published: %w", tree.Name, err))
	}
	if sink.progress != nil {
		sink.progress(int64(sink.refs.n)) // the final count of the read
	}
	// the read is complete: finish accounts and groups (their last row
	// groups and builders) before resolve adds the spilled memberships
	for _, c := range []interface{ Close() error }{sink.accounts, sink.groups} {
		if err := c.Close(); err != nil {
			return fail(exitcode.Transient, fmt.Errorf("tree %s: close table: %w", tree.Name, err))
		}
	}
	mw := sink.members
	if err := sink.resolve(ctx, mw); err != nil {
		return fail(codeOr(err, exitcode.Transient), fmt.Errorf("tree %s: resolve members: %w", tree.Name, err))
	}
	tr.Accounts, tr.Groups, tr.Memberships, tr.Rejects, tr.Skipped = sink.accounts.Rows(), sink.groups.Rows(), mw.Rows(), sink.rejects.Rows(), sink.skipped
	for _, c := range []interface{ Close() error }{sink.rejects, mw} {
		if err := c.Close(); err != nil {
			return fail(exitcode.Transient, fmt.Errorf("tree %s: close table: %w", tree.Name, err))
		}
	}

	// source-health gates
	prev, pref, perr := artifact.LatestManifest(ctx, env.Store, contract.ExtractStage(tree.Name), env.RunID)
	switch {
	case perr == nil:
		tr.Previous = prev.TableRows(contract.AccountsSpec.Name)
	case errors.Is(perr, artifact.ErrNotPublished):
	default:
		return fail(exitcode.Transient, fmt.Errorf("tree %s: read the previous snapshot for the drop gate: %w", tree.Name, perr))
	}
	tr.Gates = Gates(tree, tr.Accounts, tr.Previous, sink.nulls, tr.Rejects, strict)
	var tripped []string
	for _, g := range tr.Gates {
		if g.Tripped {
			tripped = append(tripped, g.Message)
		}
	}
	summary := contract.ExtractSummary{Tree: tree.Name, Source: tree.Source, TreeCounts: tr.TreeCounts,
		DurationMS: time.Since(start).Milliseconds()}
	if len(tripped) > 0 {
		return fail(exitcode.SourceGate, fmt.Errorf("tree %s: source-health gate tripped, nothing published: %s", tree.Name, strings.Join(tripped, "; ")))
	}
	contract.PutSummary(stage.SetSummary, summary)
	if perr == nil {
		stage.AddInput(pref)
	}
	r, _, err := stage.Commit(ctx)
	if err != nil {
		return fail(codeOr(err, exitcode.Transient), fmt.Errorf("tree %s: publish: %w", tree.Name, err))
	}
	committed = true
	tr.Status, tr.Ref = StatusPublished, &r
	return tr
}

func codeOr(err error, def int) int {
	var e *exitcode.Error
	var c exitcode.Coder
	if errors.As(err, &e) || errors.As(err, &c) {
		return exitcode.Of(err)
	}
	return def
}

// Gates evaluates a tree's source-health gates: empty result and minimum
// accounts, drop against the previous snapshot (previous = 0: none), the
// null-rate limits (nulls: logical name -> accounts without a value), and
// strict mode against rejects.
func Gates(tree extractconf.Tree, accounts, previous int64, nulls map[string]int64, rejects int64, strict bool) []Gate {
	h := tree.Health
	var out []Gate
	minAcc := h.MinAccounts
	if minAcc < 1 {
		minAcc = 1
	}
	g := Gate{Name: "min_accounts", Figure: float64(accounts), Threshold: float64(minAcc), Tripped: accounts < int64(minAcc)}
	if g.Tripped {
		if accounts == 0 {
			g.Message = fmt.Sprintf("tree %s: empty result (0 accounts); an empty read is never published", tree.Name)
		} else {
			g.Message = fmt.Sprintf("tree %s: %d accounts, below min_accounts %d", tree.Name, accounts, minAcc)
		}
	}
	out = append(out, g)
	if previous > 0 {
		drop := 0.0
		if accounts < previous {
			drop = float64(previous-accounts) * 100 / float64(previous)
		}
		g := Gate{Name: "max_drop_percent", Figure: drop, Threshold: h.MaxDrop(), Tripped: drop > h.MaxDrop()}
		if g.Tripped {
			g.Message = fmt.Sprintf("tree %s: accounts dropped %.1f%% (%d -> %d) against the previous snapshot, above max_drop_percent %g", tree.Name, drop, previous, accounts, h.MaxDrop())
		}
		out = append(out, g)
	}
	names := make([]string, 0, len(h.NullRate))
	for n := range h.NullRate {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		rate := 0.0
		if accounts > 0 {
			rate = float64(nulls[n]) / float64(accounts)
		}
		g := Gate{Name: "null_rate." + n, Figure: rate, Threshold: h.NullRate[n], Tripped: accounts > 0 && rate > h.NullRate[n]}
		if g.Tripped {
			g.Message = fmt.Sprintf("tree %s: %.1f%% of accounts have no %s (%d of %d), above null_rate limit %.1f%%", tree.Name, rate*100, n, nulls[n], accounts, h.NullRate[n]*100)
		}
		out = append(out, g)
	}
	if strict {
		g := Gate{Name: "strict", Figure: float64(rejects), Threshold: 0, Tripped: rejects > 0}
		if g.Tripped {
			g.Message = fmt.Sprintf("tree %s: %d rejected entries in strict mode (see the rejects table summary)", tree.Name, rejects)
		}
		out = append(out, g)
	}
	return out
}
