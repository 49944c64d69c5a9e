package store

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// LayoutDirs are the top-level folders of a store (internal/artifact's
// layout: manifests, run locks, staged parts). A folder holding one of them is
// a store; a store URL may point at a store's root, never inside it.
var LayoutDirs = []string{"_runs", "_locks", "_staging"}

// checkSegments refuses a store path with a segment that belongs to a store's
// layout: _runs, _locks, _staging, or a table partition (dt=..., run_id=...). Such a
// URL would write into a published run, the lock folder or a table.
func checkSegments(raw, p string) error {
	for _, seg := range strings.Split(filepath.ToSlash(p), "/") {
		reserved := strings.HasPrefix(seg, "dt=") || strings.HasPrefix(seg, "run_id=")
		for _, d := range LayoutDirs {
			reserved = reserved || seg == d
		}
		if reserved {
			return fmt.Errorf("open store %q: the path holds %q, which is part of a store's own layout (runs, locks, table partitions); point the store URL at the store's root instead", raw, seg)
		}
	}
	return nil
}

// insideStoreError names the enclosing store.
func insideStoreError(raw, root, marker string) error {
	return fmt.Errorf("open store %q: it lies inside the store at %s (which holds %s/); a store URL must name a store's root, not a folder of another store: use %s itself or a folder outside it", raw, root, marker, root)
}

// confineLocal refuses a local store directory that lies inside another
// store: a path segment of the store layout, or an ancestor that holds
// _runs/ or _locks/. Symbolic links are resolved first (for the part of the
// path that exists), so a link cannot smuggle a store into a run folder.
func confineLocal(raw, abs string) error {
	resolved := abs
	rest := ""
	for p := abs; ; p = filepath.Dir(p) {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			resolved = filepath.Join(r, rest)
			break
		}
		if filepath.Dir(p) == p {
			break
		}
		rest = filepath.Join(filepath.Base(p), rest)
	}
	for _, p := range []string{abs, resolved} {
		if err := checkSegments(raw, p); err != nil {
			return err
		}
	}
	for dir := filepath.Dir(resolved); ; dir = filepath.Dir(dir) {
		for _, d := range LayoutDirs {
			if fi, err := os.Stat(filepath.Join(dir, d)); err == nil && fi.IsDir() {
				return insideStoreError(raw, dir, d)
			}
		}
		if filepath.Dir(dir) == dir {
			return nil
		}
	}
}

// confineS3 is confineLocal for a bucket prefix: no layout segment, and no
// ancestor prefix (the bucket root included) that holds _runs/ or _locks/.
// A listing the credentials may not do is not held against the URL.
func confineS3(ctx context.Context, client *s3.Client, raw, bucket, prefix string) error {
	prefix = strings.Trim(prefix, "/")
	if err := checkSegments(raw, prefix); err != nil {
		return err
	}
	if prefix == "" {
		return nil
	}
	segs := strings.Split(prefix, "/")
	for i := 0; i < len(segs); i++ {
		anc := strings.Join(segs[:i], "/")
		if anc != "" {
			anc += "/"
		}
		for _, d := range LayoutDirs {
			out, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(anc + d + "/"), MaxKeys: aws.Int32(1)})
			if err != nil {
				continue
			}
			if len(out.Contents) > 0 {
				return insideStoreError(raw, "s3://"+path.Join(bucket, anc), d)
			}
		}
	}
	return nil
}
