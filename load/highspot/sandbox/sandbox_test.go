package sandbox

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

type rig struct {
	t  *testing.T
	s  *Server
	ts *httptest.Server
}

func newRig(t *testing.T, opts Options) *rig {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return &rig{t: t, s: s, ts: ts}
}

// do sends a REST request as the default key (hsUser optional) and decodes JSON into out.
func (r *rig) do(method, path, hsUser, body string, out any) (int, string) {
	r.t.Helper()
	req, _ := http.NewRequest(method, r.ts.URL+path, strings.NewReader(body))
	req.SetBasicAuth(DefaultKey, DefaultSecret)
	if hsUser != "" {
		req.Header.Set("hs-user", hsUser)
	}
	resp, err := r.ts.Client().Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		_ = json.Unmarshal(b, out)
	}
	return resp.StatusCode, string(b)
}

type coll struct {
	CountsTotal int              `json:"counts_total"`
	Collection  []map[string]any `json:"collection"`
}

func TestUnauthorizedIsPlainText(t *testing.T) {
	r := newRig(t, Options{})
	resp, err := r.ts.Client().Get(r.ts.URL + "/v1.0/me")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || string(b) != "Could not authenticate user." || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("got %d %q %q, want 401 text/plain Could not authenticate user.", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
}

func TestUserVisibilityAndPaging(t *testing.T) {
	r := newRig(t, Options{})
	all := len(r.s.State().Users)
	cases := []struct {
		query string
		want  int
	}{
		{"", all - 2}, // kevin.chen and marketing.intern are unverified
		{"?list=verified", all - 2},
		{"?list=unverified", 2},
		{"?list=all", all},
		{"?list=all&email=KEVIN.CHEN@acme.com", 1},
		{"?email=kevin.chen@acme.com", 0}, // hidden without list=all
		{"?list=all&start=3&limit=2", all},
	}
	for _, c := range cases {
		var got coll
		if st, body := r.do("GET", "/v1.0/users"+c.query, "", "", &got); st != 200 {
			t.Fatalf("%s: %d %s", c.query, st, body)
		}
		if got.CountsTotal != c.want {
			t.Errorf("users%s: got counts_total %d, want %d", c.query, got.CountsTotal, c.want)
		}
	}
	var p coll
	r.do("GET", "/v1.0/users?list=all&start=3&limit=2", "", "", &p)
	if len(p.Collection) != 2 {
		t.Errorf("got page of %d, want 2", len(p.Collection))
	}
	r.do("GET", "/v0.5/users?list=all&limit=1000", "", "", &p)
	if len(p.Collection) != all { // fewer than 100 users: clamping not visible, v0.5 alias works
		t.Errorf("v0.5 alias: got %d, want %d", len(p.Collection), all)
	}
	var one map[string]any
	r.do("GET", "/v1.0/users/64b7f0c2a1b2c3d4e5f60703?exclude-fields=groups,favorites", "", "", &one)
	if _, ok := one["groups"]; ok || one["email"] != "john.doe@acme.com" {
		t.Errorf("exclude-fields: got %v", one)
	}
	one = nil
	r.do("GET", "/v1.0/users/64b7f0c2a1b2c3d4e5f60703?exclude-fields=*", "", "", &one)
	if len(one) != 2 {
		t.Errorf("exclude-fields=*: got %v, want id and email only", one)
	}
	if st, _ := r.do("GET", "/v1.0/users?list=bogus", "", "", nil); st != 400 {
		t.Errorf("list=bogus: got %d, want 400", st)
	}
}

func TestLimitClampedTo100(t *testing.T) {
	seed := Seed{}
	for i := 0; i < 130; i++ {
		seed.Users = append(seed.Users, User{Email: "u" + string(rune('a'+i%26)) + strings.Repeat("x", i/26) + "@acme.com", Verified: true})
	}
	r := newRig(t, Options{Seed: &seed})
	var p coll
	r.do("GET", "/v1.0/users?limit=500", "", "", &p)
	if len(p.Collection) != 100 || p.CountsTotal != 131 {
		t.Errorf("got %d of %d, want 100 of 131", len(p.Collection), p.CountsTotal)
	}
}

func TestUpsertSemantics(t *testing.T) {
	r := newRig(t, Options{RandSeed: 3})
	var res struct {
		Collection []map[string]any `json:"collection"`
	}
	st, body := r.do("POST", "/v1.0/users", "", `[
		{"email":"New.Person@acme.com","properties":{"name":"New","surname":"Person","display_name":"New Person","region":"EMEA"}},
		{"email":"JOHN.DOE@acme.com","properties":{"display_name":"J. Doe"}},
		{"email":"broken"},
		{"properties":{"name":"no email"}}
	]`, &res)
	if st != 200 || len(res.Collection) != 4 {
		t.Fatalf("got %d %s", st, body)
	}
	idRE := regexp.MustCompile(`^[0-9a-f]{24}$`)
	if c := res.Collection[0]; c["created"] != true || !idRE.MatchString(c["id"].(string)) || c["status"] != "ok" {
		t.Errorf("new: got %v", c)
	}
	if c := res.Collection[1]; c["created"] != false || c["id"] != "64b7f0c2a1b2c3d4e5f60703" {
		t.Errorf("existing (case-insensitive): got %v", c)
	}
	for _, c := range res.Collection[2:] {
		if c["status"] != "error" || c["id"] != nil {
			t.Errorf("bad entry: got %v, want status error and no id", c)
		}
	}
	u, _ := r.s.State().UserByEmail("new.person@acme.com")
	if u.Verified || u.Properties["region"] != "EMEA" || !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`).MatchString(u.Created) {
		t.Errorf("got %+v, want unverified, region property, ISO-8601 UTC created", u)
	}
	var props map[string]any
	r.do("GET", "/v1.0/users/"+u.ID+"/properties", "", "", &props)
	if props["region"] != "EMEA" || props["name"] != "New" {
		t.Errorf("properties: got %v", props)
	}
	var region any
	r.do("GET", "/v1.0/users/"+u.ID+"/properties/region", "", "", &region)
	if region != "EMEA" {
		t.Errorf("property region: got %v", region)
	}
	if st, _ := r.do("POST", "/v1.0/users", "", `{"email":"x@acme.com"}`, nil); st != 400 {
		t.Errorf("non-array body: got %d, want 400", st)
	}
	// Non-admin (impersonated) callers cannot write users.
	if st, _ := r.do("POST", "/v1.0/users", "john.doe@acme.com", `[{"email":"y@acme.com"}]`, nil); st != 403 {
		t.Errorf("non-admin upsert: got %d, want 403", st)
	}
	// DELETE suspends by default, hard deletes when told.
	if st, _ := r.do("DELETE", "/v1.0/users/"+u.ID, "", "", nil); st != 200 {
		t.Fatal("delete")
	}
	if x, _ := r.s.State().UserByEmail("new.person@acme.com"); !x.Suspended {
		t.Errorf("suspend mode: got %+v", x)
	}
	r.s.SetFaults(Faults{DeleteMode: "hard"})
	r.do("DELETE", "/v1.0/users/"+u.ID, "", "", nil)
	if st, _ := r.do("GET", "/v1.0/users/"+u.ID, "", "", nil); st != 404 {
		t.Errorf("after hard delete: got %d, want 404", st)
	}
}

func TestImpersonationAndSpotVisibility(t *testing.T) {
	r := newRig(t, Options{})
	titles := func(hs string) []string {
		var p coll
		if st, b := r.do("GET", "/v1.0/spots", hs, "", &p); st != 200 {
			t.Fatalf("spots as %q: %d %s", hs, st, b)
		}
		var out []string
		for _, c := range p.Collection {
			out = append(out, c["title"].(string))
		}
		return out
	}
	// The EMEA field rep sees the field onboarding (Sales - Field), EMEA onboarding and the public spot.
	if got := strings.Join(titles("juergen.mueller@acme.com"), "|"); got != "Sales Onboarding - Field|Onboarding - EMEA|Company News" {
		t.Errorf("juergen's spots: got %s", got)
	}
	if got := len(titles("")); got != 7 { // the service account is an admin
		t.Errorf("admin sees %d spots, want 7", got)
	}
	var me map[string]any
	r.do("GET", "/v1.0/me", "juergen.mueller@acme.com", "", &me)
	if me["email"] != "juergen.mueller@acme.com" {
		t.Errorf("/me impersonated: got %v", me)
	}
	if st, _ := r.do("GET", "/v1.0/me", "nobody@acme.com", "", nil); st != 404 {
		t.Errorf("unknown hs-user: got %d, want 404", st)
	}
	r.s.SetFaults(Faults{Impersonation: map[string]bool{DefaultKey: false}})
	if st, body := r.do("GET", "/v1.0/me", "juergen.mueller@acme.com", "", nil); st != 403 || !strings.Contains(body, "Impersonation not enabled") {
		t.Errorf("impersonation off: got %d %s", st, body)
	}
	r.s.SetFaults(Faults{})
	// Items and search respect spot visibility; the report's CSV is served.
	var hits coll
	r.do("GET", "/v1.0/search/items?query-string=course", "juergen.mueller@acme.com", "", &hits)
	for _, c := range hits.Collection {
		if c["title"] == "Inside Sales Onboarding Course" || c["title"] == "Partner Onboarding Course" {
			t.Errorf("search leaked %v", c["title"])
		}
	}
	if hits.CountsTotal != 2 {
		t.Errorf("got %d course hits for juergen, want 2", hits.CountsTotal)
	}
	if st, body := r.do("GET", "/v1.0/items/611ec26b628ba209d8ecf00b/content?format=text/csv", "", "", nil); st != 200 || !strings.HasPrefix(body, "email,last_active") {
		t.Errorf("report content: got %d %q", st, body)
	}
	if st, _ := r.do("GET", "/v1.0/items/611ec26b628ba209d8ecf00b", "juergen.mueller@acme.com", "", nil); st != 404 {
		t.Errorf("hidden item: got %d, want 404", st)
	}
}

func TestSpotPatchAndShare(t *testing.T) {
	r := newRig(t, Options{})
	spot := "/v1.0/spots/6138e1ca2505892258c9c002"
	if st, body := r.do("PATCH", spot, "", `{"visibility":"public","is_official":false}`, nil); st != 400 {
		t.Errorf("visibility+is_official: got %d %s, want 400", st, body)
	}
	if st, _ := r.do("PATCH", spot, "", `{"visibility":"public"}`, nil); st != 200 {
		t.Errorf("visibility alone: got %d", st)
	}
	if st, _ := r.do("PATCH", spot, "", `{"is_official":false}`, nil); st != 200 {
		t.Errorf("is_official alone: got %d", st)
	}
	// juergen is only a viewer: sharing is forbidden.
	if st, _ := r.do("POST", spot+"/users?role=viewer", "juergen.mueller@acme.com", `{"users":["alice.smith@acme.com"]}`, nil); st != 403 {
		t.Errorf("viewer shares: got %d, want 403", st)
	}
	if st, _ := r.do("POST", spot+"/users?role=viewer", "", `{"users":["alice.smith@acme.com"]}`, nil); st != 200 {
		t.Errorf("owner shares: got %d, want 200", st)
	}
	if st, _ := r.do("POST", spot+"/users?role=boss", "", `{"users":["alice.smith@acme.com"]}`, nil); st != 400 {
		t.Errorf("bad role: got %d, want 400", st)
	}
	var id struct{ ID string }
	r.do("POST", "/v1.0/spots", "", `{"title":"New Spot"}`, &id)
	if len(id.ID) != 24 {
		t.Errorf("POST /spots: got id %q", id.ID)
	}
	if st, _ := r.do("GET", "/v1.0/spots?role=owner&right=view", "", "", nil); st != 400 {
		t.Errorf("role+right: got %d, want 400", st)
	}
}

func TestGroupsAndMembership(t *testing.T) {
	r := newRig(t, Options{})
	var id struct{ ID string }
	if st, _ := r.do("POST", "/v1.0/groups", "", `{"name":"Region - LATAM"}`, &id); st != 200 {
		t.Fatal(st)
	}
	if st, _ := r.do("POST", "/v1.0/groups", "", `{"name":"Region - LATAM"}`, nil); st != 409 {
		t.Errorf("duplicate group: got %d, want 409", st)
	}
	var res coll
	r.do("POST", "/v1.0/groups/"+id.ID+"/users", "", `{"users":["john.doe@acme.com","ghost@acme.com"]}`, &res)
	if res.Collection[0]["status"] != "ok" || res.Collection[1]["status"] != "error" {
		t.Errorf("add members: got %v", res.Collection)
	}
	var u map[string]any
	r.do("GET", "/v1.0/users/64b7f0c2a1b2c3d4e5f60703", "", "", &u)
	if !strings.Contains(strings.Join(toStrings(u["groups"]), ","), id.ID) {
		t.Errorf("user.groups: got %v, want %s in it", u["groups"], id.ID)
	}
	for i := 0; i < 2; i++ { // removal is idempotent
		if st, _ := r.do("DELETE", "/v1.0/groups/"+id.ID+"/users/64b7f0c2a1b2c3d4e5f60703", "", "", nil); st != 200 {
			t.Errorf("remove member (%d): got %d", i, st)
		}
	}
	g, _ := r.s.State().GroupByName("Region - LATAM")
	if len(g.Members) != 0 {
		t.Errorf("got members %v, want none", g.Members)
	}
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func TestPersistenceRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	r := newRig(t, Options{StateFile: path, RandSeed: 9})
	r.do("POST", "/v1.0/users", "", `[{"email":"persist@acme.com","properties":{"name":"P"}}]`, nil)
	r.do("POST", "/v1.0/groups/64b7f0c2a1b2c3d4e5f60006/users", "", `{"users":["persist@acme.com"]}`, nil)
	before := r.s.State()
	s2, err := New(Options{StateFile: path, Seed: &Seed{}})
	if err != nil {
		t.Fatal(err)
	}
	after := s2.State()
	before.Counters, after.Counters, before.Faults, after.Faults = nil, nil, nil, nil
	b1, _ := json.Marshal(before)
	b2, _ := json.Marshal(after)
	if string(b1) != string(b2) {
		t.Errorf("state after reload differs:\n got %s\nwant %s", b2, b1)
	}
	if g, _ := after.GroupByName("Region - APAC"); len(g.Members) != 1 {
		t.Errorf("got APAC members %v, want the new user", g.Members)
	}
}

func TestAdminAPI(t *testing.T) {
	r := newRig(t, Options{})
	post := func(path, body string) int {
		resp, err := r.ts.Client().Post(r.ts.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := post("/_admin/faults", `{"burst_429":2,"retry_after":"off"}`); st != 200 {
		t.Fatal(st)
	}
	if st := post("/_admin/faults", `{"bogus":1}`); st != 400 {
		t.Errorf("unknown fault key: got %d, want 400", st)
	}
	for i, want := range []int{429, 429, 200} {
		if st, _ := r.do("GET", "/v1.0/me", "", "", nil); st != want {
			t.Errorf("request %d: got %d, want %d", i, st, want)
		}
	}
	if st := post("/_admin/reset", ""); st != 200 {
		t.Fatal(st)
	}
	if n := len(r.s.State().Groups); n != 0 {
		t.Errorf("after reset: %d groups, want 0", n)
	}
	if st := post("/_admin/seed", ""); st != 200 {
		t.Fatal(st)
	}
	if n := len(r.s.State().Groups); n != 12 {
		t.Errorf("after seed: %d groups, want 12", n)
	}
	if st := post("/_admin/seed", `{"users":[{"email":"only@acme.com","verified":true}]}`); st != 200 {
		t.Fatal(st)
	}
	resp, _ := r.ts.Client().Get(r.ts.URL + "/_admin/state")
	var d StateDump
	_ = json.NewDecoder(resp.Body).Decode(&d)
	resp.Body.Close()
	if len(d.Users) != 2 || d.Counters["fault 429"] != 2 { // only@ + the default service user
		t.Errorf("state: got %d users, counters %v", len(d.Users), d.Counters)
	}
}

func TestRateLimitAndDeterministicFaults(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := newRig(t, Options{Now: func() time.Time { return now }, Faults: Faults{RateLimitRPS: 2, RateLimitBurst: 2}})
	var got []int
	for i := 0; i < 3; i++ {
		st, _ := r.do("GET", "/v1.0/me", "", "", nil)
		got = append(got, st)
	}
	if got[0] != 200 || got[1] != 200 || got[2] != 429 {
		t.Errorf("got %v, want 200 200 429 within one instant", got)
	}
	run := func() []int {
		rr := newRig(t, Options{RandSeed: 42, Faults: Faults{ErrorRate: 0.5}})
		var out []int
		for i := 0; i < 20; i++ {
			st, _ := rr.do("GET", "/v1.0/me", "", "", nil)
			out = append(out, st)
		}
		return out
	}
	a, b := run(), run()
	faults := 0
	for _, st := range a {
		if st >= 500 {
			faults++
		}
	}
	if faults == 0 || faults == len(a) {
		t.Errorf("got %d injected errors of %d at rate 0.5: %v", faults, len(a), a)
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("fault sequences differ with the same seed: %v vs %v", a, b)
		}
	}
}

func TestFaultAfterApplyKeepsTheWrite(t *testing.T) {
	r := newRig(t, Options{Faults: Faults{ErrorRate: 1, FaultAfterApply: true}})
	st, _ := r.do("POST", "/v1.0/users", "", `[{"email":"lost.response@acme.com"}]`, nil)
	if st < 500 {
		t.Fatalf("got %d, want an injected 5xx", st)
	}
	if _, ok := r.s.State().UserByEmail("lost.response@acme.com"); !ok {
		t.Errorf("the write was not applied before the injected error")
	}
}

func TestListenAndServeStopsOnCancel(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := New(Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/_admin/state")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve returned %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not stop on cancel")
	}
}

func TestSCIMSurface(t *testing.T) {
	r := newRig(t, Options{})
	scim := func(method, path, body string, out any) int {
		req, _ := http.NewRequest(method, r.ts.URL+"/scim/v2"+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+DefaultSCIMToken)
		req.Header.Set("Content-Type", scimContentType)
		resp, err := r.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if out != nil {
			_ = json.NewDecoder(resp.Body).Decode(out)
		}
		return resp.StatusCode
	}
	var list struct {
		TotalResults int              `json:"totalResults"`
		Resources    []map[string]any `json:"Resources"`
	}
	scim("GET", `/Users?filter=`+urlq(`userName eq "KEVIN.chen@acme.com" or userName eq "john.doe@acme.com"`), "", &list)
	if list.TotalResults != 2 {
		t.Errorf("or filter: got %d, want 2", list.TotalResults)
	}
	if st := scim("GET", `/Users?filter=`+urlq(`userName co "x"`), "", nil); st != 400 {
		t.Errorf("unsupported filter: got %d, want 400", st)
	}
	if st := scim("POST", "/Users", `{"schemas":["`+scimUserSchema+`"],"userName":"john.doe@acme.com"}`, nil); st != 409 {
		t.Errorf("duplicate create: got %d, want 409", st)
	}
	if st := scim("PATCH", "/Users/64b7f0c2a1b2c3d4e5f60703", `{"Operations":[{"op":"Replace","path":"active","value":"False"}]}`, nil); st != 200 {
		t.Errorf("patch active: got %d", st)
	}
	if u, _ := r.s.State().UserByEmail("john.doe@acme.com"); !u.Suspended {
		t.Errorf("PATCH active=false did not suspend")
	}
	var bulk struct {
		Operations []map[string]any `json:"Operations"`
	}
	scim("POST", "/Bulk", `{"Operations":[
		{"method":"POST","bulkId":"g1","path":"/Groups","data":{"displayName":"Bulk Group"}},
		{"method":"POST","bulkId":"u1","path":"/Users","data":{"userName":"bulk@acme.com"}},
		{"method":"PATCH","path":"/Groups/bulkId:g1","data":{"Operations":[{"op":"add","path":"members","value":[{"value":"bulkId:u1"}]}]}},
		{"method":"POST","bulkId":"u2","path":"/Users","data":{"userName":"nope"}}]}`, &bulk)
	if len(bulk.Operations) != 4 || bulk.Operations[0]["status"] != "201" || bulk.Operations[2]["status"] != "200" || bulk.Operations[3]["status"] != "400" {
		t.Errorf("bulk: got %v", bulk.Operations)
	}
	if g, _ := r.s.State().GroupByName("Bulk Group"); len(g.Members) != 1 {
		t.Errorf("bulk group members: got %v", g.Members)
	}
	if st := scim("GET", "/ServiceProviderConfig", "", nil); st != 200 {
		t.Errorf("ServiceProviderConfig: %d", st)
	}
	req, _ := http.NewRequest("GET", r.ts.URL+"/scim/v2/Users", nil)
	resp, _ := r.ts.Client().Do(req)
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("no token: got %d, want 401", resp.StatusCode)
	}
}

func urlq(s string) string { return strings.NewReplacer(" ", "%20", `"`, "%22").Replace(s) }
