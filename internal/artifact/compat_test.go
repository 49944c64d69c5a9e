package artifact

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/xitongsys/parquet-go-source/local"
	"github.com/xitongsys/parquet-go/reader"

	"github.com/otds-highspot/otds-highspot/internal/contract"
)

// writeAccountsFile writes n sample accounts with the real writer and copies
// the single part file to a local path.
func writeAccountsFile(t *testing.T, n int) (string, []contract.Account) {
	t.Helper()
	ctx := context.Background()
	st := newMemStore()
	s := NewStage(testEnv(t, st, "20261125T100000Z-aaaa"), "extract.acme")
	s.SetLimits(Limits{RowGroupRows: 16})
	w, err := OpenTable[contract.Account](s, contract.AccountsSpec)
	if err != nil {
		t.Fatal(err)
	}
	var want []contract.Account
	for i := 0; i < n; i++ {
		a := sampleAccount(i)
		want = append(want, a)
		if err := w.Write(a); err != nil {
			t.Fatal(err)
		}
	}
	_, m, err := s.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return onePartFile(t, st, m, "accounts"), want
}

// onePartFile copies the single part file of table in m to a local path.
func onePartFile(t *testing.T, st *memStore, m *Manifest, table string) string {
	t.Helper()
	files := m.Tables[table].Files
	if len(files) != 1 {
		t.Fatalf("want 1 part, got %d", len(files))
	}
	p := filepath.Join(t.TempDir(), table+".parquet")
	if err := os.WriteFile(p, st.objs[files[0].Key], 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// xAccount mirrors, field by field, the struct xitongsys/parquet-go builds
// from the file schema (column names capitalized); timestamps come back as
// int64 microseconds.
type xAccount struct {
	Tree            string
	Partition       string
	Dn              string
	Source_id       string
	Object_guid     string
	Modified_at     *int64
	Created_at      *int64
	Login           []string
	Mail            []string
	Given_name      []string
	Surname         []string
	Display_name    []string
	Employee_id     []string
	Title           []string
	Department      []string
	Company         []string
	Country         []string
	City            []string
	Manager         []string
	External_id     []string
	Disabled        []string
	Locked          []string
	Service_account []string
	Member_of       []string
	Extra           map[string][]string
}

func micros(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	v := t.UnixMicro()
	return &v
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func toX(a contract.Account) xAccount {
	x := xAccount{
		Tree: a.Tree, Partition: a.Partition, Dn: a.DN, Source_id: a.SourceID, Object_guid: a.ObjectGUID,
		Modified_at: micros(a.ModifiedAt), Created_at: micros(a.CreatedAt),
		Login: nonNil(a.Login), Mail: nonNil(a.Mail), Given_name: nonNil(a.GivenName), Surname: nonNil(a.Surname),
		Display_name: nonNil(a.DisplayName), Employee_id: nonNil(a.EmployeeID), Title: nonNil(a.Title),
		Department: nonNil(a.Department), Company: nonNil(a.Company), Country: nonNil(a.Country), City: nonNil(a.City),
		Manager: nonNil(a.Manager), External_id: nonNil(a.ExternalID), Disabled: nonNil(a.Disabled), Locked: nonNil(a.Locked),
		Service_account: nonNil(a.ServiceAccount), Member_of: nonNil(a.MemberOf), Extra: a.Extra,
	}
	if x.Extra == nil {
		x.Extra = map[string][]string{}
	}
	return x
}

// TestConsumerCompatXitongsys: a data team reading our Parquet with
// xitongsys/parquet-go (schema taken from the file) gets every column,
// including list<string>, nullable timestamps and map<string, list<string>>,
// with the values we wrote.
func TestConsumerCompatXitongsys(t *testing.T) {
	p, want := writeAccountsFile(t, 40)
	fr, err := local.NewLocalFileReader(p)
	if err != nil {
		t.Fatal(err)
	}
	defer fr.Close()
	pr, err := reader.NewParquetReader(fr, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer pr.ReadStop()
	if got := pr.GetNumRows(); got != int64(len(want)) {
		t.Fatalf("xitongsys sees %d rows, want %d", got, len(want))
	}
	rows, err := pr.ReadByNumber(len(want))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		got, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		exp, _ := json.Marshal(toX(want[i]))
		if string(got) != string(exp) {
			t.Fatalf("row %d via xitongsys:\n got %s\nwant %s", i, got, exp)
		}
	}
}

// TestConsumerCompatArrow: a plain Arrow reader (pqarrow.ReadTable, no
// knowledge of our row types) sees the documented physical schema and our
// key-value metadata.
func TestConsumerCompatArrow(t *testing.T) {
	p, want := writeAccountsFile(t, 40)
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	tbl, err := pqarrow.ReadTable(context.Background(), f, nil, pqarrow.ArrowReadProperties{}, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	if got := tbl.NumRows(); got != int64(len(want)) {
		t.Errorf("rows = %d, want %d", got, len(want))
	}
	sc := tbl.Schema()
	for col, wantType := range map[string]string{
		"tree":        "utf8",
		"modified_at": "timestamp[us, tz=UTC]",
		"login":       "list<element: utf8>",
		"extra":       "map<utf8, list<element: utf8>, items_non_nullable>",
	} {
		f, ok := sc.FieldsByName(col)
		if !ok {
			t.Errorf("column %s missing", col)
			continue
		}
		if got := f[0].Type.String(); got != wantType {
			t.Errorf("column %s type = %s, want %s", col, got, wantType)
		}
	}
	pf, err := file.OpenParquetFile(p, false)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	kv := pf.MetaData().KeyValueMetadata()
	for k, v := range map[string]string{metaSchema: "accounts", metaSchemaVersion: "1"} {
		if got := kv.FindValue(k); got == nil || *got != v {
			t.Errorf("Parquet key-value metadata %s = %v, want %s", k, got, v)
		}
	}
	if got, want := pf.NumRowGroups(), 3; got != want { // 40 rows in 16-row groups
		t.Errorf("row groups = %d, want %d", got, want)
	}
	cc, err := pf.MetaData().RowGroup(0).ColumnChunk(0)
	if err != nil {
		t.Fatal(err)
	}
	if got := cc.Compression().String(); got != "ZSTD" {
		t.Errorf("compression = %s, want ZSTD", got)
	}
	// Spot-check values through the generic arrow table.
	col := tbl.Column(sc.FieldIndices("dn")[0]).Data().Chunk(0).(*array.String)
	if got := col.Value(3); got != want[3].DN {
		t.Errorf("dn[3] = %q, want %q", got, want[3].DN)
	}
	ts := tbl.Column(sc.FieldIndices("modified_at")[0]).Data().Chunk(0).(*array.Timestamp)
	if !ts.IsNull(1) || ts.Value(0) != arrow.Timestamp(want[0].ModifiedAt.UnixMicro()) {
		t.Errorf("modified_at[0..1] = %v,%v; want %v,null", ts.Value(0), ts.IsNull(1), want[0].ModifiedAt.UnixMicro())
	}
}

// xEffective mirrors the struct xitongsys/parquet-go builds for
// effective_memberships, whose group columns and path are dictionary-encoded
// (`parquet:",dict"`).
type xEffective struct {
	Account_key string
	Tree        string
	Group_key   string
	Group_dn    string
	Group_name  string
	Direct      bool
	Depth       int32
	Path        []string
}

// TestConsumerCompatXitongsysDict: dictionary pages (one per row group) and
// RLE/bit-packed indices read back as the text written, in another
// implementation of Parquet than ours.
func TestConsumerCompatXitongsysDict(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	s := NewStage(testEnv(t, st, "20261203T100000Z-aaaa"), "transform")
	s.SetLimits(Limits{RowGroupRows: 16})
	w, err := OpenTable[contract.EffectiveMembership](s, contract.EffectiveMembershipsSpec)
	if err != nil {
		t.Fatal(err)
	}
	var want []xEffective
	for i := 0; i < 40; i++ {
		e := contract.EffectiveMembership{
			AccountKey: "acme/" + string(rune('a'+i/3)), Tree: []string{"acme", "globex"}[i%2],
			GroupKey: "acme/g" + string(rune('0'+i%7)), GroupDN: "cn=Gruppe " + string(rune('0'+i%7)) + " ✓,ou=Groups,dc=acme",
			GroupName: "Gruppe " + string(rune('0'+i%7)), Direct: i%3 == 0, Depth: int32(i % 3),
		}
		if !e.Direct {
			e.Path = []string{"Gruppe x", e.GroupName}
		}
		if err := w.Write(e); err != nil {
			t.Fatal(err)
		}
		want = append(want, xEffective{e.AccountKey, e.Tree, e.GroupKey, e.GroupDN, e.GroupName, e.Direct, e.Depth, nonNil(e.Path)})
	}
	_, m, err := s.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fr, err := local.NewLocalFileReader(onePartFile(t, st, m, "effective_memberships"))
	if err != nil {
		t.Fatal(err)
	}
	defer fr.Close()
	pr, err := reader.NewParquetReader(fr, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer pr.ReadStop()
	rows, err := pr.ReadByNumber(len(want))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(want) {
		t.Fatalf("xitongsys read %d rows, want %d", len(rows), len(want))
	}
	for i, r := range rows {
		got, _ := json.Marshal(r)
		exp, _ := json.Marshal(want[i])
		if string(got) != string(exp) {
			t.Fatalf("row %d via xitongsys:\n got %s\nwant %s", i, got, exp)
		}
	}
}
