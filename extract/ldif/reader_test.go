package ldif

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
)

// readAll returns the entries and the record errors' codes of an LDIF text.
func readAll(t *testing.T, text string) ([]*Entry, []string) {
	t.Helper()
	r := NewReader(strings.NewReader(text))
	var es []*Entry
	var codes []string
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			return es, codes
		}
		var re *RecordError
		if errors.As(err, &re) {
			codes = append(codes, re.Code)
			continue
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		es = append(es, e)
	}
}

func TestReader(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		wantDNs   []string
		wantAttr  string // attribute of the first entry to check
		wantVals  []string
		wantCodes []string
	}{
		{
			name:     "plain",
			in:       "dn: cn=a,o=x\ncn: a\nmail: a@x\nmail: b@x\n\ndn: cn=b,o=x\ncn: b\n",
			wantDNs:  []string{"cn=a,o=x", "cn=b,o=x"},
			wantAttr: "MAIL", wantVals: []string{"a@x", "b@x"},
		},
		{
			name:     "folded lines and folded dn",
			in:       "dn: cn=long,\n o=x\ndescription: one two\n  three\n fo\n ur\n\n",
			wantDNs:  []string{"cn=long,o=x"},
			wantAttr: "description", wantVals: []string{"one two threefour"},
		},
		{
			name:     "base64 values and dn, utf-8 and trailing space",
			in:       "dn:: Y249SsO8cmdlbixvPXg=\ncn:: SsO8cmdlbg==\nemployeeNumber:: MTAwMTIzIA==\n",
			wantDNs:  []string{"cn=Jürgen,o=x"},
			wantAttr: "employeeNumber", wantVals: []string{"100123 "},
		},
		{
			name:     "CRLF line ends and folded CRLF",
			in:       "dn: cn=a,o=x\r\ncn: a\r\ndescription: ab\r\n cd\r\n\r\ndn: cn=b,o=x\r\ncn: b\r\n",
			wantDNs:  []string{"cn=a,o=x", "cn=b,o=x"},
			wantAttr: "description", wantVals: []string{"abcd"},
		},
		{
			name:     "comments, folded comments, version line, extra blank lines",
			in:       "# header\n# folded\n comment\nversion: 1\n\n\ndn: cn=a,o=x\n# inside\ncn: a\n\n\n\n# trailing\n",
			wantDNs:  []string{"cn=a,o=x"},
			wantAttr: "cn", wantVals: []string{"a"},
		},
		{
			name:     "bad base64 skips only that record",
			in:       "dn: cn=a,o=x\ncn:: !!!notb64\nsn: x\n\ndn: cn=b,o=x\ncn: b\n",
			wantDNs:  []string{"cn=b,o=x"},
			wantAttr: "cn", wantVals: []string{"b"},
			wantCodes: []string{"bad_base64"},
		},
		{
			name:     "URL value rejected",
			in:       "dn: cn=a,o=x\njpegPhoto:< file:///tmp/a.jpg\n\ndn: cn=b,o=x\ncn: b\n",
			wantDNs:  []string{"cn=b,o=x"},
			wantAttr: "cn", wantVals: []string{"b"},
			wantCodes: []string{"url_value"},
		},
		{
			name:     "change records rejected",
			in:       "dn: cn=a,o=x\nchangetype: modify\nreplace: cn\ncn: z\n-\n\ndn: cn=b,o=x\ncn: b\n",
			wantDNs:  []string{"cn=b,o=x"},
			wantAttr: "cn", wantVals: []string{"b"},
			wantCodes: []string{"change_record"},
		},
		{
			name:     "non-utf-8 dn and a record without dn",
			in:       "dn:: Y249/v8=\ncn: a\n\ncn: nodn\n\ndn: cn=b,o=x\ncn: b\n",
			wantDNs:  []string{"cn=b,o=x"},
			wantAttr: "cn", wantVals: []string{"b"},
			wantCodes: []string{"bad_utf8", "missing_dn"},
		},
		{
			name:     "binary value kept as raw bytes",
			in:       "dn: cn=a,o=x\noTObjectGUID:: BPLRK7eqR5e06xtua9XOLg==\n",
			wantDNs:  []string{"cn=a,o=x"},
			wantAttr: "otobjectguid", wantVals: []string{"\x04\xf2\xd1\x2b\xb7\xaa\x47\x97\xb4\xeb\x1b\x6e\x6b\xd5\xce\x2e"},
		},
		{
			name:    "empty input",
			in:      "",
			wantDNs: nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			es, codes := readAll(t, tc.in)
			var dns []string
			for _, e := range es {
				dns = append(dns, e.DN)
			}
			if !reflect.DeepEqual(dns, tc.wantDNs) {
				t.Errorf("DNs: got %q, want %q", dns, tc.wantDNs)
			}
			if !reflect.DeepEqual(codes, tc.wantCodes) {
				t.Errorf("record error codes: got %q, want %q", codes, tc.wantCodes)
			}
			if tc.wantAttr != "" && len(es) > 0 {
				if got := es[0].Strings(tc.wantAttr); !reflect.DeepEqual(got, tc.wantVals) {
					t.Errorf("%s: got %q, want %q", tc.wantAttr, got, tc.wantVals)
				}
			}
		})
	}
}

func TestReaderLineNumbers(t *testing.T) {
	r := NewReader(strings.NewReader("dn: cn=a,o=x\ncn: a\n\n# c\ndn: cn=b,o=x\ncn:: ###\n"))
	e, err := r.Next()
	if err != nil || e.Line != 1 {
		t.Fatalf("first: got line %v err %v, want line 1", e, err)
	}
	_, err = r.Next()
	var re *RecordError
	if !errors.As(err, &re) || re.Line != 6 || re.DN != "cn=b,o=x" {
		t.Fatalf("second: got %v, want a RecordError at line 6 for cn=b,o=x", err)
	}
}

// TestReaderValuesStayValid: values handed out are not overwritten by later
// reads (the reader's arena never reuses a chunk).
func TestReaderValuesStayValid(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 5000; i++ {
		b.WriteString("dn: cn=u" + strings.Repeat("x", i%50) + ",o=x\ncn: value-" + strings.Repeat("y", i%70) + "\ndescription: folded\n  line\n\n")
	}
	r := NewReader(strings.NewReader(b.String()))
	first, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := r.Next(); err != nil {
			break
		}
	}
	if got := first.Strings("cn"); len(got) != 1 || got[0] != "value-" {
		t.Errorf("first entry's cn after reading the rest: got %q, want [value-]", got)
	}
	if got := first.Strings("description"); len(got) != 1 || got[0] != "folded line" {
		t.Errorf("first entry's description: got %q, want [folded line]", got)
	}
}

// TestEntryGetFoldsCase: Get finds an attribute however its name is spelled,
// for ASCII names (folded in place), long names and non-ASCII names.
func TestEntryGetFoldsCase(t *testing.T) {
	long := strings.Repeat("x", 70) + "Attr"
	var e Entry
	e.Add("objectClass", []byte("oTPerson"))
	e.Add(long, []byte("long"))
	e.Add("Ättr", []byte("umlaut"))
	tests := []struct {
		name, get, want string
	}{
		{"same spelling", "objectClass", "oTPerson"},
		{"upper", "OBJECTCLASS", "oTPerson"},
		{"lower", "objectclass", "oTPerson"},
		{"longer than the fold buffer", strings.ToUpper(long), "long"},
		{"non-ASCII", "äTTR", "umlaut"},
		{"absent", "mail", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if v := e.Get(tt.get); len(v) == 1 {
				got = string(v[0])
			}
			if got != tt.want {
				t.Errorf("Get(%q): got %q, want %q", tt.get, got, tt.want)
			}
		})
	}
}

// TestReaderRepeatedAttributeKeepsNeighbours: an attribute's second value
// (given after other attributes) is appended to its own values without
// overwriting the attribute read after its first value.
func TestReaderRepeatedAttributeKeepsNeighbours(t *testing.T) {
	r := NewReader(strings.NewReader("dn: cn=a,dc=x\nmember: cn=1\ncn: a\nmember: cn=2\nsn: b\nmember: cn=3\n\ndn: cn=b,dc=x\ncn: b\n"))
	first, err := r.Next()
	if err != nil {
		t.Fatalf("first record: %v", err)
	}
	second, err := r.Next()
	if err != nil {
		t.Fatalf("second record: %v", err)
	}
	for _, c := range []struct {
		e          *Entry
		attr, want string
	}{
		{first, "member", "cn=1|cn=2|cn=3"},
		{first, "cn", "a"},
		{first, "sn", "b"},
		{second, "cn", "b"},
	} {
		if got := strings.Join(c.e.Strings(c.attr), "|"); got != c.want {
			t.Errorf("%s %s: got %q, want %q", c.e.DN, c.attr, got, c.want)
		}
	}
}

// TestReaderManyAttributeNames: attributes are found by any spelling of
// their name, with their values in file order, also past the names the
// reader gives ids (maxNameIDs) and for values added after the read.
func TestReaderManyAttributeNames(t *testing.T) {
	n := maxNameIDs + 100
	var b strings.Builder
	b.WriteString("dn: cn=a,o=x\n")
	for i := range n {
		fmt.Fprintf(&b, "Attr%d: first-%d\n", i, i)
	}
	for i := range n {
		fmt.Fprintf(&b, "aTTR%d: second-%d\n", i, i) // a second value, spelled otherwise
	}
	b.WriteString("\ndn: cn=b,o=x\n")
	for i := n - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "attr%d: b-%d\n", i, i)
	}
	es, codes := readAll(t, b.String())
	if len(es) != 2 || len(codes) != 0 {
		t.Fatalf("got %d entries and record errors %v, want 2 entries and none", len(es), codes)
	}
	a, bb := es[0], es[1]
	for i := range n {
		name := fmt.Sprintf("ATTR%d", i)
		if got, want := strings.Join(a.Strings(name), "|"), fmt.Sprintf("first-%d|second-%d", i, i); got != want {
			t.Fatalf("entry a, %s: got %q, want %q", name, got, want)
		}
		if got, want := strings.Join(bb.Strings(name), "|"), fmt.Sprintf("b-%d", i); got != want {
			t.Fatalf("entry b, %s: got %q, want %q", name, got, want)
		}
	}
	names := a.Names()
	if len(names) != n || names[0] != "Attr0" || names[n-1] != fmt.Sprintf("Attr%d", n-1) {
		t.Errorf("entry a names: got %d names from %q to %q, want %d from Attr0 to Attr%d", len(names), names[0], names[len(names)-1], n, n-1)
	}
	if got := bb.Names()[0]; got != fmt.Sprintf("attr%d", n-1) {
		t.Errorf("entry b first name: got %q, want attr%d", got, n-1)
	}
	a.Add("attr0", []byte("added"))
	a.Add(fmt.Sprintf("ATTR%d", n-1), []byte("added"))
	a.Add("newName", []byte("added"))
	for _, c := range []struct{ name, want string }{
		{"Attr0", "first-0|second-0|added"},
		{fmt.Sprintf("attr%d", n-1), fmt.Sprintf("first-%d|second-%d|added", n-1, n-1)},
		{"NEWNAME", "added"},
		{"absent", ""},
	} {
		if got := strings.Join(a.Strings(c.name), "|"); got != c.want {
			t.Errorf("after Add, %s: got %q, want %q", c.name, got, c.want)
		}
	}
}

// TestAttrGetterMatchesGet: the Source's remembering getter returns what
// Entry.Get does, whether the names come in the order it saw before, in
// another order, in another spelling, absent, or first met in a later entry
// (a new name table).
func TestAttrGetterMatchesGet(t *testing.T) {
	es, _ := readAll(t, "dn: cn=a,dc=x\nobjectClass: top\nobjectClass: oTPerson\ncn: a\nmail: a@x\n\n"+
		"dn: cn=b,dc=x\ncn: b\nMAIL: b@x\nsn: B\ngivenName: Bo\n\n"+
		"dn: cn=c,dc=x\nnewAttr: 1\nsn: C\ncn: c\nmail: c1@x\nmail: c2@x\n\n"+
		"dn: cn=d,dc=x\nobjectclass: oTGroup\n\n")
	orders := [][]string{
		{"cn", "mail", "sn", "givenName", "newAttr", "objectClass", "missing"},
		{"cn", "mail", "sn", "givenName", "newAttr", "objectClass", "missing"},
		{"CN", "Mail", "newattr", "sn", "missing", "OBJECTCLASS", "Zoë"},
		{"cn"},
		{"cn", "mail", "sn", "givenName", "newAttr", "objectClass", "missing", "x1", "x2"},
	}
	var g attrGetter
	for round, names := range orders {
		for _, e := range es {
			g.reset(e)
			for _, n := range names {
				got, want := g.get(n), e.Get(n)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("round %d, %s: get(%q): got %q, want %q", round, e.DN, n, got, want)
				}
			}
		}
	}
}
