package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
)

const (
	scimUserSchema  = "urn:ietf:params:scim:schemas:core:2.0:User"
	scimGroupSchema = "urn:ietf:params:scim:schemas:core:2.0:Group"
	scimEnterprise  = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	scimListSchema  = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	scimErrSchema   = "urn:ietf:params:scim:api:messages:2.0:Error"
	scimBulkResp    = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
	scimContentType = "application/scim+json"
)

func writeSCIM(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", scimContentType)
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

func scimError(w http.ResponseWriter, status int, scimType, format string, args ...any) {
	body := map[string]any{"schemas": []string{scimErrSchema}, "status": strconv.Itoa(status), "detail": fmt.Sprintf(format, args...)}
	if scimType != "" {
		body["scimType"] = scimType
	}
	writeSCIM(w, status, body)
}

// scimAPI wraps a SCIM handler: state lock, bearer token, journaling what the request changed.
func (s *Server) scimAPI(fn func(w http.ResponseWriter, r *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		s.mu.Lock()
		ok := s.authSCIM(r)
		if ok {
			fn(sw, r)
		}
		s.journalLocked()
		s.mu.Unlock()
		if !ok {
			scimError(w, http.StatusUnauthorized, "", "Could not authenticate user.")
		}
	}
}

// authSCIM checks the bearer token; call with s.mu held.
func (s *Server) authSCIM(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	for _, t := range s.st.scimTokens {
		if t == tok {
			return true
		}
	}
	return false
}

func scimBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/scim/v2"
}

func (s *Server) scimRoutes(mux *http.ServeMux) {
	s.scimMux = mux
	h := func(p string, fn http.HandlerFunc) { s.handle(mux, "SCIM", p, s.scimAPI(fn)) }
	h("GET /ServiceProviderConfig", func(w http.ResponseWriter, r *http.Request) {
		f := s.Faults()
		maxOps := f.SCIMBulkMax
		if maxOps <= 0 {
			maxOps = 100
		}
		bulk := map[string]any{"supported": !f.SCIMBulkDisabled, "maxOperations": maxOps, "maxPayloadSize": 1 << 20}
		maxResults := 200
		if s.strict() {
			bulk, maxResults = map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0}, strictMaxResults
		}
		writeSCIM(w, http.StatusOK, map[string]any{
			"schemas":          []string{"urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"},
			"documentationUri": "https://example.invalid/highspot-sandbox",
			"patch":            map[string]bool{"supported": true},
			"bulk":             bulk,
			"filter":           map[string]any{"supported": true, "maxResults": maxResults},
			"changePassword":   map[string]bool{"supported": false},
			"sort":             map[string]bool{"supported": false},
			"etag":             map[string]bool{"supported": false},
			"authenticationSchemes": []map[string]any{{"type": "oauthbearertoken", "name": "OAuth Bearer Token",
				"description": "Authentication with a bearer token", "primary": true}},
		})
	})
	h("GET /Schemas", func(w http.ResponseWriter, r *http.Request) {
		writeSCIM(w, http.StatusOK, map[string]any{"schemas": []string{scimListSchema}, "totalResults": 3, "Resources": []map[string]string{
			{"id": scimUserSchema, "name": "User"}, {"id": scimGroupSchema, "name": "Group"}, {"id": scimEnterprise, "name": "EnterpriseUser"}}})
	})
	h("GET /ResourceTypes", func(w http.ResponseWriter, r *http.Request) {
		writeSCIM(w, http.StatusOK, map[string]any{"schemas": []string{scimListSchema}, "totalResults": 2, "Resources": []map[string]any{
			{"id": "User", "name": "User", "endpoint": "/Users", "schema": scimUserSchema,
				"schemaExtensions": []map[string]any{{"schema": scimEnterprise, "required": false}}},
			{"id": "Group", "name": "Group", "endpoint": "/Groups", "schema": scimGroupSchema}}})
	})
	h("GET /Users", s.scimListUsers)
	h("POST /Users", s.scimCreateUser)
	h("GET /Users/{id}", func(w http.ResponseWriter, r *http.Request) {
		u := s.scimUserOf(w, r)
		if u == nil {
			return
		}
		writeSCIM(w, http.StatusOK, s.scimUser(u, scimBase(r)))
	})
	h("PUT /Users/{id}", s.scimPutUser)
	h("PATCH /Users/{id}", s.scimPatchUser)
	h("DELETE /Users/{id}", func(w http.ResponseWriter, r *http.Request) {
		if s.scimUserOf(w, r) == nil {
			return
		}
		s.st.removeUser(r.PathValue("id"))
		writeSCIM(w, http.StatusNoContent, nil)
	})
	h("GET /Groups", s.scimListGroups)
	h("POST /Groups", s.scimCreateGroup)
	h("GET /Groups/{id}", func(w http.ResponseWriter, r *http.Request) {
		g := s.scimGroupOf(w, r)
		if g == nil {
			return
		}
		writeSCIM(w, http.StatusOK, s.scimGroup(g, scimBase(r), r.URL.Query().Get("excludedAttributes") != "members"))
	})
	h("PATCH /Groups/{id}", s.scimPatchGroup)
	h("DELETE /Groups/{id}", func(w http.ResponseWriter, r *http.Request) {
		if s.scimGroupOf(w, r) == nil {
			return
		}
		s.st.removeGroup(r.PathValue("id"))
		writeSCIM(w, http.StatusNoContent, nil)
	})
	// Bulk dispatches each operation through this mux, so it does not hold the lock.
	s.handle(mux, "SCIM", "POST /Bulk", s.scimBulk)
}

func (s *Server) scimUser(u *User, base string) map[string]any {
	groups := []map[string]string{}
	for _, gid := range s.st.groupsOf(u.ID) {
		groups = append(groups, map[string]string{"value": gid, "display": s.st.groupByID[gid].Name, "$ref": base + "/Groups/" + gid})
	}
	m := map[string]any{
		"schemas":     []string{scimUserSchema},
		"id":          u.ID,
		"userName":    u.Email,
		"name":        map[string]string{"givenName": u.Name, "familyName": u.Surname, "formatted": strings.TrimSpace(u.Name + " " + u.Surname)},
		"displayName": u.DisplayName,
		"emails":      []map[string]any{{"value": u.Email, "type": "work", "primary": true}},
		"active":      !u.Suspended,
		"groups":      groups,
		"meta":        map[string]string{"resourceType": "User", "created": u.Created, "lastModified": u.Updated, "location": base + "/Users/" + u.ID},
	}
	if d, ok := u.Properties["department"]; ok {
		m["schemas"] = []string{scimUserSchema, scimEnterprise}
		m[scimEnterprise] = map[string]any{"department": d}
	}
	return m
}

func (s *Server) scimGroup(g *Group, base string, withMembers bool) map[string]any {
	m := map[string]any{"schemas": []string{scimGroupSchema}, "id": g.ID, "displayName": g.Name,
		"meta": map[string]string{"resourceType": "Group", "created": g.Created, "location": base + "/Groups/" + g.ID}}
	if withMembers {
		members := []map[string]string{}
		for _, uid := range s.st.memberList(g.ID) {
			members = append(members, map[string]string{"value": uid, "display": s.st.userByID[uid].DisplayName, "$ref": base + "/Users/" + uid})
		}
		m["members"] = members
	}
	return m
}

type clause struct{ attr, value string }

var (
	clauseRE = regexp.MustCompile(`^\s*([A-Za-z][\w.:]*)\s+(?i:eq)\s+("(?:[^"\\]|\\.)*"|true|false)\s*`)
	orRE     = regexp.MustCompile(`^(?i:or)\s+`)
)

// parseFilter accepts `attr eq "value"` clauses joined by `or`, the subset
// provisioning clients use. ok is false for anything else.
func parseFilter(f string) ([]clause, bool) {
	var out []clause
	rest := strings.TrimSpace(f)
	for rest != "" {
		m := clauseRE.FindStringSubmatch(rest)
		if m == nil {
			return nil, false
		}
		v := m[2]
		if strings.HasPrefix(v, `"`) {
			if err := json.Unmarshal([]byte(v), &v); err != nil {
				return nil, false
			}
		}
		out = append(out, clause{attr: strings.ToLower(m[1]), value: v})
		rest = rest[len(m[0]):]
		if rest == "" {
			break
		}
		o := orRE.FindString(rest)
		if o == "" {
			return nil, false
		}
		rest = rest[len(o):]
	}
	return out, len(out) > 0
}

// filterFor parses a list filter as the profile allows: strict-rfc takes
// exactly one `eq` clause on attr (userName or displayName), no `or`.
func (s *Server) filterFor(f, attr string) ([]clause, bool) {
	cl, ok := parseFilter(f)
	if !ok || !s.strict() {
		return cl, ok
	}
	return cl, len(cl) == 1 && cl[0].attr == strings.ToLower(attr)
}

// listResponse is the ListResponse of one page. quirky leaves totalResults
// out (omitTotal) or reports the page size as the total, and drops
// Resources from an empty page.
func (s *Server) listResponse(res []map[string]any, start, total int, omitTotal bool) map[string]any {
	m := map[string]any{"schemas": []string{scimListSchema}, "totalResults": total, "startIndex": start, "itemsPerPage": len(res), "Resources": res}
	if s.quirky() {
		if omitTotal {
			delete(m, "totalResults")
		} else {
			m["totalResults"] = len(res)
		}
		if len(res) == 0 {
			delete(m, "Resources")
		}
	}
	return m
}

func (s *Server) scimPaging(w http.ResponseWriter, r *http.Request) (start, count int, ok bool) {
	start, count, ok = scimPaging(w, r)
	switch {
	case s.strict():
		count = min(count, strictMaxResults)
	case s.quirky():
		count = min(count, quirkyPageCap)
	}
	return start, count, ok
}

func scimPaging(w http.ResponseWriter, r *http.Request) (start, count int, ok bool) {
	start, count = 1, 100
	q := r.URL.Query()
	if v := q.Get("startIndex"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			scimError(w, http.StatusBadRequest, "invalidValue", "startIndex must be an integer")
			return 0, 0, false
		}
		start = max(n, 1)
	}
	if v := q.Get("count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			scimError(w, http.StatusBadRequest, "invalidValue", "count must be an integer")
			return 0, 0, false
		}
		count = min(max(n, 0), 200)
	}
	return start, count, true
}

// scimListQuery reads a listing's paging and filter (on attr); false
// (answered 400, hint telling what is supported) when either is invalid.
func (s *Server) scimListQuery(w http.ResponseWriter, r *http.Request, attr, hint string) (start, count int, cl []clause, ok bool) {
	if start, count, ok = s.scimPaging(w, r); !ok {
		return 0, 0, nil, false
	}
	if f := r.URL.Query().Get("filter"); f != "" {
		if cl, ok = s.filterFor(f, attr); !ok {
			scimError(w, http.StatusBadRequest, "invalidFilter", "unsupported filter %q; %s", f, hint)
			return 0, 0, nil, false
		}
	}
	return start, count, cl, true
}

// writeSCIMListOf answers a listing with the page of sel from start (1-based).
func writeSCIMListOf[T any](s *Server, w http.ResponseWriter, sel []T, start, count int, omitTotal bool, render func(T) map[string]any) {
	res := []map[string]any{}
	for _, v := range page(sel, start-1, count) {
		res = append(res, render(v))
	}
	writeSCIM(w, http.StatusOK, s.listResponse(res, start, len(sel), omitTotal))
}

func (s *Server) scimListUsers(w http.ResponseWriter, r *http.Request) {
	hint := `use attr eq "value" [or …]`
	if s.strict() {
		hint = `only userName eq "value" is supported`
	}
	start, count, cl, ok := s.scimListQuery(w, r, "userName", hint)
	if !ok {
		return
	}
	sel := s.st.users
	if len(cl) > 0 {
		sel = s.findUsers(cl)
	}
	base := scimBase(r)
	writeSCIMListOf(s, w, sel, start, count, true, func(u *User) map[string]any { return s.scimUser(u, base) })
}

// findUsers is the users matching any clause, in list order: by index when
// every clause is on userName/emails or id, else by a scan.
func (s *Server) findUsers(cl []clause) []*User {
	var sel []*User
	seen := map[*User]bool{}
	for _, c := range cl {
		var u *User
		switch c.attr {
		case "username", "emails.value", "emails":
			u = s.st.userByEmail[strings.ToLower(c.value)]
		case "id":
			u = s.st.userByID[c.value]
		default:
			sel = nil
			for _, u := range s.st.users {
				if matchUser(u, cl) {
					sel = append(sel, u)
				}
			}
			return sel
		}
		if u != nil && !seen[u] && matchUser(u, cl) {
			seen[u] = true
			sel = append(sel, u)
		}
	}
	s.st.sortUsers(sel)
	return sel
}

func matchUser(u *User, cl []clause) bool {
	for _, c := range cl {
		switch c.attr {
		case "username", "emails.value", "emails":
			if strings.EqualFold(u.Email, c.value) {
				return true
			}
		case "id":
			if u.ID == c.value {
				return true
			}
		case "displayname":
			if strings.EqualFold(u.DisplayName, c.value) {
				return true
			}
		case "active":
			if strconv.FormatBool(!u.Suspended) == c.value {
				return true
			}
		}
	}
	return false
}

// scimUserInput is the writable part of a SCIM user.
type scimUserInput struct {
	UserName    string `json:"userName"`
	DisplayName string `json:"displayName"`
	Name        *struct {
		GivenName  string `json:"givenName"`
		FamilyName string `json:"familyName"`
	} `json:"name"`
	Active     any            `json:"active"`
	Enterprise map[string]any `json:"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`
}

func (s *Server) scimCreateUser(w http.ResponseWriter, r *http.Request) {
	var in scimUserInput
	if !scimDecode(w, r, &in) {
		return
	}
	email := strings.TrimSpace(in.UserName)
	if !validEmail(email) {
		scimError(w, http.StatusBadRequest, "invalidValue", "userName must be an email address, got %q", in.UserName)
		return
	}
	if s.st.userByEmail[strings.ToLower(email)] != nil {
		if s.quirky() {
			// No SCIM error body, no scimType: only the status says it.
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusConflict)
			_, _ = fmt.Fprintf(w, "Conflict: a user with this login already exists\n")
			return
		}
		scimError(w, http.StatusConflict, "uniqueness", "User %s already exists", email)
		return
	}
	now := s.ts()
	u := &User{ID: s.newID(), Email: email, Verified: s.Faults().AutoVerify, Created: now, Updated: now}
	if msg := s.applySCIMUser(u, in); msg != "" {
		scimError(w, http.StatusBadRequest, "invalidValue", "%s", msg)
		return
	}
	s.st.addUser(u)
	w.Header().Set("Location", scimBase(r)+"/Users/"+u.ID)
	writeSCIM(w, http.StatusCreated, s.scimUser(u, scimBase(r)))
}

func (s *Server) applySCIMUser(u *User, in scimUserInput) string {
	if in.Name != nil {
		u.Name, u.Surname = in.Name.GivenName, in.Name.FamilyName
	}
	if in.DisplayName != "" {
		u.DisplayName = in.DisplayName
	}
	if in.Active != nil {
		b, ok := scimBool(in.Active)
		if !ok {
			return "active must be a boolean"
		}
		s.setSuspended(u, !b)
	}
	if d, ok := in.Enterprise["department"]; ok {
		if u.Properties == nil {
			u.Properties = map[string]any{}
		}
		u.Properties["department"] = d
	}
	return ""
}

// scimBool accepts true/false and the "True"/"False" strings some IdPs send.
func scimBool(v any) (bool, bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case string:
		b, err := strconv.ParseBool(x)
		return b, err == nil
	}
	return false, false
}

func (s *Server) scimPutUser(w http.ResponseWriter, r *http.Request) {
	u := s.scimUserOf(w, r)
	if u == nil {
		return
	}
	s.st.touchUser(u.ID)
	var in scimUserInput
	if !scimDecode(w, r, &in) {
		return
	}
	if in.UserName != "" && !strings.EqualFold(in.UserName, u.Email) {
		if s.st.userByEmail[strings.ToLower(in.UserName)] != nil {
			scimError(w, http.StatusConflict, "uniqueness", "User %s already exists", in.UserName)
			return
		}
		s.st.setEmail(u, in.UserName)
	}
	if in.Name == nil {
		u.Name, u.Surname = "", ""
	}
	if msg := s.applySCIMUser(u, in); msg != "" {
		scimError(w, http.StatusBadRequest, "invalidValue", "%s", msg)
		return
	}
	u.Updated = s.ts()
	writeSCIM(w, http.StatusOK, s.scimUser(u, scimBase(r)))
}

// scimUserOf is the user of the request's {id}; nil (answered 404) when
// there is none.
func (s *Server) scimUserOf(w http.ResponseWriter, r *http.Request) *User {
	u := s.st.userByID[r.PathValue("id")]
	if u == nil {
		scimError(w, http.StatusNotFound, "", "User %s not found", r.PathValue("id"))
	}
	return u
}

// scimGroupOf is the group of the request's {id}; nil (answered 404) when
// there is none.
func (s *Server) scimGroupOf(w http.ResponseWriter, r *http.Request) *Group {
	g := s.st.groupByID[r.PathValue("id")]
	if g == nil {
		scimError(w, http.StatusNotFound, "", "Group %s not found", r.PathValue("id"))
	}
	return g
}

// scimDecode reads the JSON body into v; false (answered 400) when it is
// not JSON.
func scimDecode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		scimError(w, http.StatusBadRequest, "invalidSyntax", "invalid JSON: %v", err)
		return false
	}
	return true
}

// readPatch reads a PatchOp body; false (answered 400) when it is not one
// or has no operation.
func readPatch(w http.ResponseWriter, r *http.Request) (patchBody, bool) {
	var p patchBody
	if err := json.NewDecoder(r.Body).Decode(&p); err != nil || len(p.Operations) == 0 {
		scimError(w, http.StatusBadRequest, "invalidSyntax", "the body must be a PatchOp with Operations")
		return p, false
	}
	return p, true
}

type patchBody struct {
	Operations []struct {
		Op    string          `json:"op"`
		Path  string          `json:"path"`
		Value json.RawMessage `json:"value"`
	} `json:"Operations"`
}

func (s *Server) scimPatchUser(w http.ResponseWriter, r *http.Request) {
	u := s.scimUserOf(w, r)
	if u == nil {
		return
	}
	p, ok := readPatch(w, r)
	if !ok {
		return
	}
	next := *u
	next.Properties = copyProps(u.Properties)
	for _, op := range p.Operations {
		if s.strict() && strings.TrimSpace(op.Path) == "" {
			scimError(w, http.StatusBadRequest, "invalidPath", "every PATCH operation needs a path")
			return
		}
		if msg := s.patchUserOp(&next, strings.ToLower(op.Op), op.Path, op.Value); msg != "" {
			scimError(w, http.StatusBadRequest, "invalidValue", "%s", msg)
			return
		}
	}
	if next.Suspended != u.Suspended {
		s.setSuspended(u, next.Suspended)
	}
	if !strings.EqualFold(next.Email, u.Email) {
		if s.st.userByEmail[strings.ToLower(next.Email)] != nil {
			scimError(w, http.StatusConflict, "uniqueness", "User %s already exists", next.Email)
			return
		}
		s.st.setEmail(u, next.Email)
	}
	s.st.touchUser(u.ID)
	u.Email, u.Name, u.Surname, u.DisplayName, u.Properties = next.Email, next.Name, next.Surname, next.DisplayName, next.Properties
	u.Updated = s.ts()
	if s.quirky() {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeSCIM(w, http.StatusOK, s.scimUser(u, scimBase(r)))
}

func (s *Server) patchUserOp(u *User, op, path string, raw json.RawMessage) string {
	var v any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &v); err != nil {
			return "invalid value: " + err.Error()
		}
	}
	if op != "add" && op != "replace" && op != "remove" {
		return fmt.Sprintf("unknown op %q", op)
	}
	if path == "" {
		obj, ok := v.(map[string]any)
		if !ok || op == "remove" {
			return "an operation without a path needs an object value"
		}
		for k, x := range obj {
			b, _ := json.Marshal(x)
			if msg := s.patchUserOp(u, op, k, b); msg != "" {
				return msg
			}
		}
		return ""
	}
	str := func() (string, bool) {
		if op == "remove" {
			return "", true
		}
		x, ok := v.(string)
		return x, ok
	}
	switch p := strings.ToLower(path); p {
	case "active":
		if op == "remove" {
			return "active cannot be removed"
		}
		b, ok := scimBool(v)
		if !ok {
			return "active must be a boolean"
		}
		u.Suspended = !b
	case "name.givenname", "name.familyname", "displayname", "username":
		x, ok := str()
		if !ok {
			return path + " must be a string"
		}
		switch p {
		case "name.givenname":
			u.Name = x
		case "name.familyname":
			u.Surname = x
		case "displayname":
			u.DisplayName = x
		default:
			if !validEmail(x) {
				return "userName must be an email address"
			}
			u.Email = x
		}
	case "name":
		if obj, ok := v.(map[string]any); ok {
			if g, ok := obj["givenName"].(string); ok {
				u.Name = g
			}
			if f, ok := obj["familyName"].(string); ok {
				u.Surname = f
			}
		}
	case strings.ToLower(scimEnterprise) + ":department", strings.ToLower(scimEnterprise):
		if u.Properties == nil {
			u.Properties = map[string]any{}
		}
		if obj, ok := v.(map[string]any); ok {
			v = obj["department"]
		}
		if op == "remove" || v == nil {
			delete(u.Properties, "department")
		} else {
			u.Properties["department"] = v
		}
	case "emails", `emails[type eq "work"].value`, "externalid", "title", "locale", "schemas":
		// accepted and ignored: the email is the userName in Highspot
	default:
		return fmt.Sprintf("unsupported path %q", path)
	}
	return ""
}

func (s *Server) scimListGroups(w http.ResponseWriter, r *http.Request) {
	start, count, cl, ok := s.scimListQuery(w, r, "displayName", `use displayName eq "name"`)
	if !ok {
		return
	}
	var sel []*Group
	for _, g := range s.st.groups {
		match := len(cl) == 0
		for _, c := range cl {
			if c.attr == "displayname" && strings.EqualFold(g.Name, c.value) || c.attr == "id" && g.ID == c.value {
				match = true
			}
		}
		if match {
			sel = append(sel, g)
		}
	}
	withMembers := !strings.Contains(strings.ToLower(r.URL.Query().Get("excludedAttributes")), "members")
	base := scimBase(r)
	writeSCIMListOf(s, w, sel, start, count, false, func(g *Group) map[string]any { return s.scimGroup(g, base, withMembers) })
}

type memberRef struct {
	Value string `json:"value"`
}

func (s *Server) scimCreateGroup(w http.ResponseWriter, r *http.Request) {
	var in struct {
		DisplayName string      `json:"displayName"`
		Members     []memberRef `json:"members"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || strings.TrimSpace(in.DisplayName) == "" {
		scimError(w, http.StatusBadRequest, "invalidValue", "displayName is required")
		return
	}
	if s.st.groupByName(in.DisplayName) != nil {
		scimError(w, http.StatusConflict, "uniqueness", "Group %q already exists", in.DisplayName)
		return
	}
	for _, m := range in.Members {
		if s.st.userByID[m.Value] == nil {
			scimError(w, http.StatusBadRequest, "invalidValue", "member %s is not a user", m.Value)
			return
		}
	}
	g := &Group{ID: s.newID(), Name: in.DisplayName, Created: s.ts()}
	s.st.addGroup(g)
	for _, m := range in.Members {
		s.st.setMember(g.ID, m.Value, true)
	}
	w.Header().Set("Location", scimBase(r)+"/Groups/"+g.ID)
	writeSCIM(w, http.StatusCreated, s.scimGroup(g, scimBase(r), true))
}

var memberPathRE = regexp.MustCompile(`^(?i:members)\[\s*(?i:value)\s+(?i:eq)\s+"([^"]*)"\s*\]$`)

func (s *Server) scimPatchGroup(w http.ResponseWriter, r *http.Request) {
	g := s.scimGroupOf(w, r)
	if g == nil {
		return
	}
	p, ok := readPatch(w, r)
	if !ok {
		return
	}
	// The changes to the members, kept apart from the current set (a group
	// can hold a million users: it is not copied per request). add and del
	// stay disjoint; replaced means add is the whole new set.
	add, del, replaced := map[string]bool{}, map[string]bool{}, false
	addMember := func(uid string) { delete(del, uid); add[uid] = true }
	delMember := func(uid string) {
		delete(add, uid)
		if !replaced {
			del[uid] = true
		}
	}
	name := g.Name
	for _, op := range p.Operations {
		var refs []memberRef
		if len(op.Value) > 0 && op.Value[0] == '[' {
			if err := json.Unmarshal(op.Value, &refs); err != nil {
				scimError(w, http.StatusBadRequest, "invalidValue", "members value: %v", err)
				return
			}
		}
		for _, m := range refs {
			if s.st.userByID[m.Value] == nil {
				scimError(w, http.StatusBadRequest, "invalidValue", "member %s is not a user", m.Value)
				return
			}
		}
		path := strings.TrimSpace(op.Path)
		if s.strict() && (path == "" || strings.EqualFold(op.Op, "remove") && strings.EqualFold(path, "members")) {
			scimError(w, http.StatusBadRequest, "invalidPath", "operation %s %q: give a path; remove a member with members[value eq \"id\"]", op.Op, op.Path)
			return
		}
		switch o := strings.ToLower(op.Op); {
		case o == "add" && strings.EqualFold(path, "members"):
			for _, m := range refs {
				addMember(m.Value)
			}
		case o == "replace" && strings.EqualFold(path, "members"):
			add, del, replaced = map[string]bool{}, map[string]bool{}, true
			for _, m := range refs {
				addMember(m.Value)
			}
		case o == "remove" && strings.EqualFold(path, "members"):
			if len(refs) == 0 {
				add, del, replaced = map[string]bool{}, map[string]bool{}, true
			}
			for _, m := range refs {
				delMember(m.Value)
			}
		case o == "remove" && memberPathRE.MatchString(path):
			delMember(memberPathRE.FindStringSubmatch(path)[1])
		case (o == "replace" || o == "add") && strings.EqualFold(path, "displayName"):
			if err := json.Unmarshal(op.Value, &name); err != nil || name == "" {
				scimError(w, http.StatusBadRequest, "invalidValue", "displayName must be a string")
				return
			}
		case (o == "replace" || o == "add") && path == "":
			var obj struct {
				DisplayName string      `json:"displayName"`
				Members     []memberRef `json:"members"`
			}
			if err := json.Unmarshal(op.Value, &obj); err != nil {
				scimError(w, http.StatusBadRequest, "invalidValue", "value: %v", err)
				return
			}
			if obj.DisplayName != "" {
				name = obj.DisplayName
			}
			for _, m := range obj.Members {
				if s.st.userByID[m.Value] == nil {
					scimError(w, http.StatusBadRequest, "invalidValue", "member %s is not a user", m.Value)
					return
				}
				addMember(m.Value)
			}
		default:
			scimError(w, http.StatusBadRequest, "invalidPath", "unsupported operation %s %q", op.Op, op.Path)
			return
		}
	}
	g.Name = name
	s.st.touchGroup(g.ID)
	if replaced {
		s.st.setMembers(g.ID, add)
	} else {
		for uid := range del {
			s.st.setMember(g.ID, uid, false)
		}
		for uid := range add {
			s.st.setMember(g.ID, uid, true)
		}
	}
	if s.quirky() {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeSCIM(w, http.StatusOK, s.scimGroup(g, scimBase(r), true))
}

// scimBulk runs each operation through the SCIM mux, resolving bulkId
// references, and reports a status per operation.
func (s *Server) scimBulk(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	ok := s.authSCIM(r)
	s.mu.Unlock()
	if !ok {
		scimError(w, http.StatusUnauthorized, "", "Could not authenticate user.")
		return
	}
	f := s.Faults()
	if f.SCIMBulkDisabled || s.strict() {
		scimError(w, http.StatusNotImplemented, "", "Bulk is not supported")
		return
	}
	maxOps := f.SCIMBulkMax
	if maxOps <= 0 {
		maxOps = 100
	}
	var req struct {
		FailOnErrors int `json:"failOnErrors"`
		Operations   []struct {
			Method string          `json:"method"`
			BulkID string          `json:"bulkId"`
			Path   string          `json:"path"`
			Data   json.RawMessage `json:"data"`
		} `json:"Operations"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		scimError(w, http.StatusBadRequest, "invalidSyntax", "invalid BulkRequest: %v", err)
		return
	}
	if len(req.Operations) > maxOps {
		scimError(w, http.StatusRequestEntityTooLarge, "tooMany", "%d operations; maxOperations is %d", len(req.Operations), maxOps)
		return
	}
	ids := map[string]string{}
	var out []map[string]any
	errs := 0
	for i, op := range req.Operations {
		if req.FailOnErrors > 0 && errs >= req.FailOnErrors {
			break
		}
		if s.quirky() && i >= quirkyBulkOps {
			// Throttled inside a 200: the operation was not run.
			res := map[string]any{"method": op.Method, "status": "429",
				"response": map[string]any{"schemas": []string{scimErrSchema}, "status": "429", "detail": "too many operations in flight; retry later"}}
			if op.BulkID != "" {
				res["bulkId"] = op.BulkID
			}
			out = append(out, res)
			continue
		}
		p, data := op.Path, string(op.Data)
		for b, id := range ids {
			p = strings.ReplaceAll(p, "bulkId:"+b, id)
			data = strings.ReplaceAll(data, "bulkId:"+b, id)
		}
		res := map[string]any{"method": op.Method}
		if op.BulkID != "" {
			res["bulkId"] = op.BulkID
		}
		if strings.Contains(p, "bulkId:") {
			res["status"] = "409"
			res["response"] = map[string]any{"schemas": []string{scimErrSchema}, "status": "409", "scimType": "invalidValue", "detail": "unresolved bulkId reference in " + p}
			out = append(out, res)
			errs++
			continue
		}
		sub, err := http.NewRequestWithContext(r.Context(), strings.ToUpper(op.Method), p, bytes.NewReader([]byte(data)))
		if err != nil || !strings.HasPrefix(p, "/") {
			res["status"] = "400"
			res["response"] = map[string]any{"schemas": []string{scimErrSchema}, "status": "400", "detail": "invalid path " + op.Path}
			out = append(out, res)
			errs++
			continue
		}
		sub.Host = r.Host
		sub.Header.Set("Authorization", r.Header.Get("Authorization"))
		sub.Header.Set("Content-Type", scimContentType)
		rec := httptest.NewRecorder()
		s.scimMux.ServeHTTP(rec, sub)
		res["status"] = strconv.Itoa(rec.Code)
		if rec.Code >= 400 {
			errs++
			if b := bytes.TrimSpace(rec.Body.Bytes()); json.Valid(b) {
				res["response"] = json.RawMessage(b)
			} else {
				res["response"] = map[string]any{"schemas": []string{scimErrSchema}, "status": strconv.Itoa(rec.Code), "detail": string(b)}
			}
		} else {
			var created struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(rec.Body.Bytes(), &created)
			if created.ID != "" {
				if strings.EqualFold(op.Method, http.MethodPost) {
					res["location"] = scimBase(r) + p + "/" + created.ID
					if op.BulkID != "" {
						ids[op.BulkID] = created.ID
					}
				} else {
					res["location"] = scimBase(r) + p
				}
			}
		}
		out = append(out, res)
	}
	writeSCIM(w, http.StatusOK, map[string]any{"schemas": []string{scimBulkResp}, "Operations": out})
}
