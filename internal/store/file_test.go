package store_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otds-highspot/otds-highspot/internal/store"
	"github.com/otds-highspot/otds-highspot/internal/store/storetest"
)

func TestFileStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		st, err := store.NewFileStore(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}

// A Put that crashed after writing its temp file leaves a ".tmp-*" file: List
// must not show it, and the key must still be writable.
func TestFileStoreIgnoresLeftoverTempFiles(t *testing.T) {
	dir := t.TempDir()
	st, err := store.NewFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "a"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"a/.tmp-123456", ".tmp-987", "a/.tmp-dir/x"} {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte("half-written"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := storetest.Put(t.Context(), st, "a/b", []byte("ok")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	for _, prefix := range []string{"", "a/", "a/.tmp"} {
		infos, err := st.List(t.Context(), strings.TrimSuffix(prefix, ".tmp"))
		if err != nil {
			t.Fatalf("List(%q): %v", prefix, err)
		}
		var got []string
		for _, in := range infos {
			got = append(got, in.Key)
		}
		if strings.Join(got, ",") != "a/b" {
			t.Errorf("List(%q): got %q, want [a/b] (temp files hidden)", prefix, got)
		}
	}
	// A successful Put leaves no temp file of its own behind.
	entries, err := os.ReadDir(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 { // b, .tmp-123456, .tmp-dir
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("dir a after Put: got %q, want b plus the two planted temp entries", names)
	}
}

func TestFileStoreObjectMode(t *testing.T) {
	dir := t.TempDir()
	st, err := store.NewFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := storetest.Put(t.Context(), st, "t/part.parquet", []byte("x")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "t", "part.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o644 {
		t.Errorf("object mode: got %v, want 0644 (readable by other users)", got)
	}
}

func TestFileStoreURL(t *testing.T) {
	dir := t.TempDir()
	st, err := store.NewFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := st.URL("_runs/r 1/x.json")
	want := "file://" + filepath.ToSlash(dir) + "/_runs/r%201/x.json"
	if got != want {
		t.Errorf("URL: got %q, want %q", got, want)
	}
}

// On disk a key cannot also be a folder of other keys; that is a clear
// ErrInvalidKey, never ErrExists or a raw ENOTDIR.
func TestFileStoreKeyFolderConflict(t *testing.T) {
	st, err := store.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a/b", "c"} {
		if err := storetest.Put(t.Context(), st, k, []byte("x")); err != nil {
			t.Fatalf("Put(%q): %v", k, err)
		}
	}
	for _, k := range []string{"a", "c/d"} {
		err := storetest.Put(t.Context(), st, k, []byte("y"))
		if !errors.Is(err, store.ErrInvalidKey) {
			t.Errorf("Put(%q): got err %v, want ErrInvalidKey", k, err)
		}
	}
}
