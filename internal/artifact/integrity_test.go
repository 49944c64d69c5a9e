package artifact

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/internal/store"
)

// flipPositions are byte offsets spread over a file of size n: every byte of
// the first and last 64 (magic, footer length, footer) and about 400 evenly
// spaced ones in between (pages, page headers, statistics, metadata).
func flipPositions(n int) []int {
	seen := map[int]bool{}
	var out []int
	add := func(i int) {
		if i >= 0 && i < n && !seen[i] {
			seen[i] = true
			out = append(out, i)
		}
	}
	for i := 0; i < 64; i++ {
		add(i)
		add(n - 1 - i)
	}
	step := n / 400
	if step < 1 {
		step = 1
	}
	for i := 0; i < n; i += step {
		add(i)
	}
	return out
}

// publishAccounts commits one accounts table of rows rows (one part) and
// returns the manifest.
func publishAccounts(t *testing.T, env Env, rows int) *Manifest {
	t.Helper()
	s := NewStage(env, "extract.acme")
	s.SetLimits(Limits{RowGroupRows: 50})
	m := commitAccounts(t, s, rows)
	if n := len(m.Tables["accounts"].Files); n != 1 {
		t.Fatalf("published %d parts, want 1", n)
	}
	return m
}

// checkModified asserts that err reports key as modified after publication.
func checkModified(t *testing.T, err error, url string, pos int) {
	t.Helper()
	if err == nil {
		t.Fatalf("flip at byte %d: read succeeded, want a modified-after-publication error", pos)
	}
	msg := err.Error()
	if !errors.Is(err, ErrModified) || !strings.Contains(msg, "modified after publication; run `runs verify`") || !strings.Contains(msg, url) {
		t.Fatalf("flip at byte %d: got %q, want it to name %s and say \"modified after publication; run `runs verify`\"", pos, msg, url)
	}
	if got := exitcode.Of(err); got != exitcode.Unexpected {
		t.Fatalf("flip at byte %d: exit code %d, want %d (never transient)", pos, got, exitcode.Unexpected)
	}
}

// TestReadTableDetectsEveryFlippedByte flips single bytes across a published
// part, in place (file://) and downloaded (a stream-only store, like S3):
// every read must fail naming the file as modified after publication (before,
// about a third of the flips went unnoticed and the rest failed with decoder
// errors such as "older schema version?").
func TestReadTableDetectsEveryFlippedByte(t *testing.T) {
	ctx := context.Background()
	read := func(st store.Store, m *Manifest) error {
		return ReadTable(ctx, st, m, contract.AccountsSpec, func(contract.Account) error { return nil })
	}

	t.Run("file in place", func(t *testing.T) {
		st, err := store.NewFileStore(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		m := publishAccounts(t, Env{Store: st, RunID: "20261125T100000Z-flip", TempDir: t.TempDir()}, 300)
		key := m.Tables["accounts"].Files[0].Key
		if err := read(st, m); err != nil {
			t.Fatalf("untouched part: %v", err)
		}
		path := filepath.Join(st.Root(), filepath.FromSlash(key))
		orig, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		positions := flipPositions(len(orig))
		for _, pos := range positions {
			data := append([]byte(nil), orig...)
			data[pos] ^= 0x01
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			checkModified(t, read(st, m), st.URL(key), pos)
		}
		if err := os.WriteFile(path, orig, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := read(st, m); err != nil {
			t.Fatalf("restored part: %v", err)
		}
		t.Logf("%d flips over %d bytes, all reported", len(positions), len(orig))
	})

	t.Run("downloaded", func(t *testing.T) {
		st := newMemStore()
		st.streamOnly = true
		m := publishAccounts(t, testEnv(t, st, "20261125T100000Z-flip"), 300)
		key := m.Tables["accounts"].Files[0].Key
		orig := append([]byte(nil), st.objs[key]...)
		for _, pos := range flipPositions(len(orig)) {
			data := append([]byte(nil), orig...)
			data[pos] ^= 0x80
			st.objs[key] = data
			checkModified(t, read(st, m), st.URL(key), pos)
		}
	})

	t.Run("appended byte", func(t *testing.T) {
		st := newMemStore()
		m := publishAccounts(t, testEnv(t, st, "20261125T100000Z-flip"), 30)
		key := m.Tables["accounts"].Files[0].Key
		st.objs[key] = append(st.objs[key], 0)
		checkModified(t, read(st, m), st.URL(key), -1)
	})

	t.Run("untouched part without verify", func(t *testing.T) {
		st := newMemStore()
		m := publishAccounts(t, testEnv(t, st, "20261125T100000Z-flip"), 30)
		if err := ReadTable(ctx, st, m, contract.AccountsSpec, func(contract.Account) error { return nil }, WithoutVerify()); err != nil {
			t.Fatalf("untouched part without verify: %v", err)
		}
	})
}

// TestReadBlobChecksTheListing: an edited blob is refused by name.
func TestReadBlobChecksTheListing(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	_, m, _ := publishRun(t, st, "20261125T100000Z-blob", 3)
	data, _, err := ReadBlob(ctx, st, m, "report.json")
	if err != nil || string(data) != `{"ok":true}` {
		t.Fatalf("got %q, %v; want the blob", data, err)
	}
	key := m.Blobs["report.json"].Key
	st.objs[key] = []byte(`{"ok":false}`)
	_, _, err = ReadBlob(ctx, st, m, "report.json")
	checkModified(t, err, st.URL(key), -1)
	st.objs[key] = []byte(`{"ok":true} `)
	_, _, err = ReadBlob(ctx, st, m, "report.json")
	checkModified(t, err, st.URL(key), -1)
	if _, _, err := ReadBlob(ctx, st, m, "nope.json"); err == nil {
		t.Fatal("unlisted blob: got nil error, want one")
	}
}
