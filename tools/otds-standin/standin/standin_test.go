package standin

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestDumpUpToDate(t *testing.T) {
	f, err := os.Open("../../../fixtures/otds/trees.ldif")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.Dangling, 1; got != want {
		t.Errorf("dangling member values: got %d, want %d (cn=former.partner)", got, want)
	}
	dir := t.TempDir()
	if err := New(d, Options{}).Dump(dir); err != nil {
		t.Fatal(err)
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(names) != 13 {
		t.Errorf("dumped files: got %d, want 13 (partitions + 3 per partition)", len(names))
	}
	for _, n := range names {
		got, _ := os.ReadFile(n)
		want, err := os.ReadFile(filepath.Join("../../../fixtures/otds-rest", filepath.Base(n)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("fixtures/otds-rest/%s is stale or missing; regenerate: go run ./tools/otds-standin -ldif fixtures/otds/trees.ldif -dump fixtures/otds-rest", filepath.Base(n))
		}
	}
}
