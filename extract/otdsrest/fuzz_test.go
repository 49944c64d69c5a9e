package otdsrest

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/otds-highspot/otds-highspot/extract/ldif/ldiftest"
)

// fuzzTransport answers sign-in with a ticket and every other GET with body.
type fuzzTransport struct {
	body string
	mu   sync.Mutex
	n    int
}

func (ft *fuzzTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	body := ft.body
	if strings.HasSuffix(r.URL.Path, "/authentication/credentials") {
		body = `{"ticket":"t"}`
	}
	ft.mu.Lock()
	ft.n++
	ft.mu.Unlock()
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
}

// FuzzREST drives the OTDS REST source (sign-in, user/group pages, member
// pages, attribute decoding, mapping) with every listing answered by the
// fuzz input: it must end (the same-cookie guard), and never panic.
func FuzzREST(f *testing.F) {
	for _, s := range []string{
		`{"users":[{"userPartitionID":"P1","name":"a","uuid":"u1","location":"cn=a,ou=P1,ou=IdentityProviders,dc=x","attributes":{"mail":["a@x.example"],"displayName":"Ann\u0000Evil"}}]}`,
		`{"groups":[{"uuid":"g1","name":"g","location":"cn=g,dc=x","numMembers":1}],"members":[{"uuid":"u1"}],"nextPageCookie":"c"}`,
		`{"users":[{"uuid":"u2","values":[{"name":"mail","values":["b@x.example",1,null]}]}]}`,
		`{"users":[{"uuid":"u3","attributes":{"mail":{"x":1}}}]}`, `[]`, `null`, `{"nextPageCookie":""}`,
	} {
		f.Add(s)
	}
	tree := parseTree(f, "  - name: rest\n    source: otds-rest\n    partitions: [P1]\n    rest:\n      url: http://otds.invalid/otdsws\n      username: admin\n      password: {env: OTDS_PW}\n      retries: 0\n")
	f.Fuzz(func(t *testing.T, body string) {
		ft := &fuzzTransport{body: body}
		s, err := newSource(tree, getenv, &http.Client{Transport: ft}, quietLog())
		if err != nil {
			t.Fatal(err)
		}
		var sink ldiftest.Sink
		_ = s.Read(context.Background(), &sink)
		if ft.n > 10000 {
			t.Fatalf("%d requests for one read: the paging does not end", ft.n)
		}
	})
}
