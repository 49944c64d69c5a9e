// Package ldap owns the LDAP source of the extract stage: it reads one tree
// from an OpenDJ-era OTDS (or the slapd fixture) with go-ldap/v3 over ldaps://
// or ldap:// + StartTLS, simple bind, and its own paged-results loop (one
// Search per page, the context checked between pages, rows handed to the sink
// as each page arrives). Any non-success result, a missing paging control or
// a dropped connection is an error: a partial read never looks complete.
package ldap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
	"github.com/sirupsen/logrus"

	"github.com/otds-highspot/otds-highspot/extract"
	"github.com/otds-highspot/otds-highspot/extract/entry"
	"github.com/otds-highspot/otds-highspot/extract/extractconf"
	"github.com/otds-highspot/otds-highspot/extract/ldap/ldapconf"
	"github.com/otds-highspot/otds-highspot/internal/exitcode"
)

// Source reads one tree over LDAP.
type Source struct {
	tree   extractconf.Tree
	cfg    ldapconf.Config
	getenv func(string) string
	log    logrus.FieldLogger
	mapper *entry.Mapper
	// per-read entry decoding state (a Source reads one tree at a time)
	slotOf map[string]int // lower-case requested attribute -> slot
	byName map[string]int // attribute name as the mapper asks for it -> slot (-1: not requested)
	slots  [][][]byte     // the current entry's values per slot (views into the message buffer)
	lower  []byte
	get    entry.Getter
	// PageHook, when set, is called after each page has been handed to the
	// sink (page number from 1, entries in it). Tests use it to act mid-read.
	PageHook func(page, entries int)
	// dial, when set, replaces the TCP dial of ldap:// URLs (tests drive the
	// client over net.Pipe).
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// New builds the source for tree (source: ldap, defaults applied). getenv
// resolves the bind password reference; log receives warnings (insecure TLS).
func New(tree extractconf.Tree, getenv func(string) string, log logrus.FieldLogger) (*Source, error) {
	if tree.Source != "ldap" {
		return nil, fmt.Errorf("ldap source for tree %s: source is %q, not ldap", tree.Name, tree.Source)
	}
	s := &Source{tree: tree, cfg: tree.LDAP, getenv: getenv, log: log.WithField("tree", tree.Name)}
	s.mapper = entry.NewMapper(&s.tree)
	if s.cfg.InsecureSkipVerify {
		s.log.Warn("ldap: insecure_skip_verify is on: the server certificate is NOT verified; set ca_file instead")
	}
	return s, nil
}

// Filter is the search filter: user and group object classes (escaped)
// each ANDed with the optional configured extra filter.
func Filter(cfg ldapconf.Config) string {
	part := func(class, extra string) string {
		f := "(objectClass=" + goldap.EscapeFilter(class) + ")"
		if extra != "" {
			f = "(&" + f + extra + ")"
		}
		return f
	}
	return "(|" + part(cfg.UserObjectClass, cfg.UserFilter) + part(cfg.GroupObjectClass, cfg.GroupFilter) + ")"
}

// Bases returns the search bases: one per included partition
// (ou=<partition>,<base_dn>) when the tree names partitions and base_dn is
// ou=IdentityProviders, else base_dn itself.
func Bases(tree extractconf.Tree) []string {
	base := tree.LDAP.BaseDN
	dn, err := goldap.ParseDN(base)
	if err != nil || len(tree.Partitions) == 0 || len(dn.RDNs) == 0 {
		return []string{base}
	}
	top := dn.RDNs[0].Attributes
	if len(top) != 1 || !strings.EqualFold(top[0].Type, "ou") || !strings.EqualFold(top[0].Value, "IdentityProviders") {
		return []string{base}
	}
	out := make([]string, 0, len(tree.Partitions))
	for _, p := range tree.Partitions {
		out = append(out, "ou="+goldap.EscapeDN(strings.TrimSpace(p))+","+base)
	}
	return out
}

func (s *Source) tlsConfig(host string) (*tls.Config, error) {
	c := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12, InsecureSkipVerify: s.cfg.InsecureSkipVerify} //nolint:gosec // explicit, logged
	if s.cfg.ServerName != "" {
		c.ServerName = s.cfg.ServerName
	}
	if s.cfg.CAFile != "" {
		pem, err := os.ReadFile(s.cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read ca_file: %w (check trees[].ldap.ca_file)", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s holds no PEM certificate", s.cfg.CAFile)
		}
		c.RootCAs = pool
	}
	return c, nil
}

// connect dials (honouring ctx), sets up TLS and binds.
func (s *Source) connect(ctx context.Context) (*wireConn, error) {
	u, err := url.Parse(s.cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("parse url: %w", err)
	}
	host := u.Hostname()
	port := u.Port()
	if port == "" {
		port = map[string]string{"ldap": "389", "ldaps": "636"}[u.Scheme]
	}
	timeout := s.cfg.Timeout
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var nc net.Conn
	d := &net.Dialer{}
	if u.Scheme == "ldaps" {
		tc, err := s.tlsConfig(host)
		if err != nil {
			return nil, err
		}
		td := &tls.Dialer{NetDialer: d, Config: tc}
		nc, err = td.DialContext(dctx, "tcp", net.JoinHostPort(host, port))
		if err != nil {
			return nil, fmt.Errorf("dial %s: %w", s.cfg.URL, err)
		}
	} else {
		dial := d.DialContext
		if s.dial != nil {
			dial = s.dial
		}
		nc, err = dial(dctx, "tcp", net.JoinHostPort(host, port))
		if err != nil {
			return nil, fmt.Errorf("dial %s: %w", s.cfg.URL, err)
		}
	}
	conn := newWireConn(nc, timeout)
	// setup (StartTLS, bind) is bounded by the timeout and by ctx
	_ = nc.SetDeadline(time.Now().Add(timeout))
	stop := context.AfterFunc(dctx, func() { conn.Close() })
	defer stop()
	if s.cfg.StartTLS {
		tc, err := s.tlsConfig(host)
		if err != nil {
			conn.Close()
			return nil, err
		}
		if err := conn.startTLS(dctx, tc); err != nil {
			conn.Close()
			return nil, fmt.Errorf("StartTLS with %s: %w", s.cfg.URL, err)
		}
	}
	if s.cfg.BindDN != "" {
		pw, err := s.cfg.BindPassword.Resolve("trees."+s.tree.Name+".ldap.bind_password", s.getenv)
		if err != nil {
			conn.Close()
			return nil, err
		}
		if err := conn.bind(s.cfg.BindDN, pw.Reveal()); err != nil {
			conn.Close()
			if authFailure(err) {
				// Retrying a wrong password can lock the service account.
				return nil, exitcode.Wrap(exitcode.Auth, fmt.Errorf("bind as %s: %w (check trees[].ldap.bind_dn and bind_password; not retried)", s.cfg.BindDN, err))
			}
			return nil, fmt.Errorf("bind as %s: %w", s.cfg.BindDN, err)
		}
	}
	if !stop() {
		conn.Close()
		return nil, fmt.Errorf("connect to %s: %w", s.cfg.URL, context.Cause(dctx))
	}
	_ = conn.nc.SetDeadline(time.Time{})
	return conn, nil
}

// Read reads the whole tree into sink. It returns nil only after every page
// of every base was read and handed to the sink.
func (s *Source) Read(ctx context.Context, sink extract.Sink) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	filter := Filter(s.cfg)
	compiled, err := goldap.CompileFilter(filter)
	if err != nil {
		return fmt.Errorf("ldap %s: filter %s: %w (check trees[].ldap.user_filter / group_filter)", s.cfg.URL, filter, err)
	}
	conn, err := s.connect(ctx)
	if err != nil {
		return fmt.Errorf("ldap %s: %w", s.cfg.URL, err)
	}
	// a cancelled context closes the connection, ending a blocked read
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer func() {
		if stop() {
			conn.unbind()
		}
	}()
	req := searchRequest{filter: compiled, attrs: s.mapper.Attributes(), timeLimit: int(s.cfg.Timeout / time.Second)}
	s.prepare(req.attrs)
	for _, base := range Bases(s.tree) {
		req.base = base
		if err := s.readBase(ctx, conn, req, sink); err != nil {
			return fmt.Errorf("ldap %s base %q: %w", s.cfg.URL, base, err)
		}
	}
	return nil
}

// readBase is the paged-results loop over one base: one search per page,
// entries mapped and handed to the sink as they are decoded (so memory is
// bounded by one entry, not one page), the context checked between pages.
func (s *Source) readBase(ctx context.Context, conn *wireConn, req searchRequest, sink extract.Sink) error {
	req.paging = goldap.NewControlPaging(uint32(s.cfg.PageSize))
	onEntry := func(e *rawEntry) error { return s.entry(e, sink) }
	for page := 1; ; page++ {
		if err := ctx.Err(); err != nil {
			s.abandon(conn, req)
			return fmt.Errorf("cancelled before page %d: %w", page, err)
		}
		if err := s.mapper.PageLimit("the paged search", page); err != nil {
			s.abandon(conn, req)
			return err
		}
		cookie, n, err := conn.searchPage(req, onEntry)
		if err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return fmt.Errorf("page %d: %w", page, cerr)
			}
			var le *goldap.Error
			if errors.As(err, &le) && le.ResultCode == goldap.LDAPResultNoSuchObject && page == 1 && len(Bases(s.tree)) > 1 {
				// a named partition that does not exist on this server
				return fmt.Errorf("page %d: partition base does not exist (check trees[].partitions): %w", page, err)
			}
			return fmt.Errorf("page %d: %w", page, err)
		}
		if s.PageHook != nil {
			s.PageHook(page, n)
		}
		if len(cookie) == 0 {
			return nil
		}
		req.paging.SetCookie(cookie)
	}
}

// abandon tells the server to drop the paged search (RFC 2696: size 0 with
// the cookie); best effort, bounded by the request timeout.
func (s *Source) abandon(conn *wireConn, req searchRequest) {
	if len(req.paging.Cookie) == 0 {
		return
	}
	stop := goldap.NewControlPaging(0)
	stop.SetCookie(req.paging.Cookie)
	req.paging, req.attrs = stop, []string{"1.1"}
	_, _, _ = conn.searchPage(req, func(*rawEntry) error { return nil })
}

// prepare builds the attribute slots of the requested attributes (names
// matched case-insensitively, as the directory does).
func (s *Source) prepare(attrs []string) {
	s.slotOf = make(map[string]int, len(attrs)+1)
	s.slots = s.slots[:0]
	for _, a := range append([]string{"objectClass"}, attrs...) {
		k := strings.ToLower(a)
		if _, ok := s.slotOf[k]; !ok {
			s.slotOf[k] = len(s.slots)
			s.slots = append(s.slots, nil)
		}
	}
	s.byName = make(map[string]int, len(s.slotOf))
	s.get = s.values
}

// values is the entry.Getter over the current entry's slots.
func (s *Source) values(attr string) [][]byte {
	i, ok := s.byName[attr]
	if !ok {
		j, found := s.slotOf[strings.ToLower(attr)]
		if !found {
			j = -1
		}
		s.byName[attr], i = j, j
	}
	if i < 0 {
		return nil
	}
	return s.slots[i]
}

func (s *Source) entry(e *rawEntry, sink extract.Sink) error {
	for i := range s.slots {
		s.slots[i] = nil
	}
	for i := range e.attrs {
		a := &e.attrs[i]
		s.lower = appendLower(s.lower[:0], a.name)
		if j, ok := s.slotOf[string(s.lower)]; ok && s.slots[j] == nil {
			s.slots[j] = a.vals
		}
	}
	ocs := s.get("objectClass")
	kind := ""
	switch {
	case entry.IsUser(ocs, s.cfg.UserObjectClass):
		kind = "account"
	case entry.IsGroup(ocs, s.cfg.GroupObjectClass):
		kind = "group"
	default:
		return nil
	}
	return entry.Emit(s.mapper, string(e.dn), kind, s.get, sink)
}

func appendLower(dst, name []byte) []byte {
	for _, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// authFailure reports an LDAP result that means the credentials or the
// account were refused: invalid credentials (49), insufficient access (50),
// an inappropriate authentication (48) or an empty password.
func authFailure(err error) bool {
	var le *goldap.Error
	if !errors.As(err, &le) {
		return false
	}
	switch le.ResultCode {
	case goldap.LDAPResultInvalidCredentials, goldap.LDAPResultInsufficientAccessRights,
		goldap.LDAPResultInappropriateAuthentication, goldap.ErrorEmptyPassword:
		return true
	}
	return false
}
