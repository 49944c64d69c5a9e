package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/otds-highspot/otds-highspot/fixtures"
)

// TestPlanShowOpenS3Integration: with an S3 store (versitygw), `plan show
// --open` writes plan.html to a local file and prints its path (before: the
// CLI offered no way to open an S3 report); the file holds the report.
func TestPlanShowOpenS3Integration(t *testing.T) {
	endpoint, bucket := s3TestService(t)
	dir := t.TempDir()
	c := s3DemoConfig(t, dir, endpoint, bucket, "planopen")
	const id = "20261108T023000Z-open"
	if r := run(t, nil, "--config", c, "--log-level", "warn", "--run-id", id, "run", "--until", "plan"); r.code != 0 {
		t.Fatalf("run --until plan: exit %d\n%s", r.code, r.stderr)
	}
	r := run(t, nil, "--config", c, "--log-level", "warn", "--run-id", id, "plan", "show", "--open")
	m := regexp.MustCompile(`(?m)^\s+open\s+(\S+)$`).FindStringSubmatch(r.stdout)
	if r.code != 0 || m == nil {
		t.Fatalf("plan show --open: exit %d, no local path printed\n%s%s", r.code, r.stdout, r.stderr)
	}
	defer os.Remove(m[1])
	if !filepath.IsAbs(m[1]) || strings.Contains(m[1], "s3://") {
		t.Errorf("plan show --open printed %q, want a local absolute path", m[1])
	}
	data, err := os.ReadFile(m[1])
	if err != nil {
		t.Fatalf("the printed path cannot be read: %v", err)
	}
	if !bytes.Contains(data, []byte("READY TO APPLY")) || !bytes.Contains(data, []byte(id)) {
		t.Errorf("%s does not hold the plan report of run %s", m[1], id)
	}
}

// s3TestService is the real S3 service's endpoint and bucket; the test is
// skipped when the service is not configured.
func s3TestService(t *testing.T) (endpoint, bucket string) {
	t.Helper()
	endpoint, bucket = os.Getenv("OTDS_TEST_S3_ENDPOINT"), os.Getenv("OTDS_TEST_S3_BUCKET")
	if endpoint == "" || bucket == "" {
		t.Skip("OTDS_TEST_S3_ENDPOINT or OTDS_TEST_S3_BUCKET unset: start the real S3 service with `scripts/versitygw.sh up` and `eval \"$(scripts/versitygw.sh env)\"`")
	}
	return endpoint, bucket
}

// s3DemoConfig writes the demo configuration with its store on S3 (a fresh
// prefix under what) and the Highspot sandbox's state in dir; it returns the
// configuration file.
func s3DemoConfig(t *testing.T, dir, endpoint, bucket, what string) string {
	t.Helper()
	demo, err := fixtures.DemoConfig()
	if err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("%s/%d", what, time.Now().UnixNano())
	cfg := strings.Replace(string(demo), "store:\n  url: ./artifacts\n",
		"store:\n  url: s3://"+bucket+"/"+prefix+"\n  s3: {endpoint: \""+endpoint+"\", path_style: true}\n", 1)
	cfg = strings.Replace(cfg, "sandbox: {surface: rest}", "sandbox: {surface: rest, state_file: "+filepath.Join(dir, "hs.json")+"}", 1)
	if !strings.Contains(cfg, "s3://") || !strings.Contains(cfg, "hs.json") {
		t.Fatal("could not derive the S3 config from the demo config")
	}
	return writeFile(t, dir, "config.yaml", cfg)
}
