package retry_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/otds-highspot/otds-highspot/internal/retry"
)

// timeoutErr is a net.Error whose Timeout() is true, what net/http returns
// when http.Client.Timeout fires.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func urlErr(err error) error { return &url.Error{Op: "Get", URL: "https://h.example/x", Err: err} }

// TestShouldRetry is the policy's table: every status and error the clients
// meet, and the decision for each.
func TestShouldRetry(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	resp := func(code int) *http.Response { return &http.Response{StatusCode: code} }
	tests := []struct {
		name string
		ctx  context.Context
		resp *http.Response
		err  error
		want bool
	}{
		{"429 too many requests", nil, resp(429), nil, true},
		{"500 internal server error", nil, resp(500), nil, true},
		{"501 not implemented is final", nil, resp(501), nil, false},
		{"502 bad gateway", nil, resp(502), nil, true},
		{"503 service unavailable", nil, resp(503), nil, true},
		{"504 gateway timeout", nil, resp(504), nil, true},
		{"505 http version not supported", nil, resp(505), nil, false},
		{"507 insufficient storage", nil, resp(507), nil, false},
		{"400 bad request", nil, resp(400), nil, false},
		{"401 unauthorized (auth, the caller's)", nil, resp(401), nil, false},
		{"403 forbidden (auth, the caller's)", nil, resp(403), nil, false},
		{"404 not found", nil, resp(404), nil, false},
		{"408 request timeout", nil, resp(408), nil, false},
		{"409 conflict", nil, resp(409), nil, false},
		{"422 unprocessable", nil, resp(422), nil, false},
		{"200 ok", nil, resp(200), nil, false},
		{"503 with a cancelled ctx", cancelled, resp(503), nil, false},
		{"client timeout", nil, nil, urlErr(timeoutErr{}), true},
		{"per-request deadline", nil, nil, urlErr(context.DeadlineExceeded), true},
		{"connection reset", nil, nil, urlErr(&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}), true},
		{"connection refused", nil, nil, urlErr(&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), true},
		{"broken pipe", nil, nil, fmt.Errorf("write body: %w", syscall.EPIPE), true},
		{"EOF", nil, nil, urlErr(io.EOF), true},
		{"unexpected EOF mid-body", nil, nil, fmt.Errorf("decode: %w", io.ErrUnexpectedEOF), true},
		{"connection closed", nil, nil, fmt.Errorf("read: %w", net.ErrClosed), true},
		{"server closed idle connection (text only)", nil, nil, errors.New("http: server closed idle connection"), true},
		{"DNS failure", nil, nil, urlErr(&net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "h.example", IsNotFound: true}}), true},
		{"bare DNS error", nil, nil, &net.DNSError{Err: "server misbehaving", Name: "h.example", IsTemporary: true}, true},
		{"context cancelled", nil, nil, urlErr(context.Canceled), false},
		{"cancelled ctx, reset connection", cancelled, nil, urlErr(syscall.ECONNRESET), false},
		{"unknown certificate authority", nil, nil, urlErr(x509.UnknownAuthorityError{}), false},
		{"plain error", nil, nil, errors.New("answer is not JSON"), false},
		{"no answer, no error", nil, nil, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tc.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			if got := retry.ShouldRetry(ctx, tc.resp, tc.err); got != tc.want {
				t.Errorf("ShouldRetry(%v, %v): got %v, want %v", tc.resp, tc.err, got, tc.want)
			}
			if tc.resp != nil && tc.ctx == nil {
				if got := retry.Status(tc.resp.StatusCode); got != tc.want {
					t.Errorf("Status(%d): got %v, want %v", tc.resp.StatusCode, got, tc.want)
				}
			}
			if tc.resp == nil && tc.ctx == nil {
				if got := retry.Transport(tc.err); got != tc.want {
					t.Errorf("Transport(%v): got %v, want %v", tc.err, got, tc.want)
				}
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name, in string
		want     time.Duration
	}{
		{"absent", "", 0},
		{"seconds", "7", 7 * time.Second},
		{"seconds with spaces", " 3 ", 3 * time.Second},
		{"zero", "0", 0},
		{"negative", "-5", 0},
		{"huge", "99999999999999999", 0},
		{"http date", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"http date in the past", now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"garbage", "soon", 0},
	}
	for _, tc := range tests {
		if got := retry.ParseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("%s: ParseRetryAfter(%q): got %v, want %v", tc.name, tc.in, got, tc.want)
		}
	}
}

func TestBackoffDelay(t *testing.T) {
	var asked []int64
	top := func(n int64) int64 { asked = append(asked, n); return n - 1 } // the top of the jitter range
	b := retry.Backoff{Base: 100 * time.Millisecond, Max: time.Second, MaxRetryAfter: 2 * time.Second, Int64N: top}
	for attempt, ceil := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 30: time.Second} {
		asked = asked[:0]
		if got := b.Delay(attempt, 0); got != ceil {
			t.Errorf("attempt %d: got %v, want %v (the top of the jitter range)", attempt, got, ceil)
		}
		if len(asked) != 1 || asked[0] != int64(ceil)+1 {
			t.Errorf("attempt %d: jitter drawn from %v, want [0, %v]", attempt, asked, ceil)
		}
	}
	if got := b.Delay(1, 500*time.Millisecond); got != 500*time.Millisecond {
		t.Errorf("Retry-After 500ms: got %v, want 500ms (no jitter on the server's word)", got)
	}
	if got := b.Delay(1, time.Hour); got != 2*time.Second {
		t.Errorf("Retry-After 1h: got %v, want 2s (capped at MaxRetryAfter)", got)
	}
	// The default jitter stays within [0, ceil] and is not constant.
	b.Int64N = nil
	seen := map[time.Duration]bool{}
	for range 50 {
		d := b.Delay(3, 0)
		if d < 0 || d > 400*time.Millisecond {
			t.Fatalf("attempt 3: got %v, want within [0, 400ms]", d)
		}
		seen[d] = true
	}
	if len(seen) < 2 {
		t.Errorf("50 delays took %d distinct values, want jitter", len(seen))
	}
}

func TestSleepBudget(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	if err := retry.Sleep(ctx, 2*time.Hour); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a wait past the deadline: got %v, want context.DeadlineExceeded at once", err)
	}
	cancelled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if err := retry.Sleep(cancelled, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled ctx: got %v, want context.Canceled", err)
	}
	if err := retry.Sleep(context.Background(), 0); err != nil {
		t.Errorf("no wait: got %v, want nil", err)
	}
}
