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
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/otds-highspot/otds-highspot/internal/config"
	"github.com/otds-highspot/otds-highspot/load"
	"github.com/otds-highspot/otds-highspot/load/highspot/wire"
)

var (
	_ load.Target       = (*SCIM)(nil)
	_ load.RequestPacer = (*SCIM)(nil)
)

// SCIMOptions configures NewSCIM. Zero values take the documented defaults.
type SCIMOptions struct {
	// BaseURL is the SCIM root, e.g. https://host/scim/v2.
	BaseURL string
	Token   config.Secret
	// UseBulk is "auto" (default: use /Bulk when ServiceProviderConfig says
	// bulk is supported) or "never".
	UseBulk string
	// BatchSize caps operations per Bulk request (default 50; the
	// provider's maxOperations is the upper bound).
	BatchSize int
	// PageSize is the count of list requests (default 100).
	PageSize   int
	Timeout    time.Duration
	HTTPClient *http.Client
	Logger     logrus.FieldLogger
}

// SCIM is the SCIM 2.0 (RFC 7643/7644) client. Safe for concurrent use; it
// never retries. ServiceProviderConfig is fetched once, on first need, and
// says which optional features to use; a feature the provider refuses at
// run time (an `or` filter answered invalidFilter, Bulk answered 501) is
// dropped for the rest of the client's life, with one log line each.
type SCIM struct {
	base    string
	hc      *http.Client
	token   config.Secret
	useBulk bool
	batch   int
	page    int
	log     logrus.FieldLogger
	now     func() time.Time

	mu        sync.Mutex
	spc       *wire.SCIMServiceProviderConfig
	caps      scimCaps
	fallbacks map[string]bool
}

// scimCaps is what the client uses of the provider, from
// ServiceProviderConfig and from refusals seen since.
type scimCaps struct {
	filter     bool // filter.supported
	or         bool // compound `or` filters accepted (assumed until refused)
	maxResults int  // filter.maxResults, 0 = not stated
	bulk       bool // Bulk used (supported, allowed by use_bulk, not refused)
	bulkOps    int  // operations per Bulk request
	bulkBytes  int  // bulk.maxPayloadSize, 0 = not stated
	patch      bool // patch.supported
}

// NewSCIM builds a SCIM client. It does no I/O.
func NewSCIM(o SCIMOptions) (*SCIM, error) {
	base := strings.TrimRight(o.BaseURL, "/")
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("highspot scim: base URL %q is not an http(s) URL; set highspot.scim.base_url", o.BaseURL)
	}
	if o.Token.IsZero() {
		return nil, errors.New("highspot scim: a bearer token is required; set highspot.scim.token")
	}
	c := &SCIM{base: base, hc: o.HTTPClient, token: o.Token, batch: o.BatchSize, page: o.PageSize, log: o.Logger, now: time.Now,
		fallbacks: map[string]bool{}}
	switch o.UseBulk {
	case "", "auto":
		c.useBulk = true
	case "never":
	default:
		return nil, fmt.Errorf("highspot scim: use_bulk %q: use auto or never", o.UseBulk)
	}
	if c.batch <= 0 {
		c.batch = 50
	}
	if c.page <= 0 {
		c.page = 100
	}
	if c.log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		c.log = l
	}
	if c.hc == nil {
		c.hc = newHTTPClient(o.Timeout)
	}
	return c, nil
}

// Discover fetches (once) and returns the ServiceProviderConfig, and sets
// the capabilities the client uses from it. A provider that does not serve
// it (404, 501) gets the conservative set: `eq` filters only, no Bulk.
func (c *SCIM) Discover(ctx context.Context) (*wire.SCIMServiceProviderConfig, error) {
	c.mu.Lock()
	if c.spc != nil {
		defer c.mu.Unlock()
		return c.spc, nil
	}
	c.mu.Unlock()
	var spc wire.SCIMServiceProviderConfig
	err := c.doJSON(ctx, http.MethodGet, c.base+"/ServiceProviderConfig", nil, &spc)
	var se *StatusError
	missing := errors.As(err, &se) && (se.Status == http.StatusNotFound || se.Status == http.StatusNotImplemented)
	if err != nil && !missing {
		return nil, fmt.Errorf("highspot scim: discover ServiceProviderConfig: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.spc != nil {
		return c.spc, nil
	}
	if missing {
		spc = wire.SCIMServiceProviderConfig{}
		spc.Filter.Supported, spc.Patch.Supported = true, true
		c.fallbackLocked("no-spc", fmt.Sprintf("GET /ServiceProviderConfig answered %d: assuming single `userName eq` filters, PATCH and no Bulk", se.Status))
	}
	c.spc = &spc
	c.caps = scimCaps{filter: spc.Filter.Supported, or: spc.Filter.Supported && !missing, maxResults: spc.Filter.MaxResults,
		bulk: c.useBulk && spc.Bulk.Supported, bulkOps: c.batch, bulkBytes: spc.Bulk.MaxPayloadSize, patch: spc.Patch.Supported}
	if m := spc.Bulk.MaxOperations; m > 0 && m < c.caps.bulkOps {
		c.caps.bulkOps = m
	}
	if c.useBulk && !spc.Bulk.Supported && !missing {
		c.fallbackLocked("no-bulk", "the provider does not support Bulk (ServiceProviderConfig bulk.supported=false): one request per user")
	}
	if !spc.Filter.Supported {
		c.fallbackLocked("no-filter", "the provider does not support filters (filter.supported=false): users are found by listing /Users")
	}
	if !spc.Patch.Supported {
		c.fallbackLocked("no-patch", "the provider does not support PATCH (patch.supported=false): users are updated with PUT")
	}
	return c.spc, nil
}

// fallbackLocked logs the fallback named key once. Call with c.mu held.
func (c *SCIM) fallbackLocked(key, msg string) {
	if c.fallbacks[key] {
		return
	}
	c.fallbacks[key] = true
	c.log.WithField("fallback", key).Warn("highspot scim: " + msg)
}

// Fallbacks lists the fallbacks chosen so far (sorted), for reports and tests.
func (c *SCIM) Fallbacks() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.fallbacks))
	for k := range c.fallbacks {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (c *SCIM) capabilities() scimCaps {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.caps
}

// drop turns a capability off after the provider refused it, logging once.
func (c *SCIM) drop(key, msg string, off func(*scimCaps)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	off(&c.caps)
	c.fallbackLocked(key, msg)
}

// bulkSize is the operations per Bulk request, or 0 when Bulk is not used.
// Call after Discover.
func (c *SCIM) bulkSize() int {
	cp := c.capabilities()
	if !cp.bulk {
		return 0
	}
	return max(cp.bulkOps, 1)
}

// pageSize is the count asked of list requests: the configured page size,
// at most filter.maxResults.
func (c *SCIM) pageSize() int {
	cp := c.capabilities()
	if cp.maxResults > 0 && cp.maxResults < c.page {
		return cp.maxResults
	}
	return c.page
}

// MaxBatch is the Bulk size once discovered (1 without Bulk). Before
// Discover has run it is the configured batch size (or 1 with use_bulk never);
// UpsertUsers accepts any number of users either way.
func (c *SCIM) MaxBatch() int {
	c.mu.Lock()
	discovered := c.spc != nil
	c.mu.Unlock()
	if !discovered {
		if c.useBulk {
			return c.batch
		}
		return 1
	}
	return max(c.bulkSize(), 1)
}

// PacesRequests says the client calls load.Pace before every HTTP request.
func (c *SCIM) PacesRequests() bool { return true }

// FindUserByEmail filters on userName eq "<email>".
func (c *SCIM) FindUserByEmail(ctx context.Context, email string) (*load.User, error) {
	if _, err := c.Discover(ctx); err != nil {
		return nil, err
	}
	us, err := c.findUsers(ctx, []string{email})
	if err != nil {
		return nil, fmt.Errorf("highspot scim: find user %s: %w", email, err)
	}
	if u, ok := us[strings.ToLower(email)]; ok {
		return &u, nil
	}
	return nil, nil
}

// findUsers looks userNames up: with `or` filters of up to maxResults terms
// where the provider takes them, else one `userName eq` per email, else
// (no filter support) by listing every user. Call after Discover.
func (c *SCIM) findUsers(ctx context.Context, emails []string) (map[string]load.User, error) {
	out := map[string]load.User{}
	cp := c.capabilities()
	if !cp.filter {
		want := map[string]bool{}
		for _, e := range emails {
			want[strings.ToLower(e)] = true
		}
		err := c.ListUsers(ctx, func(u load.User) error {
			if want[strings.ToLower(u.Email)] {
				out[strings.ToLower(u.Email)] = u
			}
			return nil
		})
		return out, err
	}
	chunk := len(emails)
	if cp.maxResults > 0 {
		chunk = min(chunk, cp.maxResults)
	}
	for i := 0; i < len(emails); {
		part := emails[i:min(i+max(chunk, 1), len(emails))]
		if len(part) > 1 && !c.capabilities().or {
			part = part[:1]
		}
		err := c.filterUsers(ctx, part, out)
		if len(part) > 1 && filterRefused(err) {
			c.drop("no-or-filter", fmt.Sprintf("the provider refused an `or` filter (%v): one `userName eq` lookup per user", err),
				func(cp *scimCaps) { cp.or = false })
			continue
		}
		if err != nil {
			return nil, err
		}
		i += len(part)
	}
	return out, nil
}

// filterRefused reports whether err is a provider refusing a filter it does
// not implement: 400 invalidFilter or tooMany, any 400 naming the filter,
// 403 tooMany, or 501.
func filterRefused(err error) bool {
	var se *StatusError
	if !errors.As(err, &se) {
		return false
	}
	switch se.Status {
	case http.StatusBadRequest:
		return true // a compound filter is the only thing in the request
	case http.StatusForbidden:
		return se.SCIMType == "tooMany"
	case http.StatusNotImplemented:
		return true
	}
	return false
}

func (c *SCIM) filterUsers(ctx context.Context, emails []string, into map[string]load.User) error {
	parts := make([]string, len(emails))
	for i, e := range emails {
		parts[i] = "userName eq " + scimQuote(e)
	}
	q := url.Values{"filter": {strings.Join(parts, " or ")}, "count": {strconv.Itoa(max(len(emails), 1))}}
	var list wire.SCIMList[wire.SCIMUser]
	if err := c.doJSON(ctx, http.MethodGet, c.base+"/Users?"+q.Encode(), nil, &list); err != nil {
		return err
	}
	for _, u := range list.Resources {
		into[strings.ToLower(u.UserName)] = fromSCIMUser(u)
	}
	return nil
}

// UpsertUsers creates the missing users (POST) and updates the others
// (PATCH replace of the name fields; PUT without PATCH support) — in Bulk
// requests when the provider supports them, otherwise one request per user.
// Users the caller marked (UserInput.ID, Absent) are not looked up again;
// the others are. A create answered 409 (the user exists: an earlier
// dropped request created it) becomes a lookup and an update. Per-operation
// failures are in the results; a request that fails as a whole returns the
// results so far and the error.
func (c *SCIM) UpsertUsers(ctx context.Context, users []load.UserInput) ([]load.UpsertResult, error) {
	if _, err := c.Discover(ctx); err != nil {
		return nil, err
	}
	var unknown []string
	for _, u := range users {
		if u.ID == "" && !u.Absent {
			unknown = append(unknown, u.Email)
		}
	}
	existing := map[string]load.User{}
	if len(unknown) > 0 {
		var err error
		if existing, err = c.findUsers(ctx, unknown); err != nil {
			return nil, fmt.Errorf("highspot scim: upsert users: look up %d user(s): %w", len(unknown), err)
		}
	}
	for _, u := range users {
		if u.ID != "" {
			existing[strings.ToLower(u.Email)] = load.User{ID: u.ID, Email: u.Email}
		}
	}
	out := make([]load.UpsertResult, 0, len(users))
	for start := 0; start < len(users); {
		chunk := c.bulkSize()
		if chunk == 0 {
			res, err := c.upsertEach(ctx, users[start:], existing)
			out = append(out, res...)
			if err != nil {
				return out, fmt.Errorf("highspot scim: upsert users %d..%d: %w", start+1, start+len(res)+1, err)
			}
			return out, nil
		}
		end := min(start+chunk, len(users))
		res, err := c.upsertBulk(ctx, users[start:end], existing)
		if errors.Is(err, errBulkRetry) {
			continue // Bulk dropped or made smaller: send the chunk again
		}
		out = append(out, res...)
		if err != nil {
			return out, fmt.Errorf("highspot scim: upsert users %d..%d: %w", start+1, end, err)
		}
		start = end
	}
	return out, nil
}

// throttledTail is the number of operations before a run of 429s that
// lasts to the end of a Bulk response (0 when there is none).
func throttledTail(ops []wire.SCIMBulkOperation) int {
	k := len(ops)
	for k > 0 && int(ops[k-1].Status) == http.StatusTooManyRequests {
		k--
	}
	if k == len(ops) {
		return 0
	}
	return k
}

// errBulkRetry says the Bulk request was refused in a way that changed the
// client's capabilities: send the same users again.
var errBulkRetry = errors.New("bulk capabilities changed")

func (c *SCIM) upsertEach(ctx context.Context, users []load.UserInput, existing map[string]load.User) ([]load.UpsertResult, error) {
	var out []load.UpsertResult
	for _, u := range users {
		r := load.UpsertResult{Email: u.Email}
		var err error
		if ex, ok := existing[strings.ToLower(u.Email)]; ok {
			r.ID = ex.ID
			err = c.update(ctx, ex.ID, u)
		} else {
			var created wire.SCIMUser
			err = c.doJSON(ctx, http.MethodPost, c.base+"/Users", mustJSON(scimUserBody(u)), &created)
			r.ID, r.Created = created.ID, err == nil
			if conflict(err) {
				r.ID, r.Created, err = c.updateExisting(ctx, u)
			} else if err == nil && created.ID == "" {
				err = &StatusError{Status: http.StatusUnprocessableEntity, Body: "the provider answered the create without a user id", Method: http.MethodPost, URL: c.base + "/Users"}
			}
		}
		if err != nil {
			if Retryable(err) {
				return out, err
			}
			r.ID, r.Created, r.Err = "", false, err
		}
		out = append(out, r)
	}
	return out, nil
}

// conflict reports a 409: the user exists.
func conflict(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Status == http.StatusConflict
}

// updateExisting handles a create answered 409: find the user and update it.
func (c *SCIM) updateExisting(ctx context.Context, u load.UserInput) (string, bool, error) {
	found, err := c.findUsers(ctx, []string{u.Email})
	if err != nil {
		return "", false, fmt.Errorf("create answered 409; look up the existing user: %w", err)
	}
	ex, ok := found[strings.ToLower(u.Email)]
	if !ok {
		return "", false, &StatusError{Status: http.StatusConflict, Body: "create answered 409 but no user with this userName is listed", Method: http.MethodPost, URL: c.base + "/Users"}
	}
	return ex.ID, false, c.update(ctx, ex.ID, u)
}

// update sends the profile of an existing user: PATCH, or PUT without
// PATCH support.
func (c *SCIM) update(ctx context.Context, id string, u load.UserInput) error {
	if !c.capabilities().patch {
		body := scimUserBody(u)
		delete(body, "active")
		return c.doJSON(ctx, http.MethodPut, c.base+"/Users/"+url.PathEscape(id), mustJSON(body), nil)
	}
	return c.doJSON(ctx, http.MethodPatch, c.base+"/Users/"+url.PathEscape(id), mustJSON(namePatch(u)), nil)
}

func (c *SCIM) upsertBulk(ctx context.Context, users []load.UserInput, existing map[string]load.User) ([]load.UpsertResult, error) {
	req := wire.SCIMBulkRequest{Schemas: []string{wire.SchemaBulkReq}}
	out := make([]load.UpsertResult, len(users))
	for i, u := range users {
		out[i].Email = u.Email
		id := "u" + strconv.Itoa(i)
		if ex, ok := existing[strings.ToLower(u.Email)]; ok {
			out[i].ID = ex.ID
			req.Operations = append(req.Operations, wire.SCIMBulkOperation{Method: http.MethodPatch, BulkID: id, Path: "/Users/" + ex.ID, Data: namePatch(u)})
		} else {
			out[i].Created = true
			req.Operations = append(req.Operations, wire.SCIMBulkOperation{Method: http.MethodPost, BulkID: id, Path: "/Users", Data: scimUserBody(u)})
		}
	}
	body := mustJSON(req)
	if lim := c.capabilities().bulkBytes; lim > 0 && len(body) > lim && len(users) > 1 {
		c.drop("bulk-smaller", fmt.Sprintf("a Bulk request of %d operations is %d bytes, over maxPayloadSize %d: smaller Bulk requests", len(users), len(body), lim),
			func(cp *scimCaps) { cp.bulkOps = max(len(users)/2, 1) })
		return nil, errBulkRetry
	}
	var resp wire.SCIMBulkResponse
	if err := c.doJSON(ctx, http.MethodPost, c.base+"/Bulk", body, &resp); err != nil {
		var se *StatusError
		if errors.As(err, &se) {
			switch {
			case se.Status == http.StatusNotImplemented || se.Status == http.StatusNotFound || se.Status == http.StatusMethodNotAllowed:
				c.drop("no-bulk", fmt.Sprintf("the provider refused Bulk (%d): one request per user", se.Status), func(cp *scimCaps) { cp.bulk = false })
				return nil, errBulkRetry
			case (se.Status == http.StatusRequestEntityTooLarge || se.SCIMType == "tooMany") && len(users) > 1:
				c.drop("bulk-smaller", fmt.Sprintf("the provider refused a Bulk request of %d operations (%d %s): smaller Bulk requests", len(users), se.Status, se.SCIMType),
					func(cp *scimCaps) { cp.bulkOps = max(len(users)/2, 1) })
				return nil, errBulkRetry
			}
		}
		return nil, err
	}
	done := make([]bool, len(users))
	var conflicts []int
	for j, op := range resp.Operations {
		i := j
		if strings.HasPrefix(op.BulkID, "u") {
			if n, err := strconv.Atoi(op.BulkID[1:]); err == nil {
				i = n
			}
		}
		if i < 0 || i >= len(users) {
			continue
		}
		done[i] = true
		st := int(op.Status)
		if st == http.StatusConflict && out[i].Created {
			conflicts = append(conflicts, i)
			continue
		}
		if st < 200 || st > 299 {
			out[i].ID, out[i].Created = "", false
			out[i].Err = &StatusError{Status: st, Body: errorMessage(op.Response), Method: op.Method, URL: c.base + "/Bulk " + req.Operations[i].Path}
			continue
		}
		if out[i].Created {
			if op.Location != "" {
				out[i].ID = path.Base(op.Location)
			} else {
				var u wire.SCIMUser
				_ = json.Unmarshal(op.Response, &u)
				out[i].ID = u.ID
			}
		}
	}
	for i := range out {
		if !done[i] {
			out[i].ID, out[i].Created = "", false
			out[i].Err = &StatusError{Status: http.StatusUnprocessableEntity, Body: "no result for this operation in the Bulk response", Method: http.MethodPost, URL: c.base + "/Bulk"}
		}
	}
	// A provider that runs the first k operations and answers the rest 429
	// inside a 200 is telling us its real Bulk size: use it from now on.
	if k := throttledTail(resp.Operations); k > 0 && k < len(users) {
		c.drop("bulk-smaller", fmt.Sprintf("the provider throttled Bulk operations past the %dth (per-operation 429): Bulk requests of %d", k, k),
			func(cp *scimCaps) { cp.bulkOps = min(cp.bulkOps, k) })
	}
	if len(conflicts) == 0 {
		return out, nil
	}
	// Creates answered 409: the users exist (an earlier request that was
	// lost on the way back created them). Find them with one lookup and
	// update them in one more Bulk request.
	emails := make([]string, len(conflicts))
	again := make([]load.UserInput, len(conflicts))
	for k, i := range conflicts {
		emails[k], again[k] = users[i].Email, users[i]
	}
	found, err := c.findUsers(ctx, emails)
	if err != nil {
		return out, fmt.Errorf("creates answered 409; look up the existing users: %w", err)
	}
	res, err := c.upsertBulk(ctx, again, found)
	if err != nil {
		return out, err
	}
	for k, i := range conflicts {
		out[i] = res[k]
		if _, ok := found[strings.ToLower(users[i].Email)]; !ok && out[i].Err == nil {
			out[i] = load.UpsertResult{Email: users[i].Email, Err: &StatusError{Status: http.StatusConflict,
				Body: "create answered 409 but no user with this userName is listed", Method: http.MethodPost, URL: c.base + "/Bulk"}}
		}
	}
	return out, nil
}

// SuspendUser sends PATCH replace active=false.
func (c *SCIM) SuspendUser(ctx context.Context, u load.User) error {
	if err := c.setActive(ctx, u, false); err != nil {
		return fmt.Errorf("highspot scim: suspend %s: %w", u.Email, err)
	}
	return nil
}

// ReactivateUser sends PATCH replace active=true.
func (c *SCIM) ReactivateUser(ctx context.Context, u load.User) error {
	if err := c.setActive(ctx, u, true); err != nil {
		return fmt.Errorf("highspot scim: reactivate %s: %w", u.Email, err)
	}
	return nil
}

func (c *SCIM) setActive(ctx context.Context, u load.User, active bool) error {
	id, err := c.userID(ctx, u)
	if err != nil {
		return err
	}
	p := patch(wire.SCIMOperation{Op: "replace", Path: "active", Value: active})
	return c.doJSON(ctx, http.MethodPatch, c.base+"/Users/"+url.PathEscape(id), mustJSON(p), nil)
}

// AddMember sends PATCH add members [{value: user id}] to the group.
func (c *SCIM) AddMember(ctx context.Context, g load.Group, u load.User) error {
	err := c.patchMembers(ctx, g, u, func(uid string) wire.SCIMOperation {
		return wire.SCIMOperation{Op: "add", Path: "members", Value: []wire.SCIMMulti{{Value: uid}}}
	})
	if err != nil {
		return fmt.Errorf("highspot scim: add %s to group %q: %w", u.Email, g.Name, err)
	}
	return nil
}

// RemoveMember sends PATCH remove members[value eq "<user id>"].
func (c *SCIM) RemoveMember(ctx context.Context, g load.Group, u load.User) error {
	err := c.patchMembers(ctx, g, u, func(uid string) wire.SCIMOperation {
		return wire.SCIMOperation{Op: "remove", Path: "members[value eq " + scimQuote(uid) + "]"}
	})
	if err != nil {
		return fmt.Errorf("highspot scim: remove %s from group %q: %w", u.Email, g.Name, err)
	}
	return nil
}

func (c *SCIM) patchMembers(ctx context.Context, g load.Group, u load.User, op func(string) wire.SCIMOperation) error {
	uid, err := c.userID(ctx, u)
	if err != nil {
		return err
	}
	gid := g.ID
	if gid == "" {
		f, err := c.FindGroup(ctx, g.Name)
		if err != nil {
			return err
		}
		if f == nil {
			return fmt.Errorf("group %q: %w", g.Name, ErrNotFound)
		}
		gid = f.ID
	}
	return c.doJSON(ctx, http.MethodPatch, c.base+"/Groups/"+url.PathEscape(gid), mustJSON(patch(op(uid))), nil)
}

func (c *SCIM) userID(ctx context.Context, u load.User) (string, error) {
	if u.ID != "" {
		return u.ID, nil
	}
	f, err := c.FindUserByEmail(ctx, u.Email)
	if err != nil {
		return "", err
	}
	if f == nil {
		return "", fmt.Errorf("user %s: %w", u.Email, ErrNotFound)
	}
	return f.ID, nil
}

// FindGroup filters on displayName eq "<name>" (lists /Groups when the
// provider has no filter support); nil, nil when absent.
func (c *SCIM) FindGroup(ctx context.Context, name string) (*load.Group, error) {
	if _, err := c.Discover(ctx); err != nil {
		return nil, err
	}
	var list wire.SCIMList[wire.SCIMGroup]
	if c.capabilities().filter {
		q := url.Values{"filter": {"displayName eq " + scimQuote(name)}, "excludedAttributes": {"members"}}
		if err := c.doJSON(ctx, http.MethodGet, c.base+"/Groups?"+q.Encode(), nil, &list); err != nil {
			return nil, fmt.Errorf("highspot scim: find group %q: %w", name, err)
		}
	} else {
		err := scimPages(ctx, c, "/Groups", url.Values{"excludedAttributes": {"members"}}, "group", scimGroupID, func(g wire.SCIMGroup) error {
			list.Resources = append(list.Resources, g)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("highspot scim: find group %q: list groups: %w", name, err)
		}
	}
	var fold *load.Group
	for _, g := range list.Resources {
		lg := load.Group{ID: g.ID, Name: g.DisplayName}
		if g.DisplayName == name {
			return &lg, nil
		}
		if fold == nil && strings.EqualFold(g.DisplayName, name) {
			fold = &lg
		}
	}
	return fold, nil
}

// CreateGroup creates a group (POST /Groups).
func (c *SCIM) CreateGroup(ctx context.Context, name, _ string) (*load.Group, error) {
	var g wire.SCIMGroup
	body := wire.SCIMGroup{Schemas: []string{wire.SchemaGroup}, DisplayName: name}
	if err := c.doJSON(ctx, http.MethodPost, c.base+"/Groups", mustJSON(body), &g); err != nil {
		return nil, fmt.Errorf("highspot scim: create group %q: %w", name, err)
	}
	return &load.Group{ID: g.ID, Name: g.DisplayName}, nil
}

// ListUsers pages through /Users (SCIM has no verified state: Verified is true).
func (c *SCIM) ListUsers(ctx context.Context, fn func(load.User) error) error {
	if _, err := c.Discover(ctx); err != nil {
		return err
	}
	err := scimPages(ctx, c, "/Users", url.Values{}, "user", func(u *wire.SCIMUser) string { return u.ID }, func(u wire.SCIMUser) error {
		return fn(fromSCIMUser(u))
	})
	if err != nil {
		return fmt.Errorf("highspot scim: list users: %w", err)
	}
	return nil
}

// ListGroups pages through /Groups (members included, for MemberCount).
func (c *SCIM) ListGroups(ctx context.Context, fn func(load.Group) error) error {
	if _, err := c.Discover(ctx); err != nil {
		return err
	}
	err := scimPages(ctx, c, "/Groups", url.Values{}, "group", scimGroupID, func(g wire.SCIMGroup) error {
		return fn(load.Group{ID: g.ID, Name: g.DisplayName, MemberCount: int64(len(g.Members))})
	})
	if err != nil {
		return fmt.Errorf("highspot scim: list groups: %w", err)
	}
	return nil
}

// scimPages walks a list by startIndex (1-based). It does not trust
// totalResults to end the walk (providers omit it or report the page size):
// it stops at an empty page (Resources absent or empty) or at a page
// shorter than an earlier one (the provider's real page size, which may be
// smaller than the count asked). Items are passed on once by id; a page that
// brings nothing new while more were promised is an error, so a provider
// that repeats itself never makes a partial list look complete.
//
// Items are decoded as T (named what in errors) once each, on the goroutine
// that fetched their page; idOf gives an item's id ("" for none). After a
// full page the next one is fetched while this one is passed on: the walk
// asks for it anyway unless this page brings nothing new, which ends the
// walk (the request fetched ahead is then cancelled).
func scimPages[T any](ctx context.Context, c *SCIM, p string, q url.Values, what string, idOf func(*T) string, fn func(T) error) error {
	ctx, cancel := context.WithCancel(ctx) // stops a page fetched ahead when the walk ends early
	defer cancel()
	start, biggest := 1, 0
	seen := map[string]bool{}
	guard := load.NewListGuard(ctx, p)
	count := c.pageSize()
	next := scimFetchPage(ctx, c, p, q, start, count, what, idOf)
	for {
		pg := <-next
		if pg.err != nil {
			return pg.err
		}
		n, fresh := len(pg.raws), 0
		next = nil
		if n >= count {
			next = scimFetchPage(ctx, c, p, q, start+n, count, what, idOf)
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
		// totalResults is not trusted to end the walk, nor to bound it:
		// providers report the page size there.
		if err := guard.Page(strconv.Itoa(start), pg.raws, fresh, -1); err != nil {
			return err
		}
		switch {
		case n == 0:
			return nil
		case fresh == 0:
			if pg.totalResults != nil && start-1 < *pg.totalResults {
				return fmt.Errorf("list %s: the page at startIndex %d repeats resources already listed (totalResults %d); stopping rather than returning a partial list as complete", p, start, *pg.totalResults)
			}
			return nil
		case n < biggest:
			return nil
		}
		biggest = max(biggest, n)
		start += n
		if next == nil {
			next = scimFetchPage(ctx, c, p, q, start, count, what, idOf)
		}
	}
}

// scimPage is one fetched page of a SCIM list, its resources decoded, or why
// it could not be fetched or decoded.
type scimPage[T any] struct {
	totalResults *int
	raws         []json.RawMessage // as sent (the loop guard hashes them)
	items        []T
	ids          []string
	err          error
}

// scimFetchPage requests the page at startIndex start on its own goroutine
// (with the list's retries) and delivers it on the returned channel, which is
// buffered: a page nobody waits for any more does not block the goroutine,
// and cancelling ctx ends its request.
func scimFetchPage[T any](ctx context.Context, c *SCIM, p string, q url.Values, start, count int, what string, idOf func(*T) string) <-chan scimPage[T] {
	q = maps.Clone(q)
	q.Set("startIndex", strconv.Itoa(start))
	q.Set("count", strconv.Itoa(count))
	ch := make(chan scimPage[T], 1)
	go func() {
		var pg scimPage[T]
		var list struct {
			TotalResults *int              `json:"totalResults"`
			Resources    []json.RawMessage `json:"Resources"`
		}
		pg.err = load.RetryPage(ctx, "list "+p+" startIndex="+strconv.Itoa(start), func(ctx context.Context) error {
			list.TotalResults, list.Resources = nil, nil
			return c.doJSON(ctx, http.MethodGet, c.base+p+"?"+q.Encode(), nil, &list)
		})
		if pg.err == nil {
			pg.totalResults, pg.raws = list.TotalResults, list.Resources
			pg.items, pg.ids, pg.err = decodeItems(list.Resources, what, idOf)
		}
		ch <- pg
	}()
	return ch
}

func scimGroupID(g *wire.SCIMGroup) string { return g.ID }

func (c *SCIM) doJSON(ctx context.Context, method, u string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", wire.ContentTypeSCIM+", application/json")
	if body != nil {
		req.Header.Set("Content-Type", wire.ContentTypeSCIM)
	}
	req.Header.Set("Authorization", "Bearer "+c.token.Reveal())
	if err := load.Pace(ctx); err != nil {
		return err
	}
	t0 := c.now()
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	c.log.WithFields(logrus.Fields{"method": method, "path": req.URL.Path, "status": resp.StatusCode, "ms": c.now().Sub(t0).Milliseconds()}).Debug("highspot scim request")
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return newStatusError(resp, c.now())
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("read %s %s response: %w", method, req.URL.Path, err)
	}
	if out == nil || len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decode %s %s response: %w", method, req.URL.Path, err)
	}
	return nil
}

func scimUserBody(u load.UserInput) map[string]any {
	m := map[string]any{
		"schemas":  []string{wire.SchemaUser},
		"userName": u.Email,
		"emails":   []wire.SCIMMulti{{Value: u.Email, Type: "work", Primary: true}},
		"active":   true,
	}
	name := map[string]string{}
	if u.Name != "" {
		name["givenName"] = u.Name
	}
	if u.Surname != "" {
		name["familyName"] = u.Surname
	}
	if len(name) > 0 {
		m["name"] = name
	}
	if u.DisplayName != "" {
		m["displayName"] = u.DisplayName
	}
	if d := u.Properties["department"]; d != "" {
		m["schemas"] = []string{wire.SchemaUser, wire.SchemaEnterpris}
		m[wire.SchemaEnterpris] = map[string]string{"department": d}
	}
	return m
}

func namePatch(u load.UserInput) wire.SCIMPatchOp {
	var ops []wire.SCIMOperation
	for _, kv := range [][2]string{{"name.givenName", u.Name}, {"name.familyName", u.Surname}, {"displayName", u.DisplayName}} {
		if kv[1] != "" {
			ops = append(ops, wire.SCIMOperation{Op: "replace", Path: kv[0], Value: kv[1]})
		}
	}
	if d := u.Properties["department"]; d != "" {
		ops = append(ops, wire.SCIMOperation{Op: "replace", Path: wire.SchemaEnterpris + ":department", Value: d})
	}
	if len(ops) == 0 {
		ops = append(ops, wire.SCIMOperation{Op: "replace", Path: "userName", Value: u.Email})
	}
	return patch(ops...)
}

func patch(ops ...wire.SCIMOperation) wire.SCIMPatchOp {
	return wire.SCIMPatchOp{Schemas: []string{wire.SchemaPatch}, Operations: ops}
}

func fromSCIMUser(u wire.SCIMUser) load.User {
	lu := load.User{ID: u.ID, Email: u.UserName, DisplayName: u.DisplayName, Suspended: u.Active != nil && !*u.Active, Verified: true}
	if u.Name != nil {
		lu.Name, lu.Surname = u.Name.GivenName, u.Name.FamilyName
	}
	for _, e := range u.Emails {
		if e.Primary && lu.Email == "" {
			lu.Email = e.Value
		}
	}
	for _, g := range u.Groups {
		lu.GroupIDs = append(lu.GroupIDs, g.Value)
	}
	return lu
}

// scimQuote quotes a filter value per RFC 7644 §3.4.2.2 (JSON string rules).
func scimQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("highspot: encode %T: %v", v, err)) // only our own types are encoded
	}
	return b
}
