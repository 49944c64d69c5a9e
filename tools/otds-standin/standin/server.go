package standin

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configure the stand-in. The zero value serves without expiry or
// faults and accepts the user "admin"/"secret" and OAuth client "etl"/"secret".
type Options struct {
	// Users maps user names to passwords for ticket sign-in.
	Users map[string]string
	// Clients maps OAuth client ids to secrets.
	Clients map[string]string
	// PseudoDNs serves database-era DNs (entryDN and location
	// oTPerson=<uuid>,orgunit=users,partition=<P>,...); by default entryDN is
	// the LDAP DN, as an OpenDJ-era OTDS would show it.
	PseudoDNs bool
	// IgnoreAttrsAsKeys always answers in the values-list form.
	IgnoreAttrsAsKeys bool
	// MaxPageSize caps page_size (default 1000).
	MaxPageSize int
	Faults
}

// Faults are the injectable failures; change them at run time with SetFaults.
type Faults struct {
	// TicketMaxUses expires a ticket/token after this many data requests (0: never).
	TicketMaxUses int
	// TicketTTL expires a ticket/token this long after issue (0: never).
	TicketTTL time.Duration
	// Expiry400 answers an expired ticket with 400 {"status":1034,...}
	// instead of 401.
	Expiry400 bool
	// FailFirst answers the next FailFirst data requests with 503.
	FailFirst int
	// FailRate answers this share (0..1) of data requests with 500 (seeded by Seed).
	FailRate float64
	Seed     uint64
	// DropEvery drops the connection in the middle of every DropEvery-th data
	// response (0: never).
	DropEvery int
}

// Stats count what the stand-in saw.
type Stats struct {
	Requests, DataRequests, SignIns, Expired, Failed, Dropped int
	PageSizes                                                 []int
}

// Server serves Data over the OTDS REST shapes.
type Server struct {
	data *Data
	opt  Options

	mu      sync.Mutex
	faults  Faults
	rng     *mrand.Rand
	tickets map[string]*ticket
	stats   Stats
}

type ticket struct {
	issued time.Time
	uses   int
}

// New returns a stand-in serving d.
func New(d *Data, opt Options) *Server {
	if opt.Users == nil {
		opt.Users = map[string]string{"admin": "secret"}
	}
	if opt.Clients == nil {
		opt.Clients = map[string]string{"etl": "secret"}
	}
	if opt.MaxPageSize == 0 {
		opt.MaxPageSize = 1000
	}
	s := &Server{data: d, opt: opt, tickets: map[string]*ticket{}}
	s.SetFaults(opt.Faults)
	return s
}

// SetFaults replaces the fault knobs.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
	s.rng = mrand.New(mrand.NewPCG(f.Seed, 0x07d5))
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.PageSizes = append([]int(nil), s.stats.PageSizes...)
	return st
}

// Handler is the HTTP handler; mount it at the server root (paths start
// with /otdsws).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /otdsws/rest/authentication/credentials", s.credentials)
	mux.HandleFunc("POST /otdsws/oauth2/token", s.token)
	mux.HandleFunc("GET /otdsws/rest/partitions", s.data1(s.partitions))
	mux.HandleFunc("GET /otdsws/rest/users", s.data1(s.list("user")))
	mux.HandleFunc("GET /otdsws/rest/groups", s.data1(s.list("group")))
	mux.HandleFunc("GET /otdsws/rest/groups/{id}/members", s.data1(s.members))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.stats.Requests++
		s.mu.Unlock()
		mux.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func newTicket(prefix string) string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

func (s *Server) credentials(w http.ResponseWriter, r *http.Request) {
	var body struct {
		UserName  string `json:"userName"`
		UserName2 string `json:"user_name"`
		Password  string `json:"password"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"status": 400, "error": "malformed JSON body"})
		return
	}
	if body.UserName == "" {
		body.UserName = body.UserName2
	}
	pw, ok := s.opt.Users[body.UserName]
	if !ok || pw != body.Password {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"ticket": nil, "failureReason": "Invalid username or password", "status": 401})
		return
	}
	t := newTicket("*OTDSSSO*")
	s.mu.Lock()
	s.tickets[t] = &ticket{issued: time.Now()}
	s.stats.SignIns++
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"ticket": t, "token": nil, "userId": body.UserName, "resourceID": nil,
		"failureReason": nil, "passwordExpirationTime": 0, "continuation": false, "continuationContext": nil, "continuationData": nil})
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_request"})
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if r.PostForm.Get("grant_type") != "client_credentials" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "unsupported_grant_type"})
		return
	}
	if want, ok := s.opt.Clients[id]; !ok || want != secret {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "invalid_client"})
		return
	}
	t := newTicket("")
	s.mu.Lock()
	s.tickets[t] = &ticket{issued: time.Now()}
	s.stats.SignIns++
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": t, "token_type": "Bearer", "expires_in": 3600})
}

// data1 wraps a data endpoint with authentication, expiry and faults.
func (s *Server) data1(h func(w http.ResponseWriter, r *http.Request) any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t := r.Header.Get("OTDSTicket")
		if t == "" {
			if c, err := r.Cookie("OTDSTicket"); err == nil {
				t = c.Value
			}
		}
		if a := r.Header.Get("Authorization"); t == "" && strings.HasPrefix(a, "Bearer ") {
			t = strings.TrimPrefix(a, "Bearer ")
		}
		s.mu.Lock()
		s.stats.DataRequests++
		f := s.faults
		tk := s.tickets[t]
		expired := false
		if tk != nil {
			tk.uses++
			if f.TicketMaxUses > 0 && tk.uses > f.TicketMaxUses || f.TicketTTL > 0 && time.Since(tk.issued) > f.TicketTTL {
				expired = true
				delete(s.tickets, t)
				s.stats.Expired++
			}
		}
		fail := false
		if tk != nil && !expired {
			switch {
			case s.faults.FailFirst > 0:
				s.faults.FailFirst--
				fail = true
			case f.FailRate > 0 && s.rng.Float64() < f.FailRate:
				fail = true
			}
			if fail {
				s.stats.Failed++
			}
		}
		drop := tk != nil && !expired && !fail && f.DropEvery > 0 && s.stats.DataRequests%f.DropEvery == 0
		s.mu.Unlock()
		switch {
		case tk == nil && t == "":
			writeJSON(w, http.StatusUnauthorized, map[string]any{"status": 401, "error": "No OTDS ticket or token"})
			return
		case tk == nil || expired:
			if f.Expiry400 {
				writeJSON(w, http.StatusBadRequest, map[string]any{"status": 1034, "error": "Expired OTDS SSO ticket"})
			} else {
				writeJSON(w, http.StatusUnauthorized, map[string]any{"status": 401, "error": "Expired OTDS SSO ticket"})
			}
			return
		case fail:
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": 503, "error": "injected failure"})
			return
		}
		v := h(w, r)
		if v == nil {
			return // handler wrote an error
		}
		body, err := json.Marshal(v)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]any{"error": err.Error()})
			return
		}
		if drop {
			s.dropMidBody(w, body)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	}
}

// dropMidBody announces the whole body, sends half of it and closes the
// connection.
func (s *Server) dropMidBody(w http.ResponseWriter, body []byte) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	defer conn.Close()
	s.mu.Lock()
	s.stats.Dropped++
	s.mu.Unlock()
	bw := bufio.NewWriter(conn)
	_ = buf.Flush()
	fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
	_, _ = bw.Write(body[:len(body)/2])
	_ = bw.Flush()
}

func (s *Server) partitions(w http.ResponseWriter, r *http.Request) any {
	var ps []map[string]any
	for _, p := range s.data.Partitions {
		ps = append(ps, map[string]any{"name": p, "userPartitionID": p, "description": nil,
			"numUsers": len(s.data.Users[p]), "numGroups": len(s.data.Groups[p])})
	}
	return map[string]any{"partitions": ps, "nextPageCookie": nil}
}

// page parses paging parameters: the cookie encodes "<scope>|<offset>".
func (s *Server) page(w http.ResponseWriter, r *http.Request, scope string) (offset, size int, ok bool) {
	q := r.URL.Query()
	size = 250
	if v := q.Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeJSON(w, http.StatusBadRequest, map[string]any{"status": 400, "error": "bad page_size"})
			return 0, 0, false
		}
		size = n
	}
	if size > s.opt.MaxPageSize {
		size = s.opt.MaxPageSize
	}
	if c := q.Get("next_page_cookie"); c != "" {
		raw, err := hex.DecodeString(c)
		parts := strings.SplitN(string(raw), "|", 2)
		if err != nil || len(parts) != 2 || parts[0] != scope {
			writeJSON(w, http.StatusBadRequest, map[string]any{"status": 400, "error": "invalid next_page_cookie"})
			return 0, 0, false
		}
		if offset, err = strconv.Atoi(parts[1]); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"status": 400, "error": "invalid next_page_cookie"})
			return 0, 0, false
		}
	}
	s.mu.Lock()
	s.stats.PageSizes = append(s.stats.PageSizes, size)
	s.mu.Unlock()
	return offset, size, true
}

func cookie(scope string, next, total int) any {
	if next >= total {
		return nil
	}
	return hex.EncodeToString([]byte(scope + "|" + strconv.Itoa(next)))
}

func (s *Server) list(kind string) func(w http.ResponseWriter, r *http.Request) any {
	return func(w http.ResponseWriter, r *http.Request) any {
		q := r.URL.Query()
		p := q.Get("where_partition_name")
		src := s.data.Users
		key := "users"
		if kind == "group" {
			src, key = s.data.Groups, "groups"
		}
		objs, known := src[p]
		if !known && p != "" {
			if !s.hasPartition(p) {
				writeJSON(w, http.StatusNotFound, map[string]any{"status": 404, "error": "Partition " + p + " not found"})
				return nil
			}
		}
		if p == "" {
			for _, part := range s.data.Partitions {
				objs = append(objs, src[part]...)
			}
		}
		scope := kind + ":" + p
		off, size, ok := s.page(w, r, scope)
		if !ok {
			return nil
		}
		asKeys := q.Get("attrsAsKeys") == "true" && !s.opt.IgnoreAttrsAsKeys
		end := min(off+size, len(objs))
		out := make([]map[string]any, 0, max(end-off, 0))
		for _, o := range objs[min(off, len(objs)):end] {
			out = append(out, s.object(o, asKeys))
		}
		return map[string]any{key: out, "actualPageSize": len(out), "requestedPageSize": size,
			"nextPageCookie": cookie(scope, end, len(objs)), "requestedFilter": nil}
	}
}

func (s *Server) hasPartition(p string) bool {
	for _, x := range s.data.Partitions {
		if x == p {
			return true
		}
	}
	return false
}

// members answers GET /groups/{id}/members, id being the group's uuid or
// name@partition. The response shape is not public (reference §2.2); the
// stand-in pages {"users": [...], "groups": [...]} like the list endpoints.
func (s *Server) members(w http.ResponseWriter, r *http.Request) any {
	id := r.PathValue("id")
	g := s.data.ByUUID[id]
	if g == nil {
		g = s.data.byName[strings.ToLower(id)]
	}
	if g == nil || g.Kind != "group" {
		writeJSON(w, http.StatusNotFound, map[string]any{"status": 404, "error": "Group " + id + " not found"})
		return nil
	}
	scope := "members:" + g.UUID
	off, size, ok := s.page(w, r, scope)
	if !ok {
		return nil
	}
	asKeys := r.URL.Query().Get("attrsAsKeys") == "true" && !s.opt.IgnoreAttrsAsKeys
	end := min(off+size, len(g.Members))
	users, groups := []map[string]any{}, []map[string]any{}
	for _, m := range g.Members[min(off, len(g.Members)):end] {
		if m.Kind == "user" {
			users = append(users, s.object(m, asKeys))
		} else {
			groups = append(groups, s.object(m, asKeys))
		}
	}
	return map[string]any{"users": users, "groups": groups, "actualPageSize": len(users) + len(groups), "requestedPageSize": size,
		"nextPageCookie": cookie(scope, end, len(g.Members))}
}

// object renders one user or group in the REST shape of reference §2.3.
func (s *Server) object(o *Object, asKeys bool) map[string]any {
	class, ou := "oTPerson", "users"
	if o.Kind == "group" {
		class, ou = "oTGroup", "groups"
	}
	pseudo := class + "=" + o.UUID + ",orgunit=" + ou + ",partition=" + o.Partition + ",dc=identity,dc=opentext,dc=net"
	id := o.Name
	if o.Kind == "group" {
		id = o.Name + "@" + o.Partition
	}
	var desc any
	if o.Desc != "" {
		desc = o.Desc
	}
	m := map[string]any{"userPartitionID": o.Partition, "name": o.Name, "id": id, "uuid": o.UUID, "objectClass": class,
		"location": pseudo, "description": desc, "originUUID": nil, "urlId": id, "urlLocation": pseudo, "customAttributes": nil}
	if o.Kind == "group" {
		m["numMembers"] = len(o.Members)
	}
	values := make([]map[string]any, 0, len(o.Names))
	attrs := make(map[string][]string, len(o.Names))
	for _, n := range o.Names {
		v := o.Values[strings.ToLower(n)]
		if s.opt.PseudoDNs && strings.EqualFold(n, "entryDN") {
			v = []string{pseudo}
		}
		if asKeys {
			attrs[n] = v
		} else {
			values = append(values, map[string]any{"name": n, "values": v})
		}
	}
	if asKeys {
		m["values"] = []any{}
		m["attributes"] = attrs
	} else {
		m["values"] = values
	}
	return m
}
