package highspot_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/config"
	"github.com/otds-highspot/otds-highspot/load"
	"github.com/otds-highspot/otds-highspot/load/highspot"
)

// firstAnswer answers the first request with status and body, every later
// one with an empty list (so paging ends however the first page looks).
type firstAnswer struct {
	status int
	body   string
	mu     sync.Mutex
	n      int
}

func (fa *firstAnswer) RoundTrip(r *http.Request) (*http.Response, error) {
	fa.mu.Lock()
	fa.n++
	n := fa.n
	fa.mu.Unlock()
	status, body := fa.status, fa.body
	if n > 1 {
		status, body = 200, `{"counts_total":0,"collection":[],"totalResults":0,"Resources":[]}`
	}
	if strings.HasSuffix(r.URL.Path, "/oauth2/token") {
		status, body = 200, `{"access_token":"t","expires_in":3600}`
	}
	return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
}

// calls are the client methods whose answers are decoded.
func calls(ctx context.Context, t load.Target) {
	_ = t.ListUsers(ctx, func(load.User) error { return nil })
	_ = t.ListGroups(ctx, func(load.Group) error { return nil })
	_, _ = t.FindUserByEmail(ctx, "a@x.example")
	_, _ = t.FindGroup(ctx, "Sales")
	_, _ = t.UpsertUsers(ctx, []load.UserInput{{Email: "a@x.example", Name: "A"}, {Email: "b@x.example", Name: "B"}})
	_ = t.AddMember(ctx, load.Group{ID: "g", Name: "Sales"}, load.User{ID: "u", Email: "a@x.example"})
}

var fuzzSeeds = []string{
	`{"counts_total":1,"collection":[{"id":"u1","email":"a@x.example","name":"A","groups":["g"],"suspended":false}]}`,
	`{"collection":[{"id":"1","email":"a@x.example","status":"ok"},{"email":"b@x.example","status":"error","message":"bad"}]}`,
	`{"collection":[{"id":"g","title":"Sales","member_count":"x"}]}`, `{"id":"req1","status":"pending"}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":2,"startIndex":1,"itemsPerPage":1,"Resources":[{"id":"u","userName":"a@x.example","active":true,"emails":[{"value":"a@x.example","primary":true}]}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkResponse"],"Operations":[{"method":"POST","bulkId":"0","status":"201","response":{"id":"u"}},{"status":429}]}`,
	`{"detail":"nope","status":"400","scimType":"invalidFilter"}`, `<html>bad gateway</html>`, ``, `[`, `null`,
}

// FuzzRESTResponses decodes arbitrary first answers (any status) in every
// REST client method: errors are fine, panics and endless paging are not.
func FuzzRESTResponses(f *testing.F) {
	for i, s := range fuzzSeeds {
		f.Add(uint16(200+i%3), s)
	}
	f.Add(uint16(202), `{"id":"req"}`)
	f.Add(uint16(503), `{}`)
	f.Fuzz(func(t *testing.T, status uint16, body string) {
		fa := &firstAnswer{status: 100 + int(status)%500, body: body}
		c, err := highspot.NewREST(highspot.RESTOptions{BaseURL: "https://hs.invalid/v1.0", APIKey: config.NewSecret("k"), APISecret: config.NewSecret("s"),
			HTTPClient: &http.Client{Transport: fa}, PollInterval: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		calls(ctx, c)
		if fa.n > 1000 {
			t.Fatalf("%d requests: a client loops on this answer", fa.n)
		}
	})
}

// FuzzSCIMResponses is FuzzRESTResponses for the SCIM client (discovery
// included: the first answer may be the ServiceProviderConfig).
func FuzzSCIMResponses(f *testing.F) {
	for i, s := range fuzzSeeds {
		f.Add(uint16(200+i%2), s)
	}
	f.Add(uint16(200), `{"bulk":{"supported":true,"maxOperations":2},"filter":{"supported":true},"patch":{"supported":true}}`)
	f.Fuzz(func(t *testing.T, status uint16, body string) {
		fa := &firstAnswer{status: 100 + int(status)%500, body: body}
		c, err := highspot.NewSCIM(highspot.SCIMOptions{BaseURL: "https://hs.invalid/scim/v2", Token: config.NewSecret("t"),
			HTTPClient: &http.Client{Transport: fa}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = c.Discover(ctx)
		calls(ctx, c)
		if fa.n > 1000 {
			t.Fatalf("%d requests: a client loops on this answer", fa.n)
		}
	})
}
