package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
)

// scimDo sends a SCIM request with the default token.
func (r *rig) scimDo(method, path, body string) int {
	r.t.Helper()
	req, _ := http.NewRequest(method, r.ts.URL+"/scim/v2"+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+DefaultSCIMToken)
	req.Header.Set("Content-Type", scimContentType)
	resp, err := r.ts.Client().Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// comparable is the persisted part of a dump, encoded.
func comparable(t *testing.T, d StateDump) string {
	t.Helper()
	d.Counters, d.Faults = nil, nil
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// writeEverything makes every kind of change the surfaces allow.
func writeEverything(r *rig) {
	r.t.Helper()
	steps := []struct {
		name, method, path, body string
		scim                     bool
	}{
		{"REST create", "POST", "/v1.0/users", `[{"email":"j1@acme.com","properties":{"name":"J","region":"EMEA"}},{"email":"j2@acme.com"}]`, false},
		{"REST update", "POST", "/v1.0/users", `[{"email":"JOHN.DOE@acme.com","properties":{"surname":"Doe-Smith"}}]`, false},
		{"REST member add", "POST", "/v1.0/groups/64b7f0c2a1b2c3d4e5f60006/users", `{"users":["j1@acme.com","alice.smith@acme.com"]}`, false},
		{"REST member remove", "DELETE", "/v1.0/groups/64b7f0c2a1b2c3d4e5f60001/users/64b7f0c2a1b2c3d4e5f60704", "", false},
		{"REST suspend", "DELETE", "/v1.0/users/64b7f0c2a1b2c3d4e5f60708", "", false},
		{"REST group create", "POST", "/v1.0/groups", `{"name":"New Group"}`, false},
		{"REST group patch", "PATCH", "/v1.0/groups/64b7f0c2a1b2c3d4e5f60004", `{"description":"EMEA region"}`, false},
		{"REST group delete", "DELETE", "/v1.0/groups/64b7f0c2a1b2c3d4e5f6000a", "", false},
		{"REST spot patch", "PATCH", "/v1.0/spots/6138e1ca2505892258c9c006", `{"description":"All hands"}`, false},
		{"SCIM create", "POST", "/Users", `{"userName":"s1@acme.com","name":{"givenName":"S","familyName":"One"},"active":true}`, true},
		{"SCIM put renames", "PUT", "/Users/64b7f0c2a1b2c3d4e5f60705", `{"userName":"juergen.m@acme.com","name":{"givenName":"Jürgen","familyName":"M"}}`, true},
		{"SCIM patch", "PATCH", "/Users/64b7f0c2a1b2c3d4e5f60704", `{"Operations":[{"op":"replace","path":"displayName","value":"Alice S."}]}`, true},
		{"SCIM group members", "PATCH", "/Groups/64b7f0c2a1b2c3d4e5f60003", `{"Operations":[{"op":"replace","path":"members","value":[{"value":"64b7f0c2a1b2c3d4e5f60703"}]}]}`, true},
		{"SCIM hard delete", "DELETE", "/Users/64b7f0c2a1b2c3d4e5f60709", "", true},
	}
	for _, st := range steps {
		var code int
		if st.scim {
			code = r.scimDo(st.method, st.path, st.body)
		} else {
			code, _ = r.do(st.method, st.path, "", st.body, nil)
		}
		if code < 200 || code > 299 {
			r.t.Fatalf("%s: got %d, want 2xx", st.name, code)
		}
	}
}

func TestJournalCrashRecovery(t *testing.T) {
	cases := []struct {
		name    string
		compact int
	}{
		{"journal only", 0},
		{"compacting every 3 lines", 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			r := newRig(t, Options{StateFile: path, RandSeed: 7, JournalCompactEvery: tc.compact})
			writeEverything(r)
			want := comparable(t, r.s.State())
			// Crash: no Close; the server is dropped.
			s2, err := New(Options{StateFile: path, Seed: &Seed{}})
			if err != nil {
				t.Fatal(err)
			}
			if got := comparable(t, s2.State()); got != want {
				t.Errorf("state after a crash differs:\n got %s\nwant %s", got, want)
			}
			// The snapshot is the readable dump format.
			d, ok, err := loadFile(path)
			if err != nil || !ok {
				t.Fatalf("got %v %v, want a readable snapshot", ok, err)
			}
			if _, found := d.UserByEmail("juergen.m@acme.com"); !found {
				t.Errorf("snapshot after reopen lacks the renamed user")
			}
		})
	}
}

func TestJournalTornLastLineIgnored(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	r := newRig(t, Options{StateFile: path, RandSeed: 7})
	writeEverything(r)
	want := comparable(t, r.s.State())
	jp := journalPath(path)
	f, err := os.OpenFile(jp, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Half of a line: the process died mid-write.
	if _, err := f.WriteString(`[{"op":"user","user":{"id":"dead","email":"torn@acme.com"`); err != nil {
		t.Fatal(err)
	}
	f.Close()
	log, hook := test.NewNullLogger()
	s2, err := New(Options{StateFile: path, Seed: &Seed{}, Logger: log})
	if err != nil {
		t.Fatalf("got %v, want the torn line ignored", err)
	}
	if got := comparable(t, s2.State()); got != want {
		t.Errorf("state after a torn line differs:\n got %s\nwant %s", got, want)
	}
	warned := false
	for _, e := range hook.AllEntries() {
		warned = warned || e.Level == logrus.WarnLevel && strings.Contains(e.Message, "torn")
	}
	if !warned {
		t.Errorf("got no warning about the torn line, want one")
	}
	// The torn tail is gone: new lines after it are read back.
	if b, _ := os.ReadFile(jp); len(b) != 0 {
		t.Errorf("got journal %q after reopening, want it folded into the snapshot", b)
	}
}

func TestJournalCorruptMiddleLineIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	r := newRig(t, Options{StateFile: path, RandSeed: 7})
	writeEverything(r)
	jp := journalPath(path)
	b, err := os.ReadFile(jp)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	lines[1] = []byte("{garbage\n")
	if err := os.WriteFile(jp, bytes.Join(lines, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = New(Options{StateFile: path, Seed: &Seed{}})
	if err == nil || !strings.Contains(err.Error(), jp) || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("got %v, want an error naming %s line 2", err, jp)
	}
}

func TestCloseFoldsJournalIntoSnapshot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	r := newRig(t, Options{StateFile: path, RandSeed: 7})
	writeEverything(r)
	if err := r.s.Close(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(journalPath(path)); len(b) != 0 {
		t.Errorf("got journal %d bytes after Close, want empty", len(b))
	}
	d, _, err := loadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := comparable(t, d), comparable(t, r.s.State()); got != want {
		t.Errorf("snapshot after Close differs:\n got %s\nwant %s", got, want)
	}
}

// A sandbox reopened from its state file gets the same RandSeed as the one
// that wrote it (the CLI starts one per process), so its id generator starts
// over: ids it hands out must still be new, or a user created on day 2 takes
// the id of a day-1 user (two users under one id: pages list it twice).
func TestReopenedSandboxNeverReusesIDs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	create := func(r *rig, prefix string) {
		t.Helper()
		var b strings.Builder
		b.WriteString("[")
		for i := range 20 {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `{"email":"%s%d@acme.com"}`, prefix, i)
		}
		b.WriteString("]")
		if code, body := r.do("POST", "/v1.0/users", "", b.String(), nil); code != 200 {
			t.Fatalf("create %s users: got %d %s, want 200", prefix, code, body)
		}
		code, body := r.do("POST", "/v1.0/groups", "", `{"name":"`+prefix+` group"}`, nil)
		if code < 200 || code > 299 {
			t.Fatalf("create %s group: got %d %s, want 2xx", prefix, code, body)
		}
	}
	r1 := newRig(t, Options{StateFile: path, RandSeed: 7})
	create(r1, "day1-")
	if err := r1.s.Close(); err != nil {
		t.Fatal(err)
	}
	r2 := newRig(t, Options{StateFile: path, RandSeed: 7})
	create(r2, "day2-")
	d := r2.s.State()
	ids := map[string]string{}
	for _, u := range d.Users {
		if prev, dup := ids[u.ID]; dup {
			t.Errorf("id %s: got users %s and %s, want one user per id", u.ID, prev, u.Email)
		}
		ids[u.ID] = u.Email
	}
	for _, g := range d.Groups {
		if prev, dup := ids[g.ID]; dup {
			t.Errorf("id %s: got group %q and %s, want ids never reused", g.ID, g.Name, prev)
		}
		ids[g.ID] = g.Name
	}
	var page coll
	if code, body := r2.do("GET", "/v1.0/users?list=unverified&limit=100", "", "", &page); code != 200 {
		t.Fatalf("list: got %d %s", code, body)
	}
	seen := map[string]bool{}
	for _, u := range page.Collection {
		id, _ := u["id"].(string)
		if seen[id] {
			t.Errorf("list=unverified: got id %s twice, want each user once", id)
		}
		seen[id] = true
	}
}

// A process that only reads (pull, a dry run) leaves the state file as it
// is: Close rewrites the snapshot only when something changed since it.
func TestCloseWithoutChangesKeepsTheSnapshot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	r := newRig(t, Options{StateFile: path, RandSeed: 7})
	writeEverything(r)
	if err := r.s.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	r2 := newRig(t, Options{StateFile: path, RandSeed: 7})
	var page coll
	if code, body := r2.do("GET", "/v1.0/users?list=all", "", "", &page); code != 200 || len(page.Collection) == 0 {
		t.Fatalf("list: got %d %s, want users", code, body)
	}
	if err := r2.s.Close(); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Errorf("Close after reads only: the state file was rewritten, want it left as it is")
	}
	// A change after that is folded in by Close as before.
	if code, _ := r2.do("POST", "/v1.0/users", "", `[{"email":"late@acme.com"}]`, nil); code != 200 {
		t.Fatalf("create: got %d", code)
	}
	if err := r2.s.Close(); err != nil {
		t.Fatal(err)
	}
	d, _, err := loadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, found := d.UserByEmail("late@acme.com"); !found {
		t.Errorf("snapshot after a change and Close lacks the new user")
	}
}
