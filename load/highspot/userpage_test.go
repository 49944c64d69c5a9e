package highspot_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/otds-highspot/otds-highspot/load"
	"github.com/otds-highspot/otds-highspot/load/highspot"
	"github.com/otds-highspot/otds-highspot/load/highspot/sandbox"
)

// sameUserPage fails t unless the one-pass decoding of body, when it takes
// the body, equals the general decoding (which must then succeed): same
// total, same raw items byte for byte, same users (nil and empty group
// lists told apart), same ids.
func sameUserPage(t *testing.T, body []byte) (fast bool) {
	t.Helper()
	got, ok := highspot.DecodeUserPageFast(body)
	if !ok {
		return false
	}
	want, err := highspot.DecodeUserPageGeneral(body)
	if err != nil {
		t.Fatalf("one-pass decoding took %q, the general one fails: %v", body, err)
	}
	if got.CountsTotal != want.CountsTotal {
		t.Errorf("%q: got counts_total %d, want %d", body, got.CountsTotal, want.CountsTotal)
	}
	if len(got.Raws) != len(want.Raws) {
		t.Fatalf("%q: got %d raw items, want %d", body, len(got.Raws), len(want.Raws))
	}
	for i := range got.Raws {
		if !bytes.Equal(got.Raws[i], want.Raws[i]) {
			t.Errorf("%q: raw item %d: got %q, want %q", body, i, got.Raws[i], want.Raws[i])
		}
	}
	if !reflect.DeepEqual(got.Items, want.Items) {
		t.Errorf("%q: got users %#v, want %#v", body, got.Items, want.Items)
	}
	if !reflect.DeepEqual(got.IDs, want.IDs) {
		t.Errorf("%q: got ids %q, want %q", body, got.IDs, want.IDs)
	}
	return true
}

var userPageSeeds = []string{
	`{"counts_total":2,"collection":[{"id":"u1","email":"a@x.example","name":"A","surname":"B","display_name":"A B","groups":["g1","g2"],"suspended":false},{"id":"u2","email":"b@x.example","groups":[],"suspended":true,"verified":false}]}` + "\n",
	` { "collection" : [ { "id" : "u1" , "favorites" : { "spots" : [ ] , "properties" : [ 1, -2.5e+3, true, null, "x" ] } } ] , "counts_total" : 1 } `,
	`{"counts_total":1,"collection":[{"id":"u\u00e9","email":"caf\u00e9@x.example","name":"Jos\u00e9 \"Pepe\"","surname":"\u003cb\u003e \ud83d\ude00 \ud800","display_name":"Zoë 日本","groups":["a\/b"]}]}`,
	`{"counts_total":1,"collection":[{"id":"u1","name":null,"groups":null,"suspended":null,"verified":null,"email":"a@x"}]}`,
	`{"counts_total":1,"collection":[{"id":"u1","id":"u2","groups":["a"],"groups":["b","c"],"verified":true,"verified":null,"suspended":true,"suspended":null}]}`,
	`{"counts_total":null,"collection":[]}`, `{"collection":[{}]}`, `{}`, `{"other":{"collection":[1]}}`,
	`{"counts_total":-0,"collection":[]}`, `{"counts_total":9223372036854775807,"collection":[]}`,
	// Bodies left to the general decoding (valid or not).
	`{"Collection":[{"id":"u1"}]}`, `{"collection":[{"ID":"u1"}]}`, `{"collection":[{"\u0069d":"u1"}]}`,
	`{"collection":[{"id":"u1","K":1,"ſurname":"x"}]}`, `{"collection":[null]}`, `{"collection":[{"id":"u1"}],"collection":[]}`,
	`{"counts_total":1.0,"collection":[]}`, `{"counts_total":1e2,"collection":[]}`, `{"counts_total":99999999999999999999,"collection":[]}`,
	`{"collection":[{"id":5}]}`, `{"collection":[{"groups":[null]}]}`, `{"collection":[{"groups":"g"}]}`, `{"collection":[{"suspended":"yes"}]}`,
	`{"collection":[{"id":"u1"},]}`, `{"collection":[{"id":"u1",}]}`, `{"collection":[{"id":"u1"}]} x`, `{"collection":[{"id":"a` + "\x01" + `"}]}`,
	`{"collection":[{"id":"\x"}]}`, `{"collection":[{"id":"\u12"}]}`, `{"collection":[{"x":01}]}`, `{"collection":[{"x":tru}]}`, `{"collection":[{"x":truex}]}`,
	`{"collection":[{"name":"` + "\xff\xfe" + `"}]}`, `{"collection":[{"x":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}]}`,
	``, `  `, `null`, `[]`, `{`, `{"collection":[{"id":"u1"}`, `"x"`,
}

// TestDecodeUserPageCases: on valid pages of every shape the one-pass
// decoding takes, it gives what the general one gives; the plain pages
// Highspot sends are taken.
func TestDecodeUserPageCases(t *testing.T) {
	for i, body := range userPageSeeds {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			fast := sameUserPage(t, []byte(body))
			if i < 11 && !fast {
				t.Errorf("%q: got left to the general decoding, want decoded in one pass", body)
			}
		})
	}
}

// FuzzDecodeUserPage: whatever the body, the one-pass decoding either
// declines it or agrees with the general decoding.
func FuzzDecodeUserPage(f *testing.F) {
	for _, s := range userPageSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { sameUserPage(t, body) })
}

// pageRecorder keeps the bodies of the user pages a client was sent.
type pageRecorder struct {
	next  http.RoundTripper
	mu    sync.Mutex
	pages [][]byte
}

func (p *pageRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := p.next.RoundTrip(r)
	if err != nil || !strings.HasSuffix(r.URL.Path, "/users") || r.Method != http.MethodGet {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.pages = append(p.pages, body)
	p.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// TestDecodeUserPageSandbox: the user pages the stand-in sends under every
// provider profile (users in groups, unverified and suspended ones, names
// with quotes, HTML characters and non-ASCII letters) are all decoded in one
// pass, as the general decoding decodes them.
func TestDecodeUserPageSandbox(t *testing.T) {
	seed := sandbox.Seed{Groups: []sandbox.SeedGroup{{ID: "g1", Name: "Sales"}, {ID: "g2", Name: "R&D"}}}
	for i := range 230 {
		u := sandbox.User{Email: fmt.Sprintf("u%03d@acme.com", i), Name: "Given", Surname: fmt.Sprint(i), DisplayName: fmt.Sprintf("Given %d", i),
			Verified: i%3 != 0, Suspended: i%7 == 0}
		switch i % 5 {
		case 1:
			u.Name, u.DisplayName = `José "Pepe"`, "José <Pepe> & Zoë 日本 😀"
		case 2:
			seed.Groups[0].Members = append(seed.Groups[0].Members, u.Email)
		case 3:
			seed.Groups[0].Members = append(seed.Groups[0].Members, u.Email)
			seed.Groups[1].Members = append(seed.Groups[1].Members, u.Email)
		}
		seed.Users = append(seed.Users, u)
	}
	for _, profile := range sandbox.Profiles() {
		t.Run(profile, func(t *testing.T) {
			s := seed
			_, ts := newSandbox(t, sandbox.Options{Seed: &s, Profile: profile, RandSeed: 1})
			rec := &pageRecorder{next: ts.Client().Transport}
			c, err := sandbox.Client("rest", ts.URL, &http.Client{Transport: rec}, nil)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			if err := c.ListUsers(context.Background(), func(load.User) error { n++; return nil }); err != nil {
				t.Fatal(err)
			}
			if n < 230 {
				t.Fatalf("listed %d users, want at least 230", n)
			}
			if len(rec.pages) < 3 {
				t.Fatalf("recorded %d pages, want at least 3", len(rec.pages))
			}
			for _, body := range rec.pages {
				if !sameUserPage(t, body) {
					t.Errorf("a page of the stand-in was left to the general decoding: %.300s", body)
				}
			}
		})
	}
}
