package pull_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/config"
	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/load"
	"github.com/otds-highspot/otds-highspot/load/highspot"
	"github.com/otds-highspot/otds-highspot/load/highspot/sandbox"
	"github.com/otds-highspot/otds-highspot/load/internal/loadtest"
	"github.com/otds-highspot/otds-highspot/load/pull"
)

// tinyBackoff retries at once: the tests measure outcomes, not time.
func tinyBackoff() load.ApplyOptions {
	return load.ApplyOptions{Classify: loadtest.Classify, BackoffBase: time.Microsecond, BackoffMax: time.Microsecond}
}

// TestPullSurvivesFlakyTenant: a 5,000-user pull against the sandbox with 5%
// of requests answered 500/502/503 completes with every user, over REST and
// SCIM, because each failed page is retried at its own cursor (before: the
// whole listing restarted, and 8 of 13 such pulls exited 3).
func TestPullSurvivesFlakyTenant(t *testing.T) {
	const n = 5000
	var seed sandbox.Seed
	for i := range n {
		seed.Users = append(seed.Users, sandbox.User{Email: fmt.Sprintf("u%04d@corp.example", i), Name: "U", Verified: i%7 != 0})
	}
	for i := range 30 {
		seed.Groups = append(seed.Groups, sandbox.SeedGroup{Name: fmt.Sprintf("g%02d", i)})
	}
	for _, surface := range []string{"rest", "scim"} {
		for _, rs := range []uint64{1, 2, 3} {
			t.Run(fmt.Sprintf("%s seed %d", surface, rs), func(t *testing.T) {
				sb, target := loadtest.SandboxTarget(t, sandbox.Options{Seed: &seed, RandSeed: rs, Faults: sandbox.Faults{ErrorRate: 0.05}}, surface)
				snap, err := pull.ReadSnapshot(t.Context(), target, tinyBackoff(), 0, loadtest.Log())
				if err != nil {
					t.Fatalf("pull at 5%% 5xx: %v (exit %d)", err, exitcode.Of(err))
				}
				ids := map[string]bool{}
				for _, u := range snap.Users {
					ids[u.Email] = true
				}
				if len(ids) != n+1 || len(snap.Users) != n+1 { // and the service user
					t.Errorf("got %d users (%d distinct), want %d", len(snap.Users), len(ids), n+1)
				}
				if len(snap.Groups) != 30 {
					t.Errorf("got %d groups, want 30", len(snap.Groups))
				}
				if c := sb.Counters()["fault 5xx"]; c == 0 {
					t.Errorf("the sandbox injected no 5xx; the test proves nothing")
				}
			})
		}
	}
}

// loopServer is a Highspot REST API whose user listing never ends the way
// page describes; groups are empty.
func loopServer(t *testing.T, page func(start int) string) load.Target {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path != "/users" {
			fmt.Fprint(w, `{"collection":[]}`)
			return
		}
		start, _ := strconv.Atoi(r.URL.Query().Get("start"))
		fmt.Fprint(w, page(start))
	}))
	t.Cleanup(srv.Close)
	target, err := highspot.NewREST(highspot.RESTOptions{BaseURL: srv.URL, APIKey: config.NewSecret("k"), APISecret: config.NewSecret("s"), HTTPClient: srv.Client(), Logger: loadtest.Log()})
	if err != nil {
		t.Fatal(err)
	}
	return target
}

// items renders n users with ids from first on (id "" when noID).
func items(first, n int, noID bool) string {
	out := ""
	for i := range n {
		if i > 0 {
			out += ","
		}
		id := fmt.Sprintf(`"id":"u%d",`, first+i)
		if noID {
			id = ""
		}
		out += fmt.Sprintf(`{%s"email":"u%d@x.example"}`, id, first+i)
	}
	return out
}

// TestPullStopsAListingThatNeverEnds: a server that never ends a listing
// fails the pull with a clear, non-transient error instead of running
// forever while holding the run lock (before: a page that repeats forever
// made pull run forever).
func TestPullStopsAListingThatNeverEnds(t *testing.T) {
	tests := []struct {
		name     string
		page     func(start int) string
		maxPages int
		want     string
		loop     bool // wraps load.ErrListLoop
	}{
		{"the same page forever, with counts_total", func(int) string {
			return `{"counts_total":500,"collection":[` + items(0, 100, false) + `]}`
		}, 0, "repeats items already listed", false},
		{"the same page forever, items without ids", func(int) string {
			return `{"collection":[` + items(0, 100, true) + `]}`
		}, 0, "repeats the page at cursor", true},
		{"new items forever, no counts_total", func(start int) string {
			return `{"collection":[` + items(start, 100, false) + `]}`
		}, 50, "more than 50 pages and the server still has more", true},
		{"more items than counts_total", func(start int) string {
			return `{"counts_total":50,"collection":[` + items(start, 100, false) + `]}`
		}, 0, "more than the", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := loopServer(t, tc.page)
			_, err := pull.ReadSnapshot(t.Context(), target, tinyBackoff(), tc.maxPages, loadtest.Log())
			if err == nil {
				t.Fatal("pull succeeded, want a loop error")
			}
			if !errorsContains(err, tc.want) {
				t.Errorf("got %q, want it to say %q", err, tc.want)
			}
			if tc.loop && !errors.Is(err, load.ErrListLoop) {
				t.Errorf("got %v, want it to wrap ErrListLoop", err)
			}
			if exitcode.Of(err) == exitcode.Transient {
				t.Errorf("exit code %d: a looping server must not be retried", exitcode.Of(err))
			}
		})
	}
}

func errorsContains(err error, s string) bool {
	return err != nil && strings.Contains(err.Error(), s)
}
