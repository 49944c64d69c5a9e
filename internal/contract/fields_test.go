package contract

import (
	"os"
	"strings"
	"testing"
)

// TestDocsListTheFieldTable: docs/configuration.md lists every attribute
// default and every policy field of the table, so the docs cannot drift from
// the one list.
func TestDocsListTheFieldTable(t *testing.T) {
	b, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, f := range Fields() {
		if f.Attr != "" {
			if want := "| `trees[].attributes." + f.Name + "` | `" + f.Attr + "` |"; !strings.Contains(doc, want) {
				t.Errorf("docs/configuration.md: no row %q for field %s", want, f.Name)
			}
		}
		if f.Policy != nil && !strings.Contains(doc, "`person."+f.Name+"`") {
			t.Errorf("docs/configuration.md: policy field person.%s is not in the CEL environment table", f.Name)
		}
	}
}

// TestFieldStorage: a field with a column reads and writes it; one without
// lives in Account.Extra and the attributes maps under its name.
func TestFieldStorage(t *testing.T) {
	title, _ := FieldByName("title")
	extra := &Field{Name: "cost_center"}
	var a Account
	title.SetRaw(&a, []string{"VP"})
	extra.SetRaw(&a, []string{" ", "CC-1"})
	if a.Title[0] != "VP" || a.Extra["cost_center"][1] != "CC-1" {
		t.Errorf("SetRaw: got title %q, extra %v; want the title column and extra[cost_center]", a.Title, a.Extra)
	}
	if title.IsMissing(&a) || extra.IsMissing(&a) {
		t.Errorf("IsMissing with values: got true, want false")
	}
	extra.SetRaw(&a, []string{" "})
	if !extra.IsMissing(&a) {
		t.Errorf("IsMissing with only a blank value: got false, want true")
	}
	var n AccountNormalized
	extra.SetNorm(&n, "")
	if n.Attributes != nil {
		t.Errorf("SetNorm of an empty value: got attributes %v, want none", n.Attributes)
	}
	extra.SetNorm(&n, "CC-1")
	title.SetNorm(&n, "VP")
	if n.Title != "VP" || extra.NormValue(&n) != "CC-1" {
		t.Errorf("SetNorm: got title %q, attributes %v", n.Title, n.Attributes)
	}
	p := Person{Title: "VP", Attributes: map[string]string{"cost_center": "CC-1"}}
	if title.PersonValue(&p) != "VP" || extra.PersonValue(&p) != "CC-1" {
		t.Errorf("PersonValue: got %q and %q, want VP and CC-1", title.PersonValue(&p), extra.PersonValue(&p))
	}
}

// TestRegisterUndo: a registered field is in the table until undone.
func TestRegisterUndo(t *testing.T) {
	undo := Register(Field{Name: "cost_center"})
	if _, ok := FieldByName("cost_center"); !ok {
		t.Fatalf("registered field not found")
	}
	undo()
	if _, ok := FieldByName("cost_center"); ok {
		t.Fatalf("field still in the table after undo")
	}
}
