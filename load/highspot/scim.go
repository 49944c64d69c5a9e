package highspot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/otds-highspot/otds-highspot/internal/config"
	"github.com/otds-highspot/otds-highspot/load"
	"github.com/otds-highspot/otds-highspot/load/highspot/wire"
)

var _ load.Target = (*SCIM)(nil)

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
// never retries. ServiceProviderConfig is fetched once, on first need.
type SCIM struct {
	base    string
	hc      *http.Client
	token   config.Secret
	useBulk bool
	batch   int
	page    int
	log     logrus.FieldLogger
	now     func() time.Time

	mu  sync.Mutex
	spc *wire.SCIMServiceProviderConfig
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
	c := &SCIM{base: base, hc: o.HTTPClient, token: o.Token, batch: o.BatchSize, page: o.PageSize, log: o.Logger, now: time.Now}
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

// Discover fetches (once) and returns the ServiceProviderConfig.
func (c *SCIM) Discover(ctx context.Context) (*wire.SCIMServiceProviderConfig, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.spc != nil {
		return c.spc, nil
	}
	var spc wire.SCIMServiceProviderConfig
	if err := c.doJSON(ctx, http.MethodGet, c.base+"/ServiceProviderConfig", nil, &spc); err != nil {
		return nil, fmt.Errorf("highspot scim: discover ServiceProviderConfig: %w", err)
	}
	c.spc = &spc
	return c.spc, nil
}

// bulkSize is the operations per Bulk request, or 0 when Bulk is not used.
// Call after Discover.
func (c *SCIM) bulkSize() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.useBulk || c.spc == nil || !c.spc.Bulk.Supported {
		return 0
	}
	n := c.batch
	if m := c.spc.Bulk.MaxOperations; m > 0 && m < n {
		n = m
	}
	return n
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

// FindUserByEmail filters on userName eq "<email>".
func (c *SCIM) FindUserByEmail(ctx context.Context, email string) (*load.User, error) {
	us, err := c.findUsers(ctx, []string{email})
	if err != nil {
		return nil, fmt.Errorf("highspot scim: find user %s: %w", email, err)
	}
	if u, ok := us[strings.ToLower(email)]; ok {
		return &u, nil
	}
	return nil, nil
}

// findUsers looks several userNames up with one or-filter.
func (c *SCIM) findUsers(ctx context.Context, emails []string) (map[string]load.User, error) {
	parts := make([]string, len(emails))
	for i, e := range emails {
		parts[i] = "userName eq " + scimQuote(e)
	}
	q := url.Values{"filter": {strings.Join(parts, " or ")}, "count": {strconv.Itoa(max(len(emails), 1))}}
	var list wire.SCIMList[wire.SCIMUser]
	if err := c.doJSON(ctx, http.MethodGet, c.base+"/Users?"+q.Encode(), nil, &list); err != nil {
		return nil, err
	}
	out := map[string]load.User{}
	for _, u := range list.Resources {
		out[strings.ToLower(u.UserName)] = fromSCIMUser(u)
	}
	return out, nil
}

// UpsertUsers looks the batch up with one filter, then creates the missing
// users (POST) and updates the others (PATCH replace of the name fields) —
// in Bulk requests when the provider supports them, otherwise one request
// per user. Per-operation failures are in the results; a request that fails
// as a whole returns the results so far and the error.
func (c *SCIM) UpsertUsers(ctx context.Context, users []load.UserInput) ([]load.UpsertResult, error) {
	if _, err := c.Discover(ctx); err != nil {
		return nil, err
	}
	chunk := c.bulkSize()
	bulk := chunk > 0
	if !bulk {
		chunk = c.batch
	}
	out := make([]load.UpsertResult, 0, len(users))
	for start := 0; start < len(users); start += chunk {
		end := min(start+chunk, len(users))
		part := users[start:end]
		emails := make([]string, len(part))
		for i, u := range part {
			emails[i] = u.Email
		}
		existing, err := c.findUsers(ctx, emails)
		if err != nil {
			return out, fmt.Errorf("highspot scim: upsert users %d..%d: look up: %w", start+1, end, err)
		}
		var res []load.UpsertResult
		if bulk {
			res, err = c.upsertBulk(ctx, part, existing)
		} else {
			res, err = c.upsertEach(ctx, part, existing)
		}
		out = append(out, res...)
		if err != nil {
			return out, fmt.Errorf("highspot scim: upsert users %d..%d: %w", start+1, end, err)
		}
	}
	return out, nil
}

func (c *SCIM) upsertEach(ctx context.Context, users []load.UserInput, existing map[string]load.User) ([]load.UpsertResult, error) {
	var out []load.UpsertResult
	for _, u := range users {
		r := load.UpsertResult{Email: u.Email}
		var err error
		if ex, ok := existing[strings.ToLower(u.Email)]; ok {
			r.ID = ex.ID
			err = c.doJSON(ctx, http.MethodPatch, c.base+"/Users/"+url.PathEscape(ex.ID), mustJSON(namePatch(u)), nil)
		} else {
			var created wire.SCIMUser
			err = c.doJSON(ctx, http.MethodPost, c.base+"/Users", mustJSON(scimUserBody(u)), &created)
			r.ID, r.Created = created.ID, err == nil
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
	var resp wire.SCIMBulkResponse
	if err := c.doJSON(ctx, http.MethodPost, c.base+"/Bulk", mustJSON(req), &resp); err != nil {
		return nil, err
	}
	done := make([]bool, len(users))
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

// FindGroup filters on displayName eq "<name>"; nil, nil when absent.
func (c *SCIM) FindGroup(ctx context.Context, name string) (*load.Group, error) {
	q := url.Values{"filter": {"displayName eq " + scimQuote(name)}, "excludedAttributes": {"members"}}
	var list wire.SCIMList[wire.SCIMGroup]
	if err := c.doJSON(ctx, http.MethodGet, c.base+"/Groups?"+q.Encode(), nil, &list); err != nil {
		return nil, fmt.Errorf("highspot scim: find group %q: %w", name, err)
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
	err := c.pages(ctx, "/Users", url.Values{}, decodeEach("user", func(u wire.SCIMUser) error {
		return fn(fromSCIMUser(u))
	}))
	if err != nil {
		return fmt.Errorf("highspot scim: list users: %w", err)
	}
	return nil
}

// ListGroups pages through /Groups (members included, for MemberCount).
func (c *SCIM) ListGroups(ctx context.Context, fn func(load.Group) error) error {
	err := c.pages(ctx, "/Groups", url.Values{}, decodeEach("group", func(g wire.SCIMGroup) error {
		return fn(load.Group{ID: g.ID, Name: g.DisplayName, MemberCount: int64(len(g.Members))})
	}))
	if err != nil {
		return fmt.Errorf("highspot scim: list groups: %w", err)
	}
	return nil
}

func (c *SCIM) pages(ctx context.Context, p string, q url.Values, fn func(json.RawMessage) error) error {
	start := 1
	for {
		q.Set("startIndex", strconv.Itoa(start))
		q.Set("count", strconv.Itoa(c.page))
		var list wire.SCIMList[json.RawMessage]
		if err := c.doJSON(ctx, http.MethodGet, c.base+p+"?"+q.Encode(), nil, &list); err != nil {
			return err
		}
		for _, raw := range list.Resources {
			if err := fn(raw); err != nil {
				return err
			}
		}
		start += len(list.Resources)
		if len(list.Resources) == 0 || start-1 >= list.TotalResults {
			return nil
		}
	}
}

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
