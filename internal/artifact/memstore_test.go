package artifact

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/store"
)

// memStore is an in-memory store.Store with the write-once contract, for
// tests. Tests can tamper with objects through the objs map.
type memStore struct {
	mu   sync.Mutex
	objs map[string][]byte
	mod  map[string]time.Time
	// streamOnly makes Get return a plain stream (like S3) instead of a
	// random-access reader, so the download-to-temp path is exercised.
	streamOnly bool
}

func newMemStore() *memStore {
	return &memStore{objs: map[string][]byte{}, mod: map[string]time.Time{}}
}

type memReader struct{ *bytes.Reader }

func (memReader) Close() error { return nil }

func (s *memStore) Put(ctx context.Context, key string, body io.ReadSeeker, size int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	if int64(len(data)) != size {
		return fmt.Errorf("put %s: body is %d bytes, size says %d", key, len(data), size)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.objs[key]; ok {
		return fmt.Errorf("put %s: %w", key, store.ErrExists)
	}
	s.objs[key] = data
	s.mod[key] = time.Now()
	return nil
}

func (s *memStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.objs[key]
	if !ok {
		return nil, fmt.Errorf("get %s: %w", key, store.ErrNotFound)
	}
	if s.streamOnly {
		return io.NopCloser(bytes.NewReader(d)), nil
	}
	return memReader{bytes.NewReader(d)}, nil
}

func (s *memStore) Stat(ctx context.Context, key string) (store.Info, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.objs[key]
	if !ok {
		return store.Info{}, fmt.Errorf("stat %s: %w", key, store.ErrNotFound)
	}
	return store.Info{Key: key, Size: int64(len(d)), ModTime: s.mod[key]}, nil
}

func (s *memStore) List(ctx context.Context, prefix string) ([]store.Info, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Info
	for k, d := range s.objs {
		if strings.HasPrefix(k, prefix) {
			out = append(out, store.Info{Key: k, Size: int64(len(d)), ModTime: s.mod[k]})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func (s *memStore) Delete(ctx context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.objs[key]; !ok {
		return fmt.Errorf("delete %s: %w", key, store.ErrNotFound)
	}
	delete(s.objs, key)
	delete(s.mod, key)
	return nil
}

func (s *memStore) URL(key string) string { return "mem:///" + key }

// keys lists stored keys with a prefix.
func (s *memStore) keys(prefix string) []string {
	infos, _ := s.List(context.Background(), prefix)
	var out []string
	for _, in := range infos {
		out = append(out, in.Key)
	}
	return out
}

// flip changes one byte of an object in place (tamper simulation).
func (s *memStore) flip(key string, at int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := append([]byte(nil), s.objs[key]...)
	d[at] ^= 0x01
	s.objs[key] = d
}
