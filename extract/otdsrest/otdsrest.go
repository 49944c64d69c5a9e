// Package otdsrest owns the otds-rest source: it signs in to OTDS (ticket via
// POST /rest/authentication/credentials, or OAuth2 client credentials),
// pages GET /rest/users and /rest/groups per partition with page_size and
// next_page_cookie (attrsAsKeys=true), reads each group's direct members with
// GET /rest/groups/{uuid}/members, and emits the same rows as the ldap and
// ldif sources through the shared entry mapping (extract/entry).
//
// Memberships come from /groups/{id}/members, not from inverting the users'
// oTMemberOf: the group's member list is what the LDAP and LDIF sources read
// (oTMember), it includes members from partitions the tree does not publish
// (cross-partition members), and it needs no tree-sized map in memory. The
// cost is one paged request per group.
//
// What REST cannot reproduce exactly (see ldiftest.Canonical for how the
// equivalence test normalizes it): a member that points nowhere (OTDS keeps
// no such member); DN is the entryDN attribute when present (the LDAP DN on
// an OpenDJ-era OTDS, a pseudo-DN oTPerson=<uuid>,... on a database-era
// one), else location; member_of holds REST pseudo-DNs
// oTGroup=<uuid>,...; disabled/locked are REST's accountDisabled /
// accountLockedOut ("true"/"false", always present).
package otdsrest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/otds-highspot/otds-highspot/extract"
	"github.com/otds-highspot/otds-highspot/extract/entry"
	"github.com/otds-highspot/otds-highspot/extract/extractconf"
	"github.com/otds-highspot/otds-highspot/extract/otdsrest/restconf"
	"github.com/otds-highspot/otds-highspot/internal/config/section"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/internal/retry"
)

// restAliases maps LDAP attribute names (the tree's mapping defaults) to the
// name OTDS REST uses for the same value.
var restAliases = map[string]string{
	"ds-pwp-account-disabled": "accountdisabled",
}

// Source reads one tree over the OTDS REST API.
type Source struct {
	tree   extractconf.Tree
	cfg    restconf.Config
	base   string // URL without trailing slash
	client *http.Client
	log    logrus.FieldLogger
	mapper *entry.Mapper

	password, clientSecret section.Secret

	backoff retry.Backoff                                    // the wait between attempts (internal/retry)
	sleep   func(ctx context.Context, d time.Duration) error // retry.Sleep; tests record the waits instead

	mu   sync.Mutex
	auth string // current ticket or bearer token
}

// New returns the otds-rest source of tree (config defaults applied). client
// may be nil (a default client is built); when rest.ca_file or rest.insecure
// is set, the client's transport is replaced by one with those TLS settings.
// Secrets are resolved now through getenv.
func New(tree extractconf.Tree, getenv func(string) string, client *http.Client, log logrus.FieldLogger) (extract.Source, error) {
	return newSource(tree, getenv, client, log)
}

func newSource(tree extractconf.Tree, getenv func(string) string, client *http.Client, log logrus.FieldLogger) (*Source, error) {
	cfg := tree.Rest
	s := &Source{tree: tree, cfg: cfg, base: strings.TrimRight(cfg.URL, "/"), log: log.WithField("tree", tree.Name),
		backoff: retry.Backoff{Base: 500 * time.Millisecond, Max: 10 * time.Second, MaxRetryAfter: maxRetryAfter},
		sleep:   retry.Sleep}
	if s.cfg.PageSize == 0 {
		s.cfg.PageSize = restconf.DefaultPageSize
	}
	if s.cfg.Timeout == 0 {
		s.cfg.Timeout = restconf.DefaultTimeout
	}
	if s.base == "" {
		return nil, fmt.Errorf("tree %s: rest.url is empty; set the OTDS web service base, e.g. https://otds.example.com/otdsws", tree.Name)
	}
	if _, err := url.Parse(s.base); err != nil {
		return nil, fmt.Errorf("tree %s: rest.url: %w", tree.Name, err)
	}
	var err error
	switch cfg.Auth {
	case "", "ticket":
		if s.password, err = cfg.Password.Resolve("trees."+tree.Name+".rest.password", getenv); err != nil {
			return nil, err
		}
	case "oauth2":
		if s.clientSecret, err = cfg.ClientSecret.Resolve("trees."+tree.Name+".rest.client_secret", getenv); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("tree %s: rest.auth %q is not supported; use ticket or oauth2", tree.Name, cfg.Auth)
	}
	if client == nil || cfg.CAFile != "" || cfg.Insecure {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("tree %s: rest.ca_file: %w", tree.Name, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("tree %s: rest.ca_file %s holds no PEM certificate", tree.Name, cfg.CAFile)
			}
			tc.RootCAs = pool
		}
		if cfg.Insecure {
			s.log.Warn("rest.insecure is set: the OTDS server certificate is NOT verified")
			tc.InsecureSkipVerify = true
		}
		tr.TLSClientConfig = tc
		c := &http.Client{}
		if client != nil {
			*c = *client
		}
		c.Transport = tr
		client = c
	}
	s.client = client
	s.mapper = entry.NewMapper(&s.tree)
	return s, nil
}

// maxRetryAfter caps how long one Retry-After of the OTDS server may pause
// the extract.
const maxRetryAfter = time.Minute

// statusError is a non-2xx answer.
type statusError struct {
	code       int
	body       string
	retryAfter time.Duration // the answer's Retry-After; 0 = none
}

func (e *statusError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.code, http.StatusText(e.code), e.body)
}

func (e *statusError) expired() bool {
	if e.code == http.StatusUnauthorized {
		return true
	}
	if e.code == http.StatusBadRequest {
		var b struct {
			Status int `json:"status"`
		}
		return json.Unmarshal([]byte(e.body), &b) == nil && b.Status == 1034
	}
	return false
}

// retryable is the project's one decision (internal/retry): 429, 500, 502,
// 503, 504; not 501 or any other status.
func (e *statusError) retryable() bool { return retry.Status(e.code) }

// signIn gets a new ticket or token.
func (s *Source) signIn(ctx context.Context) error {
	var req *http.Request
	var err error
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	if s.cfg.Auth == "oauth2" {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {s.cfg.ClientID}, "client_secret": {s.clientSecret.Reveal()}}
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/oauth2/token", strings.NewReader(form.Encode()))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		body, _ := json.Marshal(map[string]string{"userName": s.cfg.Username, "password": s.password.Reveal()})
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/rest/authentication/credentials", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("sign in to %s: %w", s.base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("sign in to %s: read answer: %w", s.base, err)
	}
	if resp.StatusCode/100 != 2 {
		err := fmt.Errorf("sign in to %s as %s: %w; check the credentials in the tree's rest settings", s.base, s.who(), &statusError{code: resp.StatusCode, body: truncate(string(b), 300)})
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			return exitcode.Wrap(exitcode.Auth, err) // retrying a wrong password can lock the account
		}
		return err
	}
	var a struct {
		Ticket        string `json:"ticket"`
		AccessToken   string `json:"access_token"`
		FailureReason string `json:"failureReason"`
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return fmt.Errorf("sign in to %s: answer is not JSON: %w", s.base, err)
	}
	tok := a.Ticket
	if s.cfg.Auth == "oauth2" {
		tok = "Bearer " + a.AccessToken
		if a.AccessToken == "" {
			tok = ""
		}
	}
	if tok == "" {
		return exitcode.New(exitcode.Auth, "sign in to %s as %s: no ticket in the answer (%s); check the credentials in the tree's rest settings", s.base, s.who(), a.FailureReason)
	}
	s.mu.Lock()
	s.auth = tok
	s.mu.Unlock()
	return nil
}

func (s *Source) who() string {
	if s.cfg.Auth == "oauth2" {
		return "client " + s.cfg.ClientID
	}
	return "user " + s.cfg.Username
}

// get fetches <base>/rest<path>?q into v: retries what internal/retry calls
// transient (429, 500, 502, 503, 504, timeouts, dropped connections), at most
// rest.retries times, waiting the server's Retry-After or a full-jitter
// backoff, and signs in again once when the ticket has expired (401, or 400
// status 1034).
func (s *Source) get(ctx context.Context, path string, q url.Values, v any) error {
	u := s.base + "/rest" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	reauthed := false
	retries := s.cfg.RetryCount()
	for attempt := 0; ; attempt++ {
		err := s.getOnce(ctx, u, v)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var se *statusError
		if errors.As(err, &se) && se.expired() {
			if reauthed {
				return exitcode.Wrap(exitcode.Auth, fmt.Errorf("GET %s: the ticket was refused right after signing in again (the account lacks the right to read this, or was disabled): %w", path, err))
			}
			reauthed = true
			s.log.Info("OTDS ticket expired; signing in again")
			if err := s.signIn(ctx); err != nil {
				return err
			}
			attempt--
			continue
		}
		if errors.As(err, &se) && se.code == http.StatusForbidden {
			return exitcode.Wrap(exitcode.Auth, fmt.Errorf("GET %s: %w; the account %s may not read this (check its OTDS permissions)", path, err, s.who()))
		}
		isStatus := errors.As(err, &se)
		if isStatus && !se.retryable() || !isStatus && !retry.Transport(err) {
			return fmt.Errorf("GET %s: %w", path, err)
		}
		if attempt >= retries {
			return fmt.Errorf("GET %s: %w (after %d attempts); check the OTDS server's health", path, err, attempt+1)
		}
		s.log.WithFields(logrus.Fields{"path": path, "attempt": attempt + 1, "error": err.Error()}).Warn("OTDS request failed; retrying")
		var after time.Duration
		if isStatus {
			after = se.retryAfter
		}
		d := s.backoff.Delay(attempt+1, after)
		if serr := s.sleep(ctx, d); serr != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("GET %s: %w (after %d attempts; waiting %v more would pass the deadline: %w)", path, err, attempt+1, d, serr)
		}
	}
}

func (s *Source) getOnce(ctx context.Context, u string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	s.mu.Lock()
	tok := s.auth
	s.mu.Unlock()
	if strings.HasPrefix(tok, "Bearer ") {
		req.Header.Set("Authorization", tok)
	} else {
		req.Header.Set("OTDSTicket", tok)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return &statusError{code: resp.StatusCode, body: truncate(string(b), 300),
			retryAfter: retry.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	}
	dec := json.NewDecoder(resp.Body)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || isNetErr(err) {
			return fmt.Errorf("connection dropped while reading the answer: %w", err)
		}
		return &statusError{code: http.StatusBadGateway, body: "answer is not the expected JSON: " + err.Error()}
	}
	return nil
}

func isNetErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// object is one user or group in a REST answer.
type object struct {
	UserPartitionID string                     `json:"userPartitionID"`
	Name            string                     `json:"name"`
	UUID            string                     `json:"uuid"`
	ObjectClass     string                     `json:"objectClass"`
	Location        string                     `json:"location"`
	Description     *string                    `json:"description"`
	NumMembers      *int64                     `json:"numMembers"`
	Attributes      map[string]json.RawMessage `json:"attributes"`
	Values          json.RawMessage            `json:"values"`
}

// memberPage is a /members answer decoded for the member ids only.
type memberPage struct {
	Users          []memberRef `json:"users"`
	Groups         []memberRef `json:"groups"`
	Members        []memberRef `json:"members"`
	NextPageCookie *string     `json:"nextPageCookie"`
}

type memberRef struct {
	UUID string `json:"uuid"`
}

type listPage struct {
	Users          []object `json:"users"`
	Groups         []object `json:"groups"`
	Members        []object `json:"members"`
	NextPageCookie *string  `json:"nextPageCookie"`
}

// attrs is a case-insensitive view of an object's attributes (attrsAsKeys
// map, or the values list when the server ignores attrsAsKeys).
type attrs map[string][][]byte

func (a attrs) get(name string) [][]byte {
	k := strings.ToLower(name)
	if v, ok := a[k]; ok {
		return v
	}
	if alias, ok := restAliases[k]; ok {
		return a[alias]
	}
	return nil
}

func rawStrings(m json.RawMessage) ([][]byte, error) {
	if len(m) == 0 || string(m) == "null" {
		return nil, nil
	}
	var ss []*string
	if err := json.Unmarshal(m, &ss); err != nil {
		var one string
		if err2 := json.Unmarshal(m, &one); err2 == nil {
			return [][]byte{[]byte(one)}, nil
		}
		var anys []any
		if err2 := json.Unmarshal(m, &anys); err2 != nil {
			return nil, err
		}
		out := make([][]byte, 0, len(anys))
		for _, a := range anys {
			if a != nil {
				out = append(out, []byte(fmt.Sprint(a)))
			}
		}
		return out, nil
	}
	out := make([][]byte, 0, len(ss))
	for _, p := range ss {
		if p != nil {
			out = append(out, []byte(*p))
		}
	}
	return out, nil
}

func (o *object) attrs() (attrs, error) {
	a := attrs{}
	for k, v := range o.Attributes {
		vals, err := rawStrings(v)
		if err != nil {
			return nil, fmt.Errorf("attribute %s: %w", k, err)
		}
		a[strings.ToLower(k)] = vals
	}
	if len(o.Attributes) == 0 && len(o.Values) > 0 && string(o.Values) != "null" {
		var list []struct {
			Name   string          `json:"name"`
			Values json.RawMessage `json:"values"`
		}
		if err := json.Unmarshal(o.Values, &list); err != nil {
			return nil, fmt.Errorf("values: %w", err)
		}
		for _, e := range list {
			vals, err := rawStrings(e.Values)
			if err != nil {
				return nil, fmt.Errorf("attribute %s: %w", e.Name, err)
			}
			a[strings.ToLower(e.Name)] = append(a[strings.ToLower(e.Name)], vals...)
		}
	}
	if _, ok := a["entryuuid"]; !ok && o.UUID != "" {
		a["entryuuid"] = [][]byte{[]byte(o.UUID)}
	}
	if _, ok := a["cn"]; !ok && o.Name != "" {
		a["cn"] = [][]byte{[]byte(o.Name)}
	}
	if _, ok := a["description"]; !ok && o.Description != nil {
		a["description"] = [][]byte{[]byte(*o.Description)}
	}
	return a, nil
}

// dn is entryDN when present, else location.
func (o *object) dn(a attrs) string {
	if v := a.get("entryDN"); len(v) > 0 && len(v[0]) > 0 {
		return string(v[0])
	}
	return o.Location
}

// header builds the entry header of a REST object: partition from
// userPartitionID (REST gives it directly; the DN may be a pseudo-DN).
func (s *Source) header(o *object, a attrs, kind string) (entry.Header, *contract.Reject) {
	h := entry.Header{DN: o.dn(a), Partition: o.UserPartitionID, SourceID: o.UUID}
	if v := a.get(s.tree.Attributes["uuid"]); len(v) > 0 && len(v[0]) > 0 {
		h.SourceID = string(v[0])
	}
	if dn, err := entry.ParseDN(h.DN); err == nil {
		h.Norm = entry.Norm(dn)
	} else {
		return h, &contract.Reject{Tree: s.tree.Name, Partition: h.Partition, DN: h.DN, SourceID: h.SourceID, Kind: kind,
			Code: entry.CodeBadDN, Reason: "the DN (entryDN/location) does not parse: " + err.Error(), Detail: truncate(h.DN, 200)}
	}
	if strings.TrimSpace(h.SourceID) == "" {
		return h, &contract.Reject{Tree: s.tree.Name, Partition: h.Partition, DN: h.DN, Kind: kind, Code: entry.CodeMissing,
			Reason: "the object has no uuid; it cannot be tracked across runs", Detail: "uuid"}
	}
	return h, nil
}

// partitions returns the partitions to list: rest.partitions, else the
// tree's partitions, else every partition GET /partitions names; always
// filtered by the tree's include/exclude lists.
func (s *Source) partitions(ctx context.Context) ([]string, error) {
	names := s.cfg.Partitions
	if len(names) == 0 {
		names = s.tree.Partitions
	}
	if len(names) == 0 {
		var ans struct {
			Partitions []struct {
				Name            string `json:"name"`
				UserPartitionID string `json:"userPartitionID"`
			} `json:"partitions"`
		}
		if err := s.get(ctx, "/partitions", nil, &ans); err != nil {
			return nil, fmt.Errorf("discover partitions: %w; or list them under rest.partitions", err)
		}
		for _, p := range ans.Partitions {
			n := p.Name
			if n == "" {
				n = p.UserPartitionID
			}
			names = append(names, n)
		}
	}
	var out []string
	for _, n := range names {
		if s.tree.IncludesPartition(n) {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no partition to read (listed: %q, after include/exclude); check partitions / rest.partitions", names)
	}
	return out, nil
}

// Read signs in, then pages users and groups (with their members) of every
// partition. It returns nil only when everything was read.
func (s *Source) Read(ctx context.Context, sink extract.Sink) error {
	wrap := func(err error) error { return fmt.Errorf("tree %s: otds-rest %s: %w", s.tree.Name, s.base, err) }
	if err := s.signIn(ctx); err != nil {
		return wrap(err)
	}
	parts, err := s.partitions(ctx)
	if err != nil {
		return wrap(err)
	}
	var nAcc, nGrp, nMem, nRej int
	for _, p := range parts {
		err := s.pages(ctx, "/users", p, func(objs []object) error {
			for i := range objs {
				o := &objs[i]
				a, err := o.attrs()
				if err != nil {
					return fmt.Errorf("user %s: %w", o.UUID, err)
				}
				h, rej := s.header(o, a, "account")
				if rej == nil {
					var acc contract.Account
					var notes []contract.Reject
					if acc, notes, rej = s.mapper.Account(h, a.get); rej == nil {
						for _, n := range notes {
							nRej++
							if err := sink.Reject(n); err != nil {
								return err
							}
						}
						nAcc++
						if err := sink.Account(acc); err != nil {
							return err
						}
						continue
					}
				}
				nRej++
				if err := sink.Reject(*rej); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return wrap(fmt.Errorf("partition %s: users: %w", p, err))
		}
	}
	for _, p := range parts {
		err := s.pages(ctx, "/groups", p, func(objs []object) error {
			for i := range objs {
				o := &objs[i]
				a, err := o.attrs()
				if err != nil {
					return fmt.Errorf("group %s: %w", o.UUID, err)
				}
				h, rej := s.header(o, a, "group")
				var g contract.Group
				var notes []contract.Reject
				if rej == nil {
					g, _, notes, rej = s.mapper.Group(h, a.get)
				}
				for _, n := range notes {
					nRej++
					if err := sink.Reject(n); err != nil {
						return err
					}
				}
				if rej != nil {
					nRej++
					if err := sink.Reject(*rej); err != nil {
						return err
					}
					continue
				}
				n, err := s.members(ctx, g, sink)
				if err != nil {
					return fmt.Errorf("group %q (%s) members: %w", g.Name, g.SourceID, err)
				}
				if o.NumMembers != nil && *o.NumMembers != n {
					s.log.WithFields(logrus.Fields{"group": g.Name, "numMembers": *o.NumMembers, "read": n}).Warn("group member count differs from numMembers")
				}
				g.MemberCount = n
				nGrp++
				nMem += int(n)
				if err := sink.Group(g); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return wrap(fmt.Errorf("partition %s: groups: %w", p, err))
		}
	}
	s.log.WithFields(logrus.Fields{"partitions": len(parts), "accounts": nAcc, "groups": nGrp, "members": nMem, "rejects": nRej}).Info("otds-rest read complete")
	return nil
}

// pages calls fn with each page of GET <path>?where_partition_name=p.
func (s *Source) pages(ctx context.Context, path, partition string, fn func([]object) error) error {
	cookie := ""
	for page := 1; ; page++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.mapper.PageLimit("GET "+path, page); err != nil {
			return err
		}
		q := url.Values{"where_partition_name": {partition}, "page_size": {strconv.Itoa(s.cfg.PageSize)}, "attrsAsKeys": {"true"}}
		if cookie != "" {
			q.Set("next_page_cookie", cookie)
		}
		var lp listPage
		if err := s.get(ctx, path, q, &lp); err != nil {
			return fmt.Errorf("page %d: %w", page, err)
		}
		objs := lp.Users
		if path == "/groups" {
			objs = lp.Groups
		}
		if err := fn(objs); err != nil {
			return err
		}
		if lp.NextPageCookie == nil || *lp.NextPageCookie == "" {
			return nil
		}
		if *lp.NextPageCookie == cookie {
			return fmt.Errorf("page %d: the server returned the same next_page_cookie again; stopping to avoid a loop", page)
		}
		cookie = *lp.NextPageCookie
	}
}

// members pages GET /groups/{uuid}/members and emits one Member per member
// (memberDN empty, memberSourceID the member's uuid). The answer may list
// members under "users"/"groups" or "members".
func (s *Source) members(ctx context.Context, g contract.Group, sink extract.Sink) (int64, error) {
	var n int64
	cookie := ""
	for page := 1; ; page++ {
		if err := s.mapper.PageLimit("GET /groups/"+g.SourceID+"/members", page); err != nil {
			return n, err
		}
		q := url.Values{"page_size": {strconv.Itoa(s.cfg.PageSize)}, "attrsAsKeys": {"true"}}
		if cookie != "" {
			q.Set("next_page_cookie", cookie)
		}
		var lp memberPage
		if err := s.get(ctx, "/groups/"+url.PathEscape(g.SourceID)+"/members", q, &lp); err != nil {
			return n, fmt.Errorf("page %d: %w", page, err)
		}
		for _, list := range [][]memberRef{lp.Users, lp.Groups, lp.Members} {
			for _, m := range list {
				if m.UUID == "" {
					continue
				}
				n++
				if err := s.mapper.MemberLimit(g.DN, n); err != nil {
					return n, err
				}
				if err := sink.Member(g.DN, g.SourceID, g.Partition, "", m.UUID); err != nil {
					return n, err
				}
			}
		}
		if lp.NextPageCookie == nil || *lp.NextPageCookie == "" {
			return n, nil
		}
		if *lp.NextPageCookie == cookie {
			return n, fmt.Errorf("page %d: the server returned the same next_page_cookie again", page)
		}
		cookie = *lp.NextPageCookie
	}
}
