package artifact

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/store"
)

// TestFileStoreEndToEnd runs publish, read (in place, random access), run
// listing and verification against the real file:// store.
func TestFileStoreEndToEnd(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	st, err := store.NewFileStore(root)
	if err != nil {
		t.Fatal(err)
	}
	env := Env{Store: st, RunID: "20261125T100000Z-file", TempDir: t.TempDir()}
	s := NewStage(env, "extract.acme")
	s.SetLimits(Limits{RowGroupRows: 64, PartRows: 200})
	w, err := OpenTable[contract.Account](s, contract.AccountsSpec)
	if err != nil {
		t.Fatal(err)
	}
	var want []contract.Account
	for i := 0; i < 450; i++ {
		a := sampleAccount(i)
		want = append(want, a)
		if err := w.Write(a); err != nil {
			t.Fatal(err)
		}
	}
	ref, m, err := s.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := WriteRunManifest(ctx, env, RunManifest{Stages: []Ref{ref}}); err != nil {
		t.Fatal(err)
	}
	got, err := ReadAll[contract.Account](ctx, st, m, contract.AccountsSpec)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("file store round trip differs (%d rows read, %d written)", len(got), len(want))
	}
	ri, err := ShowRun(ctx, st, env.RunID)
	if err != nil {
		t.Fatal(err)
	}
	files := ri.Stages[0].Tables["accounts"].Files
	if len(files) != 2 || !strings.HasPrefix(files[0], "file://") {
		t.Errorf("ShowRun files = %v, want 2 file:// URLs (256 + 194 rows)", files)
	}
	if rep, err := Verify(ctx, st, env.RunID); err != nil || !rep.OK() {
		t.Fatalf("verify clean store: %v %v", rep.Problems, err)
	}
	// Flip one byte of a published part on disk.
	part := filepath.Join(root, filepath.FromSlash(m.Tables["accounts"].Files[1].Key))
	data, err := os.ReadFile(part)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x80
	if err := os.Chmod(part, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(part, data, 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(ctx, st, env.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "has changed content") {
		t.Errorf("problems = %v, want one changed-content problem", rep.Problems)
	}
}
