package artifact

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/internal/store"
)

// The run lock lives in the store, which is write-once (Put fails when the
// key exists; Delete exists). It has three kinds of objects:
//
//	_locks/run.lock                        the run claim: which run id owns the store now
//	_locks/<run_id>/<stage>.lock           one per (run, stage) being written, e.g. apply, extract.acme
//	_locks/<run_id>/hb/<token>/<seq>       the heartbeat of one holder (one process), a new object per beat
//
// A holder (one process) takes the claim (or finds it owned by its own run)
// and one lock per stage it writes, all carrying its random token, then
// writes a heartbeat object every beat and deletes the previous one. A lock
// is live while its holder's newest heartbeat is younger than the stale limit
// and, when the holder ran on this host, its pid still exists. A dead lock is
// taken over with a warning; a live one never. See docs/ARCHITECTURE.md.

// LockKey is where the run claim lives (the run id that owns the store now).
const LockKey = "_locks/run.lock"

const locksPrefix = "_locks/"

// ErrLocked means a live holder has the run lock or the stage lock.
var ErrLocked = errors.New("run lock is held")

// LockHolder identifies who holds a lock; it is the lock object's JSON.
type LockHolder struct {
	RunID   string    `json:"run_id"`
	Stage   string    `json:"stage,omitempty"` // "" in the run claim
	Host    string    `json:"host"`
	PID     int       `json:"pid"`
	Command string    `json:"command,omitempty"`
	Started time.Time `json:"started"`
	Token   string    `json:"token,omitempty"` // names the holder's heartbeat series
}

func (h LockHolder) String() string {
	s := fmt.Sprintf("run %s", h.RunID)
	if h.Stage != "" {
		s = fmt.Sprintf("stage %s of run %s", h.Stage, h.RunID)
	}
	s += fmt.Sprintf(" on host %s (pid %d", h.Host, h.PID)
	if h.Command != "" {
		s += ", command " + h.Command
	}
	return s + ")"
}

// heartbeat is the JSON of one heartbeat object.
type heartbeat struct {
	Beat time.Time `json:"beat"`
}

// LockOption tunes AcquireLock and ListLocks.
type LockOption func(*lockConfig)

type lockConfig struct {
	log      logrus.FieldLogger
	now      func() time.Time
	alive    func(pid int) bool
	host     string
	stages   []string
	interval time.Duration // heartbeat interval; <0: no heartbeat goroutine
}

// WithLockLogger sets where takeover warnings go (default: discard).
func WithLockLogger(l logrus.FieldLogger) LockOption { return func(c *lockConfig) { c.log = l } }

// WithLockClock sets the clock used for heartbeats and their age (default time.Now).
func WithLockClock(now func() time.Time) LockOption { return func(c *lockConfig) { c.now = now } }

// WithLockStages names the stages to lock (default: the holder's Stage, else
// "run"). All are taken or none.
func WithLockStages(stages ...string) LockOption {
	return func(c *lockConfig) { c.stages = append([]string(nil), stages...) }
}

// WithLockHost sets the host name judged as "this host" (default os.Hostname).
func WithLockHost(host string) LockOption { return func(c *lockConfig) { c.host = host } }

// WithLockProcessCheck sets how a pid on this host is found alive (default:
// signal 0).
func WithLockProcessCheck(alive func(pid int) bool) LockOption {
	return func(c *lockConfig) { c.alive = alive }
}

// WithHeartbeatEvery sets the heartbeat interval (default staleAfter/5); a
// negative value starts no heartbeat goroutine (tests call Beat).
func WithHeartbeatEvery(d time.Duration) LockOption { return func(c *lockConfig) { c.interval = d } }

func newLockConfig(opts []LockOption) lockConfig {
	cfg := lockConfig{now: time.Now, alive: processAlive}
	for _, o := range opts {
		o(&cfg)
	}
	cfg.log = loggerOf(cfg.log)
	if cfg.host == "" {
		cfg.host, _ = os.Hostname()
	}
	return cfg
}

// Lock is a held set of stage locks of one run (and its share of the run claim).
type Lock struct {
	st         store.Store
	cfg        lockConfig
	staleAfter time.Duration
	holder     LockHolder
	claim      []byte            // the claim JSON we would write
	held       map[string][]byte // stage -> lock JSON
	stages     []string

	mu       sync.Mutex
	seq      int
	lastBeat string    // key of our newest heartbeat
	beatOK   time.Time // last successful heartbeat
	released bool

	stop     chan struct{}
	done     chan struct{}
	lost     chan struct{}
	lostOnce sync.Once
	lostErr  error
}

func stageLockKey(runID, stage string) string { return locksPrefix + runID + "/" + stage + ".lock" }
func hbPrefix(runID, token string) string     { return locksPrefix + runID + "/hb/" + token + "/" }

// AcquireLock takes the run lock for holder.RunID and one lock per stage
// (WithLockStages). Another process of the same run may hold other stages
// at the same time (one extract task per tree); the same stage of the same run
// and any stage of a different run are refused with an error wrapping
// ErrLocked (exit 11) that names the live holder. A lock whose holder is
// provably dead (same host, pid gone) or whose heartbeat is older than
// staleAfter is taken over with a warning.
func AcquireLock(ctx context.Context, st store.Store, holder LockHolder, staleAfter time.Duration, opts ...LockOption) (*Lock, error) {
	cfg := newLockConfig(opts)
	if err := ValidateRunID(holder.RunID); err != nil {
		return nil, exitcode.Wrap(exitcode.Usage, fmt.Errorf("acquire run lock: %w", err))
	}
	if staleAfter <= 0 {
		return nil, exitcode.New(exitcode.Usage, "acquire run lock: the stale limit must be positive, got %s", staleAfter)
	}
	stages := cfg.stages
	if len(stages) == 0 {
		s := holder.Stage
		if s == "" {
			s = "run"
		}
		stages = []string{s}
	}
	stages = append([]string(nil), stages...)
	sort.Strings(stages)
	for _, s := range stages {
		if err := checkName("stage name", s); err != nil || s == "hb" {
			return nil, exitcode.Wrap(exitcode.Usage, fmt.Errorf("acquire run lock: stage %q cannot be locked", s))
		}
	}
	if holder.Started.IsZero() {
		holder.Started = cfg.now()
	}
	holder.Started = holder.Started.UTC()
	if holder.Token == "" {
		holder.Token = randomHex(8)
	}
	l := &Lock{st: st, cfg: cfg, staleAfter: staleAfter, holder: holder, held: map[string][]byte{}, stages: stages,
		stop: make(chan struct{}), done: make(chan struct{}), lost: make(chan struct{})}
	claim := holder
	claim.Stage = ""
	var err error
	if l.claim, err = encodeLock(claim); err != nil {
		return nil, fmt.Errorf("acquire run lock: %w", err)
	}
	if err := l.takeClaim(ctx); err != nil {
		return nil, err
	}
	for _, s := range stages {
		if err := l.takeStage(ctx, s); err != nil {
			l.releaseAfterFailure(ctx)
			return nil, err
		}
	}
	// Between our look at the claim and our stage locks, the last holder of
	// our run may have released the claim and another run may have taken it.
	if err := l.takeClaim(ctx); err != nil {
		l.releaseAfterFailure(ctx)
		return nil, err
	}
	l.beatOK = cfg.now()
	if err := l.Beat(ctx); err != nil {
		cfg.log.WithError(err).Warn("run lock: first heartbeat failed; retrying at the next beat")
	}
	interval := cfg.interval
	if interval == 0 {
		interval = max(staleAfter/5, time.Second)
	}
	if interval > 0 {
		go l.heartbeatLoop(context.WithoutCancel(ctx), interval)
	} else {
		close(l.done)
	}
	return l, nil
}

func encodeLock(h LockHolder) ([]byte, error) {
	data, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// takeClaim makes sure the run claim names our run: written by us, or
// already owned by our run, or taken over from a dead run.
func (l *Lock) takeClaim(ctx context.Context) error {
	for attempt := 0; attempt < 3; attempt++ {
		err := l.st.Put(ctx, LockKey, bytes.NewReader(l.claim), int64(len(l.claim)))
		if err == nil {
			// We own the claim now. A run that took a dead claim over, or
			// raced another run's release, may find a live stage lock of
			// another run: then that run wins.
			return l.checkOtherRuns(ctx)
		}
		if !errors.Is(err, store.ErrExists) {
			return fmt.Errorf("acquire run lock %s: %w", l.st.URL(LockKey), err)
		}
		cur, raw, err := readLockKey(ctx, l.st, LockKey)
		if errors.Is(err, store.ErrNotFound) {
			continue // released between our Put and Get
		}
		if err != nil {
			return fmt.Errorf("acquire run lock: %w", err)
		}
		if cur.RunID == l.holder.RunID {
			return nil // another task of this run holds it; stage locks serialise us
		}
		live, who, why, err := runLive(ctx, l.st, l.cfg, cur, l.staleAfter)
		if err != nil {
			return fmt.Errorf("acquire run lock: %w", err)
		}
		if live {
			return l.lockedError(who, why)
		}
		l.cfg.log.WithFields(holderFields(cur)).WithField("reason", why).Warn("run lock: the run holding it is dead; taking it over")
		if err := removeRun(ctx, l.st, cur.RunID, raw); err != nil {
			return fmt.Errorf("acquire run lock: remove the dead run's lock: %w", err)
		}
	}
	return exitcode.New(exitcode.Transient, "acquire run lock %s: it keeps changing hands; another run is starting, try again", l.st.URL(LockKey))
}

// checkOtherRuns refuses when a live stage lock of another run exists (and
// removes dead ones).
func (l *Lock) checkOtherRuns(ctx context.Context) error {
	locks, err := listStageLocks(ctx, l.st, "")
	if err != nil {
		return fmt.Errorf("acquire run lock: %w", err)
	}
	for _, k := range locks {
		if k.runID == l.holder.RunID {
			continue
		}
		h, raw, err := readLockKey(ctx, l.st, k.key)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("acquire run lock: %w", err)
		}
		live, why, err := judge(ctx, l.st, l.cfg, h, l.staleAfter)
		if err != nil {
			return fmt.Errorf("acquire run lock: %w", err)
		}
		if live {
			deleteIfSame(ctx, l.st, LockKey, l.claim)
			return l.lockedError(h, why)
		}
		l.cfg.log.WithFields(holderFields(h)).WithField("reason", why).Warn("run lock: removing a dead stage lock of another run")
		if err := removeStageLock(ctx, l.st, k.key, raw, h); err != nil {
			return fmt.Errorf("acquire run lock: %w", err)
		}
	}
	return nil
}

func (l *Lock) takeStage(ctx context.Context, stage string) error {
	h := l.holder
	h.Stage = stage
	data, err := encodeLock(h)
	if err != nil {
		return fmt.Errorf("acquire stage lock: %w", err)
	}
	key := stageLockKey(h.RunID, stage)
	for attempt := 0; attempt < 3; attempt++ {
		err := l.st.Put(ctx, key, bytes.NewReader(data), int64(len(data)))
		if err == nil {
			l.held[stage] = data
			return nil
		}
		if !errors.Is(err, store.ErrExists) {
			return fmt.Errorf("acquire stage lock %s: %w", l.st.URL(key), err)
		}
		cur, raw, err := readLockKey(ctx, l.st, key)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("acquire stage lock: %w", err)
		}
		live, why, err := judge(ctx, l.st, l.cfg, cur, l.staleAfter)
		if err != nil {
			return fmt.Errorf("acquire stage lock: %w", err)
		}
		if live {
			return l.lockedError(cur, why)
		}
		l.cfg.log.WithFields(holderFields(cur)).WithField("reason", why).Warn("run lock: the holder of this stage is dead; taking its lock over")
		if err := removeStageLock(ctx, l.st, key, raw, cur); err != nil {
			return fmt.Errorf("acquire stage lock: %w", err)
		}
	}
	return exitcode.New(exitcode.Transient, "acquire stage lock %s: it keeps changing hands; try again", l.st.URL(key))
}

func (l *Lock) lockedError(who LockHolder, why string) error {
	what := "the run lock"
	if who.RunID == l.holder.RunID {
		what = "the lock of stage " + who.Stage
	}
	return exitcode.Wrap(exitcode.Locked, fmt.Errorf(
		"%w: %s is held by %s since %s (%s). Wait for it to finish; a holder that dies is taken over once its heartbeat is %s old (store.lock_stale_after) or at once on its own host; 'otds-highspot unlock' removes dead locks now, 'unlock --force' any lock",
		ErrLocked, what, who, who.Started.Format(time.RFC3339), why, l.staleAfter))
}

func holderFields(h LockHolder) logrus.Fields {
	return logrus.Fields{"holder_run_id": h.RunID, "holder_stage": h.Stage, "holder_host": h.Host, "holder_pid": h.PID,
		"holder_command": h.Command, "since": h.Started.Format(time.RFC3339)}
}

// judge says whether the holder of a lock is alive, and why.
func judge(ctx context.Context, st store.Store, cfg lockConfig, h LockHolder, staleAfter time.Duration) (bool, string, error) {
	if h.Host == cfg.host && h.PID > 0 && !cfg.alive(h.PID) {
		return false, fmt.Sprintf("pid %d is gone from this host", h.PID), nil
	}
	last, err := lastBeat(ctx, st, h)
	if err != nil {
		return false, "", err
	}
	age := cfg.now().Sub(last)
	if age >= staleAfter {
		return false, fmt.Sprintf("last heartbeat %s ago, limit %s", age.Round(time.Second), staleAfter), nil
	}
	return true, fmt.Sprintf("last heartbeat %s ago", max(age, 0).Round(time.Second)), nil
}

// lastBeat is the time of the holder's newest heartbeat (its start when none).
func lastBeat(ctx context.Context, st store.Store, h LockHolder) (time.Time, error) {
	last := h.Started
	if h.Token == "" || ValidateRunID(h.RunID) != nil || checkName("token", h.Token) != nil {
		return last, nil
	}
	infos, err := st.List(ctx, hbPrefix(h.RunID, h.Token))
	if err != nil {
		return last, fmt.Errorf("read the heartbeat of %s: %w", h, err)
	}
	for i := len(infos) - 1; i >= 0; i-- {
		raw, _, err := readKey(ctx, st, infos[i].Key)
		if errors.Is(err, store.ErrNotFound) {
			continue // replaced by a newer beat just now
		}
		if err != nil {
			return last, fmt.Errorf("read the heartbeat of %s: %w", h, err)
		}
		var hb heartbeat
		if json.Unmarshal(raw, &hb) != nil || hb.Beat.IsZero() {
			hb.Beat = infos[i].ModTime
		}
		if hb.Beat.After(last) {
			last = hb.Beat
		}
		break
	}
	return last, nil
}

// runLive says whether a run claim is in use: its claimant or any stage lock
// of its run is live. who is the live holder found.
func runLive(ctx context.Context, st store.Store, cfg lockConfig, claim LockHolder, staleAfter time.Duration) (bool, LockHolder, string, error) {
	if ValidateRunID(claim.RunID) == nil {
		locks, err := listStageLocks(ctx, st, claim.RunID)
		if err != nil {
			return false, claim, "", err
		}
		for _, k := range locks {
			h, _, err := readLockKey(ctx, st, k.key)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return false, claim, "", err
			}
			if live, why, err := judge(ctx, st, cfg, h, staleAfter); err != nil || live {
				return live, h, why, err
			}
		}
	}
	// No live stage lock: the claimant may be between its claim and its
	// stage locks (or gone).
	live, why, err := judge(ctx, st, cfg, claim, staleAfter)
	return live, claim, why, err
}

type stageLockRef struct{ runID, stage, key string }

// listStageLocks lists _locks/<run>/<stage>.lock (runID "" = every run).
func listStageLocks(ctx context.Context, st store.Store, runID string) ([]stageLockRef, error) {
	prefix := locksPrefix
	if runID != "" {
		prefix += runID + "/"
	}
	infos, err := st.List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("list locks under %s: %w", st.URL(prefix), err)
	}
	var out []stageLockRef
	for _, in := range infos {
		rest := strings.TrimPrefix(in.Key, locksPrefix)
		run, file, ok := strings.Cut(rest, "/")
		if !ok || strings.Contains(file, "/") || ValidateRunID(run) != nil {
			continue
		}
		stage, ok := strings.CutSuffix(file, ".lock")
		if !ok || stage == "" {
			continue
		}
		out = append(out, stageLockRef{runID: run, stage: stage, key: in.Key})
	}
	return out, nil
}

// removeStageLock deletes a stage lock if it still holds raw, then the
// holder's heartbeats.
func removeStageLock(ctx context.Context, st store.Store, key string, raw []byte, h LockHolder) error {
	if err := deleteIfSame(ctx, st, key, raw); err != nil {
		return err
	}
	return deleteHeartbeats(ctx, st, h)
}

// removeRun deletes every stage lock of a dead run, then its claim (if still raw).
func removeRun(ctx context.Context, st store.Store, runID string, claimRaw []byte) error {
	if ValidateRunID(runID) == nil {
		locks, err := listStageLocks(ctx, st, runID)
		if err != nil {
			return err
		}
		for _, k := range locks {
			h, raw, err := readLockKey(ctx, st, k.key)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if err := removeStageLock(ctx, st, k.key, raw, h); err != nil {
				return err
			}
		}
	}
	cur, _, err := readLockKey(ctx, st, LockKey)
	if err == nil {
		if err := deleteIfSame(ctx, st, LockKey, claimRaw); err != nil {
			return err
		}
		return deleteHeartbeats(ctx, st, cur)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

func deleteHeartbeats(ctx context.Context, st store.Store, h LockHolder) error {
	if h.Token == "" || ValidateRunID(h.RunID) != nil || checkName("token", h.Token) != nil {
		return nil
	}
	infos, err := st.List(ctx, hbPrefix(h.RunID, h.Token))
	if err != nil {
		return err
	}
	for _, in := range infos {
		if err := st.Delete(ctx, in.Key); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("delete heartbeat %s: %w", st.URL(in.Key), err)
		}
	}
	return nil
}

// deleteIfSame deletes key when it still holds raw. The store has no
// conditional delete: two processes deciding the same instant can still race
// here; the re-checks in AcquireLock make the loser refuse.
func deleteIfSame(ctx context.Context, st store.Store, key string, raw []byte) error {
	cur, _, err := readKey(ctx, st, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !bytes.Equal(cur, raw) {
		return nil
	}
	if err := st.Delete(ctx, key); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("delete %s: %w", st.URL(key), err)
	}
	return nil
}

// readLockKey reads a lock object. An unreadable one is treated as held
// since its modification time by an unknown holder.
func readLockKey(ctx context.Context, st store.Store, key string) (LockHolder, []byte, error) {
	raw, _, err := readKey(ctx, st, key)
	if err != nil {
		return LockHolder{}, nil, err
	}
	var h LockHolder
	if json.Unmarshal(raw, &h) != nil || h.Started.IsZero() {
		h = LockHolder{RunID: "(unknown)", Host: "(unknown)"}
		if in, err := st.Stat(ctx, key); err == nil {
			h.Started = in.ModTime
		}
	}
	return h, raw, nil
}

// Holder is who holds this lock.
func (l *Lock) Holder() LockHolder { return l.holder }

// Lost is closed when the lock was taken from this holder (its heartbeat
// could not be written for longer than the stale limit, or the lock object
// was removed or replaced); the holder must stop writing.
func (l *Lock) Lost() <-chan struct{} { return l.lost }

// LostErr says why Lost was closed.
func (l *Lock) LostErr() error {
	select {
	case <-l.lost:
		return l.lostErr
	default:
		return nil
	}
}

func (l *Lock) markLost(err error) {
	l.lostOnce.Do(func() {
		l.lostErr = err
		close(l.lost)
	})
}

func (l *Lock) heartbeatLoop(ctx context.Context, every time.Duration) {
	defer close(l.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			if err := l.Beat(ctx); err != nil {
				l.cfg.log.WithError(err).Warn("run lock heartbeat failed")
			}
		}
	}
}

// Beat writes one heartbeat (a new object; the previous one is deleted) and
// checks that every stage lock is still ours. The heartbeat goroutine calls
// it; tests call it directly.
func (l *Lock) Beat(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return nil
	}
	now := l.cfg.now().UTC()
	for stage, data := range l.held {
		key := stageLockKey(l.holder.RunID, stage)
		cur, _, err := readKey(ctx, l.st, key)
		if errors.Is(err, store.ErrNotFound) || (err == nil && !bytes.Equal(cur, data)) {
			err := fmt.Errorf("the lock %s was removed or taken over by another process; this process stops writing", l.st.URL(key))
			l.markLost(err)
			return err
		}
	}
	data, _ := json.Marshal(heartbeat{Beat: now})
	l.seq++
	key := fmt.Sprintf("%s%012d", hbPrefix(l.holder.RunID, l.holder.Token), l.seq)
	if err := l.st.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
		if now.Sub(l.beatOK) >= l.staleAfter {
			err := fmt.Errorf("no heartbeat could be written for %s (the stale limit): another process may take the lock over; this process stops writing: %w", now.Sub(l.beatOK).Round(time.Second), err)
			l.markLost(err)
			return err
		}
		return fmt.Errorf("write heartbeat %s: %w", l.st.URL(key), err)
	}
	if l.lastBeat != "" {
		if err := l.st.Delete(ctx, l.lastBeat); err != nil && !errors.Is(err, store.ErrNotFound) {
			l.cfg.log.WithError(err).Debug("run lock: could not delete the previous heartbeat")
		}
	}
	l.lastBeat, l.beatOK = key, now
	return nil
}

// Release deletes this holder's stage locks (if still ours), then the run
// claim when no other live holder of the run remains, then the heartbeats.
// Releasing twice is a no-op.
func (l *Lock) Release(ctx context.Context) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	if l.released {
		l.mu.Unlock()
		return nil
	}
	l.released = true
	l.mu.Unlock()
	close(l.stop)
	<-l.done
	var errs []error
	for _, stage := range l.stages {
		data, ok := l.held[stage]
		if !ok {
			continue
		}
		key := stageLockKey(l.holder.RunID, stage)
		cur, _, err := readKey(ctx, l.st, key)
		switch {
		case errors.Is(err, store.ErrNotFound):
			errs = append(errs, fmt.Errorf("release stage lock %s: it is gone (removed by unlock, or taken over?)", l.st.URL(key)))
		case err != nil:
			errs = append(errs, fmt.Errorf("release stage lock: %w", err))
		case !bytes.Equal(cur, data):
			errs = append(errs, fmt.Errorf("release stage lock %s: it now belongs to another process; left in place", l.st.URL(key)))
		default:
			if err := l.st.Delete(ctx, key); err != nil && !errors.Is(err, store.ErrNotFound) {
				errs = append(errs, fmt.Errorf("release stage lock %s: %w", l.st.URL(key), err))
			}
		}
	}
	if err := l.releaseClaim(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := deleteHeartbeats(ctx, l.st, l.holder); err != nil {
		errs = append(errs, fmt.Errorf("release run lock: %w", err))
	}
	return errors.Join(errs...)
}

// releaseClaim deletes the run claim when it names our run and no other live
// holder of our run remains.
func (l *Lock) releaseClaim(ctx context.Context) error {
	cur, raw, err := readLockKey(ctx, l.st, LockKey)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("release run lock: %w", err)
	}
	if cur.RunID != l.holder.RunID {
		return nil
	}
	locks, err := listStageLocks(ctx, l.st, l.holder.RunID)
	if err != nil {
		return fmt.Errorf("release run lock: %w", err)
	}
	for _, k := range locks {
		h, _, err := readLockKey(ctx, l.st, k.key)
		if err != nil || h.Token == l.holder.Token {
			continue
		}
		if live, _, err := judge(ctx, l.st, l.cfg, h, l.staleAfter); err == nil && live {
			return nil // another task of this run still works; it releases the claim
		}
	}
	if err := deleteIfSame(ctx, l.st, LockKey, raw); err != nil {
		return fmt.Errorf("release run lock: %w", err)
	}
	return nil
}

func (l *Lock) releaseAfterFailure(ctx context.Context) {
	l.mu.Lock()
	l.released = true
	l.mu.Unlock()
	for stage, data := range l.held {
		_ = deleteIfSame(ctx, l.st, stageLockKey(l.holder.RunID, stage), data)
	}
	l.held = map[string][]byte{}
	_ = l.releaseClaim(ctx)
	_ = deleteHeartbeats(ctx, l.st, l.holder)
}

// LockStatus is one lock found in the store (ListLocks).
type LockStatus struct {
	Key    string     `json:"key"`
	Holder LockHolder `json:"holder"`
	Live   bool       `json:"live"`
	Why    string     `json:"why"`
	raw    []byte
}

// ListLocks lists the stage locks and the run claim (last), each judged
// live or dead as AcquireLock would.
func ListLocks(ctx context.Context, st store.Store, staleAfter time.Duration, opts ...LockOption) ([]LockStatus, error) {
	cfg := newLockConfig(opts)
	locks, err := listStageLocks(ctx, st, "")
	if err != nil {
		return nil, err
	}
	var out []LockStatus
	for _, k := range locks {
		h, raw, err := readLockKey(ctx, st, k.key)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		live, why, err := judge(ctx, st, cfg, h, staleAfter)
		if err != nil {
			return nil, err
		}
		out = append(out, LockStatus{Key: k.key, Holder: h, Live: live, Why: why, raw: raw})
	}
	h, raw, err := readLockKey(ctx, st, LockKey)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		live, who, why, err := runLive(ctx, st, cfg, h, staleAfter)
		if err != nil {
			return nil, err
		}
		if live && who.Stage != "" {
			why = fmt.Sprintf("%s holds stage %s (%s)", who, who.Stage, why)
		}
		out = append(out, LockStatus{Key: LockKey, Holder: h, Live: live, Why: why, raw: raw})
	}
	return out, nil
}

// RemoveLock deletes a lock found by ListLocks (if unchanged since) and its
// holder's heartbeats.
func RemoveLock(ctx context.Context, st store.Store, ls LockStatus) error {
	if err := deleteIfSame(ctx, st, ls.Key, ls.raw); err != nil {
		return fmt.Errorf("remove lock %s: %w", st.URL(ls.Key), err)
	}
	if err := deleteHeartbeats(ctx, st, ls.Holder); err != nil {
		return fmt.Errorf("remove lock %s: %w", st.URL(ls.Key), err)
	}
	return nil
}
