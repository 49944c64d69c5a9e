package otdsrest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otds-highspot/otds-highspot/tools/otds-standin/standin"
)

// flaky serves the stand-in, but answers the first n GETs of data (sign-in
// excluded) with status and the header Retry-After (when not "").
func flaky(t *testing.T, n, status int, retryAfter string) (*httptest.Server, func() int) {
	t.Helper()
	h := standin.New(loadFixture(t), standin.Options{}).Handler()
	var mu sync.Mutex
	failed := 0
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fail := r.Method == http.MethodGet && failed < n
		if fail {
			failed++
		}
		mu.Unlock()
		if fail {
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			http.Error(w, "try later", status)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	return hs, func() int { mu.Lock(); defer mu.Unlock(); return failed }
}

// recordWaits replaces the source's sleep: the waits are recorded, not
// slept, so the test checks the policy without timing it.
func recordWaits(s *Source) *[]time.Duration {
	var waits []time.Duration
	s.sleep = func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		return ctx.Err()
	}
	return &waits
}

func TestRetryAfterHonoured(t *testing.T) {
	tests := []struct {
		name, header string
		want         time.Duration
	}{
		{"seconds", "7", 7 * time.Second},
		{"capped", "86400", time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hs, _ := flaky(t, 1, http.StatusServiceUnavailable, tc.header)
			s := fast(t, restTree(t, hs.URL, "      partitions: [Beta GmbH]\n"), hs.Client())
			s.backoff.MaxRetryAfter = time.Minute
			waits := recordWaits(s)
			if _, err := readREST(t, s); err != nil {
				t.Fatalf("Read after one 503: %v", err)
			}
			if len(*waits) != 1 || (*waits)[0] != tc.want {
				t.Errorf("waits: got %v, want [%v] (the server's Retry-After)", *waits, tc.want)
			}
		})
	}
}

func TestRetryJitters(t *testing.T) {
	hs, _ := flaky(t, 3, http.StatusBadGateway, "")
	s := fast(t, restTree(t, hs.URL, "      partitions: [Beta GmbH]\n"), hs.Client())
	s.backoff.Base, s.backoff.Max = 100*time.Millisecond, time.Second
	var drawn []int64
	s.backoff.Int64N = func(n int64) int64 { drawn = append(drawn, n); return n / 3 }
	waits := recordWaits(s)
	if _, err := readREST(t, s); err != nil {
		t.Fatalf("Read after three 502s: %v", err)
	}
	// Full jitter: each wait is a draw from [0, base*2^(attempt-1)].
	wantDrawn := []int64{int64(100*time.Millisecond) + 1, int64(200*time.Millisecond) + 1, int64(400*time.Millisecond) + 1}
	if len(drawn) != len(wantDrawn) {
		t.Fatalf("jitter draws: got %v, want %v", drawn, wantDrawn)
	}
	for i := range wantDrawn {
		if drawn[i] != wantDrawn[i] || (*waits)[i] != time.Duration(wantDrawn[i]/3) {
			t.Errorf("retry %d: drew from %v and waited %v, want a draw from %v and a wait of %v", i+1, drawn[i], (*waits)[i], wantDrawn[i], time.Duration(wantDrawn[i]/3))
		}
	}
}

func TestStatusDecisions(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		wantFails int // requests answered with status before the source gave up or went on
		wantErr   string
	}{
		{"501 is final", http.StatusNotImplemented, 1, "501"},
		{"505 is final", http.StatusHTTPVersionNotSupported, 1, "505"},
		{"409 is final", http.StatusConflict, 1, "409"},
		{"504 is retried", http.StatusGatewayTimeout, 3, ""},
		{"429 is retried", http.StatusTooManyRequests, 3, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hs, failed := flaky(t, 3, tc.status, "")
			s := fast(t, restTree(t, hs.URL, "      partitions: [Beta GmbH]\n      retries: 4\n"), hs.Client())
			recordWaits(s)
			_, err := readREST(t, s)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("got %v, want the read to succeed after the retries", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("got %v, want an error naming %s", err, tc.wantErr)
			}
			if got := failed(); got != tc.wantFails {
				t.Errorf("requests answered %d: got %d, want %d", tc.status, got, tc.wantFails)
			}
		})
	}
}
