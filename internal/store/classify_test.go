package store_test

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	neturl "net/url"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/internal/store"
	"github.com/otds-highspot/otds-highspot/internal/store/storetest"
)

// TestS3ErrorClassesIntegration: against the real S3 service (versitygw), a
// wrong secret or an unknown access key is exit 7 (auth, never retried) both
// when opening the store and on a later request; an endpoint that stops
// answering is exit 3 (transient), so an S3 outage in the middle of a stage
// is retried rather than reported as a bug.
func TestS3ErrorClassesIntegration(t *testing.T) {
	endpoint, bucket := integrationEnv(t, "OTDS_TEST_S3_BUCKET")
	url := "s3://" + bucket + "/classify/" + uniquePrefix(t)
	key := os.Getenv("AWS_ACCESS_KEY_ID")
	for _, tc := range []struct {
		name string
		cred aws.CredentialsProvider
	}{
		{"wrong secret", credentials.NewStaticCredentialsProvider(key, "not-the-secret", "")},
		{"unknown access key", credentials.NewStaticCredentialsProvider("no-such-key", "whatever", "")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := store.Open(t.Context(), url, store.Options{Endpoint: endpoint, PathStyle: true, Credentials: tc.cred})
			if got := exitcode.Of(err); got != exitcode.Auth {
				t.Errorf("Open: got exit %d (%v), want %d", got, err, exitcode.Auth)
			}
			// A store opened with good credentials whose requests are then
			// refused (rotated key): each operation is auth too.
			st := openViaProxy(t, endpoint, url, tc.cred)
			err = storetest.Put(t.Context(), st, "k", []byte("v"))
			if got := exitcode.Of(err); got != exitcode.Auth {
				t.Errorf("Put: got exit %d (%v), want %d", got, err, exitcode.Auth)
			}
			if _, err := st.List(t.Context(), ""); exitcode.Of(err) != exitcode.Auth {
				t.Errorf("List: got exit %d (%v), want %d", exitcode.Of(err), err, exitcode.Auth)
			}
			if _, err := st.Get(t.Context(), "k"); exitcode.Of(err) != exitcode.Auth || errors.Is(err, store.ErrNotFound) {
				t.Errorf("Get: got exit %d (%v), want %d and not 'not found'", exitcode.Of(err), err, exitcode.Auth)
			}
		})
	}
	t.Run("outage", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		proxy := httptest.NewUnstartedServer(reverseProxy(endpoint))
		proxy.Listener = ln
		proxy.Start()
		st, err := store.Open(t.Context(), url, store.Options{Endpoint: proxy.URL, PathStyle: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := storetest.Put(t.Context(), st, "before", []byte("v")); err != nil {
			t.Fatal(err)
		}
		proxy.Close() // the store goes away mid-stage
		for name, err := range map[string]error{
			"Put":  storetest.Put(t.Context(), st, "after", []byte("v")),
			"Stat": func() error { _, err := st.Stat(t.Context(), "before"); return err }(),
			"List": func() error { _, err := st.List(t.Context(), ""); return err }(),
		} {
			if got := exitcode.Of(err); got != exitcode.Transient {
				t.Errorf("%s during an outage: got exit %d (%v), want %d", name, got, err, exitcode.Transient)
			}
		}
	})
}

// TestS3ServerErrorsAreTransient: 503 SlowDown and 500 InternalError from an
// S3 endpoint are exit 3 once the SDK's own retries are spent.
func TestS3ServerErrorsAreTransient(t *testing.T) {
	for _, code := range []string{"SlowDown", "InternalError"} {
		t.Run(code, func(t *testing.T) {
			endpoint := fakeS3(t, "artifacts", func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method == http.MethodGet && strings.Contains(r.URL.RawQuery, "list-type") {
						w.WriteHeader(http.StatusServiceUnavailable)
						_, _ = w.Write([]byte(`<?xml version="1.0"?><Error><Code>` + code + `</Code><Message>busy</Message></Error>`))
						return
					}
					h.ServeHTTP(w, r)
				})
			})
			st, err := store.Open(t.Context(), "s3://artifacts/p", store.Options{Endpoint: endpoint, PathStyle: true, Credentials: fakeCreds})
			if err != nil {
				t.Fatal(err)
			}
			_, err = st.List(t.Context(), "")
			if got := exitcode.Of(err); got != exitcode.Transient {
				t.Errorf("List: got exit %d (%v), want %d", got, err, exitcode.Transient)
			}
		})
	}
}

// openViaProxy builds a store whose requests carry cred, without the
// HeadBucket check of Open (as when a key is rotated after the start).
func openViaProxy(t *testing.T, endpoint, url string, cred aws.CredentialsProvider) store.Store {
	t.Helper()
	client, err := store.NewS3Client(t.Context(), store.Options{Endpoint: endpoint, PathStyle: true, Credentials: cred})
	if err != nil {
		t.Fatal(err)
	}
	bucket, prefix, _ := strings.Cut(strings.TrimPrefix(url, "s3://"), "/")
	st, err := store.NewS3Store(client, store.S3Config{Bucket: bucket, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func reverseProxy(endpoint string) http.Handler {
	u, err := neturl.Parse(endpoint)
	if err != nil {
		panic(err)
	}
	return httputil.NewSingleHostReverseProxy(u)
}
