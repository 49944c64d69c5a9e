package artifact

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/internal/store"
)

// LockKey is where the run lock lives.
const LockKey = "_locks/run.lock"

// ErrLocked means another run holds the run lock.
var ErrLocked = errors.New("run lock is held by another run")

// LockHolder identifies who holds the run lock; it is the lock file's JSON.
type LockHolder struct {
	RunID   string    `json:"run_id"`
	Host    string    `json:"host"`
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
}

// Lock is a held run lock.
type Lock struct {
	st     store.Store
	holder LockHolder
	data   []byte
}

// LockOption tunes AcquireLock.
type LockOption func(*lockConfig)

type lockConfig struct {
	log logrus.FieldLogger
	now func() time.Time
}

// WithLockLogger sets where the stale-lock warning goes (default: discard).
func WithLockLogger(l logrus.FieldLogger) LockOption { return func(c *lockConfig) { c.log = l } }

// WithLockClock sets the clock used to judge a lock's age (default time.Now).
func WithLockClock(now func() time.Time) LockOption { return func(c *lockConfig) { c.now = now } }

// AcquireLock takes the run lock with a write-once Put of _locks/run.lock. If
// the lock exists and is younger than staleAfter, it returns an error wrapping
// ErrLocked (classified exitcode.Locked) that names the holder. An older lock
// is taken to be left by a dead run: a warning is logged, it is deleted and
// the lock is tried once more.
//
// The stale-lock takeover re-reads the lock just before deleting it and only
// deletes the same holder, but two processes taking over the same stale lock
// in the same instant can still race (the store has no conditional delete);
// keep staleAfter well above the longest run.
func AcquireLock(ctx context.Context, st store.Store, holder LockHolder, staleAfter time.Duration, opts ...LockOption) (*Lock, error) {
	cfg := lockConfig{now: time.Now}
	for _, o := range opts {
		o(&cfg)
	}
	cfg.log = loggerOf(cfg.log)
	if holder.Started.IsZero() {
		holder.Started = cfg.now()
	}
	holder.Started = holder.Started.UTC()
	data, err := json.MarshalIndent(holder, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("acquire run lock: %w", err)
	}
	data = append(data, '\n')
	for attempt := 0; ; attempt++ {
		err := st.Put(ctx, LockKey, bytes.NewReader(data), int64(len(data)))
		if err == nil {
			return &Lock{st: st, holder: holder, data: data}, nil
		}
		if !errors.Is(err, store.ErrExists) {
			return nil, fmt.Errorf("acquire run lock %s: %w", st.URL(LockKey), err)
		}
		cur, raw, err := readLock(ctx, st)
		if errors.Is(err, store.ErrNotFound) {
			if attempt == 0 {
				continue // released between our Put and Get
			}
			return nil, fmt.Errorf("acquire run lock %s: it keeps appearing and disappearing; another run is starting, try again", st.URL(LockKey))
		}
		if err != nil {
			return nil, fmt.Errorf("acquire run lock: %w", err)
		}
		age := cfg.now().Sub(cur.Started)
		if age < staleAfter || attempt > 0 {
			return nil, exitcode.Wrap(exitcode.Locked, fmt.Errorf(
				"%w: run %s on host %s (pid %d) has held it since %s (%s ago). If that run is no longer running, the lock is considered stale after %s and the next run takes it over; to clear it now, delete %s",
				ErrLocked, cur.RunID, cur.Host, cur.PID, cur.Started.Format(time.RFC3339), age.Round(time.Second), staleAfter, st.URL(LockKey)))
		}
		cfg.log.WithFields(logrus.Fields{
			"lock": st.URL(LockKey), "holder_run_id": cur.RunID, "holder_host": cur.Host,
			"holder_pid": cur.PID, "since": cur.Started.Format(time.RFC3339), "age": age.Round(time.Second).String(),
		}).Warn("run lock is stale (older than the stale limit); taking it over")
		// Delete only if it is still the very same lock.
		_, again, err := readLock(ctx, st)
		if err == nil && bytes.Equal(again, raw) {
			if err := st.Delete(ctx, LockKey); err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, fmt.Errorf("acquire run lock: remove stale lock %s: %w", st.URL(LockKey), err)
			}
		}
	}
}

// readLock reads the current lock file. An unreadable lock file is treated as
// held since its modification time by an unknown holder.
func readLock(ctx context.Context, st store.Store) (LockHolder, []byte, error) {
	raw, _, err := readKey(ctx, st, LockKey)
	if err != nil {
		return LockHolder{}, nil, err
	}
	var h LockHolder
	if json.Unmarshal(raw, &h) != nil || h.Started.IsZero() {
		h = LockHolder{RunID: "(unknown)", Host: "(unknown)"}
		if in, err := st.Stat(ctx, LockKey); err == nil {
			h.Started = in.ModTime
		}
	}
	return h, raw, nil
}

// Holder is who holds this lock.
func (l *Lock) Holder() LockHolder { return l.holder }

// Release deletes the lock, if it is still ours. Releasing twice is a no-op.
func (l *Lock) Release(ctx context.Context) error {
	if l == nil || l.st == nil {
		return nil
	}
	_, raw, err := readLock(ctx, l.st)
	if errors.Is(err, store.ErrNotFound) {
		l.st = nil
		return fmt.Errorf("release run lock %s: it is gone (removed by hand or taken over as stale?)", LockKey)
	}
	if err != nil {
		return fmt.Errorf("release run lock: %w", err)
	}
	if !bytes.Equal(raw, l.data) {
		st := l.st
		l.st = nil
		return fmt.Errorf("release run lock %s: it now belongs to another run; left in place", st.URL(LockKey))
	}
	if err := l.st.Delete(ctx, LockKey); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("release run lock %s: %w", l.st.URL(LockKey), err)
	}
	l.st = nil
	return nil
}
