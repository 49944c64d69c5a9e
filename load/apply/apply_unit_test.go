package apply

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/load"
)

// These tests use a small hand-written Target for pure ordering, retry and
// breaker logic; the end-to-end tests (apply_test.go) use the real sandbox.

type statusErr struct {
	status int
	after  time.Duration
}

func (e statusErr) Error() string                  { return fmt.Sprintf("HTTP %d", e.status) }
func (e statusErr) HTTPStatus() int                { return e.status }
func (e statusErr) RetryAfterDelay() time.Duration { return e.after }

type fakeTarget struct {
	mu    sync.Mutex
	calls []string
	users map[string]string // email -> id
	// fail returns an error for a call name ("upsert", "add", ...) or nil.
	fail func(call string, n int) error
	n    map[string]int
}

func newFake() *fakeTarget { return &fakeTarget{users: map[string]string{}, n: map[string]int{}} }

func (f *fakeTarget) hit(call string) error {
	f.mu.Lock()
	f.calls = append(f.calls, call)
	f.n[call]++
	n := f.n[call]
	f.mu.Unlock()
	if f.fail != nil {
		return f.fail(call, n)
	}
	return nil
}

func (f *fakeTarget) FindUserByEmail(ctx context.Context, email string) (*load.User, error) {
	if err := f.hit("find"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if id, ok := f.users[strings.ToLower(email)]; ok {
		return &load.User{ID: id, Email: email}, nil
	}
	return nil, nil
}

func (f *fakeTarget) UpsertUsers(ctx context.Context, users []load.UserInput) ([]load.UpsertResult, error) {
	if err := f.hit("upsert"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]load.UpsertResult, len(users))
	for i, u := range users {
		e := strings.ToLower(u.Email)
		id, ok := f.users[e]
		if !ok {
			id = fmt.Sprintf("id-%d", len(f.users))
			f.users[e] = id
		}
		out[i] = load.UpsertResult{Email: u.Email, ID: id, Created: !ok}
	}
	return out, nil
}

func (f *fakeTarget) SuspendUser(ctx context.Context, u load.User) error { return f.hit("suspend") }
func (f *fakeTarget) ReactivateUser(ctx context.Context, u load.User) error {
	return f.hit("reactivate")
}
func (f *fakeTarget) AddMember(ctx context.Context, g load.Group, u load.User) error {
	return f.hit("add")
}
func (f *fakeTarget) RemoveMember(ctx context.Context, g load.Group, u load.User) error {
	return f.hit("remove")
}
func (f *fakeTarget) FindGroup(ctx context.Context, name string) (*load.Group, error) {
	if err := f.hit("group"); err != nil {
		return nil, err
	}
	if name == "missing" {
		return nil, nil
	}
	return &load.Group{ID: "g-" + name, Name: name}, nil
}
func (f *fakeTarget) ListUsers(ctx context.Context, fn func(load.User) error) error {
	return f.hit("list")
}
func (f *fakeTarget) ListGroups(ctx context.Context, fn func(load.Group) error) error { return nil }
func (f *fakeTarget) MaxBatch() int                                                   { return 10 }

func quiet() logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(bytes.NewBuffer(nil))
	return l
}

func fastOpts() load.ApplyOptions {
	return load.ApplyOptions{
		Concurrency: 2, MaxAttempts: 4,
		BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond,
		Rand: rand.New(rand.NewPCG(1, 2)),
	}
}

func plan() []contract.Change {
	return []contract.Change{
		{ChangeID: "s1", Seq: 1, Op: contract.OpSuspendUser, Email: "old@x.com", HighspotID: "h-old"},
		{ChangeID: "m1", Seq: 2, Op: contract.OpAddMember, Email: "new@x.com", Group: "sales"},
		{ChangeID: "c1", Seq: 3, Op: contract.OpCreateUser, Email: "new@x.com", After: `{"name":"New","surname":"load.User","display_name":"New load.User"}`},
	}
}

func TestApplyOrderAndPhases(t *testing.T) {
	f := newFake()
	l := NewMemLedger(nil)
	sum, err := Apply(t.Context(), f, plan(), l, fastOpts(), quiet())
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	got := strings.Join(f.calls, ",")
	want := "find,upsert,group,add,suspend"
	if got != want {
		t.Errorf("calls: got %s, want %s", got, want)
	}
	if sum.Applied != 3 {
		t.Errorf("applied: got %d, want 3", sum.Applied)
	}
	// membership uses the id learnt from the create, no extra lookup
	if r, _ := l.Applied("m1"); r.HighspotID != "id-0" {
		t.Errorf("membership user id: got %q, want id-0", r.HighspotID)
	}
}

func TestApplyCreateOfExistingUserIsUpdate(t *testing.T) {
	f := newFake()
	f.users["new@x.com"] = "h-existing"
	sum, err := Apply(t.Context(), f, plan()[2:], NewMemLedger(nil), fastOpts(), quiet())
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if sum.CreatesAsUpdates != 1 || len(f.users) != 1 {
		t.Errorf("got CreatesAsUpdates=%d users=%d, want 1 and 1", sum.CreatesAsUpdates, len(f.users))
	}
}

func TestApplyRetries(t *testing.T) {
	tests := []struct {
		name         string
		err          error
		failFirst    int
		wantStatus   string
		wantAttempts int32
		wantCode     int
		minElapsed   time.Duration
	}{
		{"validation not retried", statusErr{status: 400}, 99, contract.StatusFailed, 1, exitcode.ApplyFailed, 0},
		// Auth stops the apply; the change stays pending (no ledger row) so
		// that apply after fixing the credentials sends it.
		{"forbidden not retried, stops as auth", statusErr{status: 403}, 99, "", 0, exitcode.Auth, 0},
		{"unauthorized not retried, stops as auth", statusErr{status: 401}, 99, "", 0, exitcode.Auth, 0},
		{"503 retried", statusErr{status: 503}, 2, contract.StatusApplied, 3, 0, 0},
		{"retry-after honoured", statusErr{status: 429, after: 300 * time.Millisecond}, 1, contract.StatusApplied, 2, 0, 300 * time.Millisecond},
		{"gives up after max attempts", statusErr{status: 502}, 99, contract.StatusFailed, 4, exitcode.Transient, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.fail = func(call string, n int) error {
				if call == "add" && n <= tc.failFirst {
					return tc.err
				}
				return nil
			}
			l := NewMemLedger(nil)
			start := time.Now()
			ch := []contract.Change{{ChangeID: "m", Op: contract.OpAddMember, Email: "a@x.com", HighspotID: "h", GroupID: "g"}}
			_, err := Apply(t.Context(), f, ch, l, fastOpts(), quiet())
			elapsed := time.Since(start)
			if got := exitcode.Of(err); got != tc.wantCode {
				t.Errorf("exit code: got %d, want %d (%v)", got, tc.wantCode, err)
			}
			r, ok := l.Applied("m")
			if tc.wantStatus == "" {
				if ok {
					t.Errorf("got ledger row %+v, want none (the change stays pending)", r)
				}
				return
			}
			if !ok {
				t.Fatal("no ledger row")
			}
			if r.Status != tc.wantStatus || r.Attempts != tc.wantAttempts {
				t.Errorf("got status=%s attempts=%d, want %s and %d", r.Status, r.Attempts, tc.wantStatus, tc.wantAttempts)
			}
			if elapsed < tc.minElapsed {
				t.Errorf("elapsed: got %v, want >= %v", elapsed, tc.minElapsed)
			}
		})
	}
}

func TestApplyBreakerTrips(t *testing.T) {
	f := newFake()
	f.fail = func(call string, n int) error {
		if call == "add" {
			return statusErr{status: 503}
		}
		return nil
	}
	var ch []contract.Change
	for i := range 200 {
		ch = append(ch, contract.Change{ChangeID: fmt.Sprint("m", i), Seq: int64(i), Op: contract.OpAddMember, Email: "a@x.com", HighspotID: "h", GroupID: "g"})
	}
	opts := fastOpts()
	opts.BreakerWindow, opts.BreakerMinRequests, opts.BreakerThreshold = 20, 10, 0.5
	l := NewMemLedger(nil)
	sum, err := Apply(t.Context(), f, ch, l, opts, quiet())
	if got := exitcode.Of(err); got != exitcode.Transient {
		t.Fatalf("exit code: got %d, want %d (%v)", got, exitcode.Transient, err)
	}
	if !sum.BreakerTripped || sum.Pending == 0 || l.Flushes() == 0 {
		t.Errorf("got tripped=%v pending=%d flushes=%d, want true, >0, >0", sum.BreakerTripped, sum.Pending, l.Flushes())
	}
	if f.n["add"] > 30 {
		t.Errorf("calls after trip: got %d add calls, want the breaker to stop dispatch early", f.n["add"])
	}
	if !strings.Contains(err.Error(), "resume") {
		t.Errorf("error does not say re-running resumes: %v", err)
	}
}

func TestApplyResumeSkipsApplied(t *testing.T) {
	f := newFake()
	prior := []contract.LoadResult{{ChangeID: "c1", Op: contract.OpCreateUser, Status: contract.StatusApplied, HighspotID: "h-new", Email: "new@x.com"}}
	sum, err := Apply(t.Context(), f, plan(), NewMemLedger(prior), fastOpts(), quiet())
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if f.n["upsert"] != 0 || f.n["find"] != 0 {
		t.Errorf("got upsert=%d find=%d, want no create and no lookup on resume", f.n["upsert"], f.n["find"])
	}
	if sum.Resumed != 1 || sum.Applied != 2 {
		t.Errorf("got resumed=%d applied=%d, want 1 and 2", sum.Resumed, sum.Applied)
	}
}

func TestApplyMissingGroupFailsPermanently(t *testing.T) {
	f := newFake()
	ch := []contract.Change{{ChangeID: "m", Op: contract.OpAddMember, Email: "a@x.com", HighspotID: "h", Group: "missing"}}
	sum, err := Apply(t.Context(), f, ch, NewMemLedger(nil), fastOpts(), quiet())
	if exitcode.Of(err) != exitcode.ApplyFailed || len(sum.Failures) != 1 || !strings.Contains(sum.Failures[0].Reason, "does not exist") {
		t.Errorf("got err=%v failures=%+v, want exit 6 naming the missing group", err, sum.Failures)
	}
}

func TestApplyDryRunMakesNoCalls(t *testing.T) {
	f := newFake()
	var out bytes.Buffer
	opts := fastOpts()
	opts.DryRun, opts.DryRunOut = true, &out
	l := NewMemLedger(nil)
	if _, err := Apply(t.Context(), f, plan(), l, opts, quiet()); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if len(f.calls) != 0 || len(l.Rows()) != 0 {
		t.Errorf("got calls=%v rows=%d, want none", f.calls, len(l.Rows()))
	}
	for _, want := range []string{"POST /users", "new@x.com", "POST /groups/{group:sales}/users", "DELETE /users/h-old"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestApplyFlushesOnTimer(t *testing.T) {
	f := newFake()
	f.fail = func(call string, n int) error {
		if call == "add" && n == 2 {
			return statusErr{status: 429, after: 300 * time.Millisecond}
		}
		return nil
	}
	opts := fastOpts()
	opts.Concurrency, opts.FlushEvery, opts.FlushInterval = 1, 1000, 50*time.Millisecond
	l := NewMemLedger(nil)
	ch := []contract.Change{
		{ChangeID: "m1", Seq: 1, Op: contract.OpAddMember, Email: "a@x.com", HighspotID: "h", GroupID: "g"},
		{ChangeID: "m2", Seq: 2, Op: contract.OpAddMember, Email: "b@x.com", HighspotID: "h2", GroupID: "g"},
	}
	if _, err := Apply(t.Context(), f, ch, l, opts, quiet()); err != nil {
		t.Fatal(err)
	}
	// One flush by the timer while the run waited on Retry-After, one at the end.
	if got := l.Flushes(); got < 2 {
		t.Errorf("flushes: got %d, want >= 2 (timer flush during the pause)", got)
	}
}
