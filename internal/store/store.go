// Package store owns the artifact store: one small interface over local disk
// (file://) and S3-compatible object stores (s3://). Every artifact the
// pipeline writes goes through it. Keys are slash-separated and relative to
// the store root; a key that exists is never overwritten (write-once), which is
// what makes snapshots immutable and manifests trustworthy.
package store

import (
	"context"
	"errors"
	"io"
	"time"
)

// ErrExists is returned by Put when the key already exists. Nothing is
// overwritten, ever.
var ErrExists = errors.New("already exists (artifacts are write-once)")

// ErrNotFound is returned by Get, Stat and Delete when the key does not exist.
var ErrNotFound = errors.New("not found")

// ErrRetained is returned by Delete when a retention rule (S3 Object Lock)
// still holds the object.
var ErrRetained = errors.New("held by a retention rule")

// Info describes one stored object.
type Info struct {
	Key     string
	Size    int64
	ModTime time.Time
	// RetainUntil is the Object Lock retain-until date, zero when none is known.
	RetainUntil time.Time
}

// Store is the artifact store. Implementations must be safe for concurrent use.
type Store interface {
	// Put writes body under key, only if key does not exist yet (ErrExists
	// otherwise). The body is seekable so that S3 can sign and retry it;
	// size is its length in bytes. A Put that fails leaves no object behind.
	Put(ctx context.Context, key string, body io.ReadSeeker, size int64) error
	// Get opens an object for reading (ErrNotFound when missing).
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Stat describes an object (ErrNotFound when missing).
	Stat(ctx context.Context, key string) (Info, error)
	// List returns every object whose key starts with prefix, sorted by key.
	List(ctx context.Context, prefix string) ([]Info, error)
	// Delete removes an object (lock release, prune). ErrNotFound when missing,
	// ErrRetained when a retention rule still holds it.
	Delete(ctx context.Context, key string) error
	// URL is the human-facing location of key (file:///abs/path or s3://bucket/prefix/key).
	URL(key string) string
}
