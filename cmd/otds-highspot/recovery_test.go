package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/otds-highspot/otds-highspot/fixtures"
	"github.com/otds-highspot/otds-highspot/load/highspot/sandbox"
)

// demoWorld is the embedded demo configuration with its store and sandbox
// state under dir.
type demoWorld struct {
	dir, cfg, state string
}

func newDemoWorld(t *testing.T) demoWorld {
	t.Helper()
	dir := t.TempDir()
	demo, err := fixtures.DemoConfig()
	if err != nil {
		t.Fatal(err)
	}
	w := demoWorld{dir: dir, state: filepath.Join(dir, "hs.json")}
	c := strings.Replace(string(demo), "url: ./artifacts", "url: "+filepath.Join(dir, "artifacts"), 1)
	c = strings.Replace(c, "sandbox: {surface: rest}", "sandbox: {surface: rest, state_file: "+w.state+"}", 1)
	w.cfg = writeFile(t, dir, "config.yaml", c)
	return w
}

// seedWithout persists the bundled sandbox seed minus the named groups.
func (w demoWorld) seedWithout(t *testing.T, groups ...string) {
	t.Helper()
	seed, err := sandbox.DefaultSeed()
	if err != nil {
		t.Fatal(err)
	}
	seed.Groups = slices.DeleteFunc(seed.Groups, func(g sandbox.SeedGroup) bool { return slices.Contains(groups, g.Name) })
	srv, err := sandbox.New(sandbox.Options{StateFile: w.state, Seed: &seed})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
}

// sandboxState reads the persisted sandbox state.
func (w demoWorld) sandboxState(t *testing.T) sandbox.StateDump {
	t.Helper()
	d, ok, err := sandbox.ReadState(w.state)
	if err != nil || !ok {
		t.Fatalf("sandbox state %s: %v (exists: %v)", w.state, err, ok)
	}
	return d
}

// restoreGroups re-creates groups of the bundled seed, with their seeded
// members, in the persisted sandbox state (what an admin does in Highspot
// to fix "unknown group").
func (w demoWorld) restoreGroups(t *testing.T, names ...string) {
	t.Helper()
	seed, err := sandbox.DefaultSeed()
	if err != nil {
		t.Fatal(err)
	}
	d := w.sandboxState(t)
	for i, sg := range seed.Groups {
		if !slices.Contains(names, sg.Name) {
			continue
		}
		g := sandbox.Group{ID: fmt.Sprintf("restored-group-%d", i), Name: sg.Name, Members: []string{}}
		for _, email := range sg.Members {
			u, ok := d.UserByEmail(email)
			if !ok {
				t.Fatalf("seeded member %s of %s is not a sandbox user", email, sg.Name)
			}
			g.Members = append(g.Members, u.ID)
		}
		d.Groups = append(d.Groups, g)
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(w.state, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// d already holds the journal's changes.
	if err := os.Remove(w.state + ".journal"); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
}

func (w demoWorld) run(t *testing.T, args ...string) result {
	t.Helper()
	return run(t, nil, append([]string{"--config", w.cfg, "--log-level", "warn"}, args...)...)
}

// memberships is group name -> sorted member emails, from the sandbox state.
func memberships(d sandbox.StateDump) map[string][]string {
	email := map[string]string{}
	for _, u := range d.Users {
		email[u.ID] = u.Email
	}
	out := map[string][]string{}
	for _, g := range d.Groups {
		var ms []string
		for _, id := range g.Members {
			ms = append(ms, email[id])
		}
		slices.Sort(ms)
		out[g.Name] = ms
	}
	return out
}

// TestRecoveryMatrix_Exit6_ApplyFailedThenFixedResumes walks the exit-6 row
// of the recovery matrix: two managed groups are missing in Highspot, so the
// run exits 6; once the groups exist, `apply --run-id` of the same run sends
// the failed memberships and exits 0; a further apply sends nothing. The end
// state equals that of a run that never failed.
func TestRecoveryMatrix_Exit6_ApplyFailedThenFixedResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run skipped in -short mode")
	}
	missing := []string{"Region - AMER", "Region - APAC"}
	const id = "20261104T000000Z-0006"

	w := newDemoWorld(t)
	w.seedWithout(t, missing...)
	r := w.run(t, "--run-id", id, "run")
	if r.code != 6 || !strings.Contains(r.stdout, "FAILED") {
		t.Fatalf("run with two groups missing: exit %d, want 6 with FAILED lines\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, g := range missing {
		if _, ok := w.sandboxState(t).GroupByName(g); ok {
			t.Fatalf("group %s exists after the failed run", g)
		}
	}
	w.restoreGroups(t, missing...)
	r = w.run(t, "--run-id", id, "apply")
	if r.code != 0 || strings.Contains(r.stdout, "nothing to do") || !strings.Contains(r.stdout, " 0 failed") {
		t.Fatalf("apply after fixing the groups: exit %d, want 0 with the failed changes sent\n%s%s", r.code, r.stdout, r.stderr)
	}
	after := w.sandboxState(t)
	r = w.run(t, "--run-id", id, "apply")
	if r.code != 0 || !strings.Contains(r.stdout, "nothing to do") {
		t.Fatalf("apply of a completed run: exit %d, want 0 and nothing to do\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got, want := memberships(w.sandboxState(t)), memberships(after); !mapsEqual(got, want) {
		t.Errorf("the idempotent apply changed Highspot:\ngot  %v\nwant %v", got, want)
	}

	// The same run against a Highspot that had the groups all along.
	ref := newDemoWorld(t)
	ref.seedWithout(t)
	if r := ref.run(t, "--run-id", id, "run"); r.code != 0 {
		t.Fatalf("reference run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	got, want := memberships(after), memberships(ref.sandboxState(t))
	for _, g := range missing {
		if len(want[g]) == 0 {
			t.Fatalf("reference run put nobody in %s; the test does not exercise the failure", g)
		}
	}
	if !mapsEqual(got, want) {
		t.Errorf("memberships after recovery differ from an uninterrupted run:\ngot  %v\nwant %v", got, want)
	}
}

func mapsEqual(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// highspotState is what a run changes in Highspot: memberships by group
// name and each user's suspended flag by email.
func highspotState(d sandbox.StateDump) (map[string][]string, map[string]bool) {
	users := map[string]bool{}
	for _, u := range d.Users {
		users[strings.ToLower(u.Email)] = u.Suspended
	}
	return memberships(d), users
}

// TestRecoveryMatrix_Exit5_BlockedPlanOverrideApplies walks the exit-5 row:
// day 2 trips the suspension gate (exit 5, nothing applied); the documented
// override re-plans the same snapshots under a new run id, whose apply
// brings Highspot to the state of a day 2 whose gate allowed the change.
func TestRecoveryMatrix_Exit5_BlockedPlanOverrideApplies(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run skipped in -short mode")
	}
	const gate = "{op: suspend_user, max_count: 5, max_percent: 20}"
	day2Config := func(t *testing.T, w demoWorld, limit string) string {
		b, err := os.ReadFile(w.cfg)
		if err != nil {
			t.Fatal(err)
		}
		c := strings.ReplaceAll(string(b), "fixtures:otds/trees.ldif", "fixtures:otds/day2/trees.ldif")
		if c2 := strings.Replace(c, gate, limit, 1); c2 != c || limit == gate {
			return writeFile(t, w.dir, "day2.yaml", c2)
		}
		t.Fatal("could not derive the day-2 config from the demo config")
		return ""
	}
	const day1, day2, override = "20261101T000000Z-0001", "20261102T000000Z-0002", "20261102T000000Z-0003"

	w := newDemoWorld(t)
	if r := w.run(t, "--run-id", day1, "run"); r.code != 0 {
		t.Fatalf("day 1: exit %d\n%s", r.code, r.stderr)
	}
	c2 := day2Config(t, w, "{op: suspend_user, max_count: 0}")
	before := w.sandboxState(t)
	r := run(t, nil, "--config", c2, "--run-id", day2, "run")
	if r.code != 5 || !strings.Contains(r.stderr, "plan --from-run "+day2+" --allow") {
		t.Fatalf("day 2 over the suspension gate: exit %d, want 5 with the override command\n%s", r.code, r.stderr)
	}
	if gm, wm := memberships(w.sandboxState(t)), memberships(before); !mapsEqual(gm, wm) {
		t.Fatalf("a blocked run changed Highspot")
	}
	r = run(t, nil, "--config", c2, "--run-id", override, "plan", "--from-run", day2, "--allow", "suspend_user=1")
	if r.code != 0 {
		t.Fatalf("plan --from-run --allow: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := run(t, nil, "--config", c2, "--run-id", override, "apply"); r.code != 0 {
		t.Fatalf("apply of the override plan: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	gotM, gotU := highspotState(w.sandboxState(t))

	ref := newDemoWorld(t)
	if r := ref.run(t, "--run-id", day1, "run"); r.code != 0 {
		t.Fatalf("reference day 1: exit %d\n%s", r.code, r.stderr)
	}
	if r := run(t, nil, "--config", day2Config(t, ref, gate), "--run-id", day2, "run"); r.code != 0 {
		t.Fatalf("reference day 2 within the gate: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	wantM, wantU := highspotState(ref.sandboxState(t))
	if !mapsEqual(gotM, wantM) {
		t.Errorf("memberships after the override differ from an unblocked day 2:\ngot  %v\nwant %v", gotM, wantM)
	}
	suspended := 0
	for email, s := range wantU {
		if gotU[email] != s {
			t.Errorf("user %s: suspended %v, want %v", email, gotU[email], s)
		}
		if s {
			suspended++
		}
	}
	if suspended == 0 {
		t.Error("the reference day 2 suspended nobody; the test does not exercise the gate")
	}
}
