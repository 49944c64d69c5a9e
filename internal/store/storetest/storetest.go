// Package storetest owns the conformance suite every store.Store backend must
// pass: the same write-once, listing, error and cancellation semantics on
// local disk, in-process S3 fakes and real S3 servers.
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/store"
)

// Options tunes the suite for a backend.
type Options struct {
	// LargeSize is the size of the large-object roundtrip; 20 MiB when zero.
	LargeSize int
	// Writers is the number of concurrent writers of one key; 8 when zero.
	Writers int
}

// Run runs the conformance suite. newStore must return an empty store that
// no other test uses (a fresh directory or a fresh key prefix).
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	RunWith(t, newStore, Options{})
}

// RunWith is Run with options.
func RunWith(t *testing.T, newStore func(t *testing.T) store.Store, opts Options) {
	if opts.LargeSize == 0 {
		opts.LargeSize = 20 << 20
	}
	if opts.Writers == 0 {
		opts.Writers = 8
	}
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, newStore(t)) })
	t.Run("PutExistingFails", func(t *testing.T) { testPutExisting(t, newStore(t)) })
	t.Run("ConcurrentPutOneWins", func(t *testing.T) { testConcurrentPut(t, newStore(t), opts.Writers) })
	t.Run("Missing", func(t *testing.T) { testMissing(t, newStore(t)) })
	t.Run("DeleteThenPutAgain", func(t *testing.T) { testDelete(t, newStore(t)) })
	t.Run("List", func(t *testing.T) { testList(t, newStore(t)) })
	t.Run("LargeObject", func(t *testing.T) { testLarge(t, newStore(t), opts.LargeSize) })
	t.Run("ContextCancelled", func(t *testing.T) { testCancelled(t, newStore(t)) })
	t.Run("CancelDuringPutLeavesNothing", func(t *testing.T) { testCancelMidPut(t, newStore(t)) })
	t.Run("SizeMismatchLeavesNothing", func(t *testing.T) { testSizeMismatch(t, newStore(t)) })
	t.Run("KeyValidation", func(t *testing.T) { testKeys(t, newStore(t)) })
	t.Run("CopyWriteOnce", func(t *testing.T) { testCopy(t, newStore(t)) })
}

// Put stores b under key (test helper).
func Put(ctx context.Context, st store.Store, key string, b []byte) error {
	return st.Put(ctx, key, bytes.NewReader(b), int64(len(b)))
}

// Read returns the whole object under key.
func Read(ctx context.Context, st store.Store, key string) ([]byte, error) {
	rc, err := st.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func mustPut(t *testing.T, st store.Store, key string, b []byte) {
	t.Helper()
	if err := Put(t.Context(), st, key, b); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func mustRead(t *testing.T, st store.Store, key string) []byte {
	t.Helper()
	b, err := Read(t.Context(), st, key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return b
}

func assertAbsent(t *testing.T, st store.Store, key string) {
	t.Helper()
	if _, err := st.Stat(t.Context(), key); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Stat(%q) after failed Put: got err %v, want ErrNotFound (a failed Put must leave nothing)", key, err)
	}
	infos, err := st.List(t.Context(), "")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	for _, in := range infos {
		t.Errorf("List after failed Put: got object %q, want none", in.Key)
	}
}

func testRoundTrip(t *testing.T, st store.Store) {
	tests := []struct {
		name, key string
		body      []byte
	}{
		{"small", "accounts/dt=2026-01-02/run_id=r1/part-00000.parquet", []byte("PAR1 hello PAR1")},
		{"empty", "_runs/r1/empty.json", []byte{}},
		{"binary", "bin/all-bytes", allBytes()},
		{"spaces and unicode", "odd names/ü ß = + %20.txt", []byte("ok")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mustPut(t, st, tc.key, tc.body)
			if got := mustRead(t, st, tc.key); !bytes.Equal(got, tc.body) {
				t.Errorf("Get(%q): got %d bytes %q, want %d bytes %q", tc.key, len(got), trunc(got), len(tc.body), trunc(tc.body))
			}
			info, err := st.Stat(t.Context(), tc.key)
			if err != nil {
				t.Fatalf("Stat(%q): %v", tc.key, err)
			}
			if info.Key != tc.key || info.Size != int64(len(tc.body)) || info.ModTime.IsZero() {
				t.Errorf("Stat(%q): got key %q size %d modtime %v, want key %q size %d and a modtime",
					tc.key, info.Key, info.Size, info.ModTime, tc.key, len(tc.body))
			}
			if u := st.URL(tc.key); !strings.Contains(u, "://") {
				t.Errorf("URL(%q): got %q, want a URL with a scheme", tc.key, u)
			}
		})
	}
	t.Run("body read from current offset", func(t *testing.T) {
		r := bytes.NewReader([]byte("skipKEEP"))
		if _, err := r.Seek(4, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		if err := st.Put(t.Context(), "offset", r, 4); err != nil {
			t.Fatalf("Put: %v", err)
		}
		if got := string(mustRead(t, st, "offset")); got != "KEEP" {
			t.Errorf("Get: got %q, want %q", got, "KEEP")
		}
	})
}

func testPutExisting(t *testing.T, st store.Store) {
	const key = "_runs/r1/extract.manifest.json"
	orig := []byte(`{"v":1}`)
	mustPut(t, st, key, orig)
	for _, body := range [][]byte{[]byte(`{"v":2, "longer": true}`), []byte("x"), {}, orig} {
		err := Put(t.Context(), st, key, body)
		if !errors.Is(err, store.ErrExists) {
			t.Errorf("second Put(%q, %d bytes): got err %v, want ErrExists", key, len(body), err)
		}
	}
	if got := mustRead(t, st, key); !bytes.Equal(got, orig) {
		t.Errorf("after refused overwrites: got %q, want original %q", got, orig)
	}
}

func testConcurrentPut(t *testing.T, st store.Store, writers int) {
	const key = "_locks/run.lock"
	errs := make([]error, writers)
	bodies := make([][]byte, writers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range writers {
		bodies[i] = bytes.Repeat([]byte(fmt.Sprintf("writer-%02d;", i)), 1000*(i+1))
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = Put(t.Context(), st, key, bodies[i])
		}()
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("writers %d and %d both succeeded, want exactly one", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrExists):
			t.Errorf("writer %d: got err %v, want nil or ErrExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("no writer succeeded, want exactly one; errors: %v", errs)
	}
	if got := mustRead(t, st, key); !bytes.Equal(got, bodies[winner]) {
		t.Errorf("Get after race: got %d bytes %q, want winner %d's %d bytes", len(got), trunc(got), winner, len(bodies[winner]))
	}
}

func testMissing(t *testing.T, st store.Store) {
	mustPut(t, st, "present/a", []byte("a"))
	for _, key := range []string{"absent", "present/b", "present", "present/a/deeper"} {
		if _, err := st.Get(t.Context(), key); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get(%q): got err %v, want ErrNotFound", key, err)
		}
		if _, err := st.Stat(t.Context(), key); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Stat(%q): got err %v, want ErrNotFound", key, err)
		}
		if err := st.Delete(t.Context(), key); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Delete(%q): got err %v, want ErrNotFound", key, err)
		}
	}
}

func testDelete(t *testing.T, st store.Store) {
	const key = "_locks/pipeline.lock"
	mustPut(t, st, key, []byte("holder-1"))
	mustPut(t, st, "_locks/other", []byte("other"))
	if err := st.Delete(t.Context(), key); err != nil {
		t.Fatalf("Delete(%q): %v", key, err)
	}
	if _, err := st.Stat(t.Context(), key); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Stat after Delete: got err %v, want ErrNotFound", err)
	}
	if err := st.Delete(t.Context(), key); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second Delete: got err %v, want ErrNotFound", err)
	}
	// A released lock can be taken again: write-once is per existing key.
	mustPut(t, st, key, []byte("holder-2"))
	if got := string(mustRead(t, st, key)); got != "holder-2" {
		t.Errorf("Get after re-Put: got %q, want %q", got, "holder-2")
	}
	if got := string(mustRead(t, st, "_locks/other")); got != "other" {
		t.Errorf("Delete touched a sibling: got %q, want %q", got, "other")
	}
}

func testList(t *testing.T, st store.Store) {
	// No key is also a "folder" of another key ("a" and "a/b"): S3 allows
	// that, local disk cannot, and the pipeline's layout never needs it.
	keys := []string{"b/x", "a/c/d", "ab", "a.x", "a/b", "a-b", "_runs/r1/x.json", "a/c/e/f"}
	for i, k := range keys {
		mustPut(t, st, k, bytes.Repeat([]byte{'z'}, i+1))
	}
	size := map[string]int64{}
	for i, k := range keys {
		size[k] = int64(i + 1)
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"", []string{"_runs/r1/x.json", "a-b", "a.x", "a/b", "a/c/d", "a/c/e/f", "ab", "b/x"}},
		{"a/", []string{"a/b", "a/c/d", "a/c/e/f"}},
		{"a", []string{"a-b", "a.x", "a/b", "a/c/d", "a/c/e/f", "ab"}},
		{"a/c", []string{"a/c/d", "a/c/e/f"}},
		{"a/c/", []string{"a/c/d", "a/c/e/f"}},
		{"a/c/e/f", []string{"a/c/e/f"}},
		{"_runs/", []string{"_runs/r1/x.json"}},
		{"_runs/r1/x", []string{"_runs/r1/x.json"}},
		{"b/x", []string{"b/x"}},
		{"zzz", nil},
		{"zzz/", nil},
		{"a/b/", nil},
	}
	for _, tc := range tests {
		t.Run("prefix="+tc.prefix, func(t *testing.T) {
			infos, err := st.List(t.Context(), tc.prefix)
			if err != nil {
				t.Fatalf("List(%q): %v", tc.prefix, err)
			}
			var got []string
			for _, in := range infos {
				got = append(got, in.Key)
				if in.Size != size[in.Key] {
					t.Errorf("List(%q): %q size got %d, want %d", tc.prefix, in.Key, in.Size, size[in.Key])
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("List(%q): got %q, want %q", tc.prefix, got, tc.want)
			}
		})
	}
}

func testLarge(t *testing.T, st store.Store, n int) {
	body := make([]byte, n)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i+8 <= len(body); i += 8 {
		v := rng.Uint64()
		for j := range 8 {
			body[i+j] = byte(v >> (8 * j))
		}
	}
	const key = "big/part-00000.parquet"
	mustPut(t, st, key, body)
	got := mustRead(t, st, key)
	if len(got) != len(body) || sha256.Sum256(got) != sha256.Sum256(body) {
		t.Errorf("large roundtrip: got %d bytes sha256 %x, want %d bytes sha256 %x",
			len(got), sha256.Sum256(got), len(body), sha256.Sum256(body))
	}
	info, err := st.Stat(t.Context(), key)
	if err != nil || info.Size != int64(n) {
		t.Errorf("Stat(%q): got size %d err %v, want %d", key, info.Size, err, n)
	}
}

func testCancelled(t *testing.T, st store.Store) {
	mustPut(t, st, "there", []byte("x"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := Put(ctx, st, "new", []byte("data")); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with cancelled ctx: got err %v, want context.Canceled", err)
	}
	if _, err := Read(ctx, st, "there"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with cancelled ctx: got err %v, want context.Canceled", err)
	}
	if _, err := st.Stat(ctx, "there"); !errors.Is(err, context.Canceled) {
		t.Errorf("Stat with cancelled ctx: got err %v, want context.Canceled", err)
	}
	if _, err := st.List(ctx, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("List with cancelled ctx: got err %v, want context.Canceled", err)
	}
	if err := st.Delete(ctx, "there"); !errors.Is(err, context.Canceled) {
		t.Errorf("Delete with cancelled ctx: got err %v, want context.Canceled", err)
	}
	if _, err := st.Stat(t.Context(), "new"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Stat(new) after cancelled Put: got err %v, want ErrNotFound", err)
	}
	if got := string(mustRead(t, st, "there")); got != "x" {
		t.Errorf("object after cancelled Delete: got %q, want %q", got, "x")
	}
}

// cancellingReader cancels its context once more than after bytes were read.
type cancellingReader struct {
	*bytes.Reader
	read, after int
	cancel      context.CancelFunc
}

func (c *cancellingReader) Read(p []byte) (int, error) {
	if len(p) > 64<<10 {
		p = p[:64<<10]
	}
	n, err := c.Reader.Read(p)
	c.read += n
	if c.read > c.after {
		c.cancel()
	}
	return n, err
}

func testCancelMidPut(t *testing.T, st store.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	body := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	r := &cancellingReader{Reader: bytes.NewReader(body), after: 100 << 10, cancel: cancel}
	err := st.Put(ctx, "cancelled/part.parquet", r, int64(len(body)))
	if err == nil {
		t.Fatalf("Put cancelled mid-body: got nil error, want one")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Put cancelled mid-body: got err %v, want context.Canceled", err)
	}
	// Cancellation is not transactional over HTTP: when the whole body was
	// already on the wire, an S3 server may still commit the object although
	// the client reports the cancellation (and may do so a moment later). What
	// must never happen is a partial object under the key.
	time.Sleep(300 * time.Millisecond)
	got, rerr := Read(t.Context(), st, "cancelled/part.parquet")
	switch {
	case rerr == nil && !bytes.Equal(got, body):
		t.Fatalf("Put cancelled mid-body left a partial object (%d of %d bytes)", len(got), len(body))
	case rerr != nil && !errors.Is(rerr, store.ErrNotFound):
		t.Fatalf("Read after cancelled Put: %v", rerr)
	}
}

func testSizeMismatch(t *testing.T, st store.Store) {
	for _, size := range []int64{3, 5} {
		err := st.Put(t.Context(), "mismatch", bytes.NewReader([]byte("four")), size)
		if err == nil || errors.Is(err, store.ErrExists) {
			t.Errorf("Put 4 bytes with size %d: got err %v, want a size error", size, err)
		}
	}
	assertAbsent(t, st, "mismatch")
}

func testKeys(t *testing.T, st store.Store) {
	bad := []string{"", "/abs", "a/../b", "..", "../up", ".", "a/./b", "a//b", "dir/", "a\\b", "x/.tmp-123", ".tmp-x"}
	for _, key := range bad {
		if err := Put(t.Context(), st, key, []byte("x")); !errors.Is(err, store.ErrInvalidKey) {
			t.Errorf("Put(%q): got err %v, want ErrInvalidKey", key, err)
		}
		if _, err := st.Get(t.Context(), key); !errors.Is(err, store.ErrInvalidKey) {
			t.Errorf("Get(%q): got err %v, want ErrInvalidKey", key, err)
		}
		if _, err := st.Stat(t.Context(), key); !errors.Is(err, store.ErrInvalidKey) {
			t.Errorf("Stat(%q): got err %v, want ErrInvalidKey", key, err)
		}
		if err := st.Delete(t.Context(), key); !errors.Is(err, store.ErrInvalidKey) {
			t.Errorf("Delete(%q): got err %v, want ErrInvalidKey", key, err)
		}
	}
	for _, prefix := range []string{"/a", "../", "a/../", "a//"} {
		if _, err := st.List(t.Context(), prefix); !errors.Is(err, store.ErrInvalidKey) {
			t.Errorf("List(%q): got err %v, want ErrInvalidKey", prefix, err)
		}
	}
	infos, err := st.List(t.Context(), "")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(infos) != 0 {
		t.Errorf("List after rejected keys: got %d objects, want 0", len(infos))
	}
}

func allBytes() []byte {
	b := make([]byte, 256*4)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func trunc(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}

// testCopy: Copy (server-side when the store offers it) writes a new key,
// never replaces one, and reports a missing source.
func testCopy(t *testing.T, st store.Store) {
	ctx := context.Background()
	mustPut(t, st, "staging/a/part.bin", []byte("payload"))
	if err := store.Copy(ctx, st, "staging/a/part.bin", "table/dt=x/part.bin"); err != nil {
		t.Fatalf("copy: %v", err)
	}
	if got := mustRead(t, st, "table/dt=x/part.bin"); string(got) != "payload" {
		t.Errorf("copied object: got %q, want payload", got)
	}
	mustPut(t, st, "staging/b", []byte("other"))
	if err := store.Copy(ctx, st, "staging/b", "table/dt=x/part.bin"); !errors.Is(err, store.ErrExists) {
		t.Errorf("copy onto an existing key: got %v, want ErrExists", err)
	}
	if got := mustRead(t, st, "table/dt=x/part.bin"); string(got) != "payload" {
		t.Errorf("copy onto an existing key replaced it: got %q", got)
	}
	if err := store.Copy(ctx, st, "staging/missing", "table/dt=x/other.bin"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("copy of a missing source: got %v, want ErrNotFound", err)
	}
	if _, err := st.Stat(ctx, "table/dt=x/other.bin"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("failed copy left an object: Stat got %v, want ErrNotFound", err)
	}
	// The copy outlives its source (staging is removed after a commit).
	if err := st.Delete(ctx, "staging/a/part.bin"); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, st, "table/dt=x/part.bin"); string(got) != "payload" {
		t.Errorf("copy after deleting the source: got %q", got)
	}
}
