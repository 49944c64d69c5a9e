package artifact

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/otds-highspot/otds-highspot/internal/exitcode"
)

const (
	lockRunA = "20261125T100000Z-aaaa"
	lockRunB = "20261125T101000Z-bbbb"
)

// lockClock is a settable clock shared by every holder of a test.
type lockClock struct{ now time.Time }

func (c *lockClock) opt() LockOption { return WithLockClock(func() time.Time { return c.now }) }

// acquire takes a lock with no heartbeat goroutine (the test calls Beat) on
// host "here", where the pids in alive are running.
func acquire(t *testing.T, st *memStore, c *lockClock, alive map[int]bool, h LockHolder, extra ...LockOption) (*Lock, error) {
	t.Helper()
	opts := append([]LockOption{c.opt(), WithHeartbeatEvery(-1), WithLockHost("here"),
		WithLockProcessCheck(func(pid int) bool { return alive[pid] })}, extra...)
	return AcquireLock(context.Background(), st, h, time.Hour, opts...)
}

func mustLocked(t *testing.T, err error, wants ...string) {
	t.Helper()
	if !errors.Is(err, ErrLocked) || exitcode.Of(err) != exitcode.Locked {
		t.Fatalf("got %v (exit %d), want ErrLocked / exit %d", err, exitcode.Of(err), exitcode.Locked)
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("lock error %q does not mention %q", err, w)
		}
	}
}

func lockKeys(t *testing.T, st *memStore) []string {
	t.Helper()
	infos, err := st.List(context.Background(), "_locks/")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, in := range infos {
		keys = append(keys, in.Key)
	}
	return keys
}

// TestLockDifferentRunRefusedWhileLive: a live holder is never taken over,
// however long it has been running, as long as it beats.
func TestLockDifferentRunRefusedWhileLive(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	c := &lockClock{now: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	alive := map[int]bool{42: true}
	l1, err := acquire(t, st, c, alive, LockHolder{RunID: lockRunA, Host: "h1", PID: 42, Command: "apply"}, WithLockStages("apply"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ { // 10 hours of a live run: beats every 30 minutes
		c.now = c.now.Add(30 * time.Minute)
		if err := l1.Beat(ctx); err != nil {
			t.Fatal(err)
		}
		c.now = c.now.Add(30 * time.Minute)
		_, err = acquire(t, st, c, alive, LockHolder{RunID: lockRunB, Host: "h2", PID: 7}, WithLockStages("extract.acme"))
		mustLocked(t, err, lockRunA, "host h1", "pid 42", "command apply", "unlock")
	}
	if err := l1.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if keys := lockKeys(t, st); len(keys) != 0 {
		t.Errorf("left after Release: %q", keys)
	}
	l2, err := acquire(t, st, c, alive, LockHolder{RunID: lockRunB, Host: "h2", PID: 7})
	if err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	_ = l2.Release(ctx)
}

// TestLockSameRunStages: tasks of one run hold different stages side by
// side; the same stage twice is refused; the claim outlives the first task.
func TestLockSameRunStages(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	c := &lockClock{now: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	alive := map[int]bool{1: true, 2: true, 3: true}
	acme, err := acquire(t, st, c, alive, LockHolder{RunID: lockRunA, Host: "here", PID: 1}, WithLockStages("extract.acme"))
	if err != nil {
		t.Fatal(err)
	}
	beta, err := acquire(t, st, c, alive, LockHolder{RunID: lockRunA, Host: "here", PID: 2}, WithLockStages("extract.beta"))
	if err != nil {
		t.Fatalf("second tree of the same run: %v", err)
	}
	_, err = acquire(t, st, c, alive, LockHolder{RunID: lockRunA, Host: "here", PID: 3}, WithLockStages("extract.beta", "extract.gamma"))
	mustLocked(t, err, "stage extract.beta", "pid 2")
	if _, err := st.Stat(ctx, stageLockKey(lockRunA, "extract.gamma")); err == nil {
		t.Error("a refused acquire left its other stage lock behind")
	}
	if err := acme.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Stat(ctx, LockKey); err != nil {
		t.Fatalf("the run claim was released while another task of the run works: %v", err)
	}
	_, err = acquire(t, st, c, alive, LockHolder{RunID: lockRunB, Host: "here", PID: 3})
	mustLocked(t, err, lockRunA, "stage extract.beta")
	if err := beta.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if keys := lockKeys(t, st); len(keys) != 0 {
		t.Errorf("left after the last Release: %q", keys)
	}
}

// TestLockTakeover: a holder whose pid is gone from this host is taken over
// at once; one on another host once its heartbeat expires; both with a
// warning. The old holder learns it lost the lock.
func TestLockTakeover(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name    string
		host    string
		wait    time.Duration
		reason  string
		refused bool
	}{
		{"dead pid on this host", "here", time.Minute, "pid 42 is gone", false},
		{"other host, heartbeat fresh", "h1", 59 * time.Minute, "", true},
		{"other host, heartbeat expired", "h1", time.Hour, "last heartbeat 1h0m0s ago", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := newMemStore()
			c := &lockClock{now: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
			alive := map[int]bool{9: true}
			old, err := acquire(t, st, c, alive, LockHolder{RunID: lockRunA, Host: tc.host, PID: 42}, WithLockStages("apply"))
			if err != nil {
				t.Fatal(err)
			}
			c.now = c.now.Add(tc.wait)
			log, hook := test.NewNullLogger()
			// The same run resumed (apply --run-id <same>) and a new run.
			for _, run := range []string{lockRunA, lockRunB} {
				l, err := acquire(t, st, c, alive, LockHolder{RunID: run, Host: "here", PID: 9}, WithLockStages("apply"), WithLockLogger(log))
				if tc.refused {
					mustLocked(t, err, "pid 42")
					continue
				}
				if err != nil {
					t.Fatalf("%s: takeover: %v", run, err)
				}
				if e := hook.LastEntry(); e == nil || e.Level != logrus.WarnLevel || e.Data["holder_pid"] != 42 || !strings.Contains(e.Data["reason"].(string), tc.reason) {
					t.Errorf("%s: takeover warning = %+v, want a warning naming pid 42 and %q", run, e, tc.reason)
				}
				if err := old.Beat(ctx); err == nil || old.LostErr() == nil {
					t.Errorf("%s: the old holder's Beat after the takeover: got %v, want it to report the lock lost", run, err)
				}
				if err := l.Release(ctx); err != nil {
					t.Fatal(err)
				}
				if keys := lockKeys(t, st); len(keys) != 0 {
					t.Errorf("%s: left after Release: %q", run, keys)
				}
				// Put the dead holder back for the next run id.
				c.now = c.now.Add(-tc.wait)
				old, err = acquire(t, st, c, alive, LockHolder{RunID: lockRunA, Host: tc.host, PID: 42}, WithLockStages("apply"))
				if err != nil {
					t.Fatal(err)
				}
				c.now = c.now.Add(tc.wait)
			}
		})
	}
}

// TestListAndRemoveLocks: ListLocks judges like AcquireLock; RemoveLock
// deletes a lock and its heartbeats.
func TestListAndRemoveLocks(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	c := &lockClock{now: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	alive := map[int]bool{1: true}
	if _, err := acquire(t, st, c, alive, LockHolder{RunID: lockRunA, Host: "here", PID: 2}, WithLockStages("apply")); err != nil {
		t.Fatal(err)
	}
	live, err := acquire(t, st, c, alive, LockHolder{RunID: lockRunA, Host: "here", PID: 1}, WithLockStages("plan"))
	if err != nil {
		t.Fatal(err)
	}
	locks, err := ListLocks(ctx, st, time.Hour, c.opt(), WithLockHost("here"), WithLockProcessCheck(func(pid int) bool { return alive[pid] }))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, l := range locks {
		got[l.Key] = l.Live
	}
	want := map[string]bool{stageLockKey(lockRunA, "apply"): false, stageLockKey(lockRunA, "plan"): true, LockKey: true}
	if len(got) != len(want) {
		t.Fatalf("ListLocks = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("ListLocks: %s live = %v, want %v", k, got[k], v)
		}
	}
	for _, l := range locks {
		if err := RemoveLock(ctx, st, l); err != nil {
			t.Fatal(err)
		}
	}
	if keys := lockKeys(t, st); len(keys) != 0 {
		t.Errorf("left after RemoveLock: %q", keys)
	}
	if err := live.Release(ctx); err == nil {
		t.Error("Release after a forced unlock: got nil, want an error saying the lock is gone")
	}
}
