package sandbox

import (
	"fmt"
	"net/http"
	"strings"
)

// Provider profiles: how strictly the sandbox speaks the protocols. A profile
// changes protocol behaviour only (filters, paging envelopes, error bodies,
// Bulk), never the data model: the same requests leave the same users,
// groups and memberships behind under every profile.
const (
	// ProfileLenient is the default: everything the clients send is accepted.
	ProfileLenient = "lenient"
	// ProfileStrictRFC is a SCIM provider that implements RFC 7644 to the
	// letter and no further: only `userName eq` / `displayName eq` filters
	// (no `or`), no Bulk (501), PATCH operations only with a path, members
	// removed only by `members[value eq "id"]`, count capped at
	// filter.maxResults, 409 uniqueness on a duplicate create. Its REST
	// surface is the lenient one.
	ProfileStrictRFC = "strict-rfc"
	// ProfileQuirky serves shapes seen in the field. SCIM: totalResults
	// missing (users) or wrong (groups: the page size), Resources absent on
	// an empty page, itemsPerPage smaller than asked, PATCH answered 204
	// without a body, Bulk answered 200 with per-operation 429s past the
	// first few operations, a 409 without scimType on a duplicate create.
	// REST: POST /users results without email and with status "success"
	// (the S3 shape), every page after the first repeating the previous
	// page's last item, limit silently capped at 40, error bodies in HTML
	// and in plain text.
	ProfileQuirky = "quirky"
)

// Profiles lists the profile names, default first.
func Profiles() []string { return []string{ProfileLenient, ProfileStrictRFC, ProfileQuirky} }

// checkProfile returns the canonical profile name ("" is lenient).
func checkProfile(p string) (string, error) {
	if p == "" {
		return ProfileLenient, nil
	}
	for _, x := range Profiles() {
		if p == x {
			return p, nil
		}
	}
	return "", fmt.Errorf("sandbox: unknown profile %q; use one of %s", p, strings.Join(Profiles(), ", "))
}

const (
	// strictMaxResults is strict-rfc's filter.maxResults (and page cap).
	strictMaxResults = 100
	// quirkyPageCap is the page size quirky answers with, whatever was asked.
	quirkyPageCap = 40
	// quirkyBulkOps is how many Bulk operations quirky runs before it
	// answers the rest 429.
	quirkyBulkOps = 20
)

// Profile returns the server's provider profile.
func (s *Server) Profile() string { return s.profile }

func (s *Server) strict() bool { return s.profile == ProfileStrictRFC }
func (s *Server) quirky() bool { return s.profile == ProfileQuirky }

// restError writes a REST error: JSON {"message"} normally; under quirky
// every other error is an HTML page and the rest plain text, as proxies and
// older endpoints answer. Call with s.mu held (it counts on the state's
// error counter to alternate).
func (s *Server) restError(w http.ResponseWriter, status int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if !s.quirky() {
		writeJSON(w, status, map[string]string{"message": msg})
		return
	}
	s.fmu.Lock()
	s.counters["quirky error"]++
	html := s.counters["quirky error"]%2 == 1
	s.fmu.Unlock()
	if html {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		fmt.Fprintf(w, "<!DOCTYPE html>\n<html><head><title>%d %s</title></head>\n<body><h1>%s</h1><p>%s</p></body></html>\n",
			status, http.StatusText(status), http.StatusText(status), htmlEscape(msg))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "%d %s: %s\n", status, http.StatusText(status), msg)
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
