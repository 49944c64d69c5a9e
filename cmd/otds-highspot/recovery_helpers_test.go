package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/load/highspot/sandbox"
)

// volatileColumns differ between two runs that did the same work at
// different times or against a Highspot that numbered its objects in a
// different order; published tables are compared without them.
var volatileColumns = map[string]bool{
	"pulled_at": true, "at": true, "valid_from": true, "valid_to": true, "highspot_id": true,
	"attempts": true, "http_status": true, "error": true,
}

// publishedTables digests every table of every published stage manifest of
// a run (apply's ledger excepted: see ledgerDone) by content: rows rendered
// without volatile columns, sorted, hashed. Key: stage/table.
func publishedTables(t *testing.T, storeDir, runID string) map[string]string {
	t.Helper()
	ctx := context.Background()
	st := mustFileStore(t, storeDir)
	ri, err := artifact.ShowRun(ctx, st, runID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, s := range ri.Stages {
		if s.Stage == "apply" || strings.HasPrefix(string(s.Stage), "apply.") {
			continue
		}
		m, _, err := artifact.ReadManifest(ctx, st, runID, s.Stage)
		if err != nil {
			t.Fatal(err)
		}
		out[string(s.Stage+"/status")] = m.Status
		for name, te := range m.Tables {
			var rows []string
			for _, f := range te.Files {
				rows = append(rows, parquetRows(t, filepath.Join(storeDir, filepath.FromSlash(f.Key)))...)
			}
			sort.Strings(rows)
			sum := sha256.Sum256([]byte(strings.Join(rows, "\n")))
			out[string(s.Stage)+"/"+name] = fmt.Sprintf("%d rows %s", len(rows), hex.EncodeToString(sum[:8]))
		}
	}
	return out
}

// parquetRows renders the rows of one Parquet file, volatile columns left out.
func parquetRows(t *testing.T, path string) []string {
	t.Helper()
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 1 << 12}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	tr := array.NewTableReader(tbl, 1<<12)
	defer tr.Release()
	var rows []string
	for tr.Next() {
		rec := tr.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			var b strings.Builder
			for c := 0; c < int(rec.NumCols()); c++ {
				name := rec.ColumnName(c)
				if volatileColumns[name] {
					continue
				}
				fmt.Fprintf(&b, "%s=%s;", name, rec.Column(c).ValueStr(i))
			}
			rows = append(rows, b.String())
		}
	}
	return rows
}

// ledgerDone is apply's end state: every change id of the run with whether
// any ledger row (of any attempt) says it is done (applied or skipped).
func ledgerDone(t *testing.T, storeDir, runID string) map[string]bool {
	t.Helper()
	done := map[string]bool{}
	err := artifact.ReadParts(context.Background(), mustFileStore(t, storeDir), runID, contract.LoadResultsSpec, func(r contract.LoadResult) error {
		done[r.ChangeID] = done[r.ChangeID] || r.Status == contract.StatusApplied || r.Status == contract.StatusSkipped
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return done
}

// highspotDigest is the sandbox's persisted state without its ids and
// timestamps: users by email, groups by name with member emails.
func highspotDigest(t *testing.T, stateFile string) string {
	t.Helper()
	d, ok, err := sandbox.ReadState(stateFile)
	if err != nil || !ok {
		t.Fatalf("sandbox state %s: %v (exists: %v)", stateFile, err, ok)
	}
	if len(d.Users) == 0 {
		t.Fatalf("sandbox state %s has no users", stateFile)
	}
	var lines []string
	for _, u := range d.Users {
		p, _ := json.Marshal(u.Properties)
		lines = append(lines, fmt.Sprintf("user %s %s %s %s verified=%v suspended=%v %s", u.Email, u.Name, u.Surname, u.DisplayName, u.Verified, u.Suspended, p))
	}
	for g, ms := range memberships(d) {
		lines = append(lines, fmt.Sprintf("group %s: %s", g, strings.Join(ms, ",")))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// sameEndState fails the test unless two stores hold the same published
// tables for runID (by content), the same apply outcome and, when state
// files are given, the same Highspot.
func sameEndState(t *testing.T, runID, wantStore, gotStore, wantHS, gotHS string) {
	t.Helper()
	want, got := publishedTables(t, wantStore, runID), publishedTables(t, gotStore, runID)
	for k, w := range want {
		if got[k] != w {
			t.Errorf("published %s: got %q, want %q (as the run that never failed)", k, got[k], w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("published %s: not published by the run that never failed", k)
		}
	}
	wl, gl := ledgerDone(t, wantStore, runID), ledgerDone(t, gotStore, runID)
	if len(wl) == 0 || len(wl) != len(gl) {
		t.Errorf("apply ledger: %d changes, want %d", len(gl), len(wl))
	}
	for c, d := range wl {
		if gl[c] != d {
			t.Errorf("apply ledger: change %s done=%v, want %v", c, gl[c], d)
		}
	}
	if wantHS != "" {
		if w, g := highspotDigest(t, wantHS), highspotDigest(t, gotHS); w != g {
			t.Errorf("Highspot state differs from the run that never failed:\ngot:\n%s\nwant:\n%s", g, w)
		}
	}
}
