package apply_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/load"
	"github.com/otds-highspot/otds-highspot/load/apply"
	"github.com/otds-highspot/otds-highspot/load/highspot/sandbox"
	"github.com/otds-highspot/otds-highspot/load/internal/loadtest"
	"github.com/otds-highspot/otds-highspot/load/pull"
)

// TestDay2ApplyReusesThePullSnapshot: a day-2 apply whose plan was diffed
// against this run's pull, with more creates than lookup_list_threshold,
// lists no Highspot user again (pull did, minutes earlier) and still never
// duplicates a user that appeared after the pull.
func TestDay2ApplyReusesThePullSnapshot(t *testing.T) {
	const existing, creates = 250, 12 // 250 users: a listing is 3 REST pages
	cases := []struct {
		name, surface, listKey string
		wantLists              int64 // list/lookup requests apply may send
	}{
		{"rest", "rest", "REST GET /users", 0},
		// The one create the snapshot missed answers 409 and is settled
		// by one lookup and an update.
		{"scim", "scim", "SCIM GET /Users", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			seed := sandbox.Seed{}
			for i := range existing {
				seed.Users = append(seed.Users, sandbox.User{Email: fmt.Sprintf("old%03d@corp.example", i), Name: "Old", Verified: true})
			}
			sb, err := sandbox.New(sandbox.Options{Seed: &seed, RandSeed: 3, Faults: sandbox.Faults{AutoVerify: true}})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(sb.Handler())
			defer srv.Close()
			target, err := sandbox.Client(tc.surface, srv.URL, srv.Client(), loadtest.Log())
			if err != nil {
				t.Fatal(err)
			}
			env := loadtest.FileEnv(t, t.TempDir(), t.TempDir())
			pull, err := pull.RunPull(t.Context(), env, nil, target, pull.PullOptions{Apply: load.ApplyOptions{Classify: loadtest.Classify}})
			if err != nil {
				t.Fatalf("RunPull: %v", err)
			}
			// A user created by hand after the pull: the snapshot lacks it.
			late := "late@corp.example"
			code := 0
			if tc.surface == "rest" {
				code = adminPost(t, srv.URL+"/v1.0/users", `[{"email":"`+late+`"}]`, false)
			} else {
				code = adminPost(t, srv.URL+"/scim/v2/Users", `{"userName":"`+late+`"}`, true)
			}
			if code/100 != 2 {
				t.Fatalf("create %s by hand: got %d", late, code)
			}

			var changes []contract.Change
			for i := range creates {
				email := fmt.Sprintf("new%02d@corp.example", i)
				if i == 0 {
					email = late
				}
				changes = append(changes, contract.Change{ChangeID: fmt.Sprintf("c%02d", i), Seq: int64(i), Op: contract.OpCreateUser,
					Email: email, After: `{"name":"New","surname":"` + fmt.Sprint(i) + `"}`})
			}
			loadtest.PublishPlan(t, env, changes, "", contract.PlanSummary{BaselineSource: "pull", BaselineRunID: env.RunID, BaselineSHA256: pull.Ref.SHA256})

			sb.ResetCounters()
			opts := resumeOpts()
			opts.LookupListThreshold = 5
			res, err := apply.RunApply(t.Context(), env, nil, target, opts)
			if err != nil {
				t.Fatalf("RunApply: %v", err)
			}
			if res.Summary.Applied != creates {
				t.Errorf("applied: got %d, want %d", res.Summary.Applied, creates)
			}
			if n := sb.Counters()[tc.listKey]; n > tc.wantLists {
				t.Errorf("%s during apply: got %d, want at most %d (no listing beyond pull's)", tc.listKey, n, tc.wantLists)
			}
			st := sb.State()
			if got, want := len(st.Users), existing+1+creates; got != want { // + the service user
				t.Errorf("users after apply: got %d, want %d (a duplicate or a missing create)", got, want)
			}
			n := 0
			for _, u := range st.Users {
				if strings.EqualFold(u.Email, late) {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%s: got %d users, want exactly 1", late, n)
			}
		})
	}
}

// adminPost sends body to url with the sandbox's default REST key or SCIM
// token, as an admin working in the Highspot UI would.
func adminPost(t *testing.T, url, body string, scim bool) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if scim {
		req.Header.Set("Authorization", "Bearer "+sandbox.DefaultSCIMToken)
		req.Header.Set("Content-Type", "application/scim+json")
	} else {
		req.SetBasicAuth(sandbox.DefaultKey, sandbox.DefaultSecret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
