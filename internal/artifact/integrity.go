package artifact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"

	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/internal/store"
)

// ErrModified means a file's bytes are not the bytes its manifest recorded
// (sha256 or size): it was modified after publication. Retrying cannot help,
// so errors carrying it are classified exit 1 (exitcode.Unexpected), never
// exit 3.
var ErrModified = errors.New("modified after publication; run `runs verify`")

// modifiedError names the file, what differs, and wraps ErrModified with the
// exit-1 classification.
func modifiedError(url, what string) error {
	return exitcode.Wrap(exitcode.Unexpected, fmt.Errorf("%s was %w (%s)", url, ErrModified, what))
}

// checkSum compares a computed sha256 and size with a manifest entry.
func checkSum(url string, gotSHA string, gotBytes int64, want FileEntry) error {
	switch {
	case gotBytes != want.Bytes:
		return modifiedError(url, fmt.Sprintf("%d bytes, the manifest recorded %d", gotBytes, want.Bytes))
	case want.SHA256 != "" && gotSHA != want.SHA256:
		return modifiedError(url, fmt.Sprintf("sha256 %s, the manifest recorded %s", gotSHA, want.SHA256))
	}
	return nil
}

// maxHashGap is how far ahead of the hashed prefix a read may start and still
// have the gap hashed at once (the gap is read an extra time). Reads further
// ahead, such as the footer read first, are hashed when the part is done.
const maxHashGap = 1 << 20

// hashingReaderAt hashes a part while the Parquet reader reads it, so that a
// part is not read a second time just to hash it. sha256 needs the bytes in
// order: a read that extends the hashed prefix [0, pos) is hashed from the
// reader's own buffer; a small gap before it is read and hashed first; what
// was never read in order (the footer, read first) is hashed by Sum.
type hashingReaderAt struct {
	mu   sync.Mutex
	r    readerAtSeeker
	size int64
	h    hash.Hash
	pos  int64
	err  error // a failed gap read: Sum reports it
}

func newHashingReaderAt(r readerAtSeeker, size int64) *hashingReaderAt {
	return &hashingReaderAt{r: r, size: size, h: sha256.New()}
}

func (s *hashingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := s.r.ReadAt(p, off)
	s.mu.Lock()
	if off > s.pos && off-s.pos <= maxHashGap {
		s.hashTo(off)
	}
	if end := off + int64(n); off <= s.pos && end > s.pos {
		s.h.Write(p[s.pos-off : n])
		s.pos = end
	}
	s.mu.Unlock()
	return n, err
}

func (s *hashingReaderAt) Seek(offset int64, whence int) (int64, error) {
	return s.r.Seek(offset, whence)
}

// hashTo reads and hashes [pos, to) from the underlying file.
func (s *hashingReaderAt) hashTo(to int64) {
	if s.err != nil || to <= s.pos {
		return
	}
	n, err := io.Copy(s.h, io.NewSectionReader(s.r, s.pos, to-s.pos))
	s.pos += n
	if err == nil && s.pos < to {
		err = io.ErrUnexpectedEOF
	}
	s.err = err
}

// Sum hashes what is left and returns the hex sha256 of the whole part.
func (s *hashingReaderAt) Sum() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hashTo(s.size)
	if s.err != nil {
		return "", s.err
	}
	return hex.EncodeToString(s.h.Sum(nil)), nil
}

// ReadBlob reads the blob a manifest lists under name (plan.json, ...) and
// checks its size and sha256 against the listing: an edited blob is an
// ErrModified error naming the file.
func ReadBlob(ctx context.Context, st store.Store, m *Manifest, name string) ([]byte, FileEntry, error) {
	if m == nil {
		return nil, FileEntry{}, fmt.Errorf("read blob %s: no manifest", name)
	}
	fe, ok := m.Blobs[name]
	if !ok {
		return nil, FileEntry{}, fmt.Errorf("read blob %s: stage %s of run %s lists no such blob", name, m.Stage, m.RunID)
	}
	data, sum, err := readKey(ctx, st, fe.Key)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fe, fmt.Errorf("read blob %s: %s is missing (listed by the manifest of stage %s, run %s; run `runs verify`): %w", name, st.URL(fe.Key), m.Stage, m.RunID, err)
		}
		return nil, fe, fmt.Errorf("read blob %s: %w", name, err)
	}
	if err := checkSum(st.URL(fe.Key), sum, int64(len(data)), fe); err != nil {
		return nil, fe, fmt.Errorf("read blob %s: %w", name, err)
	}
	return data, fe, nil
}
