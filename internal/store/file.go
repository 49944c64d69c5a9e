package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// FileStore keeps objects as files under a root directory. Writes go to a
// temporary file in the target directory, are fsynced, and are published with
// a hard link, which fails when the name exists: a concurrent writer can never
// clobber an object, and a crashed Put leaves at most a ".tmp-*" file that List
// ignores.
type FileStore struct {
	root string // absolute, cleaned, OS separators
}

// NewFileStore opens (and creates, if missing) a local store rooted at dir.
// dir may not lie inside another store (see confineLocal).
func NewFileStore(dir string) (*FileStore, error) {
	if dir == "" {
		return nil, errors.New("open local store: empty path; use ./artifacts or file:///abs/path")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open local store %q: %w", dir, err)
	}
	if err := confineLocal(dir, abs); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("open local store %q: create root: %w", abs, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("open local store %q: %w", abs, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("open local store %q: not a directory", abs)
	}
	return &FileStore{root: abs}, nil
}

// Root is the absolute directory the store lives in.
func (s *FileStore) Root() string { return s.root }

func (s *FileStore) path(key string) string {
	return filepath.Join(s.root, filepath.FromSlash(key))
}

// Put implements Store.
func (s *FileStore) Put(ctx context.Context, key string, body io.ReadSeeker, size int64) (err error) {
	if err := ValidateKey(key); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if _, err := bodySize(body, size); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	final := s.path(key)
	dir := filepath.Dir(final)
	if err := s.mkdirAll(dir); err != nil {
		if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("put %s: %w: a parent of the key is an object; on local disk a key cannot also be a folder of other keys", key, ErrInvalidKey)
		}
		return fmt.Errorf("put %s: %w", key, err)
	}
	if fi, err := os.Lstat(final); err == nil {
		if fi.IsDir() {
			return fmt.Errorf("put %s: %w: it is a folder of other keys; on local disk a key cannot also be a folder", key, ErrInvalidKey)
		}
		return fmt.Errorf("put %s: %w", s.URL(key), ErrExists)
	}
	tmp, err := os.CreateTemp(dir, TempPrefix+"*")
	if err != nil {
		return fmt.Errorf("put %s: create temp file: %w", key, err)
	}
	tmpName := tmp.Name()
	defer func() {
		if tmp != nil {
			_ = tmp.Close()
		}
		// After a successful link the temp name is a second link to the object;
		// removing it is always right.
		_ = os.Remove(tmpName)
	}()
	n, err := io.Copy(tmp, &ctxReader{ctx: ctx, r: body})
	if err != nil {
		return fmt.Errorf("put %s: write: %w", key, err)
	}
	if size >= 0 && n != size {
		return fmt.Errorf("put %s: wrote %d bytes, want %d", key, n, size)
	}
	// CreateTemp makes 0600 files; artifacts are meant to be read by others
	// (data teams, auditors).
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("put %s: chmod: %w", key, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("put %s: fsync: %w", key, err)
	}
	if err := tmp.Close(); err != nil {
		tmp = nil
		return fmt.Errorf("put %s: close: %w", key, err)
	}
	tmp = nil
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if err := os.Link(tmpName, final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("put %s: %w", s.URL(key), ErrExists)
		}
		return fmt.Errorf("put %s: publish: %w", key, err)
	}
	if err := os.Remove(tmpName); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("put %s: remove temp file: %w", key, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// mkdirAll creates dir and its missing parents, fsyncing the parent of each
// directory it creates so the new entries survive a crash.
func (s *FileStore) mkdirAll(dir string) error {
	var created []string
	for d := dir; d != s.root && len(d) > len(s.root); d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		}
		created = append(created, d)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create directory: %w", err)
	}
	for _, d := range created {
		if err := syncDir(filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fsync directory: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

// Get implements Store.
func (s *FileStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := ValidateKey(key); err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	p := s.path(key)
	f, err := os.Open(p)
	if err != nil {
		if notExist(err) {
			return nil, fmt.Errorf("get %s: %w", s.URL(key), ErrNotFound)
		}
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("get %s: %w", s.URL(key), ErrNotFound)
	}
	return f, nil
}

// Stat implements Store.
func (s *FileStore) Stat(ctx context.Context, key string) (Info, error) {
	if err := ValidateKey(key); err != nil {
		return Info{}, fmt.Errorf("stat %s: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return Info{}, fmt.Errorf("stat %s: %w", key, err)
	}
	fi, err := os.Stat(s.path(key))
	if err != nil {
		if notExist(err) {
			return Info{}, fmt.Errorf("stat %s: %w", s.URL(key), ErrNotFound)
		}
		return Info{}, fmt.Errorf("stat %s: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		return Info{}, fmt.Errorf("stat %s: %w", s.URL(key), ErrNotFound)
	}
	return Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// List implements Store. It walks only the directory the prefix points into.
func (s *FileStore) List(ctx context.Context, prefix string) ([]Info, error) {
	if err := ValidatePrefix(prefix); err != nil {
		return nil, fmt.Errorf("list %q: %w", prefix, err)
	}
	start := s.root
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = s.path(prefix[:i])
	}
	var out []Info
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				if p == start {
					return fs.SkipAll
				}
				return nil // removed while walking
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), TempPrefix) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(s.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if d.IsDir() {
			// Descend only into directories that can hold matching keys.
			if p == start || strings.HasPrefix(key+"/", prefix) || strings.HasPrefix(prefix, key+"/") {
				return nil
			}
			return fs.SkipDir
		}
		if !d.Type().IsRegular() || !strings.HasPrefix(key, prefix) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		out = append(out, Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", s.URL(prefix), err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Delete implements Store.
func (s *FileStore) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	p := s.path(key)
	fi, err := os.Lstat(p)
	if err != nil {
		if notExist(err) {
			return fmt.Errorf("delete %s: %w", s.URL(key), ErrNotFound)
		}
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if fi.IsDir() {
		return fmt.Errorf("delete %s: %w", s.URL(key), ErrNotFound)
	}
	if err := os.Remove(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete %s: %w", s.URL(key), ErrNotFound)
		}
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// URL implements Store.
func (s *FileStore) URL(key string) string {
	p := filepath.ToSlash(s.root)
	if key != "" {
		p = path.Join(p, key)
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // Windows drive letters: file:///C:/...
	}
	return (&url.URL{Scheme: "file", Path: p}).String()
}

// notExist: the path is missing, or a parent of it is a file (ENOTDIR).
func notExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// ctxReader stops a copy when ctx is done, so a large Put can be cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
