package highspot_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/config"
	"github.com/otds-highspot/otds-highspot/internal/retry"
	"github.com/otds-highspot/otds-highspot/load"
	"github.com/otds-highspot/otds-highspot/load/highspot"
	"github.com/otds-highspot/otds-highspot/load/highspot/hsconf"
	"github.com/otds-highspot/otds-highspot/load/highspot/sandbox"
)

// TestRetryableIsThePolicy checks the wiring: a StatusError is decided by
// its status, anything else as a transport error, both by internal/retry
// (whose TestShouldRetry holds the table of decisions).
func TestRetryableIsThePolicy(t *testing.T) {
	for status := 100; status < 600; status++ {
		err := fmt.Errorf("op: %w", &highspot.StatusError{Status: status})
		if got, want := highspot.Retryable(err), retry.Status(status); got != want {
			t.Errorf("Retryable(HTTP %d): got %v, want %v (retry.Status)", status, got, want)
		}
	}
	for _, err := range []error{nil, io.EOF, fmt.Errorf("read: %w", syscall.ECONNRESET), context.DeadlineExceeded,
		context.Canceled, highspot.ErrNotFound, errors.New("decode: bad json")} {
		if got, want := highspot.Retryable(err), retry.Transport(err); got != want {
			t.Errorf("Retryable(%v): got %v, want %v (retry.Transport)", err, got, want)
		}
	}
}

// TestDefaultClassifyReadsStatusErrors: the applier's default
// classification sees a Highspot StatusError's status and Retry-After (the
// pipelines pass no classifier of their own).
func TestDefaultClassifyReadsStatusErrors(t *testing.T) {
	for _, tc := range []struct {
		status int
		after  time.Duration
	}{{429, 2 * time.Second}, {503, 0}, {501, 0}, {400, 0}, {401, 0}} {
		err := fmt.Errorf("op: %w", &highspot.StatusError{Status: tc.status, RetryAfter: tc.after})
		c := load.DefaultClassify(err)
		if c.HTTPStatus != tc.status || c.RetryAfter != tc.after || c.Retryable != retry.Status(tc.status) {
			t.Errorf("HTTP %d: got %+v, want status %d, Retry-After %v, retryable %v", tc.status, c, tc.status, tc.after, retry.Status(tc.status))
		}
	}
}

// TestFaultsSurfaceAsStatusErrors drives the REST and SCIM clients into each
// injected fault and checks what the applier will see.
func TestFaultsSurfaceAsStatusErrors(t *testing.T) {
	cases := []struct {
		name        string
		faults      sandbox.Faults
		wantStatus  int
		wantRetry   time.Duration
		wantNoRetry bool // Retry-After absent
		wantDrop    bool
	}{
		{name: "burst 429 with seconds", faults: sandbox.Faults{Burst429: 1}, wantStatus: 429, wantRetry: time.Second},
		{name: "burst 429 without Retry-After", faults: sandbox.Faults{Burst429: 1, RetryAfter: "off"}, wantStatus: 429, wantNoRetry: true},
		{name: "burst 429 http-date", faults: sandbox.Faults{Burst429: 1, RetryAfter: "http-date"}, wantStatus: 429},
		{name: "5xx", faults: sandbox.Faults{ErrorRate: 1}, wantStatus: -5},
		{name: "dropped connection", faults: sandbox.Faults{DropRate: 1}, wantDrop: true},
	}
	for _, surface := range []string{"rest", "scim"} {
		for _, c := range cases {
			t.Run(surface+"/"+c.name, func(t *testing.T) {
				s, ts := newSandbox(t, sandbox.Options{RandSeed: 7})
				cl, _ := sandbox.Client(surface, ts.URL, ts.Client(), nil)
				s.SetFaults(c.faults)
				_, err := cl.FindUserByEmail(context.Background(), "john.doe@acme.com")
				if err == nil {
					t.Fatal("got no error, want the injected fault")
				}
				if !highspot.Retryable(err) {
					t.Errorf("Retryable(%v) = false, want true", err)
				}
				var se *highspot.StatusError
				isSE := errors.As(err, &se)
				switch {
				case c.wantDrop:
					if isSE {
						t.Errorf("got StatusError %v, want a transport error", err)
					}
				case c.wantStatus == -5:
					if !isSE || se.Status < 500 {
						t.Errorf("got %v, want a 5xx StatusError", err)
					}
				default:
					if !isSE || se.Status != c.wantStatus {
						t.Fatalf("got %v, want status %d", err, c.wantStatus)
					}
					if c.wantRetry > 0 && se.RetryAfter != c.wantRetry {
						t.Errorf("got RetryAfter %v, want %v", se.RetryAfter, c.wantRetry)
					}
					if c.wantNoRetry && se.RetryAfter != 0 {
						t.Errorf("got RetryAfter %v, want 0", se.RetryAfter)
					}
					if c.faults.RetryAfter == "http-date" && (se.RetryAfter <= 0 || se.RetryAfter > 5*time.Second) {
						t.Errorf("got RetryAfter %v from an HTTP-date, want (0, 5s]", se.RetryAfter)
					}
				}
			})
		}
	}
}

func TestJSONAndTextErrorBodies(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("email") {
		case "json@x.com":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			_, _ = io.WriteString(w, `{"message":"email is malformed"}`)
		case "text@x.com":
			w.WriteHeader(502)
			_, _ = io.WriteString(w, "<html>Bad Gateway</html>")
		default:
			_, _ = io.WriteString(w, `{"counts_total":1,"collection":[{"id":"x","email":"ok@x.com","extra":{"nested":true}}]}`)
		}
	}))
	defer ts.Close()
	c, _ := highspot.NewREST(highspot.RESTOptions{BaseURL: ts.URL + "/v1.0", APIKey: config.NewSecret("k"), APISecret: config.NewSecret("s"), HTTPClient: ts.Client()})
	for _, tc := range []struct {
		email, body string
		status      int
	}{{"json@x.com", "email is malformed", 400}, {"text@x.com", "Bad Gateway", 502}} {
		_, err := c.FindUserByEmail(context.Background(), tc.email)
		var se *highspot.StatusError
		if !errors.As(err, &se) || se.Status != tc.status || se.Body != tc.body {
			t.Errorf("%s: got %v, want %d %q", tc.email, err, tc.status, tc.body)
		}
	}
	// Unknown fields decode leniently; no verified field → a second lookup settles it.
	u, err := c.FindUserByEmail(context.Background(), "ok@x.com")
	if err != nil || u == nil || u.ID != "x" {
		t.Errorf("lenient decode: got %+v, %v", u, err)
	}
}

func TestGroupTitleAndEndpointOverride(t *testing.T) {
	s, ts := newSandbox(t, sandbox.Options{})
	s.SetFaults(sandbox.Faults{GroupField: "title", DeleteMode: "hard"})
	c, _ := highspot.NewREST(highspot.RESTOptions{BaseURL: sandbox.RESTBase(ts.URL), APIKey: config.NewSecret(sandbox.DefaultKey),
		APISecret: config.NewSecret(sandbox.DefaultSecret), HTTPClient: ts.Client(),
		// A tenant whose suspend is the upsert with suspended=true.
		Endpoints: hsconf.Endpoints{Suspend: hsconf.Endpoint{Method: "POST", Path: "/users", Body: `[{"email":"{email}","properties":{"suspended":true}}]`}}})
	g, err := c.FindGroup(context.Background(), "region - emea")
	if err != nil || g == nil || g.Name != "Region - EMEA" {
		t.Fatalf("FindGroup via title, case-insensitive: got %+v, %v", g, err)
	}
	if err := c.SuspendUser(context.Background(), load.User{Email: "lisa.park@acme.com"}); err != nil {
		t.Fatal(err)
	}
	u, ok := s.State().UserByEmail("lisa.park@acme.com")
	if !ok || !u.Suspended {
		t.Errorf("got %+v (present %v), want suspended and kept (the override, not the hard DELETE)", u, ok)
	}
}
