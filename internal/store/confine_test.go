package store_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otds-highspot/otds-highspot/internal/store"
)

// storeLayout is what a store with one published run holds.
var storeLayout = []string{
	"_runs/20261125T000000Z-aaaa/transform.manifest.json",
	"_runs/20261125T000000Z-aaaa/plan/0a1b2c3d/plan.json",
	"_locks/run.lock",
	"_staging/20261125T000000Z-aaaa/0a1b2c3d/accounts/part-00000-0a1b2c3d.parquet",
	"accounts/dt=2026-11-25/run_id=20261125T000000Z-aaaa/part-00000-0a1b2c3d.parquet",
}

// escapes are store URLs (relative to a store root) that point inside it.
var escapes = []string{
	"_runs",
	"_runs/20261125T000000Z-aaaa",
	"_runs/20261125T000000Z-aaaa/plan",
	"_runs/new-run",
	"_locks",
	"_staging/20261125T000000Z-aaaa",
	"accounts",
	"accounts/dt=2026-11-25",
	"accounts/dt=2026-11-25/run_id=20261125T000000Z-aaaa",
	"accounts/dt=2026-11-26/run_id=other",
	"no-such-table/dt=2026-11-25",
	"x/_runs",
}

// TestOpenRefusesURLsInsideAStore: a store URL can never resolve into a
// store's _runs/, _locks/ or a table prefix (before:
// OTDS_HIGHSPOT_STORE=<store>/_runs/<id> was accepted, wrote into that run's
// folder, and `runs verify` stayed green).
func TestOpenRefusesURLsInsideAStore(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	for _, k := range storeLayout {
		p := filepath.Join(root, filepath.FromSlash(k))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(t.TempDir(), "innocent")
	if err := os.Symlink(filepath.Join(root, "_runs", "20261125T000000Z-aaaa"), link); err != nil {
		t.Fatal(err)
	}
	var urls []string
	for _, e := range escapes {
		urls = append(urls, filepath.Join(root, e), "file://"+filepath.Join(root, e))
	}
	urls = append(urls,
		"file://"+root+"/_runs%2f20261125T000000Z-aaaa",
		"file://"+root+"/x/../_runs/20261125T000000Z-aaaa",
		root+"/accounts/../_locks",
		link,
		filepath.Join(link, "deeper"),
	)
	for _, u := range urls {
		t.Run(strings.TrimPrefix(strings.TrimPrefix(u, "file://"), root), func(t *testing.T) {
			before := listAll(t, root)
			st, err := store.Open(ctx, u, store.Options{})
			if err == nil {
				t.Fatalf("Open(%q) = %s, want an error", u, st.URL(""))
			}
			if !strings.Contains(err.Error(), "store") || !strings.Contains(err.Error(), "root") {
				t.Errorf("Open(%q): got %q, want it to say to use a store's root", u, err)
			}
			if after := listAll(t, root); after != before {
				t.Errorf("Open(%q) changed the store:\n%s\nwant:\n%s", u, after, before)
			}
		})
	}
	for _, ok := range []string{root, "file://" + root, filepath.Join(t.TempDir(), "fresh", "store")} {
		if _, err := store.Open(ctx, ok, store.Options{}); err != nil {
			t.Errorf("Open(%q): %v, want a store", ok, err)
		}
	}
}

func listAll(t *testing.T, root string) string {
	t.Helper()
	var out []string
	_ = filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		out = append(out, p)
		return err
	})
	return strings.Join(out, "\n")
}

// s3Escapes checks the same escapes against an S3 endpoint holding a store
// at s3://<bucket>/<base>.
func s3Escapes(t *testing.T, bucket, base string, opts store.Options) {
	ctx := context.Background()
	rootURL := "s3://" + bucket + "/" + base
	st, err := store.Open(ctx, rootURL, opts)
	if err != nil {
		t.Fatalf("Open(%q): %v", rootURL, err)
	}
	for _, k := range storeLayout {
		if err := st.Put(ctx, k, strings.NewReader("x"), 1); err != nil {
			t.Fatal(err)
		}
	}
	urls := []string{rootURL + "/_runs%2f20261125T000000Z-aaaa", "s3://" + bucket + "/_runs", "s3://" + bucket + "/" + base + "/accounts/dt=2026-11-25/"}
	for _, e := range escapes {
		urls = append(urls, rootURL+"/"+e)
	}
	for _, u := range urls {
		if st, err := store.Open(ctx, u, opts); err == nil {
			t.Errorf("Open(%q) = %s, want an error", u, st.URL(""))
		} else if !strings.Contains(err.Error(), "root") {
			t.Errorf("Open(%q): got %q, want it to say to use a store's root", u, err)
		}
	}
	for _, ok := range []string{rootURL, rootURL + "-sibling", "s3://" + bucket + "/elsewhere/" + base} {
		if _, err := store.Open(ctx, ok, opts); err != nil {
			t.Errorf("Open(%q): %v, want a store", ok, err)
		}
	}
}

func TestOpenRefusesS3URLsInsideAStore(t *testing.T) {
	endpoint := fakeS3(t, "artifacts", nil)
	s3Escapes(t, "artifacts", "tenant/store", store.Options{Endpoint: endpoint, PathStyle: true, Credentials: fakeCreds})
}

func TestOpenRefusesS3URLsInsideAStoreIntegration(t *testing.T) {
	endpoint, bucket := integrationEnv(t, "OTDS_TEST_S3_BUCKET")
	// Credentials: the default AWS chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY from the script).
	s3Escapes(t, bucket, "confine/"+uniquePrefix(t), store.Options{Endpoint: endpoint, PathStyle: true})
}
