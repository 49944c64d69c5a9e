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

func TestOpenLocal(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	tests := []struct {
		name, url string
		wantRoot  string
	}{
		{"relative path", "./artifacts", filepath.Join(dir, "artifacts")},
		{"bare relative path", "out/store", filepath.Join(dir, "out", "store")},
		{"absolute path", filepath.Join(dir, "abs"), filepath.Join(dir, "abs")},
		{"file URL", "file://" + filepath.ToSlash(filepath.Join(dir, "u")), filepath.Join(dir, "u")},
		{"file URL localhost", "file://localhost" + filepath.ToSlash(filepath.Join(dir, "lh")), filepath.Join(dir, "lh")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := store.Open(t.Context(), tc.url, store.Options{})
			if err != nil {
				t.Fatalf("Open(%q): %v", tc.url, err)
			}
			fs, ok := st.(*store.FileStore)
			if !ok {
				t.Fatalf("Open(%q): got %T, want *store.FileStore", tc.url, st)
			}
			if fs.Root() != tc.wantRoot {
				t.Errorf("Open(%q) root: got %q, want %q", tc.url, fs.Root(), tc.wantRoot)
			}
			if err := storetest.Put(t.Context(), st, "k", []byte("v")); err != nil {
				t.Fatalf("Put: %v", err)
			}
			if _, err := os.Stat(filepath.Join(tc.wantRoot, "k")); err != nil {
				t.Errorf("object not on disk where expected: %v", err)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "plain")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, url string
		wantMsg   []string
	}{
		{"unknown scheme", "gs://bucket/x", []string{`"gs://bucket/x"`, "unsupported scheme", "file://", "s3://"}},
		{"empty", "", []string{"empty URL"}},
		{"s3 without bucket", "s3:///prefix", []string{"no bucket", "s3://bucket/prefix"}},
		{"file URL with host", "file://server/share", []string{"three slashes"}},
		{"root is a file", file, []string{"not a directory"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := store.Open(t.Context(), tc.url, store.Options{})
			if err == nil {
				t.Fatalf("Open(%q): got nil error, want one", tc.url)
			}
			for _, m := range tc.wantMsg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("Open(%q): got %q, want it to mention %q", tc.url, err, m)
				}
			}
		})
	}
}

func TestValidateKey(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		{"a", true},
		{"accounts/dt=2026-01-02/run_id=20260102T030405Z-1/part-00000.parquet", true},
		{"_runs/r1/extract.manifest.json", true},
		{".hidden", true},
		{"a..b", true},
		{"", false}, {"/a", false}, {"a/", false}, {"a//b", false}, {"..", false},
		{"a/../b", false}, {".", false}, {"a\\b", false}, {"a\x00b", false}, {".tmp-1", false}, {"x/.tmp-y/z", false},
	}
	for _, tc := range tests {
		err := store.ValidateKey(tc.key)
		if got := err == nil; got != tc.want {
			t.Errorf("ValidateKey(%q): got valid=%v (%v), want %v", tc.key, got, err, tc.want)
		}
		if err != nil && !errors.Is(err, store.ErrInvalidKey) {
			t.Errorf("ValidateKey(%q): got %v, want it to wrap ErrInvalidKey", tc.key, err)
		}
	}
}
