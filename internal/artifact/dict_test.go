package artifact

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/otds-highspot/otds-highspot/internal/contract"
)

// dictRow has dict columns beside plain ones, as effective_memberships does.
type dictRow struct {
	Key   string            `parquet:"key"`
	Tree  string            `parquet:"tree,dict"`
	Group string            `parquet:"group,dict"`
	Depth int32             `parquet:"depth"`
	Path  []string          `parquet:"path"`
	Of    []string          `parquet:"of,dict"`
	Src   map[string]string `parquet:"src,dict"`
}

func dictRows(n int) []dictRow {
	rows := make([]dictRow, n)
	for i := range rows {
		rows[i] = dictRow{
			Key:   fmt.Sprintf("acme/uuid-%08d", i/3),
			Tree:  []string{"acme", "globex", ""}[i%3],
			Group: fmt.Sprintf("cn=group %d ✓,ou=Groups,dc=acme,dc=com", (i*7)%97),
			Depth: int32(i % 4),
		}
		if i%10 == 0 {
			rows[i].Group = fmt.Sprintf("cn=only-once-%d,dc=acme", i) // distinct
		}
		if i%5 == 0 {
			rows[i].Path = []string{"a", rows[i].Group}
		}
		if i%7 != 0 { // nil maps read back as nil
			rows[i].Src = map[string]string{"email": rows[i].Key, "title": rows[i].Key, "region": "acme/uuid-0"}
			if i%2 == 0 {
				rows[i].Src["z-only-some"] = fmt.Sprintf("v%d", i)
			}
		}
		switch i % 4 {
		case 1:
			rows[i].Of = []string{rows[i].Group, "cn=g1,dc=acme", ""}
		case 2:
			rows[i].Of = []string{fmt.Sprintf("cn=unique-%d", i)}
		}
	}
	return rows
}

// commitDictRows writes rows as the dict_rows table of a stage of its own
// (row groups of rowGroupRows rows; 0: the default), commits it and reads
// it back, with mem when not nil.
func commitDictRows(t testing.TB, st *memStore, rows []dictRow, rowGroupRows int, mem memory.Allocator) (*Manifest, []dictRow) {
	t.Helper()
	ctx := context.Background()
	s := NewStage(testEnv(t, st, "20261203T100000Z-dict"), "transform")
	var opts []ReadOption
	if mem != nil {
		s.SetAllocator(mem)
		opts = append(opts, WithAllocator(mem))
	}
	s.SetLimits(Limits{RowGroupRows: rowGroupRows})
	w, err := OpenTable[dictRow](s, dictSpec)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	_, m, err := s.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadAll[dictRow](ctx, st, m, dictSpec, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return m, got
}

var dictSpec = contract.Spec{Name: "dict_rows", Version: 1}

// readBack is rows as they read back: empty lists and maps as nil.
func readBack(rows []dictRow) []dictRow {
	out := slices.Clone(rows)
	for i := range out {
		if len(out[i].Of) == 0 {
			out[i].Of = nil
		}
		if len(out[i].Src) == 0 {
			out[i].Src = nil
		}
	}
	return out
}

// TestDictColumns: a `,dict` column is written as one dictionary page per
// row group plus indices, each record batch being a row group of its own;
// the rows read back are the rows written, and the file's column is a plain
// UTF8 byte array, so a reader that knows nothing of it still gets strings.
func TestDictColumns(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	st := newMemStore()
	rows := dictRows(4500)
	m, got := commitDictRows(t, st, rows, 1000, mem)
	if !reflect.DeepEqual(got, readBack(rows)) {
		t.Fatalf("read back %d rows that differ from the %d written", len(got), len(rows))
	}

	files := m.Tables["dict_rows"].Files
	if len(files) != 1 {
		t.Fatalf("%d part files, want 1", len(files))
	}
	raw := st.objs[files[0].Key]
	pf, err := file.NewParquetReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	md := pf.MetaData()
	if got, want := md.NumRowGroups(), 5; got != want {
		t.Errorf("%d row groups, want %d (1000 rows each, the last 500)", got, want)
	}
	for rg := 0; rg < md.NumRowGroups(); rg++ {
		for _, tc := range []struct {
			path string
			dict bool
		}{{"key", false}, {"tree", true}, {"group", true}, {"path.list.element", false}, {"of.list.element", true},
			{"src.key_value.key", true}, {"src.key_value.value", true}} {
			cc, err := md.RowGroup(rg).ColumnChunk(md.Schema.ColumnIndexByName(tc.path))
			if err != nil {
				t.Fatal(err)
			}
			if got := cc.HasDictionaryPage(); got != tc.dict {
				t.Errorf("row group %d, %s: dictionary page = %v, want %v", rg, tc.path, got, tc.dict)
			}
			if tc.dict && !containsEncoding(cc.Encodings(), parquet.Encodings.RLEDict) {
				t.Errorf("row group %d, %s: encodings %v, want RLE_DICTIONARY data pages", rg, tc.path, cc.Encodings())
			}
		}
	}

	// A reader with no knowledge of our schema: the column is UTF8 text.
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 4096}, memory.NewGoAllocator())
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	f, _ := tbl.Schema().FieldsByName("group")
	if len(f) != 1 || !arrow.TypeEqual(f[0].Type, arrow.BinaryTypes.String) {
		t.Errorf("a plain pqarrow reader sees group as %v, want utf8", f)
	}
	if f, _ := tbl.Schema().FieldsByName("of"); len(f) != 1 || !arrow.TypeEqual(f[0].Type.(*arrow.ListType).Elem(), arrow.BinaryTypes.String) {
		t.Errorf("a plain pqarrow reader sees of as %v, want list<utf8>", f)
	}
	if f, _ := tbl.Schema().FieldsByName("src"); len(f) != 1 || f[0].Type.String() != "map<utf8, utf8, items_non_nullable>" {
		t.Errorf("a plain pqarrow reader sees src as %v, want map<utf8, utf8>", f)
	}
	if v := tbl.Schema().Metadata().FindKey("ARROW:schema"); v >= 0 {
		t.Errorf("the file stores an Arrow schema (key %d); readers would see dictionary types", v)
	}
	col := tbl.Column(tbl.Schema().FieldIndices("group")[0]).Data().Chunk(0)
	if got := col.ValueStr(10); got != rows[10].Group {
		t.Errorf("row 10's group = %q to a plain reader, want %q", got, rows[10].Group)
	}
}

func containsEncoding(es []parquet.Encoding, e parquet.Encoding) bool {
	for _, x := range es {
		if x == e {
			return true
		}
	}
	return false
}

// TestDictTagErrors: the option is for string fields, and an unknown
// option is an error, not silently ignored.
func TestDictTagErrors(t *testing.T) {
	type onInt struct {
		A int32 `parquet:"a,dict"`
	}
	type unknown struct {
		A string `parquet:"a,dictionary"`
	}
	spec := contract.Spec{Name: "x", Version: 1}
	for name, tc := range map[string]struct {
		f    func() error
		want string
	}{
		"dict on int32":  {func() error { _, err := planFor[onInt](spec); return err }, "for string, []string and map[string]string fields"},
		"unknown option": {func() error { _, err := planFor[unknown](spec); return err }, `unknown parquet tag option "dictionary"`},
	} {
		if err := tc.f(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: planFor error = %v, want one containing %q", name, err, tc.want)
		}
	}
}

// TestDictEmptyLeaves: a batch in which a dict list or map column holds no
// value at all (every list or map empty: an effective_memberships batch
// with only direct memberships) writes and reads back.
func TestDictEmptyLeaves(t *testing.T) {
	for name, rows := range map[string][]dictRow{
		"every list and map empty": {{Key: "a", Tree: "t", Group: "g"}, {Key: "b", Tree: "t", Group: "g", Of: []string{}}},
		"zero values everywhere":   {{}},
		"only the map empty":       {{Key: "a", Tree: "t", Group: "g", Of: []string{"x"}}},
		"only the list empty":      {{Key: "a", Tree: "t", Group: "g", Src: map[string]string{"k": "v"}}},
	} {
		_, got := commitDictRows(t, newMemStore(), rows, 0, nil)
		if !reflect.DeepEqual(got, readBack(rows)) {
			t.Errorf("%s: read back\n %+v\nwant\n %+v", name, got, readBack(rows))
		}
	}
}

// FuzzDictRoundTrip writes rows derived from the fuzzer's bytes (few or
// many distinct values, runs, empty strings, empty and nil lists and maps,
// batches of any size down to one row) through the dict columns and reads
// them back: what was written is what is read.
func FuzzDictRoundTrip(f *testing.F) {
	f.Add([]byte("abcabcabc\x00\x01\x02"), uint8(3))
	f.Add([]byte{}, uint8(1))
	f.Add([]byte("\xff\xfe\x00\x00\x00\x00\x00\x00\x00\x00\x10\x20\x30"), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, rg uint8) {
		if len(data) > 4096 {
			return
		}
		vals := []string{"", "a", "cn=Gruppe ✓,dc=acme", "acme/uuid-1", "\x00", strings.Repeat("x", 300)}
		next := func(i int) string {
			if i >= len(data) {
				return ""
			}
			b := data[i]
			if b >= 0xf0 {
				return fmt.Sprintf("distinct-%d-%d", i, b) // a value seen once
			}
			return vals[int(b)%len(vals)]
		}
		var rows []dictRow
		for i := 0; i+4 <= len(data); i += 4 {
			r := dictRow{Key: fmt.Sprint(i), Tree: next(i), Group: next(i + 1), Depth: int32(data[i+2])}
			switch n := int(data[i+3]) % 4; n {
			case 0: // nil list and map
			case 1:
				r.Of = []string{}
				r.Src = map[string]string{}
			default:
				for j := 0; j < n; j++ {
					r.Of = append(r.Of, next(i+j))
				}
				r.Src = map[string]string{next(i): next(i + 1), "k": next(i + 2)}
			}
			rows = append(rows, r)
		}
		_, got := commitDictRows(t, newMemStore(), rows, 1+int(rg)%64, nil)
		if want := readBack(rows); len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
			t.Fatalf("read back %d rows that differ from the %d written:\n got %+v\nwant %+v", len(got), len(want), got, want)
		}
	})
}

// TestDictReadsPlainFiles: files written before a column was tagged dict
// (PLAIN pages) read back through the tagged row type, and tagged files
// through an untagged one: the tag changes the encoding, not the table.
func TestDictReadsPlainFiles(t *testing.T) {
	type plainRow struct {
		Key   string            `parquet:"key"`
		Tree  string            `parquet:"tree"`
		Group string            `parquet:"group"`
		Depth int32             `parquet:"depth"`
		Path  []string          `parquet:"path"`
		Of    []string          `parquet:"of"`
		Src   map[string]string `parquet:"src"`
	}
	ctx := context.Background()
	rows := readBack(dictRows(3000))
	st := newMemStore()
	s := NewStage(testEnv(t, st, "20261203T100000Z-plain"), "transform")
	s.SetLimits(Limits{RowGroupRows: 700})
	w, err := OpenTable[plainRow](s, dictSpec)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := w.Write(plainRow(r)); err != nil {
			t.Fatal(err)
		}
	}
	_, m, err := s.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadAll[dictRow](ctx, st, m, dictSpec)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, rows) {
		t.Errorf("PLAIN file read through the dict row type: %d rows that differ from the %d written", len(got), len(rows))
	}
	m2, _ := commitDictRows(t, st, rows, 700, nil)
	got2, err := ReadAll[plainRow](ctx, st, m2, dictSpec)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got2 {
		if !reflect.DeepEqual(dictRow(got2[i]), rows[i]) {
			t.Fatalf("dict file read through a plain row type: row %d = %+v, want %+v", i, got2[i], rows[i])
		}
	}
}

// TestDictColumnsReadAsDictionaries: a dict string column with dictionary
// pages is decoded as a dictionary (values once per batch), not expanded
// value by value; a PLAIN one, or an untagged column, is not.
func TestDictColumnsReadAsDictionaries(t *testing.T) {
	st := newMemStore()
	m, _ := commitDictRows(t, st, dictRows(2000), 700, nil)
	pf, err := file.NewParquetReader(bytes.NewReader(st.objs[m.Tables["dict_rows"].Files[0].Key]))
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	plan, err := planFor[dictRow](dictSpec)
	if err != nil {
		t.Fatal(err)
	}
	props := plan.readProps(pf.MetaData(), 4096)
	for col, want := range map[string]bool{"key": false, "tree": true, "group": true, "of.list.element": false} {
		if got := props.ReadDict(pf.MetaData().Schema.ColumnIndexByName(col)); got != want {
			t.Errorf("%s read as a dictionary = %v, want %v", col, got, want)
		}
	}
	untagged, err := planFor[struct {
		Tree string `parquet:"tree"`
	}](dictSpec)
	if err != nil {
		t.Fatal(err)
	}
	if up := untagged.readProps(pf.MetaData(), 4096); up.ReadDict(pf.MetaData().Schema.ColumnIndexByName("tree")) {
		t.Error("an untagged row type reads tree as a dictionary")
	}
}
