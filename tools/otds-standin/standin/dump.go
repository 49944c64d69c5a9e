package standin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Dump writes the REST answers for every partition into dir, as static
// samples of what the stand-in serves (attrsAsKeys=true, one page per
// listing): partitions.json, users-<P>.json, groups-<P>.json and
// members-<P>.json (group uuid -> its /members answer). Output is
// deterministic.
func (s *Server) Dump(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	h := s.Handler()
	tok := newTicket("*OTDSSSO*")
	s.mu.Lock()
	s.tickets[tok] = &ticket{}
	s.mu.Unlock()
	get := func(path string, q url.Values) (json.RawMessage, error) {
		req := httptest.NewRequest(http.MethodGet, path+"?"+q.Encode(), nil)
		req.Header.Set("OTDSTicket", tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			return nil, fmt.Errorf("dump %s: HTTP %d %s", path, rec.Code, rec.Body.String())
		}
		return rec.Body.Bytes(), nil
	}
	write := func(name string, v json.RawMessage) error {
		var b bytes.Buffer
		if err := json.Indent(&b, v, "", "  "); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644)
	}
	all := url.Values{"page_size": {"1000000"}, "attrsAsKeys": {"true"}}
	saved := s.opt.MaxPageSize
	s.opt.MaxPageSize = 1 << 30
	defer func() { s.opt.MaxPageSize = saved }()
	v, err := get("/otdsws/rest/partitions", nil)
	if err != nil {
		return err
	}
	if err := write("partitions.json", v); err != nil {
		return err
	}
	for _, p := range s.data.Partitions {
		file := strings.ReplaceAll(strings.ToLower(p), " ", "-")
		q := url.Values{"where_partition_name": {p}}
		for k, vs := range all {
			q[k] = vs
		}
		for _, kind := range []string{"users", "groups"} {
			v, err := get("/otdsws/rest/"+kind, q)
			if err != nil {
				return err
			}
			if err := write(kind+"-"+file+".json", v); err != nil {
				return err
			}
		}
		members := map[string]json.RawMessage{}
		for _, g := range s.data.Groups[p] {
			v, err := get("/otdsws/rest/groups/"+url.PathEscape(g.UUID)+"/members", all)
			if err != nil {
				return err
			}
			members[g.UUID] = v
		}
		b, err := json.Marshal(members)
		if err != nil {
			return err
		}
		if err := write("members-"+file+".json", b); err != nil {
			return err
		}
	}
	return nil
}
