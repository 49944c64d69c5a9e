package highspot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/otds-highspot/otds-highspot/internal/config"
	"github.com/otds-highspot/otds-highspot/load"
	"github.com/otds-highspot/otds-highspot/load/highspot/hsconf"
	"github.com/otds-highspot/otds-highspot/load/highspot/wire"
)

var (
	_ load.Target       = (*REST)(nil)
	_ load.RequestPacer = (*REST)(nil)
)

// RESTOptions configures NewREST. Zero values take the documented defaults.
type RESTOptions struct {
	// BaseURL includes the version, e.g. https://api-su2.highspot.com/v1.0.
	BaseURL string
	// Auth is "basic" (default) or "oauth2" (client credentials, Bearer).
	Auth      string
	APIKey    config.Secret
	APISecret config.Secret
	// TokenURL defaults to BaseURL + "/auth/oauth2/token".
	TokenURL string
	// HSUser, when set, is sent as the hs-user impersonation header.
	HSUser string
	// PageLimit is the list page size (1..100, default 100).
	PageLimit int
	// BatchSize is the POST /users batch size (1..100, default 50).
	BatchSize int
	// Timeout bounds one request when HTTPClient is nil (default 30s).
	Timeout time.Duration
	// Endpoints are the templates of the weakly evidenced writes; zero
	// fields take hsconf's defaults (see hsconf.Endpoints).
	Endpoints hsconf.Endpoints
	// HTTPClient is used as is when set (tests inject httptest's client).
	HTTPClient *http.Client
	// PollInterval is the wait between polls of an async request (default 1s).
	PollInterval time.Duration
	Logger       logrus.FieldLogger
}

// REST is the Highspot REST v1.0 client. It is safe for concurrent use and
// never retries (the applier does); every method takes the caller's ctx.
type REST struct {
	base      string
	hc        *http.Client
	auth      string
	key       config.Secret
	secret    config.Secret
	tokenURL  string
	hsUser    string
	pageLimit int
	batchSize int
	ep        hsconf.Endpoints
	poll      time.Duration
	log       logrus.FieldLogger
	now       func() time.Time

	mu       sync.Mutex
	token    string
	tokenExp time.Time
}

// NewREST builds a REST client. It does no I/O.
func NewREST(o RESTOptions) (*REST, error) {
	base := strings.TrimRight(o.BaseURL, "/")
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("highspot rest: base URL %q is not an http(s) URL; set highspot.rest.base_url, e.g. https://api-su2.highspot.com/v1.0", o.BaseURL)
	}
	c := &REST{base: base, hc: o.HTTPClient, auth: o.Auth, key: o.APIKey, secret: o.APISecret, tokenURL: o.TokenURL,
		hsUser: o.HSUser, pageLimit: o.PageLimit, batchSize: o.BatchSize, poll: o.PollInterval, log: o.Logger, now: time.Now}
	if c.auth == "" {
		c.auth = "basic"
	}
	if c.auth != "basic" && c.auth != "oauth2" {
		return nil, fmt.Errorf("highspot rest: unknown auth %q; use basic or oauth2", c.auth)
	}
	if c.key.IsZero() || c.secret.IsZero() {
		return nil, errors.New("highspot rest: API key and secret are required; set highspot.rest.api_key and api_secret")
	}
	if c.tokenURL == "" {
		c.tokenURL = base + "/auth/oauth2/token"
	}
	if c.pageLimit <= 0 || c.pageLimit > 100 {
		c.pageLimit = 100
	}
	if c.batchSize <= 0 {
		c.batchSize = 50
	}
	if c.batchSize > 100 {
		c.batchSize = 100
	}
	if c.poll <= 0 {
		c.poll = time.Second
	}
	if c.log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		c.log = l
	}
	if c.hc == nil {
		c.hc = newHTTPClient(o.Timeout)
	}
	c.ep = o.Endpoints.WithDefaults()
	return c, nil
}

// newHTTPClient is the client used when none is injected: a cloned transport
// (never http.DefaultClient) with a request timeout.
func newHTTPClient(timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	tr.ResponseHeaderTimeout = timeout
	return &http.Client{Timeout: timeout, Transport: tr}
}

// MaxBatch is the POST /users batch size.
func (c *REST) MaxBatch() int { return c.batchSize }

// PacesRequests says the client calls load.Pace before every HTTP request
// (token requests and async polls included).
func (c *REST) PacesRequests() bool { return true }

// Me returns the calling (or impersonated) user: a cheap credentials check.
func (c *REST) Me(ctx context.Context) (*load.User, error) {
	var u wire.User
	if err := c.getJSON(ctx, "/me", nil, &u); err != nil {
		return nil, fmt.Errorf("highspot: get /me: %w", err)
	}
	lu := toLoadUser(u, true)
	return &lu, nil
}

// FindUserByEmail looks the email up with list=all so unverified users are
// found. When the response does not say whether the user is verified, a
// second lookup with list=unverified settles it.
func (c *REST) FindUserByEmail(ctx context.Context, email string) (*load.User, error) {
	q := url.Values{"email": {email}, "list": {"all"}, "exclude-fields": {"favorites"}}
	var coll wire.Collection[wire.User]
	if err := c.getJSON(ctx, "/users", q, &coll); err != nil {
		return nil, fmt.Errorf("highspot: find user %s: %w", email, err)
	}
	var found *wire.User
	for i := range coll.Collection {
		if strings.EqualFold(coll.Collection[i].Email, email) {
			found = &coll.Collection[i]
			break
		}
	}
	if found == nil {
		return nil, nil
	}
	verified := true
	if found.Verified != nil {
		verified = *found.Verified
	} else {
		q.Set("list", "unverified")
		var un wire.Collection[wire.User]
		if err := c.getJSON(ctx, "/users", q, &un); err != nil {
			return nil, fmt.Errorf("highspot: find user %s (verification state): %w", email, err)
		}
		for _, x := range un.Collection {
			if x.ID == found.ID {
				verified = false
			}
		}
	}
	u := toLoadUser(*found, verified)
	return &u, nil
}

// ListUsers pages through every user: first list=verified, then
// list=unverified, so each user's Verified flag is exact and none is missed.
func (c *REST) ListUsers(ctx context.Context, fn func(load.User) error) error {
	seen := map[string]bool{}
	for _, list := range []string{"verified", "unverified"} {
		q := url.Values{"list": {list}, "exclude-fields": {"favorites"}}
		err := listPages(ctx, c, "/users", q, "user", func(u *wire.User) string { return u.ID }, decodeUserPage, func(u wire.User) error {
			if seen[u.ID] {
				return nil
			}
			seen[u.ID] = true
			return fn(toLoadUser(u, list == "verified"))
		})
		if err != nil {
			return fmt.Errorf("highspot: list users (list=%s): %w", list, err)
		}
	}
	return nil
}

// ListGroups pages through every group.
func (c *REST) ListGroups(ctx context.Context, fn func(load.Group) error) error {
	err := listPages(ctx, c, "/groups", url.Values{}, "group", func(g *wire.Group) string { return g.ID }, nil, func(g wire.Group) error {
		return fn(toLoadGroup(g))
	})
	if err != nil {
		return fmt.Errorf("highspot: list groups: %w", err)
	}
	return nil
}

// FindGroup returns the group named name (exact match first, then
// case-insensitive), or nil, nil when there is none. It never creates.
func (c *REST) FindGroup(ctx context.Context, name string) (*load.Group, error) {
	var exact, fold *load.Group
	errStop := errors.New("stop")
	err := c.ListGroups(ctx, func(g load.Group) error {
		switch {
		case g.Name == name:
			exact = &g
			return errStop
		case fold == nil && strings.EqualFold(g.Name, name):
			fold = &g
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, fmt.Errorf("highspot: find group %q: %w", name, err)
	}
	if exact != nil {
		return exact, nil
	}
	return fold, nil
}

// CreateGroup creates a group (POST /groups, WEAK evidence) and returns it.
func (c *REST) CreateGroup(ctx context.Context, name, description string) (*load.Group, error) {
	body, _ := json.Marshal(map[string]string{"name": name, "description": description})
	var id wire.IDResponse
	if err := c.doJSON(ctx, http.MethodPost, c.base+"/groups", body, &id); err != nil {
		return nil, fmt.Errorf("highspot: create group %q: %w", name, err)
	}
	return &load.Group{ID: id.ID, Name: name, Description: description}, nil
}

// UpsertUsers sends POST /users in batches of MaxBatch. Each entry's outcome
// is in its UpsertResult (a rejected entry has Err set, a *StatusError with
// Status 422, and does not fail the batch). When a whole request fails, the
// results of the batches already sent are returned with the error.
func (c *REST) UpsertUsers(ctx context.Context, users []load.UserInput) ([]load.UpsertResult, error) {
	out := make([]load.UpsertResult, 0, len(users))
	for start := 0; start < len(users); start += c.batchSize {
		end := min(start+c.batchSize, len(users))
		res, err := c.upsertBatch(ctx, users[start:end])
		if err != nil {
			return out, fmt.Errorf("highspot: upsert users %d..%d of %d: %w", start+1, end, len(users), err)
		}
		out = append(out, res...)
	}
	return out, nil
}

func (c *REST) upsertBatch(ctx context.Context, users []load.UserInput) ([]load.UpsertResult, error) {
	entries := make([]wire.UpsertEntry, len(users))
	for i, u := range users {
		props := map[string]any{}
		for k, v := range u.Properties {
			props[k] = v
		}
		for k, v := range map[string]string{"name": u.Name, "surname": u.Surname, "display_name": u.DisplayName} {
			if v != "" {
				props[k] = v
			}
		}
		entries[i] = wire.UpsertEntry{Email: u.Email, Properties: props}
	}
	body, err := json.Marshal(entries)
	if err != nil {
		return nil, fmt.Errorf("encode batch: %w", err)
	}
	status, raw, err := c.send(ctx, http.MethodPost, c.base+"/users", body)
	if err != nil {
		return nil, err
	}
	if status == http.StatusAccepted {
		if raw, err = c.awaitRequest(ctx, raw); err != nil {
			return nil, err
		}
	}
	var coll wire.Collection[wire.UpsertResult]
	if err := json.Unmarshal(raw, &coll); err != nil {
		return nil, fmt.Errorf("decode POST /users response: %w", err)
	}
	out := make([]load.UpsertResult, len(users))
	for i, u := range users {
		out[i].Email = u.Email
		if i >= len(coll.Collection) {
			out[i].Err = &StatusError{Status: http.StatusUnprocessableEntity, Body: "no result for this entry in the POST /users response", Method: http.MethodPost, URL: c.base + "/users"}
			continue
		}
		r := coll.Collection[i]
		if r.Email != "" && !strings.EqualFold(r.Email, u.Email) {
			out[i].Err = &StatusError{Status: http.StatusUnprocessableEntity, Body: fmt.Sprintf("result %d is for %s, not %s", i, r.Email, u.Email), Method: http.MethodPost, URL: c.base + "/users"}
			continue
		}
		if !r.OK() || r.ID == "" {
			msg := r.Message
			if msg == "" {
				msg = "rejected with status " + strconv.Quote(r.Status)
			}
			out[i].Err = &StatusError{Status: http.StatusUnprocessableEntity, Body: msg, Method: http.MethodPost, URL: c.base + "/users"}
			continue
		}
		out[i].ID, out[i].Created = r.ID, r.Created
	}
	return out, nil
}

// awaitRequest polls /requests/{id} after a 202 and returns the result body.
func (c *REST) awaitRequest(ctx context.Context, accepted []byte) ([]byte, error) {
	var id wire.IDResponse
	if err := json.Unmarshal(accepted, &id); err != nil || id.ID == "" {
		return nil, fmt.Errorf("202 Accepted without a request id: %q", truncate(accepted))
	}
	for {
		var r wire.AsyncRequest
		if err := c.getJSON(ctx, "/requests/"+url.PathEscape(id.ID), nil, &r); err != nil {
			return nil, fmt.Errorf("poll request %s: %w", id.ID, err)
		}
		switch strings.ToLower(r.Status) {
		case "complete", "completed", "done", "success":
			_, raw, err := c.send(ctx, http.MethodGet, c.base+"/requests/"+url.PathEscape(id.ID)+"/result", nil)
			if err != nil {
				return nil, fmt.Errorf("get request %s result: %w", id.ID, err)
			}
			return raw, nil
		case "failed", "error":
			return nil, fmt.Errorf("async request %s failed", id.ID)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(c.poll):
		}
	}
}

// SuspendUser runs the suspend endpoint (default DELETE /users/{user_id}).
func (c *REST) SuspendUser(ctx context.Context, u load.User) error {
	if err := c.runEndpoint(ctx, "suspend", c.ep.Suspend, u, load.Group{}); err != nil {
		return fmt.Errorf("highspot: suspend %s: %w", u.Email, err)
	}
	return nil
}

// ReactivateUser runs the reactivate endpoint (default: the POST /users
// upsert with properties.suspended=false, PROPOSED).
func (c *REST) ReactivateUser(ctx context.Context, u load.User) error {
	if err := c.runEndpoint(ctx, "reactivate", c.ep.Reactivate, u, load.Group{}); err != nil {
		return fmt.Errorf("highspot: reactivate %s: %w", u.Email, err)
	}
	return nil
}

// AddMember runs the add_member endpoint (default POST /groups/{group_id}/users).
func (c *REST) AddMember(ctx context.Context, g load.Group, u load.User) error {
	if err := c.runEndpoint(ctx, "add_member", c.ep.AddMember, u, g); err != nil {
		return fmt.Errorf("highspot: add %s to group %q: %w", u.Email, g.Name, err)
	}
	return nil
}

// RemoveMember runs the remove_member endpoint (default DELETE /groups/{group_id}/users/{user_id}).
func (c *REST) RemoveMember(ctx context.Context, g load.Group, u load.User) error {
	if err := c.runEndpoint(ctx, "remove_member", c.ep.RemoveMember, u, g); err != nil {
		return fmt.Errorf("highspot: remove %s from group %q: %w", u.Email, g.Name, err)
	}
	return nil
}

// runEndpoint fills the template's placeholders (looking up a missing user id,
// email or group id first) and sends it. A 2xx whose body holds a collection
// with an entry in error is a *StatusError with Status 422.
func (c *REST) runEndpoint(ctx context.Context, name string, ep hsconf.Endpoint, u load.User, g load.Group) error {
	tmpl := ep.Path + " " + ep.Body
	if strings.Contains(tmpl, "{user_id}") && u.ID == "" || strings.Contains(tmpl, "{email}") && u.Email == "" {
		r, err := c.resolveUser(ctx, u)
		if err != nil {
			return err
		}
		u = r
	}
	if strings.Contains(tmpl, "{group_id}") && g.ID == "" {
		f, err := c.FindGroup(ctx, g.Name)
		if err != nil {
			return err
		}
		if f == nil {
			return fmt.Errorf("group %q: %w", g.Name, ErrNotFound)
		}
		g = *f
	}
	vals := map[string]string{"{user_id}": u.ID, "{email}": u.Email, "{group_id}": g.ID, "{group_name}": g.Name}
	path, body := ep.Path, ep.Body
	for k, v := range vals {
		path = strings.ReplaceAll(path, k, url.PathEscape(v))
		js, _ := json.Marshal(v)
		body = strings.ReplaceAll(body, k, string(js[1:len(js)-1]))
	}
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	_, raw, err := c.send(ctx, ep.Method, c.base+path, b)
	if err != nil {
		return err
	}
	var coll struct {
		Collection []wire.UpsertResult `json:"collection"`
	}
	if json.Unmarshal(raw, &coll) == nil {
		for _, r := range coll.Collection {
			if !r.OK() {
				msg := r.Message
				if msg == "" {
					msg = fmt.Sprintf("%s: entry %s rejected with status %q", name, r.Email, r.Status)
				}
				return &StatusError{Status: http.StatusUnprocessableEntity, Body: msg, Method: ep.Method, URL: c.base + path}
			}
		}
	}
	return nil
}

// resolveUser fills a missing id (by email) or email (by id).
func (c *REST) resolveUser(ctx context.Context, u load.User) (load.User, error) {
	if u.Email != "" {
		f, err := c.FindUserByEmail(ctx, u.Email)
		if err != nil {
			return u, err
		}
		if f == nil {
			return u, fmt.Errorf("user %s: %w", u.Email, ErrNotFound)
		}
		return *f, nil
	}
	if u.ID == "" {
		return u, errors.New("user has neither id nor email")
	}
	var w wire.User
	if err := c.getJSON(ctx, "/users/"+url.PathEscape(u.ID), nil, &w); err != nil {
		return u, err
	}
	return toLoadUser(w, u.Verified), nil
}

// pages walks a start/limit list. It passes each item on once (by id: some
// servers start a page with the previous page's last item) and stops at
// counts_total when sent, at an empty page, at a page that brings nothing
// new (a server that answers past the end with its last item again), or,
// without counts_total, at a page shorter than an earlier one (the server's
// real page size may be below the limit asked). A page with nothing new while
// counts_total promises more is an error: a partial list never looks complete.
//
// Items are decoded as T (named what in errors) on the goroutine that
// fetched their page, once each; idOf gives an item's id ("" for none).
// fast, when set, decodes a whole page in one pass (decodeUserPage); a body
// it declines is decoded the general way.
func listPages[T any](ctx context.Context, c *REST, path string, q url.Values, what string, idOf func(*T) string, fast func([]byte) (page[T], bool), fn func(T) error) error {
	ctx, cancel := context.WithCancel(ctx) // stops a page fetched ahead when the walk ends early
	defer cancel()
	start, biggest := 0, 0
	seen := map[string]bool{}
	guard := load.NewListGuard(ctx, path)
	next := fetchPage(ctx, c, path, q, start, what, idOf, fast)
	for {
		pg := <-next
		if pg.err != nil {
			return pg.err
		}
		n, fresh := len(pg.raws), 0
		// The next page is fetched while this one is passed on, when the walk
		// is sure to go on unless the page repeats what was listed: a full
		// page short of counts_total (or without it). A page fetched ahead
		// is never one the walk below would not have asked for itself, except
		// after a page that brings nothing new, which ends the walk anyway.
		next = nil
		if n > 0 && n >= c.pageLimit && (pg.countsTotal <= 0 || start+n < pg.countsTotal) {
			next = fetchPage(ctx, c, path, q, start+n, what, idOf, fast)
		}
		for i, id := range pg.ids {
			if id != "" && seen[id] {
				continue
			}
			seen[id] = id != ""
			fresh++
			if err := fn(pg.items[i]); err != nil {
				return err
			}
		}
		total := -1
		if pg.countsTotal > 0 {
			total = pg.countsTotal
		}
		if err := guard.Page(strconv.Itoa(start), pg.raws, fresh, total); err != nil {
			return err
		}
		start += n
		switch {
		case n == 0:
			return nil
		case fresh == 0:
			if pg.countsTotal > 0 && len(seen) < pg.countsTotal {
				return fmt.Errorf("list %s: the page at start %d repeats items already listed (%d of counts_total %d seen); stopping rather than returning a partial list as complete", path, start-n, len(seen), pg.countsTotal)
			}
			return nil
		case pg.countsTotal > 0:
			if start >= pg.countsTotal {
				return nil
			}
		case n < biggest:
			return nil
		}
		biggest = max(biggest, n)
		if next == nil {
			next = fetchPage(ctx, c, path, q, start, what, idOf, fast)
		}
	}
}

// page is one fetched page of a start/limit list, its items decoded, or why
// it could not be fetched or decoded.
type page[T any] struct {
	countsTotal int
	raws        []json.RawMessage // as sent (the loop guard hashes them)
	items       []T
	ids         []string
	err         error
}

// fetchPage requests the page of path at start on its own goroutine (with
// the list's retries) and delivers it on the returned channel, which is
// buffered: a page nobody waits for any more does not block the goroutine,
// and cancelling ctx ends its request.
func fetchPage[T any](ctx context.Context, c *REST, path string, q url.Values, start int, what string, idOf func(*T) string, fast func([]byte) (page[T], bool)) <-chan page[T] {
	q = maps.Clone(q)
	q.Set("start", strconv.Itoa(start))
	q.Set("limit", strconv.Itoa(c.pageLimit))
	ch := make(chan page[T], 1)
	go func() {
		var pg, fastPg page[T]
		var coll wire.Collection[json.RawMessage]
		decoded := false
		try := func(body []byte) bool {
			if fast == nil {
				return false
			}
			fastPg, decoded = fast(body)
			return decoded
		}
		pg.err = load.RetryPage(ctx, "list "+path+" start="+strconv.Itoa(start), func(ctx context.Context) error {
			coll, decoded = wire.Collection[json.RawMessage]{}, false
			u := c.base + path + "?" + q.Encode()
			return c.doJSONWith(ctx, http.MethodGet, u, nil, &coll, try)
		})
		switch {
		case pg.err != nil:
		case decoded:
			pg = fastPg
		default:
			pg.countsTotal, pg.raws = coll.CountsTotal, coll.Collection
			pg.items, pg.ids, pg.err = decodeItems(coll.Collection, what, idOf)
		}
		ch <- pg
	}()
	return ch
}

// decodeItems decodes a listed page's raw items as T (named what in
// errors), with each one's id ("" for none).
func decodeItems[T any](raws []json.RawMessage, what string, idOf func(*T) string) ([]T, []string, error) {
	items, ids := make([]T, len(raws)), make([]string, len(raws))
	for i, raw := range raws {
		if err := json.Unmarshal(raw, &items[i]); err != nil {
			return nil, nil, fmt.Errorf("decode %s: %w", what, err)
		}
		ids[i] = idOf(&items[i])
	}
	return items, ids, nil
}

func (c *REST) getJSON(ctx context.Context, path string, q url.Values, out any) error {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return c.doJSON(ctx, http.MethodGet, u, nil, out)
}

func (c *REST) doJSON(ctx context.Context, method, u string, body []byte, out any) error {
	return c.doJSONWith(ctx, method, u, body, out, nil)
}

// doJSONWith is doJSON that first offers the response body to try (when
// set): a body try takes (true) is not decoded into out.
func (c *REST) doJSONWith(ctx context.Context, method, u string, body []byte, out any, try func([]byte) bool) error {
	_, raw, err := c.send(ctx, method, u, body)
	if err != nil {
		return err
	}
	if try != nil && try(raw) {
		return nil
	}
	if out == nil || len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decode %s %s response: %w", method, u, err)
	}
	return nil
}

// send does one request and returns the status and body of a 2xx response;
// anything else is a *StatusError. Transport errors are returned as they are
// (Retryable classifies them).
func (c *REST) send(ctx context.Context, method, u string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.hsUser != "" {
		req.Header.Set("hs-user", c.hsUser)
	}
	if err := c.authorize(ctx, req); err != nil {
		return 0, nil, err
	}
	if err := load.Pace(ctx); err != nil {
		return 0, nil, err
	}
	t0 := c.now()
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	c.log.WithFields(logrus.Fields{"method": method, "path": req.URL.Path, "status": resp.StatusCode, "ms": c.now().Sub(t0).Milliseconds()}).Debug("highspot request")
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		if resp.StatusCode == http.StatusUnauthorized && c.auth == "oauth2" {
			c.mu.Lock()
			c.token = ""
			c.mu.Unlock()
		}
		return resp.StatusCode, nil, newStatusError(resp, c.now())
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("read %s %s response: %w", method, req.URL.Path, err)
	}
	return resp.StatusCode, raw, nil
}

func (c *REST) authorize(ctx context.Context, req *http.Request) error {
	if c.auth == "basic" {
		req.SetBasicAuth(c.key.Reveal(), c.secret.Reveal())
		return nil
	}
	tok, err := c.bearer(ctx)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	return nil
}

// bearer returns a cached OAuth2 client-credentials token, fetching a new one
// 30 s before the old one expires.
func (c *REST) bearer(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && c.now().Before(c.tokenExp) {
		return c.token, nil
	}
	form := url.Values{"grant_type": {"client_credentials"}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.tokenURL, strings.NewReader(form))
	if err != nil {
		return "", fmt.Errorf("oauth2 token: build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(c.key.Reveal(), c.secret.Reveal())
	if err := load.Pace(ctx); err != nil {
		return "", err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("oauth2 token: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("oauth2 token: %w", newStatusError(resp, c.now()))
	}
	var t wire.Token
	if err := json.NewDecoder(resp.Body).Decode(&t); err != nil || t.AccessToken == "" {
		return "", fmt.Errorf("oauth2 token: response without access_token (%v)", err)
	}
	exp := time.Duration(t.ExpiresIn) * time.Second
	if exp <= 0 {
		exp = time.Hour
	}
	if exp > time.Minute {
		exp -= 30 * time.Second
	}
	c.token, c.tokenExp = t.AccessToken, c.now().Add(exp)
	return c.token, nil
}

func toLoadUser(u wire.User, verified bool) load.User {
	return load.User{ID: u.ID, Email: u.Email, Name: u.Name, Surname: u.Surname, DisplayName: u.DisplayName,
		Suspended: u.Suspended, Verified: verified, GroupIDs: u.Groups}
}

func toLoadGroup(g wire.Group) load.Group {
	return load.Group{ID: g.ID, Name: g.DisplayName(), Description: g.Description, MemberCount: g.MemberCount}
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}
