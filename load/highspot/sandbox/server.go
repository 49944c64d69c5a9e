// Package sandbox owns the local Highspot stand-in: the REST v1.0 surface
// (also served as v0.5) and a SCIM 2.0 surface over the same in-memory state,
// faithful to highspot-api.md §12 (plain-text 401, hs-user impersonation,
// start/limit paging capped at 100, unverified users hidden without list=all,
// POST /users array upsert, the PROPOSED membership endpoints), plus the
// admin API (/_admin/reset, seed, state, faults, counters) and seeded,
// deterministic fault injection (429 with or without Retry-After, 5xx,
// latency, dropped connections, async mode) and provider profiles (lenient,
// strict-rfc, quirky: protocol behaviour only, see profile.go). State can be persisted to a
// JSON file. It runs in tests through httptest and standalone through
// ListenAndServe.
package sandbox

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/time/rate"

	hsfixtures "github.com/otds-highspot/otds-highspot/fixtures/highspot"
	"github.com/otds-highspot/otds-highspot/internal/config"
	"github.com/otds-highspot/otds-highspot/load"
	"github.com/otds-highspot/otds-highspot/load/highspot"
)

// Default credentials, present whenever a seed brings none.
const (
	DefaultKey       = "sandbox-key"
	DefaultSecret    = "sandbox-secret"
	DefaultSCIMToken = "sandbox-scim-token"
	// DefaultServiceUser is the admin user the default key is bound to.
	DefaultServiceUser = "svc-highspot-sync@sandbox.example"
)

// Options configures New.
type Options struct {
	// Seed is the initial data when no state file exists. Nil means the
	// bundled fixture (fixtures/highspot/seed.json); use &Seed{} for empty.
	Seed *Seed
	// StateFile, when set, is the snapshot loaded at start (if it exists);
	// changes are appended to StateFile+".journal" and folded into the
	// snapshot on Close and every JournalCompactEvery journal lines (see
	// journal.go for the format and the fsync policy).
	StateFile string
	// JournalCompactEvery is the journal length (lines) that triggers a
	// snapshot (DefaultJournalCompactEvery when 0).
	JournalCompactEvery int
	// RandSeed seeds the id generator and the fault RNG (deterministic tests).
	RandSeed uint64
	// Faults are the initial fault knobs.
	Faults Faults
	// Profile is the provider profile (ProfileLenient when empty; see
	// Profiles).
	Profile string
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger logrus.FieldLogger
}

// Faults are the test knobs (POST /_admin/faults merges a JSON object of
// these keys into the current set).
type Faults struct {
	// RateLimitRPS > 0 applies a token bucket per credential → 429.
	RateLimitRPS   float64 `json:"rate_limit_rps"`
	RateLimitBurst int     `json:"rate_limit_burst"`
	// RetryAfter on 429: "on" (seconds, default), "off" (no header),
	// "http-date" or "mixed" (alternately seconds and no header).
	RetryAfter string `json:"retry_after"`
	// Rate429 is the share of requests answered 429 (with RetryAfter).
	Rate429 float64 `json:"rate_429"`
	// ErrorRate is the share of requests answered 500/502/503.
	ErrorRate float64 `json:"error_rate"`
	// FaultAfterApply makes injected 5xx and drops happen after the request
	// was applied (the response is lost, the write is not), the case that
	// duplicates blind retries.
	FaultAfterApply bool `json:"fault_after_apply"`
	// FaultAfterApplyShare is the share of injected 5xx and drops that
	// happen after the request was applied (the others happen before), for
	// runs that need both kinds; FaultAfterApply makes it all of them.
	FaultAfterApplyShare float64 `json:"fault_after_apply_share"`
	// LatencyMS is added to every request.
	LatencyMS int `json:"latency_ms"`
	// DropRate is the share of requests whose connection is closed with no
	// response.
	DropRate float64 `json:"drop_rate"`
	// Burst429 answers the next N requests with 429.
	Burst429 int `json:"burst_429"`
	// AsyncMode makes POST /users answer 202 {"id"}; the result is at
	// /requests/{id}/result after AsyncPolls polls of /requests/{id}.
	AsyncMode  bool `json:"async_mode"`
	AsyncPolls int  `json:"async_polls"`
	// DeleteMode is what DELETE /users/{id} does: "suspend" (default) or "hard".
	DeleteMode string `json:"delete_mode"`
	// StripGroupsOnSuspend removes a suspended user from every group.
	StripGroupsOnSuspend bool `json:"strip_groups_on_suspend"`
	// AutoVerify makes created users verified at once (default: unverified).
	AutoVerify bool `json:"auto_verify"`
	// Impersonation overrides, per API key, whether hs-user is allowed.
	Impersonation map[string]bool `json:"impersonation,omitempty"`
	// SCIMBulkDisabled makes ServiceProviderConfig say bulk is unsupported
	// and /Bulk answer 501.
	SCIMBulkDisabled bool `json:"scim_bulk_disabled"`
	// SCIMBulkMax is maxOperations (default 100).
	SCIMBulkMax int `json:"scim_bulk_max"`
	// GroupField is the key REST groups carry their name in: "name" (default) or "title".
	GroupField string `json:"group_field"`
}

// Server is the sandbox. Create with New; serve Handler().
type Server struct {
	opts    Options
	profile string
	log     logrus.FieldLogger
	now     func() time.Time
	h       http.Handler

	mu   sync.Mutex // guards st, idRNG
	st   *state
	seed Seed
	idRN *rand.Rand

	fmu      sync.Mutex // guards faults, faultRNG, limiters, counters
	faults   Faults
	faultRNG *rand.Rand
	limiters map[string]*rate.Limiter
	counters map[string]int64

	smu sync.Mutex // serialises snapshot writes

	jf     *os.File // the open journal (nil without a state file); guarded by mu
	jlines int      // lines in the journal since the last snapshot; guarded by mu

	scimMux *http.ServeMux
}

// New builds a sandbox: from the state file when it exists, else from the
// seed. A broken state file or seed is returned as an error.
func New(opts Options) (*Server, error) {
	s := &Server{opts: opts, log: opts.Logger, now: opts.Now, faults: opts.Faults,
		idRN:     rand.New(rand.NewPCG(opts.RandSeed, 0x5eed)),
		faultRNG: rand.New(rand.NewPCG(opts.RandSeed, 0xfa17)),
		limiters: map[string]*rate.Limiter{}, counters: map[string]int64{}}
	if s.now == nil {
		s.now = time.Now
	}
	p, err := checkProfile(opts.Profile)
	if err != nil {
		return nil, err
	}
	s.profile = p
	if s.log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		s.log = l
	}
	if opts.Seed != nil {
		s.seed = *opts.Seed
	} else {
		sd, err := DefaultSeed()
		if err != nil {
			return nil, err
		}
		s.seed = sd
	}
	replayed := false
	if opts.StateFile != "" {
		d, ok, err := loadFile(opts.StateFile)
		if err != nil {
			return nil, err
		}
		if ok {
			s.st = fromDump(d)
			jp := journalPath(opts.StateFile)
			n, torn, err := replayJournal(jp, s.st)
			if err != nil {
				return nil, err
			}
			if torn {
				s.log.WithField("journal", jp).Warn("sandbox: ignored a torn last journal line (the process died while writing it)")
			}
			replayed = n > 0 || torn
		}
	}
	if s.st == nil {
		st, err := s.build(s.seed)
		if err != nil {
			return nil, err
		}
		s.st = st
		replayed = opts.StateFile != ""
	}
	if opts.StateFile != "" {
		jp := journalPath(opts.StateFile)
		f, err := os.OpenFile(jp, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("sandbox: open journal %s: %w (check the directory of the state file is writable)", jp, err)
		}
		s.jf = f
		if replayed {
			// Fold the journal (or the seed) into a snapshot, which also
			// drops a torn tail before new lines are appended after it.
			if err := s.persist(); err != nil {
				f.Close()
				return nil, err
			}
		}
		s.st.journaling = true
	}
	s.h = s.routes()
	return s, nil
}

// DefaultSeed is the bundled fixture (fixtures/highspot/seed.json).
func DefaultSeed() (Seed, error) {
	var sd Seed
	if err := json.Unmarshal(hsfixtures.SeedJSON(), &sd); err != nil {
		return Seed{}, fmt.Errorf("sandbox: decode bundled seed: %w", err)
	}
	return sd, nil
}

// Handler serves the REST (/v1.0, /v0.5), SCIM (/scim/v2) and admin (/_admin) surfaces.
func (s *Server) Handler() http.Handler { return s.h }

// State returns a copy of the whole state with the counters and faults.
func (s *Server) State() StateDump {
	s.mu.Lock()
	d := s.st.dump()
	s.mu.Unlock()
	s.fmu.Lock()
	d.Counters = make(map[string]int64, len(s.counters))
	for k, v := range s.counters {
		d.Counters[k] = v
	}
	f := s.faults
	d.Faults = &f
	s.fmu.Unlock()
	return d
}

// Faults returns the current fault knobs.
func (s *Server) Faults() Faults {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	return s.faults
}

// SetFaults replaces the fault knobs (and resets the rate limiters).
func (s *Server) SetFaults(f Faults) {
	s.fmu.Lock()
	s.faults = f
	s.limiters = map[string]*rate.Limiter{}
	s.fmu.Unlock()
}

// Counters returns requests per endpoint ("REST POST /users", "SCIM PATCH
// /Users/{id}", …), "total" and injected faults ("fault 429", "fault 5xx",
// "fault drop", "fault rate_limit").
func (s *Server) Counters() map[string]int64 {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	out := make(map[string]int64, len(s.counters))
	for k, v := range s.counters {
		out[k] = v
	}
	return out
}

// ResetCounters zeroes the request counters.
func (s *Server) ResetCounters() {
	s.fmu.Lock()
	s.counters = map[string]int64{}
	s.fmu.Unlock()
}

// Seed replaces the state with seed.
func (s *Server) Seed(seed Seed) error {
	st, err := s.build(seed)
	if err != nil {
		return err
	}
	s.mu.Lock()
	st.journaling = s.opts.StateFile != ""
	s.st = st
	s.mu.Unlock()
	return s.persist()
}

// Reset empties the state, keeping only the credentials of the seed.
func (s *Server) Reset() error {
	return s.Seed(Seed{Keys: s.seed.Keys, SCIMTokens: s.seed.SCIMTokens, Users: serviceUsers(s.seed)})
}

// Close saves the state file (when configured) and empties the journal. The
// server keeps serving; later changes are journaled again. With no change
// since the last snapshot the state file is left as it is: a process that
// only read (pull, a dry run) rewrites nothing (at 234,000 users a
// snapshot is ~120 MB of JSON).
func (s *Server) Close() error {
	s.mu.Lock()
	clean := s.jlines == 0
	s.mu.Unlock()
	if clean {
		return nil
	}
	return s.persist()
}

// BaseURL helpers: the REST and SCIM roots under a server root URL.
func RESTBase(root string) string { return strings.TrimRight(root, "/") + "/v1.0" }

// SCIMBase is the SCIM root under a server root URL.
func SCIMBase(root string) string { return strings.TrimRight(root, "/") + "/scim/v2" }

// Client builds a client for surface "rest" or "scim" against the sandbox
// served at root (e.g. an httptest URL), with the default credentials.
func Client(surface, root string, hc *http.Client, log logrus.FieldLogger) (load.Target, error) {
	switch surface {
	case "rest", "":
		return highspot.NewREST(highspot.RESTOptions{BaseURL: RESTBase(root), APIKey: config.NewSecret(DefaultKey),
			APISecret: config.NewSecret(DefaultSecret), HTTPClient: hc, Logger: log, PollInterval: 10 * time.Millisecond})
	case "scim":
		return highspot.NewSCIM(highspot.SCIMOptions{BaseURL: SCIMBase(root), Token: config.NewSecret(DefaultSCIMToken), HTTPClient: hc, Logger: log})
	}
	return nil, fmt.Errorf("sandbox: unknown surface %q; use rest or scim", surface)
}

// ListenAndServe serves the sandbox on addr (e.g. 127.0.0.1:8089) until ctx
// is cancelled, then shuts down and saves the state file.
func ListenAndServe(ctx context.Context, addr string, opts Options) error {
	s, err := New(opts)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("sandbox: listen on %s: %w (choose a free port with --listen)", addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx is cancelled, then saves the state file.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s.h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	s.log.WithField("addr", ln.Addr().String()).Info("highspot sandbox listening")
	select {
	case err := <-errc:
		_ = s.Close()
		return fmt.Errorf("sandbox: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
	return s.Close()
}

// persist writes a snapshot and empties the journal.
func (s *Server) persist() error {
	if s.opts.StateFile == "" {
		return nil
	}
	s.smu.Lock()
	defer s.smu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snapshotLocked()
}

// snapshotLocked writes the snapshot, then truncates the journal; call with
// s.smu and s.mu held.
func (s *Server) snapshotLocked() error {
	if _, err := s.st.takeJournal(); err != nil { // the snapshot holds these changes
		return err
	}
	if err := saveFile(s.opts.StateFile, s.st.dump()); err != nil {
		return err
	}
	s.jlines = 0
	if s.jf != nil {
		if err := s.jf.Truncate(0); err != nil {
			return fmt.Errorf("sandbox: empty journal %s: %w", s.jf.Name(), err)
		}
		if err := s.jf.Sync(); err != nil {
			return fmt.Errorf("sandbox: empty journal %s: %w", s.jf.Name(), err)
		}
	}
	return nil
}

// journalLocked appends the changes of the request just handled to the
// journal, compacting when it is long; call with s.mu held (so lines are in
// the order the changes were made).
func (s *Server) journalLocked() {
	if s.jf == nil {
		return
	}
	line, err := s.st.takeJournal()
	if err != nil || line != nil {
		s.jlines++ // a change the snapshot lacks (Close folds it in even if the line failed)
	}
	if err == nil && line != nil {
		if _, err = s.jf.Write(line); err != nil {
			err = fmt.Errorf("sandbox: append to journal %s: %w", s.jf.Name(), err)
		}
	}
	if err == nil && s.jlines >= s.compactEvery() && s.smu.TryLock() {
		err = s.snapshotLocked()
		s.smu.Unlock()
	}
	if err != nil {
		s.log.WithError(err).Warn("sandbox: could not save the state; free disk space or fix permissions, then restart the sandbox")
	}
}

func (s *Server) compactEvery() int {
	if s.opts.JournalCompactEvery > 0 {
		return s.opts.JournalCompactEvery
	}
	return DefaultJournalCompactEvery
}

// newID returns 24 lower-case hex characters that no user, group, spot or
// item holds. The generator starts from Options.RandSeed in every process, so
// a sandbox reopened from its state file draws the ids it handed out before:
// those are skipped. Call with s.mu held.
func (s *Server) newID() string {
	for {
		var b [12]byte
		for i := range b {
			b[i] = byte(s.idRN.UintN(256))
		}
		id := hex.EncodeToString(b[:])
		if s.st == nil || !s.st.idInUse(id) {
			return id
		}
	}
}

func (s *Server) ts() string { return s.now().UTC().Format("2006-01-02T15:04:05Z") }

func serviceUsers(sd Seed) []User {
	var out []User
	for _, k := range sd.Keys {
		for _, u := range sd.Users {
			if strings.EqualFold(u.Email, k.User) {
				out = append(out, u)
			}
		}
	}
	return out
}

// build turns a seed into a state: ids generated where missing, the default
// credentials added when the seed has none, key users created as verified
// admins when missing.
func (s *Server) build(sd Seed) (*state, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := newState()
	st.keys = append(st.keys, sd.Keys...)
	if len(st.keys) == 0 {
		st.keys = []APIKey{{Key: DefaultKey, Secret: DefaultSecret, User: DefaultServiceUser, Impersonation: true}}
	}
	st.scimTokens = append(st.scimTokens, sd.SCIMTokens...)
	if len(st.scimTokens) == 0 {
		st.scimTokens = []string{DefaultSCIMToken}
	}
	now := s.ts()
	id := func(given string) string {
		if given != "" {
			return strings.ToLower(given)
		}
		return s.newID()
	}
	for _, u := range sd.Users {
		c := u
		c.ID, c.Groups, c.Properties = id(u.ID), nil, copyProps(u.Properties)
		if c.Email == "" || st.userByEmail[strings.ToLower(c.Email)] != nil {
			return nil, fmt.Errorf("sandbox seed: user %q: email missing or duplicate", c.Email)
		}
		if c.Created == "" {
			c.Created, c.Updated = now, now
		}
		st.addUser(&c)
	}
	for _, k := range st.keys {
		if st.userByEmail[strings.ToLower(k.User)] == nil {
			st.addUser(&User{ID: s.newID(), Email: k.User, Name: "Sync", Surname: "Service", DisplayName: "Highspot Sync Service",
				Verified: true, Admin: true, Created: now, Updated: now})
		}
	}
	for _, g := range sd.Groups {
		c := &Group{ID: id(g.ID), Name: g.Name, Description: g.Description, Created: now}
		st.addGroup(c)
		for _, e := range g.Members {
			u := st.userByEmail[strings.ToLower(e)]
			if u == nil {
				return nil, fmt.Errorf("sandbox seed: group %q: member %s is not a seeded user", g.Name, e)
			}
			st.setMember(c.ID, u.ID, true)
		}
	}
	for _, sp := range sd.Spots {
		c := &Spot{ID: id(sp.ID), Title: sp.Title, Description: sp.Description, Visibility: sp.Visibility, IsOfficial: sp.IsOfficial, Created: now}
		if c.Visibility == "" {
			c.Visibility = "private"
		}
		for _, sh := range sp.Shares {
			switch {
			case sh.User != "":
				u := st.userByEmail[strings.ToLower(sh.User)]
				if u == nil {
					return nil, fmt.Errorf("sandbox seed: spot %q: share user %s is not a seeded user", sp.Title, sh.User)
				}
				c.Shares = append(c.Shares, Share{Principal: "user", ID: u.ID, Role: sh.Role})
			case sh.Group != "":
				g := st.groupByName(sh.Group)
				if g == nil {
					return nil, fmt.Errorf("sandbox seed: spot %q: share group %q is not a seeded group", sp.Title, sh.Group)
				}
				c.Shares = append(c.Shares, Share{Principal: "group", ID: g.ID, Role: sh.Role})
			}
		}
		st.addSpot(c)
	}
	for _, it := range sd.Items {
		c := it.Item
		c.ID = id(c.ID)
		if it.SpotTitle != "" {
			for _, sp := range st.spots {
				if sp.Title == it.SpotTitle {
					c.Spot = sp.ID
				}
			}
		}
		if st.spotByID[c.Spot] == nil {
			return nil, fmt.Errorf("sandbox seed: item %q: spot %q not found", c.Title, it.SpotTitle)
		}
		if c.Lists == nil {
			c.Lists = []string{}
		}
		if c.DateAdded == "" {
			c.DateAdded = now
		}
		if c.DateUpdated == "" {
			c.DateUpdated = c.DateAdded
		}
		st.addItem(&c)
	}
	return st, nil
}

// count adds one to a counter.
func (s *Server) count(key string) {
	s.fmu.Lock()
	s.counters[key]++
	s.fmu.Unlock()
}

func (s *Server) routes() http.Handler {
	rest := http.NewServeMux()
	s.restRoutes(rest)
	scim := http.NewServeMux()
	s.scimRoutes(scim)
	root := http.NewServeMux()
	root.Handle("/v1.0/", s.withFaults(http.StripPrefix("/v1.0", rest)))
	root.Handle("/v0.5/", s.withFaults(http.StripPrefix("/v0.5", rest)))
	root.Handle("/scim/v2/", s.withFaults(http.StripPrefix("/scim/v2", scim)))
	s.adminRoutes(root)
	return root
}

// handle registers h under pattern on mux, counting requests as
// "<surface> <pattern>".
func (s *Server) handle(mux *http.ServeMux, surface, pattern string, h http.HandlerFunc) {
	key := surface + " " + pattern
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		s.count(key)
		h(w, r)
	})
}

type faultDecision struct {
	latency time.Duration
	drop    bool
	status  int // 429 or 5xx, 0 for none
	retry   string
	after   bool
}

// decide draws this request's faults under the fault lock (deterministic
// for a given RandSeed and request order).
func (s *Server) decide(r *http.Request) faultDecision {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	f := s.faults
	s.counters["total"]++
	d := faultDecision{latency: time.Duration(f.LatencyMS) * time.Millisecond, after: f.FaultAfterApply}
	if !d.after && f.FaultAfterApplyShare > 0 {
		d.after = s.faultRNG.Float64() < f.FaultAfterApplyShare
	}
	if f.DropRate > 0 && s.faultRNG.Float64() < f.DropRate {
		d.drop = true
		s.counters["fault drop"]++
		return d
	}
	if f.Burst429 > 0 {
		s.faults.Burst429--
		d.status, d.after = http.StatusTooManyRequests, false
		d.retry = s.retryAfter(f.RetryAfter, time.Second)
		s.counters["fault 429"]++
		return d
	}
	if f.RateLimitRPS > 0 {
		id := credential(r)
		lim := s.limiters[id]
		if lim == nil {
			lim = rate.NewLimiter(rate.Limit(f.RateLimitRPS), max(f.RateLimitBurst, 1))
			s.limiters[id] = lim
		}
		now := s.now()
		res := lim.ReserveN(now, 1)
		if wait := res.DelayFrom(now); wait > 0 {
			res.CancelAt(now)
			d.status, d.after = http.StatusTooManyRequests, false
			d.retry = s.retryAfter(f.RetryAfter, wait)
			s.counters["fault rate_limit"]++
			return d
		}
	}
	if f.Rate429 > 0 && s.faultRNG.Float64() < f.Rate429 {
		d.status, d.after = http.StatusTooManyRequests, false
		d.retry = s.retryAfter(f.RetryAfter, time.Second)
		s.counters["fault 429"]++
		return d
	}
	if f.ErrorRate > 0 && s.faultRNG.Float64() < f.ErrorRate {
		d.status = []int{500, 502, 503}[s.faultRNG.IntN(3)]
		s.counters["fault 5xx"]++
	}
	return d
}

// retryAfter is the Retry-After header of a 429. Call with s.fmu held.
func (s *Server) retryAfter(mode string, wait time.Duration) string {
	secs := int((wait + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	if mode == "mixed" {
		s.counters["fault 429 mixed"]++
		mode = map[bool]string{true: "on", false: "off"}[s.counters["fault 429 mixed"]%2 == 1]
	}
	switch mode {
	case "off":
		return ""
	case "http-date":
		return s.now().Add(time.Duration(secs+1) * time.Second).UTC().Format(http.TimeFormat)
	}
	return fmt.Sprint(secs)
}

// credential identifies the caller for rate limiting (never logged).
func credential(r *http.Request) string {
	if k, _, ok := r.BasicAuth(); ok {
		return "basic:" + k
	}
	return r.Header.Get("Authorization")
}

// withFaults applies the injected faults around an API surface.
func (s *Server) withFaults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := s.decide(r)
		if d.latency > 0 {
			select {
			case <-time.After(d.latency):
			case <-r.Context().Done():
				return
			}
		}
		if d.after && (d.drop || d.status >= 500) {
			// Apply the request, then lose the response.
			next.ServeHTTP(httptest.NewRecorder(), r)
		}
		switch {
		case d.drop:
			dropConnection(w)
			return
		case d.status == http.StatusTooManyRequests:
			if d.retry != "" {
				w.Header().Set("Retry-After", d.retry)
			}
			writeJSON(w, http.StatusTooManyRequests, map[string]string{"message": "Too many requests"})
			return
		case d.status >= 500 && s.quirky():
			// A proxy's error page, as gateways in front of real providers send.
			s.restError(w, d.status, "Internal error (injected)")
			return
		case d.status >= 500:
			writeJSON(w, d.status, map[string]string{"message": "Internal error (injected)"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// dropConnection closes the client connection with no response.
func dropConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler) // HTTP/2: abort the stream
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // RST, like a dropped proxy connection
	}
	_ = conn.Close()
}

func (s *Server) adminRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /_admin/reset", func(w http.ResponseWriter, r *http.Request) {
		if err := s.Reset(); err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"message": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{})
	})
	mux.HandleFunc("POST /_admin/seed", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		sd := s.seed
		if len(bytes.TrimSpace(b)) > 0 {
			sd = Seed{}
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&sd); err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"message": "seed: " + err.Error()})
				return
			}
		}
		if err := s.Seed(sd); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{})
	})
	mux.HandleFunc("GET /_admin/state", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.State())
	})
	mux.HandleFunc("GET /_admin/faults", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Faults())
	})
	mux.HandleFunc("POST /_admin/faults", func(w http.ResponseWriter, r *http.Request) {
		f := s.Faults()
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": "faults: " + err.Error()})
			return
		}
		s.SetFaults(f)
		writeJSON(w, http.StatusOK, f)
	})
	mux.HandleFunc("GET /_admin/counters", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Counters())
	})
	mux.HandleFunc("DELETE /_admin/counters", func(w http.ResponseWriter, r *http.Request) {
		s.ResetCounters()
		writeJSON(w, http.StatusOK, map[string]string{})
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
