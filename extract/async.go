package extract

import (
	"hash/maphash"
	"sync"

	"github.com/otds-highspot/otds-highspot/extract/entry"
	"github.com/otds-highspot/otds-highspot/internal/contract"
)

// asyncSink runs a sink in its own goroutine, so that writing rows (Arrow
// appends and, every row group, Parquet encoding and compression, about half
// of the stage's CPU) overlaps with the source's network reads, decoding and
// mapping. Calls are batched and handed over through a channel of a few
// batches, so memory stays bounded (asyncBatch rows x asyncDepth batches) and
// rows reach the sink in the order the source produced them. The first error
// of the inner sink is returned by the next call and by wait; after it the
// source stops reading.
type asyncSink struct {
	inner *treeSink
	// normBuf is the caller's buffer for member DNs: their hashNormDN is
	// computed on the source's goroutine (the sink's is the busier one).
	normBuf []byte
	dns     entry.DNCache
	ch      chan []sinkCall
	batch   []sinkCall
	free    chan []sinkCall // recycled batches
	wg      sync.WaitGroup

	mu  sync.Mutex
	err error
}

const (
	asyncBatch = 256
	asyncDepth = 4
)

// sinkCall is one Sink call.
type sinkCall struct {
	kind                                                  uint8 // 1 account, 2 group, 3 member, 4 reject
	norm                                                  string
	acc                                                   contract.Account
	group                                                 contract.Group
	rej                                                   contract.Reject
	groupDN, groupSourceID, partition, memberDN, memberID string
	mhash                                                 uint64 // hashNormDN(memberDN) when mhashed
	mhashed                                               bool
}

func newAsyncSink(inner *treeSink) *asyncSink {
	s := &asyncSink{inner: inner, ch: make(chan []sinkCall, asyncDepth), free: make(chan []sinkCall, asyncDepth+2)}
	s.batch = make([]sinkCall, 0, asyncBatch)
	s.wg.Add(1)
	go s.run()
	return s
}

func (s *asyncSink) run() {
	defer s.wg.Done()
	for b := range s.ch {
		if s.failed() == nil {
			for i := range b {
				if err := s.apply(&b[i]); err != nil {
					s.mu.Lock()
					s.err = err
					s.mu.Unlock()
					break
				}
			}
		}
		clear(b) // drop references to the rows
		select {
		case s.free <- b[:0]:
		default:
		}
	}
}

func (s *asyncSink) apply(c *sinkCall) error {
	switch c.kind {
	case 1:
		return s.inner.AccountNorm(c.acc, c.norm)
	case 2:
		return s.inner.GroupNorm(c.group, c.norm)
	case 3:
		return s.inner.member(c.groupDN, c.groupSourceID, c.partition, c.memberDN, c.memberID, c.mhash, c.mhashed)
	default:
		return s.inner.Reject(c.rej)
	}
}

func (s *asyncSink) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// add queues one call, handing the batch over when it is full.
func (s *asyncSink) add(c sinkCall) error {
	s.batch = append(s.batch, c)
	if len(s.batch) < asyncBatch {
		return nil
	}
	if err := s.failed(); err != nil {
		return err
	}
	s.ch <- s.batch
	select {
	case s.batch = <-s.free:
	default:
		s.batch = make([]sinkCall, 0, asyncBatch)
	}
	return nil
}

// wait hands over the last batch, waits until the sink goroutine has applied
// everything and returns its first error. Call it exactly once, also after a
// failed read (the goroutine must end).
func (s *asyncSink) wait() error {
	if len(s.batch) > 0 {
		s.ch <- s.batch
		s.batch = nil
	}
	close(s.ch)
	s.wg.Wait()
	return s.err
}

func (s *asyncSink) Account(a contract.Account) error { return s.add(sinkCall{kind: 1, acc: a}) }
func (s *asyncSink) Group(g contract.Group) error     { return s.add(sinkCall{kind: 2, group: g}) }
func (s *asyncSink) Reject(r contract.Reject) error   { return s.add(sinkCall{kind: 4, rej: r}) }

// AccountNorm / GroupNorm carry the DN's Norm (entry.NormSink).
func (s *asyncSink) AccountNorm(a contract.Account, norm string) error {
	return s.add(sinkCall{kind: 1, acc: a, norm: norm})
}

func (s *asyncSink) GroupNorm(g contract.Group, norm string) error {
	return s.add(sinkCall{kind: 2, group: g, norm: norm})
}

func (s *asyncSink) Member(groupDN, groupSourceID, partition, memberDN, memberSourceID string) error {
	if !s.inner.tree.IncludesPartition(partition) {
		return nil
	}
	c := sinkCall{kind: 3, groupDN: groupDN, groupSourceID: groupSourceID, partition: partition, memberDN: memberDN, memberID: memberSourceID}
	if memberSourceID == "" {
		var err error
		s.normBuf, _, err = s.dns.AppendNorm(s.normBuf[:0], memberDN)
		if err == nil {
			c.mhash, c.mhashed = maphash.Bytes(s.inner.seed, s.normBuf), true
		}
	}
	return s.add(c)
}
