package sandbox

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// benchSandbox is a sandbox persisted to a state file holding n users (all
// verified) and one empty group.
func benchSandbox(b *testing.B, n int) *Server {
	b.Helper()
	sd := Seed{Groups: []SeedGroup{{ID: "b0000000000000000000000a", Name: "Bench"}}}
	sd.Users = make([]User, n)
	for i := range sd.Users {
		sd.Users[i] = User{Email: fmt.Sprintf("user%07d@bench.example", i), Name: "U", Surname: fmt.Sprint(i), Verified: true}
	}
	s, err := New(Options{Seed: &sd, StateFile: filepath.Join(b.TempDir(), "state.json"), RandSeed: 1})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func benchServe(b *testing.B, h http.Handler, method, target, body string, auth func(*http.Request)) {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	auth(req)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		b.Fatalf("%s %s: got %d %s, want 200", method, target, w.Code, w.Body)
	}
}

// BenchmarkSandbox200k measures request throughput against a persisted
// sandbox holding 200k users: membership adds over REST and SCIM (a write
// each), REST lookups by
// email, SCIM userName filter lookups and a REST page deep in the list. The
// group the adds go to grows to ~200k members during the run.
//
// OTDS_BENCH_SANDBOX_USERS sets another size (e.g. 1000000).
func BenchmarkSandbox200k(b *testing.B) {
	n := 200_000
	if v, err := strconv.Atoi(os.Getenv("OTDS_BENCH_SANDBOX_USERS")); err == nil && v > 0 {
		n = v
	}
	s := benchSandbox(b, n)
	h := s.Handler()
	rest := func(r *http.Request) { r.SetBasicAuth(DefaultKey, DefaultSecret) }
	scim := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+DefaultSCIMToken) }
	email := func(i int) string { return fmt.Sprintf("user%07d@bench.example", (i*7919)%n) }
	ids := make([]string, 0, n)
	for _, u := range s.State().Users {
		ids = append(ids, u.ID)
	}
	cases := []struct {
		name string
		req  func(b *testing.B, i int)
	}{
		{"membership-add", func(b *testing.B, i int) {
			benchServe(b, h, "POST", "/v1.0/groups/b0000000000000000000000a/users", `{"users":["`+email(i)+`"]}`, rest)
		}},
		{"scim-membership-add", func(b *testing.B, i int) {
			benchServe(b, h, "PATCH", "/scim/v2/Groups/b0000000000000000000000a",
				`{"Operations":[{"op":"add","path":"members","value":[{"value":"`+ids[(i*7907)%len(ids)]+`"}]}]}`, scim)
		}},
		{"rest-lookup-email", func(b *testing.B, i int) {
			benchServe(b, h, "GET", "/v1.0/users?list=all&email="+strings.ToUpper(email(i)), "", rest)
		}},
		{"scim-filter-userName", func(b *testing.B, i int) {
			benchServe(b, h, "GET", "/scim/v2/Users?filter=userName%20eq%20%22"+email(i)+"%22", "", scim)
		}},
		{"rest-page-100", func(b *testing.B, i int) {
			benchServe(b, h, "GET", fmt.Sprintf("/v1.0/users?start=%d&limit=100", (i*100)%n), "", rest)
		}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				tc.req(b, i)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}
