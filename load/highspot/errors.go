// Package highspot owns the Highspot clients of the load stage: the REST v1.0
// client (*REST) and the SCIM 2.0 client (*SCIM), both implementing
// load.Target, and the error type that carries the HTTP status and
// Retry-After so the applier can decide whether to retry. The clients never
// retry themselves; wire shapes live in load/highspot/wire.
package highspot

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/retry"
)

// StatusError is a non-2xx HTTP response (or a per-entry rejection mapped to
// one). Body is the server's message: the "message" (or SCIM "detail") of a
// JSON error body when it parses, the raw text otherwise (Highspot's 401 is
// text/plain "Could not authenticate user.").
type StatusError struct {
	Status int
	Body   string
	// RetryAfter is the parsed Retry-After header (seconds or HTTP-date);
	// 0 when absent or unparseable.
	RetryAfter time.Duration
	Method     string
	URL        string
	// SCIMType is the scimType of a SCIM error body (invalidFilter,
	// tooMany, uniqueness, …), "" when absent.
	SCIMType string
}

// HTTPStatus and RetryAfterDelay let the applier's classification
// (load.DefaultClassify) read the status and Retry-After without knowing
// this package.
func (e *StatusError) HTTPStatus() int                { return e.Status }
func (e *StatusError) RetryAfterDelay() time.Duration { return e.RetryAfter }

func (e *StatusError) Error() string {
	msg := e.Body
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	s := fmt.Sprintf("%s %s: HTTP %d", e.Method, e.URL, e.Status)
	if msg != "" {
		s += ": " + msg
	}
	switch {
	case e.Status == http.StatusUnauthorized:
		s += " (check the API key and secret, or the SCIM token)"
	case e.Status == http.StatusForbidden:
		s += " (the API user lacks the right, or hs-user impersonation is not enabled for the key)"
	}
	return s
}

// ErrNotFound is returned (wrapped) when a user or group a write refers to
// does not exist on the target.
var ErrNotFound = errors.New("not found on Highspot")

// Retryable reports whether a request that failed with err may be retried,
// by the project's one policy (internal/retry): 429, 500, 502, 503, 504,
// timeouts and dropped connections (EOF, reset, refused) are; 501, the other
// 4xx, context cancellation and everything else are not.
func Retryable(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		return retry.Status(se.Status)
	}
	return retry.Transport(err)
}

// ParseRetryAfter reads a Retry-After value: delta seconds or an HTTP-date
// (relative to now). It returns 0 when absent, unparseable or in the past.
func ParseRetryAfter(v string, now time.Time) time.Duration { return retry.ParseRetryAfter(v, now) }

// newStatusError reads resp's body into a StatusError.
func newStatusError(resp *http.Response, now time.Time) *StatusError {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var st struct {
		SCIMType string `json:"scimType"`
	}
	_ = json.Unmarshal(b, &st)
	return &StatusError{
		Status:     resp.StatusCode,
		SCIMType:   st.SCIMType,
		Body:       errorMessage(b),
		RetryAfter: ParseRetryAfter(resp.Header.Get("Retry-After"), now),
		Method:     resp.Request.Method,
		URL:        redactURL(resp.Request.URL.String()),
	}
}

// errorMessage is "JSON if it parses, otherwise text": Highspot's
// {"message":…}, SCIM's {"detail":…}, the text of an HTML error page (a
// proxy's or an older endpoint's), or the raw body.
func errorMessage(b []byte) string {
	var m map[string]any
	if json.Unmarshal(b, &m) == nil {
		for _, k := range []string{"message", "detail", "errorMessage", "error_description", "error"} {
			if s, ok := m[k].(string); ok && s != "" {
				return s
			}
		}
	}
	t := strings.TrimSpace(string(b))
	if l := strings.ToLower(t); strings.HasPrefix(l, "<!doctype html") || strings.HasPrefix(l, "<html") {
		return htmlText(t)
	}
	return t
}

// htmlText is the visible text of an HTML page: the <body> without tags,
// whitespace collapsed (the <title> is dropped when there is a body).
func htmlText(h string) string {
	if i := strings.Index(strings.ToLower(h), "<body"); i >= 0 {
		h = h[i:]
	}
	var b strings.Builder
	in := false
	for _, r := range h {
		switch {
		case r == '<':
			in = true
			b.WriteByte(' ')
		case r == '>':
			in = false
		case !in:
			b.WriteRune(r)
		}
	}
	r := strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">", "&quot;", `"`, "&#39;", "'")
	return strings.Join(strings.Fields(r.Replace(b.String())), " ")
}

// redactURL drops userinfo from a URL for error messages.
func redactURL(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		if j := strings.Index(s[i+3:], "@"); j >= 0 && !strings.Contains(s[i+3:i+3+j], "/") {
			return s[:i+3] + s[i+3+j+1:]
		}
	}
	return s
}
