package artifact

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/arrow-go/v18/parquet/schema"

	"github.com/otds-highspot/otds-highspot/internal/contract"
)

// Parquet key-value metadata written into every part file.
const (
	metaSchema        = "otds.schema"
	metaSchemaVersion = "otds.schema_version"
	metaWriter        = "otds.writer"
)

// colKind is the Go field type of one column; it selects the Arrow type and
// the (reflection-free) append and set functions.
type colKind int

const (
	kString colKind = iota
	kBool
	kInt32
	kInt64
	kFloat64
	kTime
	kTimePtr
	kStringPtr
	kStrings
	kMapString
	kMapStrings
)

// column is one struct field mapped to one Arrow/Parquet column.
type column struct {
	name   string // parquet tag
	goName string
	kind   colKind
	offset uintptr // field offset inside the struct
	field  arrow.Field
	dict   bool // `parquet:"name,dict"`: written dictionary-encoded (see dictCol)
}

// tablePlan maps a row type to its Arrow schema. It is computed once per
// writer or reader (never cached globally) and then used for every row.
type tablePlan struct {
	typ    reflect.Type
	cols   []column
	schema *arrow.Schema // the table's columns as readers see them
	// write is the schema of the record batches the writer hands to
	// pqarrow: a dict column is a dictionary<int32, utf8> there, whose
	// Parquet leaf is the same UTF8 byte array as in schema. build is the
	// schema of the writer's builders: a dict column is its int32 indices.
	// Both are schema when no column is dict.
	write, build *arrow.Schema
	dicts        []int // indices of the dict columns in cols
	leafDicts    []int // per dictCol the index of its column in cols (a map's twice: keys, items)
}

var (
	timeType = reflect.TypeFor[time.Time]()
	tsType   = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
)

func stringList() *arrow.ListType { return arrow.ListOfNonNullable(arrow.BinaryTypes.String) }

func stringMap(item arrow.DataType) *arrow.MapType { return sortedMap(arrow.BinaryTypes.String, item) }

func sortedMap(key, item arrow.DataType) *arrow.MapType {
	m := arrow.MapOf(key, item)
	m.SetItemNullable(false)
	m.KeysSorted = true // the writer sorts keys, so files are deterministic
	return m
}

// planFor reflects over T's `parquet` tags. Column order is field order;
// fields tagged `parquet:"-"` are skipped; an untagged exported field is an
// error (so a new field is never silently dropped).
func planFor[T any](spec contract.Spec) (*tablePlan, error) {
	typ := reflect.TypeFor[T]()
	if typ.Kind() != reflect.Struct {
		return nil, fmt.Errorf("table %s: row type %s is not a struct", spec.Name, typ)
	}
	p := &tablePlan{typ: typ}
	seen := map[string]string{}
	var fields []arrow.Field
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		tag, ok := f.Tag.Lookup("parquet")
		if tag == "-" || !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if !ok || name == "" {
			return nil, fmt.Errorf("table %s: field %s.%s has no `parquet:\"column\"` tag; tag it or mark it `parquet:\"-\"`", spec.Name, typ.Name(), f.Name)
		}
		if prev, dup := seen[name]; dup {
			return nil, fmt.Errorf("table %s: fields %s and %s both map to column %q", spec.Name, prev, f.Name, name)
		}
		seen[name] = f.Name
		c := column{name: name, goName: f.Name, offset: f.Offset}
		var dt arrow.DataType
		nullable := false
		switch t := f.Type; {
		case t.Kind() == reflect.String:
			c.kind, dt = kString, arrow.BinaryTypes.String
		case t.Kind() == reflect.Bool:
			c.kind, dt = kBool, arrow.FixedWidthTypes.Boolean
		case t.Kind() == reflect.Int32:
			c.kind, dt = kInt32, arrow.PrimitiveTypes.Int32
		case t.Kind() == reflect.Int64:
			c.kind, dt = kInt64, arrow.PrimitiveTypes.Int64
		case t.Kind() == reflect.Float64:
			c.kind, dt = kFloat64, arrow.PrimitiveTypes.Float64
		case t == timeType:
			c.kind, dt = kTime, tsType
		case t.Kind() == reflect.Pointer && t.Elem() == timeType:
			c.kind, dt, nullable = kTimePtr, tsType, true
		case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.String:
			c.kind, dt, nullable = kStringPtr, arrow.BinaryTypes.String, true
		case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
			c.kind, dt = kStrings, stringList()
		case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String && t.Elem().Kind() == reflect.String:
			c.kind, dt = kMapString, stringMap(arrow.BinaryTypes.String)
		case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String && t.Elem().Kind() == reflect.Slice && t.Elem().Elem().Kind() == reflect.String:
			c.kind, dt = kMapStrings, stringMap(stringList())
		default:
			return nil, fmt.Errorf("table %s: field %s.%s has unsupported type %s (see internal/contract for the supported types)", spec.Name, typ.Name(), f.Name, t)
		}
		// Named types (type Status string) must have the exact layout we cast to.
		if !plainLayout(f.Type, c.kind) {
			return nil, fmt.Errorf("table %s: field %s.%s: use the plain type, not %s", spec.Name, typ.Name(), f.Name, f.Type)
		}
		for _, o := range strings.Split(opts, ",") {
			switch o {
			case "":
			case "dict":
				if c.kind != kString && c.kind != kStrings && c.kind != kMapString {
					return nil, fmt.Errorf("table %s: field %s.%s: the dict option is for string, []string and map[string]string fields, not %s", spec.Name, typ.Name(), f.Name, f.Type)
				}
				c.dict = true
				p.dicts = append(p.dicts, len(p.cols))
				p.leafDicts = append(p.leafDicts, len(p.cols))
				if c.kind == kMapString {
					p.leafDicts = append(p.leafDicts, len(p.cols))
				}
			default:
				return nil, fmt.Errorf("table %s: field %s.%s: unknown parquet tag option %q (known: dict)", spec.Name, typ.Name(), f.Name, o)
			}
		}
		c.field = arrow.Field{Name: name, Type: dt, Nullable: nullable}
		fields = append(fields, c.field)
		p.cols = append(p.cols, c)
	}
	if len(p.cols) == 0 {
		return nil, fmt.Errorf("table %s: row type %s has no columns", spec.Name, typ)
	}
	md := arrow.NewMetadata(
		[]string{metaSchema, metaSchemaVersion, metaWriter},
		[]string{spec.Name, strconv.Itoa(spec.Version), "otds-highspot"},
	)
	p.schema = arrow.NewSchema(fields, &md)
	p.write, p.build = p.schema, p.schema
	if len(p.dicts) > 0 {
		write, build := slices.Clone(fields), slices.Clone(fields)
		for _, i := range p.dicts {
			switch p.cols[i].kind {
			case kStrings:
				write[i].Type = arrow.ListOfNonNullable(dictType)
				build[i].Type = arrow.ListOfNonNullable(arrow.PrimitiveTypes.Int32)
			case kMapString:
				write[i].Type = sortedMap(dictType, dictType)
				build[i].Type = sortedMap(arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int32)
			default:
				write[i].Type = dictType
				build[i].Type = arrow.PrimitiveTypes.Int32
			}
		}
		p.write, p.build = arrow.NewSchema(write, &md), arrow.NewSchema(build, &md)
	}
	return p, nil
}

// dictType is a dict column's type in the record batches written.
var dictType = &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}

// dictCol builds one dict column of a record batch: the values of the
// batch's rows, each once, and per row its index among them (in the
// builder's int32 field, or the int32 values of its list field). Each batch is its own row group (see tune.go), so
// its dictionary is exactly the batch's distinct values and pqarrow writes
// it as the row group's dictionary page and the indices as RLE/bit-packed
// data pages, hashing nothing itself.
type dictCol struct {
	vals    *array.StringBuilder
	seen    map[string]int32
	last    string // the value of the row before, and its index (runs are common: a group's members)
	lastIdx int32
}

// index gives s's index in the batch's dictionary, adding it if new.
func (d *dictCol) index(s string) int32 {
	if s == d.last && d.vals.Len() > 0 {
		return d.lastIdx
	}
	i, ok := d.seen[s]
	if !ok {
		i = int32(d.vals.Len())
		d.vals.Append(s)
		d.seen[s] = i
	}
	d.last, d.lastIdx = s, i
	return i
}

// dictionaries turns the builders' batch rec (build schema) into the batch
// to write (write schema): each dict column's indices get the batch's
// dictionary. It releases rec and resets the dictionaries for the next batch.
func (tp *tablePlan) dictionaries(rec arrow.RecordBatch, dicts []*dictCol) arrow.RecordBatch {
	defer rec.Release()
	cols := slices.Clone(rec.Columns())
	var made []arrow.Array
	// dictOf makes leaf indices (int32) a dictionary array over the next
	// dictCol's values, and resets that dictCol for the next batch.
	k := 0
	dictOf := func(indices arrow.Array) *array.Dictionary {
		d := dicts[k]
		k++
		vals := d.vals.NewArray()
		defer vals.Release()
		if indices.Len() == 0 && indices.Data().Buffers()[1] == nil {
			// No row of the batch has a value here (only empty lists or
			// maps): the builder made no data buffer, and pqarrow's
			// PutIndices reads it; give it an empty one.
			empty := array.NewData(arrow.PrimitiveTypes.Int32, 0, []*memory.Buffer{nil, memory.NewBufferBytes(nil)}, nil, 0, 0)
			defer empty.Release()
			indices = array.MakeFromData(empty)
			defer indices.Release()
		}
		clear(d.seen)
		d.last = ""
		return array.NewDictionaryArray(dictType, indices, vals)
	}
	for _, i := range tp.dicts {
		var da arrow.Array
		switch c := cols[i].(type) {
		case *array.Map: // map<int32, int32> -> map<dictionary, dictionary>
			keys, items := dictOf(c.Keys()), dictOf(c.Items())
			ed := c.ListValues().Data()
			entries := array.NewData(tp.write.Field(i).Type.(*arrow.MapType).Elem(), ed.Len(), ed.Buffers(),
				[]arrow.ArrayData{keys.Data(), items.Data()}, ed.NullN(), ed.Offset())
			da = nestedOver(tp.write.Field(i).Type, c.Data(), entries)
			entries.Release()
			keys.Release()
			items.Release()
		case *array.List: // list<int32> -> list<dictionary>
			dict := dictOf(c.ListValues())
			da = nestedOver(tp.write.Field(i).Type, c.Data(), dict.Data())
			dict.Release()
		default:
			da = dictOf(c)
		}
		cols[i] = da
		made = append(made, da)
	}
	out := array.NewRecordBatch(tp.write, cols, rec.NumRows())
	for _, a := range made {
		a.Release()
	}
	return out
}

// nestedOver is the list or map array d (its offsets and validity) of type
// t over the child array child.
func nestedOver(t arrow.DataType, d arrow.ArrayData, child arrow.ArrayData) arrow.Array {
	data := array.NewData(t, d.Len(), d.Buffers(), []arrow.ArrayData{child}, d.NullN(), d.Offset())
	defer data.Release()
	return array.MakeFromData(data)
}

// plainLayout reports whether t is exactly the unnamed type the unsafe casts
// below assume (named string kinds are fine for scalars: same layout).
func plainLayout(t reflect.Type, k colKind) bool {
	switch k {
	case kStrings:
		return t == reflect.TypeFor[[]string]()
	case kMapString:
		return t == reflect.TypeFor[map[string]string]()
	case kMapStrings:
		return t == reflect.TypeFor[map[string][]string]()
	case kStringPtr:
		return t == reflect.TypeFor[*string]()
	}
	return true
}

// appendFn appends one field of the row at p to its column builder.
type appendFn func(p unsafe.Pointer)

// appenders binds each column to its builder in rb. The builders live as long
// as rb (NewRecordBatch resets them), so this is done once per writer.
func (tp *tablePlan) appenders(rb *array.RecordBuilder, dicts []*dictCol) []appendFn {
	out := make([]appendFn, len(tp.cols))
	for i, c := range tp.cols {
		off := c.offset
		b := rb.Field(i)
		switch c.kind {
		case kString:
			if c.dict {
				ib := b.(*array.Int32Builder)
				d := dicts[slices.Index(tp.leafDicts, i)]
				out[i] = func(p unsafe.Pointer) { ib.Append(d.index(*(*string)(unsafe.Add(p, off)))) }
				break
			}
			sb := b.(*array.StringBuilder)
			out[i] = func(p unsafe.Pointer) { sb.Append(*(*string)(unsafe.Add(p, off))) }
		case kBool:
			bb := b.(*array.BooleanBuilder)
			out[i] = func(p unsafe.Pointer) { bb.Append(*(*bool)(unsafe.Add(p, off))) }
		case kInt32:
			ib := b.(*array.Int32Builder)
			out[i] = func(p unsafe.Pointer) { ib.Append(*(*int32)(unsafe.Add(p, off))) }
		case kInt64:
			ib := b.(*array.Int64Builder)
			out[i] = func(p unsafe.Pointer) { ib.Append(*(*int64)(unsafe.Add(p, off))) }
		case kFloat64:
			fb := b.(*array.Float64Builder)
			out[i] = func(p unsafe.Pointer) { fb.Append(*(*float64)(unsafe.Add(p, off))) }
		case kTime:
			tb := b.(*array.TimestampBuilder)
			out[i] = func(p unsafe.Pointer) {
				tb.Append(arrow.Timestamp((*(*time.Time)(unsafe.Add(p, off))).UnixMicro()))
			}
		case kTimePtr:
			tb := b.(*array.TimestampBuilder)
			out[i] = func(p unsafe.Pointer) {
				if t := *(**time.Time)(unsafe.Add(p, off)); t != nil {
					tb.Append(arrow.Timestamp(t.UnixMicro()))
				} else {
					tb.AppendNull()
				}
			}
		case kStringPtr:
			sb := b.(*array.StringBuilder)
			out[i] = func(p unsafe.Pointer) {
				if s := *(**string)(unsafe.Add(p, off)); s != nil {
					sb.Append(*s)
				} else {
					sb.AppendNull()
				}
			}
		case kStrings:
			lb := b.(*array.ListBuilder)
			if c.dict {
				ib := lb.ValueBuilder().(*array.Int32Builder)
				d := dicts[slices.Index(tp.leafDicts, i)]
				out[i] = func(p unsafe.Pointer) {
					lb.Append(true)
					for _, s := range *(*[]string)(unsafe.Add(p, off)) {
						ib.Append(d.index(s))
					}
				}
				break
			}
			vb := lb.ValueBuilder().(*array.StringBuilder)
			out[i] = func(p unsafe.Pointer) {
				lb.Append(true)
				for _, s := range *(*[]string)(unsafe.Add(p, off)) {
					vb.Append(s)
				}
			}
		case kMapString:
			mb := b.(*array.MapBuilder)
			var add func(k, v string) // one entry, keys in order
			if c.dict {
				kb := mb.KeyBuilder().(*array.Int32Builder)
				ib := mb.ItemBuilder().(*array.Int32Builder)
				j := slices.Index(tp.leafDicts, i)
				dk, di := dicts[j], dicts[j+1]
				add = func(k, v string) { kb.Append(dk.index(k)); ib.Append(di.index(v)) }
			} else {
				kb := mb.KeyBuilder().(*array.StringBuilder)
				ib := mb.ItemBuilder().(*array.StringBuilder)
				add = func(k, v string) { kb.Append(k); ib.Append(v) }
			}
			var keys []string
			out[i] = func(p unsafe.Pointer) {
				m := *(*map[string]string)(unsafe.Add(p, off))
				mb.Append(true)
				keys = slices.AppendSeq(keys[:0], maps.Keys(m))
				slices.Sort(keys)
				for _, k := range keys {
					add(k, m[k])
				}
			}
		case kMapStrings:
			mb := b.(*array.MapBuilder)
			kb := mb.KeyBuilder().(*array.StringBuilder)
			lb := mb.ItemBuilder().(*array.ListBuilder)
			vb := lb.ValueBuilder().(*array.StringBuilder)
			var keys []string
			out[i] = func(p unsafe.Pointer) {
				m := *(*map[string][]string)(unsafe.Add(p, off))
				mb.Append(true)
				keys = slices.AppendSeq(keys[:0], maps.Keys(m))
				slices.Sort(keys)
				for _, k := range keys {
					kb.Append(k)
					lb.Append(true)
					for _, s := range m[k] {
						vb.Append(s)
					}
				}
			}
		}
	}
	return out
}

// readProps are the Arrow read properties of a part file: a dict string
// column whose first row group has a dictionary page is read as a
// dictionary array (its values copied out once per batch, each row an
// index), not expanded value by value into a string array.
func (tp *tablePlan) readProps(md *metadata.FileMetaData, batchRows int64) pqarrow.ArrowReadProperties {
	props := pqarrow.ArrowReadProperties{BatchSize: batchRows}
	if md.NumRowGroups() == 0 {
		return props
	}
	for _, c := range tp.cols {
		if !c.dict || c.kind != kString {
			continue
		}
		i := md.Schema.ColumnIndexByName(c.name)
		if i < 0 {
			continue
		}
		if cc, err := md.RowGroup(0).ColumnChunk(i); err == nil && cc.HasDictionaryPage() {
			props.SetReadDict(i, true)
		}
	}
	return props
}

// setFn sets one field of the row at p from row i of its column.
type setFn func(i int, p unsafe.Pointer)

// setters binds each plan column to its array in rec (found by column name,
// so files with extra columns still read). Called once per record batch.
func (tp *tablePlan) setters(rec arrow.RecordBatch, idx []int) ([]setFn, error) {
	out := make([]setFn, len(tp.cols))
	for i, c := range tp.cols {
		off := c.offset
		arr := rec.Column(idx[i])
		bad := func() error {
			return fmt.Errorf("column %q is %s in the file, want %s for field %s", c.name, arr.DataType(), c.field.Type, c.goName)
		}
		switch c.kind {
		case kString, kStringPtr:
			if d, ok := arr.(*array.Dictionary); ok && c.kind == kString {
				vals, ok1 := d.Dictionary().(*array.String)
				ix, ok2 := d.Indices().(*array.Int32)
				if !ok1 || !ok2 {
					return nil, bad()
				}
				sc, idx := newStrCol(vals), ix.Int32Values()
				out[i] = func(i int, p unsafe.Pointer) { *(*string)(unsafe.Add(p, off)) = sc.at(int(idx[i])) }
				break
			}
			a, ok := arr.(*array.String)
			if !ok {
				return nil, bad()
			}
			sc := newStrCol(a)
			if c.kind == kString {
				out[i] = func(i int, p unsafe.Pointer) { *(*string)(unsafe.Add(p, off)) = sc.at(i) }
			} else {
				var slab []string // one allocation per batch for all the pointers
				out[i] = func(i int, p unsafe.Pointer) {
					if a.IsNull(i) {
						*(**string)(unsafe.Add(p, off)) = nil
						return
					}
					if slab == nil {
						slab = make([]string, a.Len())
					}
					slab[i] = sc.at(i)
					*(**string)(unsafe.Add(p, off)) = &slab[i]
				}
			}
		case kBool:
			a, ok := arr.(*array.Boolean)
			if !ok {
				return nil, bad()
			}
			out[i] = func(i int, p unsafe.Pointer) { *(*bool)(unsafe.Add(p, off)) = a.Value(i) }
		case kInt32:
			a, ok := arr.(*array.Int32)
			if !ok {
				return nil, bad()
			}
			out[i] = func(i int, p unsafe.Pointer) { *(*int32)(unsafe.Add(p, off)) = a.Value(i) }
		case kInt64:
			a, ok := arr.(*array.Int64)
			if !ok {
				return nil, bad()
			}
			out[i] = func(i int, p unsafe.Pointer) { *(*int64)(unsafe.Add(p, off)) = a.Value(i) }
		case kFloat64:
			a, ok := arr.(*array.Float64)
			if !ok {
				return nil, bad()
			}
			out[i] = func(i int, p unsafe.Pointer) { *(*float64)(unsafe.Add(p, off)) = a.Value(i) }
		case kTime, kTimePtr:
			a, ok := arr.(*array.Timestamp)
			if !ok {
				return nil, bad()
			}
			conv, err := a.DataType().(*arrow.TimestampType).GetToTimeFunc()
			if err != nil {
				return nil, fmt.Errorf("column %q: %w", c.name, err)
			}
			if c.kind == kTime {
				out[i] = func(i int, p unsafe.Pointer) {
					if a.IsNull(i) {
						*(*time.Time)(unsafe.Add(p, off)) = time.Time{}
						return
					}
					*(*time.Time)(unsafe.Add(p, off)) = conv(a.Value(i)).UTC()
				}
			} else {
				var slab []time.Time // one allocation per batch for all the pointers
				out[i] = func(i int, p unsafe.Pointer) {
					if a.IsNull(i) {
						*(**time.Time)(unsafe.Add(p, off)) = nil
						return
					}
					if slab == nil {
						slab = make([]time.Time, a.Len())
					}
					slab[i] = conv(a.Value(i)).UTC()
					*(**time.Time)(unsafe.Add(p, off)) = &slab[i]
				}
			}
		case kStrings:
			a, ok := arr.(*array.List)
			if !ok {
				return nil, bad()
			}
			va, ok := a.ListValues().(*array.String)
			if !ok {
				return nil, bad()
			}
			vals := newStrSlab(va)
			out[i] = func(i int, p unsafe.Pointer) {
				*(*[]string)(unsafe.Add(p, off)) = readStrings(a, vals, i)
			}
		case kMapString:
			a, ok := arr.(*array.Map)
			if !ok {
				return nil, bad()
			}
			ka, ok1 := a.Keys().(*array.String)
			ia, ok2 := a.Items().(*array.String)
			if !ok1 || !ok2 {
				return nil, bad()
			}
			keys, items := newStrCol(ka), newStrCol(ia)
			out[i] = func(i int, p unsafe.Pointer) {
				s, e := a.ValueOffsets(i)
				if a.IsNull(i) || s == e {
					*(*map[string]string)(unsafe.Add(p, off)) = nil
					return
				}
				m := make(map[string]string, e-s)
				for j := int(s); j < int(e); j++ {
					m[keys.at(j)] = items.at(j)
				}
				*(*map[string]string)(unsafe.Add(p, off)) = m
			}
		case kMapStrings:
			a, ok := arr.(*array.Map)
			if !ok {
				return nil, bad()
			}
			ka, ok1 := a.Keys().(*array.String)
			items, ok2 := a.Items().(*array.List)
			if !ok1 || !ok2 {
				return nil, bad()
			}
			va, ok := items.ListValues().(*array.String)
			if !ok {
				return nil, bad()
			}
			keys, vals := newStrCol(ka), newStrSlab(va)
			out[i] = func(i int, p unsafe.Pointer) {
				s, e := a.ValueOffsets(i)
				if a.IsNull(i) || s == e {
					*(*map[string][]string)(unsafe.Add(p, off)) = nil
					return
				}
				m := make(map[string][]string, e-s)
				for j := int(s); j < int(e); j++ {
					m[keys.at(j)] = readStrings(items, vals, j)
				}
				*(*map[string][]string)(unsafe.Add(p, off)) = m
			}
		}
	}
	return out, nil
}

// strCol gives Go strings for the values of a string array. All values of
// the batch are copied out of Arrow memory at once, into one Go string, and
// each value is a substring of it: one allocation per column per batch
// instead of one per value. (A kept value keeps its batch's column text
// alive; that is never more than the column itself.)
type strCol struct {
	base string
	offs []int32
	o0   int32
}

func newStrCol(a *array.String) strCol {
	offs := a.ValueOffsets()
	if len(offs) == 0 {
		return strCol{}
	}
	return strCol{base: string(a.ValueBytes()), offs: offs, o0: offs[0]}
}

func (c strCol) at(i int) string { return c.base[c.offs[i]-c.o0 : c.offs[i+1]-c.o0] }

// strSlab holds every value of a list's string values as Go strings, in one
// []string per column per batch; each list entry is a capacity-clipped
// sub-slice of it (so an append by the caller reallocates instead of
// overwriting the next row's values). Like strCol's text, a kept entry keeps
// its batch's slab alive.
type strSlab []string

func newStrSlab(a *array.String) strSlab {
	sc := newStrCol(a)
	out := make(strSlab, a.Len())
	for i := range out {
		out[i] = sc.at(i)
	}
	return out
}

// readStrings gives list entry i (nil when empty or null).
func readStrings(a *array.List, vals strSlab, i int) []string {
	if a.IsNull(i) {
		return nil
	}
	s, e := a.ValueOffsets(i)
	if s == e {
		return nil
	}
	return vals[s:e:e]
}

// only narrows the plan to the named columns (nil = all of them).
func (tp *tablePlan) only(names []string) (*tablePlan, error) {
	if names == nil {
		return tp, nil
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no column of %s selected", tp.typ)
	}
	out := &tablePlan{typ: tp.typ, schema: tp.schema, write: tp.write, build: tp.build}
	for _, n := range names {
		i := slices.IndexFunc(tp.cols, func(c column) bool { return c.name == n })
		if i < 0 {
			return nil, fmt.Errorf("%s has no column %q", tp.typ, n)
		}
		out.cols = append(out.cols, tp.cols[i])
	}
	return out, nil
}

// without is tp without the named columns.
func (tp *tablePlan) without(names []string) (*tablePlan, error) {
	if len(names) == 0 {
		return tp, nil
	}
	for _, n := range names {
		if !slices.ContainsFunc(tp.cols, func(c column) bool { return c.name == n }) {
			return nil, fmt.Errorf("%s has no column %q", tp.typ, n)
		}
	}
	out := &tablePlan{typ: tp.typ, schema: tp.schema, write: tp.write, build: tp.build}
	for _, c := range tp.cols {
		if !slices.Contains(names, c.name) {
			out.cols = append(out.cols, c)
		}
	}
	if len(out.cols) == 0 {
		return nil, fmt.Errorf("no column of %s selected", tp.typ)
	}
	return out, nil
}

// leaves lists the leaf column indices of a Parquet file schema that belong
// to the plan's columns, in file order.
func (tp *tablePlan) leaves(sc *schema.Schema) []int {
	want := make(map[string]bool, len(tp.cols))
	for _, c := range tp.cols {
		want[c.name] = true
	}
	out := make([]int, 0, sc.NumColumns())
	for i := 0; i < sc.NumColumns(); i++ {
		if p := sc.Column(i).ColumnPath(); len(p) > 0 && want[p[0]] {
			out = append(out, i)
		}
	}
	return out
}

// columnIndex finds each plan column in a file schema by name.
func (tp *tablePlan) columnIndex(sc *arrow.Schema) ([]int, error) {
	idx := make([]int, len(tp.cols))
	var missing []string
	for i, c := range tp.cols {
		ix := sc.FieldIndices(c.name)
		if len(ix) == 0 {
			missing = append(missing, c.name)
			continue
		}
		idx[i] = ix[0]
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("the file lacks column(s) %s that %s expects; was it written by an older schema version?", strings.Join(missing, ", "), tp.typ)
	}
	return idx, nil
}
