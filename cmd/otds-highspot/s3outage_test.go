package main

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
)

// TestS3OutageDuringPlanExits3Integration: the store (real S3: versitygw,
// through a proxy the test can cut) goes away in the middle of plan. That
// used to exit 1 ("a bug"); it is an outage: exit 3, and once the store is
// back, `plan --run-id <same>` publishes the plan.
func TestS3OutageDuringPlanExits3Integration(t *testing.T) {
	endpoint, bucket := s3TestService(t)
	target, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	var (
		cut     atomic.Bool
		allowed atomic.Int64 // requests still let through once cut
	)
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cut.Load() && allowed.Add(-1) < 0 {
			hj, ok := w.(http.Hijacker)
			if !ok {
				t.Error("proxy cannot hijack")
				return
			}
			c, _, _ := hj.Hijack()
			c.Close() // the store is gone: connections drop
			return
		}
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()

	c := s3DemoConfig(t, t.TempDir(), proxy.URL, bucket, "outage")
	const id = "20261108T023000Z-s3ou"
	if r := run(t, nil, "--config", c, "--log-level", "warn", "--run-id", id, "run", "--until", "pull"); r.code != 0 {
		t.Fatalf("run --until pull: exit %d\n%s", r.code, r.stderr)
	}
	allowed.Store(6) // plan opens the store and starts reading, then S3 goes away
	cut.Store(true)
	r := run(t, nil, "--config", c, "--log-level", "warn", "--run-id", id, "plan")
	if r.code != 3 {
		t.Fatalf("S3 outage during plan: exit %d, want 3 (transient)\n%s", r.code, r.stderr)
	}
	cut.Store(false)
	if r := run(t, nil, "--config", c, "--log-level", "warn", "--run-id", id, "plan"); r.code != 0 {
		t.Fatalf("plan --run-id once S3 is back: exit %d\n%s", r.code, r.stderr)
	}
}
