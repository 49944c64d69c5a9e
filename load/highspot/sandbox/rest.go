package sandbox

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// caller is an authenticated REST request: the key and the effective user
// (the key's user, or the hs-user one).
type caller struct {
	key  APIKey
	user *User
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// api wraps a REST handler: state lock, authentication, impersonation, and
// journaling what the request changed.
func (s *Server) api(fn func(w http.ResponseWriter, r *http.Request, c caller)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		s.mu.Lock()
		c, ok := s.authREST(sw, r)
		if ok {
			fn(sw, r, c)
		}
		s.journalLocked()
		s.mu.Unlock()
	}
}

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Strict-Transport-Security", "max-age=31536000")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = io.WriteString(w, "Could not authenticate user.")
}

// authREST checks Basic key:secret or an OAuth2 Bearer token; call with s.mu held.
func (s *Server) authREST(w http.ResponseWriter, r *http.Request) (caller, bool) {
	var key *APIKey
	if k, sec, ok := r.BasicAuth(); ok {
		for i := range s.st.keys {
			if s.st.keys[i].Key == k && s.st.keys[i].Secret == sec {
				key = &s.st.keys[i]
			}
		}
	} else if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		if k, ok := s.st.tokens[tok]; ok {
			for i := range s.st.keys {
				if s.st.keys[i].Key == k {
					key = &s.st.keys[i]
				}
			}
		}
	}
	if key == nil {
		unauthorized(w)
		return caller{}, false
	}
	c := caller{key: *key, user: s.st.userByEmail[strings.ToLower(key.User)]}
	if c.user == nil {
		unauthorized(w)
		return caller{}, false
	}
	if hu := strings.TrimSpace(r.Header.Get("hs-user")); hu != "" {
		allowed := key.Impersonation
		s.fmu.Lock()
		if v, ok := s.faults.Impersonation[key.Key]; ok {
			allowed = v
		}
		s.fmu.Unlock()
		if !allowed {
			s.restError(w, http.StatusForbidden, "Impersonation not enabled")
			return caller{}, false
		}
		u := s.st.userByEmail[strings.ToLower(hu)]
		if u == nil {
			s.restError(w, http.StatusNotFound, "User %s not found", hu)
			return caller{}, false
		}
		c.user = u
	}
	return c, true
}

func (s *Server) restRoutes(mux *http.ServeMux) {
	h := func(p string, fn func(http.ResponseWriter, *http.Request, caller)) {
		s.handle(mux, "REST", p, s.api(fn))
	}
	s.handle(mux, "REST", "POST /auth/oauth2/token", s.oauthToken)
	h("GET /me", func(w http.ResponseWriter, r *http.Request, c caller) {
		writeJSON(w, http.StatusOK, s.renderUser(c.user, nil, nil))
	})
	h("GET /users", s.listUsers)
	h("GET /users/{id}", func(w http.ResponseWriter, r *http.Request, c caller) {
		u := s.userOf(w, r)
		if u == nil {
			return
		}
		writeJSON(w, http.StatusOK, s.renderUser(u, fieldSet(r, "with-fields"), fieldSet(r, "exclude-fields")))
	})
	h("GET /users/{id}/properties", func(w http.ResponseWriter, r *http.Request, c caller) {
		u := s.userOf(w, r)
		if u == nil {
			return
		}
		props := map[string]any{"name": u.Name, "surname": u.Surname, "display_name": u.DisplayName}
		for k, v := range u.Properties {
			props[k] = v
		}
		writeJSON(w, http.StatusOK, props)
	})
	h("GET /users/{id}/properties/{name}", func(w http.ResponseWriter, r *http.Request, c caller) {
		u := s.userOf(w, r)
		if u == nil {
			return
		}
		n := r.PathValue("name")
		var v any
		switch n {
		case "name":
			v = u.Name
		case "surname":
			v = u.Surname
		case "display_name":
			v = u.DisplayName
		default:
			var ok bool
			if v, ok = u.Properties[n]; !ok {
				s.restError(w, http.StatusNotFound, "Property %s not found", n)
				return
			}
		}
		writeJSON(w, http.StatusOK, v)
	})
	h("POST /users", s.upsertUsers)
	h("DELETE /users/{id}", s.deleteUser)
	h("GET /groups", s.listGroups)
	h("GET /groups/{id}", func(w http.ResponseWriter, r *http.Request, c caller) {
		if g := s.groupOf(w, r); g != nil {
			writeJSON(w, http.StatusOK, s.renderGroup(g))
		}
	})
	h("POST /groups", s.createGroup)
	h("PATCH /groups/{id}", s.patchGroup)
	h("DELETE /groups/{id}", func(w http.ResponseWriter, r *http.Request, c caller) {
		if s.adminGroup(w, r, c) == nil {
			return
		}
		s.st.removeGroup(r.PathValue("id"))
		writeJSON(w, http.StatusOK, map[string]any{})
	})
	h("POST /groups/{id}/users", s.addGroupUsers)
	h("DELETE /groups/{id}/users/{userId}", s.removeGroupUser)
	h("GET /spots", s.listSpots)
	h("GET /spots/{id}", func(w http.ResponseWriter, r *http.Request, c caller) {
		if sp := s.visibleSpot(w, r.PathValue("id"), c); sp != nil {
			writeJSON(w, http.StatusOK, renderSpot(sp))
		}
	})
	h("POST /spots", s.createSpot)
	h("PATCH /spots/{id}", s.patchSpot)
	h("DELETE /spots/{id}", func(w http.ResponseWriter, r *http.Request, c caller) {
		sp := s.st.spotByID[r.PathValue("id")]
		if sp == nil {
			s.restError(w, http.StatusNotFound, "Spot not found")
			return
		}
		if !c.user.Admin && s.roleOn(c.user, sp) != "owner" {
			s.restError(w, http.StatusForbidden, "Only the spot owner can delete the spot")
			return
		}
		delete(s.st.spotByID, sp.ID)
		s.st.touchSpots()
		for i, x := range s.st.spots {
			if x.ID == sp.ID {
				s.st.spots = append(s.st.spots[:i], s.st.spots[i+1:]...)
				break
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{})
	})
	h("POST /spots/{id}/users", s.shareSpot)
	h("GET /items", s.listItems)
	h("GET /items/{id}", func(w http.ResponseWriter, r *http.Request, c caller) {
		it := s.visibleItem(w, r, c)
		if it != nil {
			writeJSON(w, http.StatusOK, renderItem(it))
		}
	})
	h("GET /items/{id}/content", func(w http.ResponseWriter, r *http.Request, c caller) {
		it := s.visibleItem(w, r, c)
		if it == nil {
			return
		}
		if it.Content == "" {
			s.restError(w, http.StatusGone, "Content is not available")
			return
		}
		ct := it.MimeType
		if r.URL.Query().Get("format") == "text/csv" || ct == "" {
			ct = "text/csv; charset=utf-8"
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, it.Content)
	})
	h("GET /search/items", s.searchItems)
	h("GET /requests/{id}", func(w http.ResponseWriter, r *http.Request, c caller) {
		rq := s.st.requests[r.PathValue("id")]
		if rq == nil {
			s.restError(w, http.StatusNotFound, "Request not found")
			return
		}
		st := "complete"
		if rq.polls > 0 {
			rq.polls--
			st = "pending"
		}
		writeJSON(w, http.StatusOK, map[string]string{"id": rq.id, "status": st})
	})
	h("GET /requests/{id}/result", func(w http.ResponseWriter, r *http.Request, c caller) {
		rq := s.st.requests[r.PathValue("id")]
		if rq == nil {
			s.restError(w, http.StatusNotFound, "Request not found")
			return
		}
		if rq.polls > 0 {
			s.restError(w, http.StatusConflict, "Request %s is still pending", rq.id)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(rq.status)
		_, _ = w.Write(rq.result)
	})
}

func (s *Server) oauthToken(w http.ResponseWriter, r *http.Request) {
	k, sec, ok := r.BasicAuth()
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
		s.restError(w, http.StatusBadRequest, "grant_type must be client_credentials")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, key := range s.st.keys {
		if ok && key.Key == k && key.Secret == sec {
			tok := s.newID() + s.newID()
			s.st.tokens[tok] = key.Key
			writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3600})
			return
		}
	}
	unauthorized(w)
}

func (s *Server) requireAdmin(w http.ResponseWriter, c caller) bool {
	if !c.user.Admin {
		s.restError(w, http.StatusForbidden, "User %s is not allowed to do this", c.user.Email)
		return false
	}
	return true
}

// adminGroup is the group of the request's {id} for an admin caller; nil
// (answered 403 or 404) otherwise.
func (s *Server) adminGroup(w http.ResponseWriter, r *http.Request, c caller) *Group {
	if !s.requireAdmin(w, c) {
		return nil
	}
	return s.groupOf(w, r)
}

// userOf is the user of the request's {id}; nil (answered 404) when there
// is none.
func (s *Server) userOf(w http.ResponseWriter, r *http.Request) *User {
	u := s.st.userByID[r.PathValue("id")]
	if u == nil {
		s.restError(w, http.StatusNotFound, "User not found")
	}
	return u
}

// groupOf is the group of the request's {id}; nil (answered 404) when there
// is none.
func (s *Server) groupOf(w http.ResponseWriter, r *http.Request) *Group {
	g := s.st.groupByID[r.PathValue("id")]
	if g == nil {
		s.restError(w, http.StatusNotFound, "Group not found")
	}
	return g
}

// visibleSpot is spot id when the caller can see it; nil (answered 404)
// otherwise.
func (s *Server) visibleSpot(w http.ResponseWriter, id string, c caller) *Spot {
	sp := s.st.spotByID[id]
	if sp == nil || !s.canSee(c.user, sp) {
		s.restError(w, http.StatusNotFound, "Spot not found")
		return nil
	}
	return sp
}

// decode reads the JSON body into v; false (answered 400) when it is not JSON.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		s.restError(w, http.StatusBadRequest, "invalid JSON: %v", err)
		return false
	}
	return true
}

// writeList answers a listing: the total and the page, each item rendered.
func writeList[T any](w http.ResponseWriter, total int, items []T, render func(T) map[string]any) {
	out := make([]map[string]any, 0, len(items))
	for _, it := range items {
		out = append(out, render(it))
	}
	writeJSON(w, http.StatusOK, map[string]any{"counts_total": total, "collection": out})
}

// paging reads start and limit (default 100, clamped to 1..100; quirky
// caps it at quirkyPageCap without saying so).
func (s *Server) paging(w http.ResponseWriter, r *http.Request) (start, limit int, ok bool) {
	q := r.URL.Query()
	start, limit = 0, 100
	if v := q.Get("start"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			s.restError(w, http.StatusBadRequest, "start must be a non-negative integer")
			return 0, 0, false
		}
		start = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			s.restError(w, http.StatusBadRequest, "limit must be a positive integer")
			return 0, 0, false
		}
		limit = min(n, 100)
	}
	if s.quirky() {
		limit = min(limit, quirkyPageCap)
	}
	return start, limit, true
}

// restPage is page, except that quirky starts every page after the first
// one item early (repeating the previous page's last item) and answers a
// start past the end with the last item again instead of an empty page.
func (s *Server) restPage(n, start, limit int) (from, to int) {
	if s.quirky() && start > 0 && n > 0 {
		start = min(start-1, n-1)
	}
	if start >= n {
		return n, n
	}
	return start, min(start+limit, n)
}

func page[T any](all []T, start, limit int) []T {
	if start >= len(all) {
		return []T{}
	}
	return all[start:min(start+limit, len(all))]
}

func fieldSet(r *http.Request, name string) map[string]bool {
	v := r.URL.Query().Get(name)
	if v == "" {
		return nil
	}
	m := map[string]bool{}
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			m[f] = true
		}
	}
	return m
}

// renderUser builds the REST user; exclude-fields drops keys ("*" leaves id
// and email), with-fields adds the PROPOSED extensions verified and role.
func (s *Server) renderUser(u *User, with, exclude map[string]bool) map[string]any {
	m := map[string]any{"id": u.ID, "email": u.Email}
	if exclude["*"] {
		return m
	}
	m["name"], m["surname"], m["display_name"], m["suspended"] = u.Name, u.Surname, u.DisplayName, u.Suspended
	m["groups"] = s.st.groupsOf(u.ID)
	m["favorites"] = map[string]any{"spots": []string{}, "properties": []string{}}
	for k := range exclude {
		delete(m, k)
	}
	if with["verified"] {
		m["verified"] = u.Verified
	}
	if with["role"] {
		m["role"] = map[bool]string{true: "Admin", false: "User"}[u.Admin]
	}
	return m
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, c caller) {
	q := r.URL.Query()
	list := q.Get("list")
	switch list {
	case "", "verified", "unverified", "all":
	default:
		s.restError(w, http.StatusBadRequest, "list must be verified, unverified or all")
		return
	}
	start, limit, ok := s.paging(w, r)
	if !ok {
		return
	}
	email := strings.ToLower(strings.TrimSpace(q.Get("email")))
	var sel []*User
	if email != "" {
		u := s.st.userByEmail[email]
		switch {
		case u == nil, (list == "" || list == "verified") && !u.Verified, list == "unverified" && u.Verified:
		default:
			sel = []*User{u}
		}
	} else {
		sel = s.st.view(list)
	}
	with, exclude := fieldSet(r, "with-fields"), fieldSet(r, "exclude-fields")
	from, to := s.restPage(len(sel), start, limit)
	writeList(w, len(sel), sel[from:to], func(u *User) map[string]any { return s.renderUser(u, with, exclude) })
}

type upsertResult struct {
	ID      string `json:"id,omitempty"`
	Email   string `json:"email,omitempty"`
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
	Created bool   `json:"created"`
}

func validEmail(e string) bool {
	a, err := mail.ParseAddress(e)
	return err == nil && a.Address == e && strings.Contains(e[strings.LastIndex(e, "@"):], ".")
}

// upsertUsers is POST /users: an array, matched on email case-insensitively.
// A bad entry is a per-entry error; the call still answers 200 (or 202 in
// async mode).
func (s *Server) upsertUsers(w http.ResponseWriter, r *http.Request, c caller) {
	if !s.requireAdmin(w, c) {
		return
	}
	var entries []json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&entries); err != nil {
		s.restError(w, http.StatusBadRequest, "The body must be a JSON array of users: %v", err)
		return
	}
	s.fmu.Lock()
	f := s.faults
	s.fmu.Unlock()
	now := s.ts()
	res := make([]upsertResult, 0, len(entries))
	for _, raw := range entries {
		var e struct {
			Email      string         `json:"email"`
			Properties map[string]any `json:"properties"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			res = append(res, upsertResult{Status: "error", Message: "not a user object: " + err.Error()})
			continue
		}
		email := strings.TrimSpace(e.Email)
		if !validEmail(email) {
			res = append(res, upsertResult{Email: e.Email, Status: "error", Message: fmt.Sprintf("invalid email %q", e.Email)})
			continue
		}
		u := s.st.userByEmail[strings.ToLower(email)]
		created := u == nil
		if created {
			u = &User{ID: s.newID(), Email: email, Verified: f.AutoVerify, Created: now}
			s.st.addUser(u)
		} else {
			s.st.touchUser(u.ID)
		}
		if msg := s.applyProps(u, e.Properties); msg != "" && created {
			s.st.removeUser(u.ID)
			res = append(res, upsertResult{Email: email, Status: "error", Message: msg})
			continue
		} else if msg != "" {
			res = append(res, upsertResult{Email: email, Status: "error", Message: msg})
			continue
		}
		u.Updated = now
		res = append(res, upsertResult{ID: u.ID, Email: u.Email, Status: "ok", Created: created})
	}
	if s.quirky() {
		// The S3 shape: results in request order, no email, an
		// undocumented status word.
		for i := range res {
			res[i].Email = ""
			if res[i].Status == "ok" {
				res[i].Status = "success"
			} else {
				res[i].Status = "failed"
			}
		}
	}
	body, _ := json.Marshal(map[string]any{"collection": res})
	if f.AsyncMode {
		id := s.newID()
		s.st.requests[id] = &asyncRequest{id: id, polls: max(f.AsyncPolls, 1), status: http.StatusOK, result: body, created: now}
		writeJSON(w, http.StatusAccepted, map[string]string{"id": id})
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// applyProps sets the name fields, the PROPOSED "suspended" property and any
// other key as a user property. It returns a message for a bad value.
func (s *Server) applyProps(u *User, props map[string]any) string {
	for k, v := range props {
		switch k {
		case "name", "surname", "display_name":
			str, ok := v.(string)
			if !ok {
				return fmt.Sprintf("property %s must be a string", k)
			}
			switch k {
			case "name":
				u.Name = str
			case "surname":
				u.Surname = str
			default:
				u.DisplayName = str
			}
		case "suspended":
			var b bool
			switch x := v.(type) {
			case bool:
				b = x
			case string:
				var err error
				if b, err = strconv.ParseBool(x); err != nil {
					return "property suspended must be true or false"
				}
			default:
				return "property suspended must be true or false"
			}
			s.setSuspended(u, b)
		default:
			if u.Properties == nil {
				u.Properties = map[string]any{}
			}
			u.Properties[k] = v
		}
	}
	return ""
}

func (s *Server) setSuspended(u *User, b bool) {
	if b && !u.Suspended {
		s.st.dropShares("user", u.ID)
		s.fmu.Lock()
		strip := s.faults.StripGroupsOnSuspend
		s.fmu.Unlock()
		if strip {
			s.st.removeFromAllGroups(u.ID)
		}
	}
	u.Suspended = b
	u.Updated = s.ts()
	s.st.touchUser(u.ID)
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request, c caller) {
	if !s.requireAdmin(w, c) {
		return
	}
	u := s.userOf(w, r)
	if u == nil {
		return
	}
	s.fmu.Lock()
	mode := s.faults.DeleteMode
	s.fmu.Unlock()
	if mode == "hard" {
		s.st.removeUser(u.ID)
	} else {
		s.setSuspended(u, true)
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) renderGroup(g *Group) map[string]any {
	s.fmu.Lock()
	field := s.faults.GroupField
	s.fmu.Unlock()
	if field != "title" {
		field = "name"
	}
	return map[string]any{"id": g.ID, field: g.Name, "description": g.Description, "member_count": len(s.st.members[g.ID])}
}

func (s *Server) listGroups(w http.ResponseWriter, r *http.Request, c caller) {
	q := r.URL.Query()
	if q.Get("role") != "" && q.Get("right") != "" {
		s.restError(w, http.StatusBadRequest, "role and right cannot be combined")
		return
	}
	start, limit, ok := s.paging(w, r)
	if !ok {
		return
	}
	from, to := s.restPage(len(s.st.groups), start, limit)
	writeList(w, len(s.st.groups), s.st.groups[from:to], s.renderGroup)
}

func (s *Server) createGroup(w http.ResponseWriter, r *http.Request, c caller) {
	if !s.requireAdmin(w, c) {
		return
	}
	var b struct {
		Name        string `json:"name"`
		Title       string `json:"title"`
		Description string `json:"description"`
	}
	if !s.decode(w, r, &b) {
		return
	}
	name := strings.TrimSpace(b.Name + b.Title)
	if name == "" {
		s.restError(w, http.StatusBadRequest, "name is required")
		return
	}
	if s.st.groupByName(name) != nil {
		s.restError(w, http.StatusConflict, "A group named %q already exists", name)
		return
	}
	g := &Group{ID: s.newID(), Name: name, Description: b.Description, Created: s.ts()}
	s.st.addGroup(g)
	writeJSON(w, http.StatusOK, map[string]string{"id": g.ID})
}

func (s *Server) patchGroup(w http.ResponseWriter, r *http.Request, c caller) {
	g := s.adminGroup(w, r, c)
	if g == nil {
		return
	}
	var b map[string]any
	if !s.decode(w, r, &b) {
		return
	}
	s.st.touchGroup(g.ID)
	for _, k := range []string{"name", "title"} {
		if v, ok := b[k].(string); ok && v != "" {
			g.Name = v
		}
	}
	if v, ok := b["description"].(string); ok {
		g.Description = v
	}
	writeJSON(w, http.StatusOK, s.renderGroup(g))
}

// addGroupUsers is the PROPOSED POST /groups/{id}/users {"users":[emails]}.
func (s *Server) addGroupUsers(w http.ResponseWriter, r *http.Request, c caller) {
	g := s.adminGroup(w, r, c)
	if g == nil {
		return
	}
	var b struct {
		Users []string `json:"users"`
	}
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		s.restError(w, http.StatusBadRequest, "The body must be {\"users\": [emails]}: %v", err)
		return
	}
	res := []map[string]string{}
	for _, e := range b.Users {
		u := s.st.userByEmail[strings.ToLower(strings.TrimSpace(e))]
		if u == nil {
			res = append(res, map[string]string{"email": e, "status": "error", "message": "User " + e + " not found"})
			continue
		}
		s.st.setMember(g.ID, u.ID, true)
		res = append(res, map[string]string{"email": e, "status": "ok"})
	}
	writeJSON(w, http.StatusOK, map[string]any{"collection": res})
}

// removeGroupUser is the PROPOSED DELETE /groups/{id}/users/{userId};
// removing a non-member succeeds (idempotent).
func (s *Server) removeGroupUser(w http.ResponseWriter, r *http.Request, c caller) {
	g := s.adminGroup(w, r, c)
	if g == nil {
		return
	}
	if s.st.userByID[r.PathValue("userId")] == nil {
		s.restError(w, http.StatusNotFound, "User not found")
		return
	}
	s.st.setMember(g.ID, r.PathValue("userId"), false)
	writeJSON(w, http.StatusOK, map[string]any{})
}

// roleOn is the user's best role on the spot (direct or through a group), "" for none.
func (s *Server) roleOn(u *User, sp *Spot) string {
	rank := map[string]int{"viewer": 1, "editor": 2, "co-owner": 3, "owner": 4}
	best := ""
	for _, sh := range sp.Shares {
		if sh.Principal == "user" && sh.ID == u.ID || sh.Principal == "group" && s.st.members[sh.ID][u.ID] {
			if rank[sh.Role] > rank[best] {
				best = sh.Role
			}
		}
	}
	return best
}

func (s *Server) canSee(u *User, sp *Spot) bool {
	return u.Admin || sp.Visibility == "public" || s.roleOn(u, sp) != ""
}

func renderSpot(sp *Spot) map[string]any {
	return map[string]any{"id": sp.ID, "title": sp.Title, "description": sp.Description, "is_official": sp.IsOfficial, "visibility": sp.Visibility}
}

func (s *Server) listSpots(w http.ResponseWriter, r *http.Request, c caller) {
	q := r.URL.Query()
	role, right := q.Get("role"), q.Get("right")
	if role != "" && right != "" {
		s.restError(w, http.StatusBadRequest, "role and right cannot be combined")
		return
	}
	start, limit, ok := s.paging(w, r)
	if !ok {
		return
	}
	need := map[string][]string{"view": {"viewer", "editor", "co-owner", "owner"}, "edit": {"editor", "co-owner", "owner"}, "manage": {"co-owner", "owner"}}
	var sel []*Spot
	for _, sp := range s.st.spots {
		if !s.canSee(c.user, sp) {
			continue
		}
		mine := s.roleOn(c.user, sp)
		if role != "" && mine != role {
			continue
		}
		if right != "" && right != "view" && !slices.Contains(need[right], mine) {
			continue
		}
		if v := q.Get("is_official"); v != "" && strconv.FormatBool(sp.IsOfficial) != v {
			continue
		}
		sel = append(sel, sp)
	}
	writeList(w, len(sel), page(sel, start, limit), renderSpot)
}

func (s *Server) createSpot(w http.ResponseWriter, r *http.Request, c caller) {
	var b struct {
		Title       string `json:"title"`
		Description string `json:"description"`
		Visibility  string `json:"visibility"`
	}
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil || strings.TrimSpace(b.Title) == "" {
		s.restError(w, http.StatusBadRequest, "title is required")
		return
	}
	if b.Visibility == "" {
		b.Visibility = "private"
	}
	sp := &Spot{ID: s.newID(), Title: b.Title, Description: b.Description, Visibility: b.Visibility, Created: s.ts(),
		Shares: []Share{{Principal: "user", ID: c.user.ID, Role: "owner"}}}
	s.st.addSpot(sp)
	writeJSON(w, http.StatusOK, map[string]string{"id": sp.ID})
}

// patchSpot updates a spot; visibility and is_official in one call is a 400 (Workato).
func (s *Server) patchSpot(w http.ResponseWriter, r *http.Request, c caller) {
	sp := s.visibleSpot(w, r.PathValue("id"), c)
	if sp == nil {
		return
	}
	if !c.user.Admin && !slices.Contains([]string{"owner", "co-owner", "editor"}, s.roleOn(c.user, sp)) {
		s.restError(w, http.StatusForbidden, "User %s cannot edit this spot", c.user.Email)
		return
	}
	var b map[string]any
	if !s.decode(w, r, &b) {
		return
	}
	s.st.touchSpots()
	_, hasV := b["visibility"]
	_, hasO := b["is_official"]
	if hasV && hasO {
		s.restError(w, http.StatusBadRequest, "visibility and is_official cannot be updated in the same request")
		return
	}
	if v, ok := b["visibility"].(string); ok {
		if v != "public" && v != "private" {
			s.restError(w, http.StatusBadRequest, "visibility must be public or private")
			return
		}
		sp.Visibility = v
	}
	if v, ok := b["is_official"].(bool); ok {
		sp.IsOfficial = v
	}
	if v, ok := b["title"].(string); ok && v != "" {
		sp.Title = v
	}
	if v, ok := b["description"].(string); ok {
		sp.Description = v
	}
	writeJSON(w, http.StatusOK, renderSpot(sp))
}

// shareSpot is POST /spots/{id}/users?role=…: the effective user must be
// owner, co-owner or editor of the spot.
func (s *Server) shareSpot(w http.ResponseWriter, r *http.Request, c caller) {
	sp := s.visibleSpot(w, r.PathValue("id"), c)
	if sp == nil {
		return
	}
	role := r.URL.Query().Get("role")
	if role == "" {
		role = "viewer"
	}
	if !slices.Contains([]string{"viewer", "editor", "owner", "co-owner"}, role) {
		s.restError(w, http.StatusBadRequest, "role must be viewer, editor, co-owner or owner")
		return
	}
	if !slices.Contains([]string{"owner", "co-owner", "editor"}, s.roleOn(c.user, sp)) {
		s.restError(w, http.StatusForbidden, "User %s must be an owner, co-owner or editor of the spot", c.user.Email)
		return
	}
	var b struct {
		Users []string `json:"users"`
	}
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil || len(b.Users) == 0 {
		s.restError(w, http.StatusBadRequest, "The body must be {\"users\": [emails]}")
		return
	}
	var targets []*User
	for _, e := range b.Users {
		u := s.st.userByEmail[strings.ToLower(strings.TrimSpace(e))]
		if u == nil {
			s.restError(w, http.StatusBadRequest, "User %s not found", e)
			return
		}
		targets = append(targets, u)
	}
	s.st.touchSpots()
	for _, u := range targets {
		found := false
		for i := range sp.Shares {
			if sp.Shares[i].Principal == "user" && sp.Shares[i].ID == u.ID {
				sp.Shares[i].Role, found = role, true
			}
		}
		if !found {
			sp.Shares = append(sp.Shares, Share{Principal: "user", ID: u.ID, Role: role})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

func renderItem(it *Item) map[string]any {
	return map[string]any{"id": it.ID, "title": it.Title, "description": it.Description, "spot": it.Spot, "lists": it.Lists,
		"content_type": it.ContentType, "mime_type": it.MimeType, "content_name": it.ContentName, "can_download": it.CanDownload,
		"internal": it.Internal, "author": it.Author, "date_added": it.DateAdded, "date_updated": it.DateUpdated,
		"content_owners": map[string]any{"users": []string{}, "groups": []string{}}}
}

func (s *Server) visibleItem(w http.ResponseWriter, r *http.Request, c caller) *Item {
	it := s.st.itemByID[r.PathValue("id")]
	if it == nil || !s.canSee(c.user, s.st.spotByID[it.Spot]) {
		s.restError(w, http.StatusNotFound, "Item not found")
		return nil
	}
	return it
}

func (s *Server) listItems(w http.ResponseWriter, r *http.Request, c caller) {
	q := r.URL.Query()
	spot := q.Get("spot")
	if spot == "" {
		s.restError(w, http.StatusBadRequest, "spot is required")
		return
	}
	if s.visibleSpot(w, spot, c) == nil {
		return
	}
	start, limit, ok := s.paging(w, r)
	if !ok {
		return
	}
	var sel []*Item
	for _, it := range s.st.items {
		if it.Spot == spot && (q.Get("list") == "" || slices.Contains(it.Lists, q.Get("list"))) {
			sel = append(sel, it)
		}
	}
	writeList(w, len(sel), page(sel, start, limit), renderItem)
}

func (s *Server) searchItems(w http.ResponseWriter, r *http.Request, c caller) {
	q := r.URL.Query()
	qs := strings.ToLower(strings.TrimSpace(q.Get("query-string")))
	start, limit, ok := s.paging(w, r)
	if !ok {
		return
	}
	type hit struct {
		it    *Item
		score int
	}
	var hits []hit
	for _, it := range s.st.items {
		if !s.canSee(c.user, s.st.spotByID[it.Spot]) {
			continue
		}
		score := strings.Count(strings.ToLower(it.Title), qs)*2 + strings.Count(strings.ToLower(it.Description), qs)
		if qs == "" || score > 0 {
			hits = append(hits, hit{it, score})
		}
	}
	switch q.Get("sortby") {
	case "date_added":
		sort.SliceStable(hits, func(i, j int) bool { return hits[i].it.DateAdded > hits[j].it.DateAdded })
	case "", "relevancy":
		sort.SliceStable(hits, func(i, j int) bool { return hits[i].score > hits[j].score })
	default:
		s.restError(w, http.StatusBadRequest, "sortby must be relevancy or date_added")
		return
	}
	writeList(w, len(hits), page(hits, start, limit), func(h hit) map[string]any { return renderItem(h.it) })
}
