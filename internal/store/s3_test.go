package store_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/otds-highspot/otds-highspot/internal/store"
	"github.com/otds-highspot/otds-highspot/internal/store/storetest"
)

var fakeCreds = credentials.NewStaticCredentialsProvider("fake-access", "fake-secret", "")

// fakeS3 starts gofakes3 (memory backend) over httptest with one bucket.
// wrap, when set, sits in front of it.
func fakeS3(t *testing.T, bucket string, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	h := gofakes3.New(backend).Server()
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestS3ConformanceGofakes3(t *testing.T) {
	endpoint := fakeS3(t, "artifacts", nil)
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) store.Store {
		url := fmt.Sprintf("s3://artifacts/t%d/root", n.Add(1))
		st, err := store.Open(t.Context(), url, store.Options{Endpoint: endpoint, PathStyle: true, Credentials: fakeCreds})
		if err != nil {
			t.Fatalf("Open(%q): %v", url, err)
		}
		return st
	})
}

func TestS3OpenMissingBucket(t *testing.T) {
	endpoint := fakeS3(t, "artifacts", nil)
	_, err := store.Open(t.Context(), "s3://nope/x", store.Options{Endpoint: endpoint, PathStyle: true, Credentials: fakeCreds})
	if err == nil {
		t.Fatal("Open on a missing bucket: got nil error, want one")
	}
	for _, want := range []string{`"nope"`, "does not exist", "create it"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Open on a missing bucket: got %q, want it to mention %q", err, want)
		}
	}
}

func TestS3URL(t *testing.T) {
	endpoint := fakeS3(t, "artifacts", nil)
	for _, tc := range []struct{ url, key, want string }{
		{"s3://artifacts", "a/b", "s3://artifacts/a/b"},
		{"s3://artifacts/", "a/b", "s3://artifacts/a/b"},
		{"s3://artifacts/pre/fix/", "a/b", "s3://artifacts/pre/fix/a/b"},
		{"s3://artifacts/pre", "", "s3://artifacts/pre"},
	} {
		st, err := store.Open(t.Context(), tc.url, store.Options{Endpoint: endpoint, PathStyle: true, Credentials: fakeCreds})
		if err != nil {
			t.Fatalf("Open(%q): %v", tc.url, err)
		}
		if got := st.URL(tc.key); got != tc.want {
			t.Errorf("Open(%q).URL(%q): got %q, want %q", tc.url, tc.key, got, tc.want)
		}
	}
}

// Every Put carries If-None-Match: *, and the SSE-KMS and Object Lock headers
// when configured (gofakes3 ignores the latter two, so check the wire).
func TestS3PutHeaders(t *testing.T) {
	var seen atomic.Pointer[http.Header]
	endpoint := fakeS3(t, "artifacts", func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut {
				hdr := r.Header.Clone()
				hdr.Set("X-Test-Path", r.URL.Path)
				seen.Store(&hdr)
			}
			h.ServeHTTP(w, r)
		})
	})
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st, err := store.Open(t.Context(), "s3://artifacts/p", store.Options{
		Endpoint: endpoint, PathStyle: true, Credentials: fakeCreds,
		SSEKMSKeyID: "arn:aws:kms:us-east-1:111122223333:key/test", ObjectLockMode: "compliance", ObjectLockDays: 30,
		Now: func() time.Time { return now }, RetentionExempt: []string{"_locks/"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := storetest.Put(t.Context(), st, "k", []byte("v")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	h := seen.Load()
	if h == nil {
		t.Fatal("no PUT seen")
	}
	for name, want := range map[string]string{
		"If-None-Match":                               "*",
		"X-Amz-Server-Side-Encryption":                "aws:kms",
		"X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id": "arn:aws:kms:us-east-1:111122223333:key/test",
		"X-Amz-Object-Lock-Mode":                      "COMPLIANCE",
		"X-Amz-Object-Lock-Retain-Until-Date":         "2026-02-01T03:04:05Z",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("PUT header %s: got %q, want %q", name, got, want)
		}
	}
	if err := storetest.Put(t.Context(), st, "_locks/run.lock", []byte("v")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	h = seen.Load()
	if got := h.Get("X-Test-Path"); got != "/artifacts/p/_locks/run.lock" {
		t.Fatalf("last PUT path: got %q, want the lock key", got)
	}
	for _, name := range []string{"X-Amz-Object-Lock-Mode", "X-Amz-Object-Lock-Retain-Until-Date"} {
		if got := h.Get(name); got != "" {
			t.Errorf("PUT of a retention-exempt key: header %s got %q, want none", name, got)
		}
	}
	if got := h.Get("If-None-Match"); got != "*" {
		t.Errorf("PUT of a retention-exempt key: If-None-Match got %q, want *", got)
	}
}

// A server that ignores If-None-Match (simulated by stripping the header in
// front of gofakes3) overwrites silently; NoConditionalWrites makes Put check
// with HeadObject first, so a sequential overwrite is refused.
func TestS3NoConditionalWritesFallback(t *testing.T) {
	endpoint := fakeS3(t, "artifacts", func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Header.Del("If-None-Match")
			h.ServeHTTP(w, r)
		})
	})
	for _, tc := range []struct {
		name     string
		fallback bool
		wantErr  error
		wantBody string
	}{
		{"without fallback the server overwrites", false, nil, "second"},
		{"with fallback Put refuses", true, store.ErrExists, "first"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := "s3://artifacts/" + strings.ReplaceAll(t.Name(), " ", "-")
			st, err := store.Open(t.Context(), url, store.Options{Endpoint: endpoint, PathStyle: true, Credentials: fakeCreds, NoConditionalWrites: tc.fallback})
			if err != nil {
				t.Fatal(err)
			}
			if err := storetest.Put(t.Context(), st, "k", []byte("first")); err != nil {
				t.Fatalf("first Put: %v", err)
			}
			if err := storetest.Put(t.Context(), st, "k", []byte("second")); !errors.Is(err, tc.wantErr) {
				t.Errorf("second Put: got err %v, want %v", err, tc.wantErr)
			}
			b, err := storetest.Read(t.Context(), st, "k")
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.wantBody {
				t.Errorf("Get: got %q, want %q", b, tc.wantBody)
			}
		})
	}
}

// integrationEnv returns the versitygw settings from scripts/versitygw.sh env.
func integrationEnv(t *testing.T, bucketVar string) (endpoint, bucket string) {
	t.Helper()
	endpoint, bucket = os.Getenv("OTDS_TEST_S3_ENDPOINT"), os.Getenv(bucketVar)
	if endpoint == "" || bucket == "" {
		t.Skipf("OTDS_TEST_S3_ENDPOINT or %s unset: start the real S3 service with `scripts/versitygw.sh up` and `eval \"$(scripts/versitygw.sh env)\"`", bucketVar)
	}
	return endpoint, bucket
}

func uniquePrefix(t *testing.T) string {
	return fmt.Sprintf("%s/%d", strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()), time.Now().UnixNano())
}

func TestS3ConformanceIntegration(t *testing.T) {
	endpoint, bucket := integrationEnv(t, "OTDS_TEST_S3_BUCKET")
	storetest.Run(t, func(t *testing.T) store.Store {
		url := "s3://" + bucket + "/conformance/" + uniquePrefix(t)
		// Credentials: the default AWS chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY from the script).
		st, err := store.Open(t.Context(), url, store.Options{Endpoint: endpoint, PathStyle: true})
		if err != nil {
			t.Fatalf("Open(%q): %v", url, err)
		}
		return st
	})
}

func TestS3ObjectLockIntegration(t *testing.T) {
	endpoint, bucket := integrationEnv(t, "OTDS_TEST_S3_LOCK_BUCKET")
	opts := store.Options{Endpoint: endpoint, PathStyle: true, ObjectLockMode: "governance", ObjectLockDays: 1, RetentionExempt: []string{"_locks/"}}
	url := "s3://" + bucket + "/lock/" + uniquePrefix(t)
	st, err := store.Open(t.Context(), url, opts)
	if err != nil {
		t.Fatalf("Open(%q): %v", url, err)
	}
	const key = "_runs/r1/run.manifest.json"
	before := time.Now()
	if err := storetest.Put(t.Context(), st, key, []byte("original")); err != nil {
		t.Fatalf("Put with retention: %v", err)
	}
	info, err := st.Stat(t.Context(), key)
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	lo, hi := before.Add(24*time.Hour-time.Minute), time.Now().Add(24*time.Hour+time.Minute)
	if info.RetainUntil.Before(lo) || info.RetainUntil.After(hi) {
		t.Errorf("Stat RetainUntil: got %v, want about %v", info.RetainUntil, before.Add(24*time.Hour))
	}
	if err := st.Delete(t.Context(), key); !errors.Is(err, store.ErrRetained) {
		t.Errorf("Delete of a retained object: got err %v, want ErrRetained", err)
	}
	if err := storetest.Put(t.Context(), st, key, []byte("overwrite")); !errors.Is(err, store.ErrExists) {
		t.Errorf("Put over a retained object: got err %v, want ErrExists", err)
	}
	if b, err := storetest.Read(t.Context(), st, key); err != nil || string(b) != "original" {
		t.Errorf("Get after refused delete and overwrite: got %q, %v, want %q", b, err, "original")
	}
	// A retention-exempt key (a run lock) is written once and deleted for real.
	if err := storetest.Put(t.Context(), st, "_locks/run.lock", []byte("holder")); err != nil {
		t.Fatalf("Put lock: %v", err)
	}
	if err := storetest.Put(t.Context(), st, "_locks/run.lock", []byte("other")); !errors.Is(err, store.ErrExists) {
		t.Errorf("second Put of the lock: got err %v, want ErrExists", err)
	}
	if info, err := st.Stat(t.Context(), "_locks/run.lock"); err != nil || !info.RetainUntil.IsZero() {
		t.Errorf("Stat lock: got RetainUntil %v err %v, want none", info.RetainUntil, err)
	}
	if err := st.Delete(t.Context(), "_locks/run.lock"); err != nil {
		t.Errorf("Delete lock: %v", err)
	}
	if err := storetest.Put(t.Context(), st, "_locks/run.lock", []byte("next holder")); err != nil {
		t.Errorf("Put lock after release: %v", err)
	}
	// Only an explicit governance bypass removes it (cleanup; shows the mode).
	client, err := store.NewS3Client(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	objKey := strings.TrimPrefix(st.URL(key), "s3://"+bucket+"/")
	head, err := client.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(objKey)})
	if err != nil {
		t.Fatalf("HeadObject: %v", err)
	}
	if _, err := client.DeleteObject(t.Context(), &s3.DeleteObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(objKey), VersionId: head.VersionId, BypassGovernanceRetention: aws.Bool(true),
	}); err != nil {
		t.Errorf("governance bypass delete: %v", err)
	}
	if _, err := st.Stat(t.Context(), key); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Stat after bypass delete: got err %v, want ErrNotFound", err)
	}
}

func TestS3ObjectLockOnPlainBucketIntegration(t *testing.T) {
	endpoint, bucket := integrationEnv(t, "OTDS_TEST_S3_BUCKET")
	_, err := store.Open(t.Context(), "s3://"+bucket+"/x", store.Options{Endpoint: endpoint, PathStyle: true, ObjectLockMode: "compliance", ObjectLockDays: 1})
	if err == nil {
		t.Fatal("Open with retention on a bucket without Object Lock: got nil error, want one")
	}
	for _, want := range []string{"has no Object Lock", "--object-lock-enabled-for-bucket"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Open: got %q, want it to mention %q", err, want)
		}
	}
}
