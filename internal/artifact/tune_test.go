package artifact

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/parquet/file"

	"github.com/otds-highspot/otds-highspot/internal/contract"
)

// TestDictionaryOnlyForRepeatedColumns checks the per-column encoding choice:
// strings are PLAIN, numeric columns keep a dictionary only when repeated.
func TestDictionaryOnlyForRepeatedColumns(t *testing.T) {
	st := newMemStore()
	s := NewStage(testEnv(t, st, "20261125T100000Z-aaaa"), "extract.acme")
	m := commitAccounts(t, s, 4096)
	pf, err := file.NewParquetReader(bytes.NewReader(st.objs[m.Tables["accounts"].Files[0].Key]))
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	for _, tc := range []struct {
		path string
		want bool
	}{
		{"tree", false},
		{"partition", false},
		{"given_name.list.element", false},
		{"created_at", true}, // one value or null
		{"dn", false},
		{"source_id", false},
		{"login.list.element", false},
		{"mail.list.element", false},
		{"modified_at", false},
	} {
		col := pf.MetaData().Schema.ColumnIndexByName(tc.path)
		if col < 0 {
			t.Errorf("no column %s", tc.path)
			continue
		}
		cc, err := pf.MetaData().RowGroup(0).ColumnChunk(col)
		if err != nil {
			t.Fatal(err)
		}
		if got := cc.HasDictionaryPage(); got != tc.want {
			t.Errorf("%s: dictionary = %v, want %v", tc.path, got, tc.want)
		}
	}
}

// TestReadRowsAreIndependent checks that rows sharing per-batch slabs (list
// values, pointers) do not see each other's changes.
func TestReadRowsAreIndependent(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	s := NewStage(testEnv(t, st, "20261125T100000Z-aaaa"), "extract.acme")
	const n = 12
	m := commitAccounts(t, s, n)
	rows, err := ReadAll[contract.Account](ctx, st, m, contract.AccountsSpec)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		rows[i].Login = append(rows[i].Login, "appended")
		rows[i].Mail = append(rows[i].Mail, "appended")
		if rows[i].ModifiedAt != nil {
			*rows[i].ModifiedAt = time.Time{}
		}
		for k, v := range rows[i].Extra {
			rows[i].Extra[k] = append(v, "appended")
		}
	}
	for i, r := range rows {
		want := sampleAccount(i)
		want.Login = append(want.Login, "appended")
		want.Mail = append(want.Mail, "appended")
		if want.ModifiedAt != nil {
			*want.ModifiedAt = time.Time{}
		}
		for k, v := range want.Extra {
			want.Extra[k] = append(v, "appended")
		}
		if !reflect.DeepEqual(r, want) {
			t.Errorf("row %d:\ngot  %s\nwant %s", i, fmt.Sprint(r), fmt.Sprint(want))
		}
	}
}

// TestRowGroupsSpanBatches checks that row groups hold RowGroupRows rows
// when that is larger than a write batch, and that rows keep their order.
func TestRowGroupsSpanBatches(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	s := NewStage(testEnv(t, st, "20261125T100000Z-aaaa"), "apply")
	s.SetLimits(Limits{RowGroupRows: 20000})
	w, err := OpenTable[contract.LoadResult](s, contract.LoadResultsSpec)
	if err != nil {
		t.Fatal(err)
	}
	const n = 50000
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		if err := w.Write(contract.LoadResult{ChangeID: fmt.Sprint(i), Status: contract.StatusApplied, At: at}); err != nil {
			t.Fatal(err)
		}
	}
	_, m, err := s.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pf, err := file.NewParquetReader(bytes.NewReader(st.objs[m.Tables["load_results"].Files[0].Key]))
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	var got []int64
	for i := 0; i < pf.NumRowGroups(); i++ {
		got = append(got, pf.MetaData().RowGroup(i).NumRows())
	}
	if want := []int64{20000, 20000, 10000}; !reflect.DeepEqual(got, want) {
		t.Errorf("row group sizes = %v, want %v", got, want)
	}
	i := 0
	err = ReadTable(ctx, st, m, contract.LoadResultsSpec, func(r contract.LoadResult) error {
		if r.ChangeID != fmt.Sprint(i) {
			return fmt.Errorf("row %d: change id %q", i, r.ChangeID)
		}
		i++
		return nil
	})
	if err != nil || i != n {
		t.Errorf("read %d rows, err %v; want %d", i, err, n)
	}
}

// wideRow stands in for a wide table (persons): every row carries 512 bytes of
// text that compresses poorly.
type wideRow struct {
	ID   int64  `parquet:"id"`
	Text string `parquet:"text"`
}

// TestWideRowGroupsAreBoundedByBytes checks that a wide table's record
// batches hold fewer rows, that a row group closes once its compressed pages
// reach rowGroupMaxBytes, long before RowGroupRows rows, and that every row
// reads back as written.
func TestWideRowGroupsAreBoundedByBytes(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	s := NewStage(testEnv(t, st, "20261125T100000Z-aaaa"), "transform")
	spec := contract.Spec{Name: "wide", Version: 1}
	w, err := OpenTable[wideRow](s, spec)
	if err != nil {
		t.Fatal(err)
	}
	const rows = 40000 // ~20 MB of text, ~12 MB compressed: under RowGroupRows, over rowGroupMaxBytes
	for i := 0; i < rows; i++ {
		if err := w.Write(wideRow{ID: int64(i), Text: wideText(i)}); err != nil {
			t.Fatal(err)
		}
	}
	// 8Ki rows of 512 bytes are 4 MiB: later batches hold about half as many
	if got, want := w.batchRows, writeBatchRows*3/4; got > want || got < minBatchRows {
		t.Errorf("rows per batch = %d, want %d..%d (batches sized by bytes)", got, minBatchRows, want)
	}
	_, m, err := s.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pf, err := file.NewParquetReader(bytes.NewReader(st.objs[m.Tables["wide"].Files[0].Key]))
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	if got := pf.NumRowGroups(); got < 2 {
		t.Errorf("row groups = %d, want at least 2 (bounded by %d bytes)", got, rowGroupMaxBytes)
	}
	for i := 0; i < pf.NumRowGroups(); i++ {
		// a group closes at the first batch boundary past the bound
		if got, limit := pf.MetaData().RowGroup(i).TotalCompressedSize(), int64(rowGroupMaxBytes+writeBatchRows*600); got > limit {
			t.Errorf("row group %d holds %d bytes, want at most %d", i, got, limit)
		}
	}
	got, err := ReadAll[wideRow](ctx, st, m, spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != rows {
		t.Fatalf("read %d rows, want %d", len(got), rows)
	}
	for i, r := range got {
		if r.ID != int64(i) || r.Text != wideText(i) {
			t.Fatalf("row %d: got id %d, want %d (or its text differs)", i, r.ID, i)
		}
	}
}

// wideText is row i's 512 bytes of pseudo-random letters (xorshift): text
// that zstd cannot shrink much, for tables whose row groups and parts must
// close by bytes.
func wideText(i int) string {
	b := make([]byte, 0, 512)
	x := uint64(i)*0x9e3779b97f4a7c15 + 1
	for len(b) < 512 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b = append(b, 'a'+byte(x%26))
	}
	return string(b)
}
