package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/otds-highspot/otds-highspot/internal/exitcode"
)

// Options configures Open. Only the S3 fields matter for s3:// URLs; a local
// store ignores them.
type Options struct {
	// Endpoint is an S3-compatible endpoint (http://127.0.0.1:39070); empty
	// means AWS.
	Endpoint string
	// Region defaults to us-east-1.
	Region string
	// PathStyle addresses buckets as endpoint/bucket (most S3-compatible servers).
	PathStyle bool
	// SSEKMSKeyID asks for SSE-KMS with this key on every Put.
	SSEKMSKeyID string
	// ObjectLockMode (governance|compliance) and ObjectLockDays set Object
	// Lock retention on every Put.
	ObjectLockMode string
	ObjectLockDays int
	// RetentionExempt lists key prefixes written without retention, e.g.
	// "_locks/" so that a run lock can be released.
	RetentionExempt []string
	// NoConditionalWrites: the server ignores If-None-Match; check with
	// HeadObject before Put (racy). Not needed for AWS S3, versitygw or
	// gofakes3 >= v1.2.0.
	NoConditionalWrites bool
	// HTTPClient overrides the SDK's HTTP client. The default is
	// awshttp.NewBuildableClient(), which honours AWS_CA_BUNDLE.
	HTTPClient aws.HTTPClient
	// Credentials overrides the default AWS credential chain (env, shared
	// config, SSO, IMDS).
	Credentials aws.CredentialsProvider
	// Now is the clock for retention dates; time.Now when nil.
	Now func() time.Time
}

// opener builds a store for one URL scheme.
type opener func(ctx context.Context, u *url.URL, raw string, opts Options) (Store, error)

// openers is the one explicit registry of store backends by URL scheme. A
// URL without a scheme is a local path.
var openers = map[string]opener{
	"file": openFile,
	"s3":   openS3,
}

// Schemes lists the supported URL schemes, sorted.
func Schemes() []string {
	out := make([]string, 0, len(openers))
	for k := range openers {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Open returns the store for rawURL: file:///abs/path, a plain relative or
// absolute path, or s3://bucket/prefix. For S3 it checks that the bucket is
// reachable, so a wrong bucket, endpoint or credentials fail here, not at
// the first write.
func Open(ctx context.Context, rawURL string, opts Options) (Store, error) {
	if rawURL == "" {
		return nil, errors.New("open store: empty URL; use ./artifacts, file:///abs/path or s3://bucket/prefix")
	}
	if !strings.Contains(rawURL, "://") {
		return NewFileStore(rawURL)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("open store %q: %w; use file:///abs/path or s3://bucket/prefix", rawURL, err)
	}
	open, ok := openers[strings.ToLower(u.Scheme)]
	if !ok {
		return nil, fmt.Errorf("open store %q: unsupported scheme %q; supported: %s (or a plain path)",
			rawURL, u.Scheme, strings.Join(Schemes(), "://, ")+"://")
	}
	return open(ctx, u, rawURL, opts)
}

func openFile(_ context.Context, u *url.URL, raw string, _ Options) (Store, error) {
	if u.Host != "" && u.Host != "localhost" {
		return nil, fmt.Errorf("open store %q: file URLs name a local path: file:///abs/path (three slashes), not host %q", raw, u.Host)
	}
	if u.Path == "" {
		return nil, fmt.Errorf("open store %q: no path; use file:///abs/path", raw)
	}
	return NewFileStore(u.Path)
}

func openS3(ctx context.Context, u *url.URL, raw string, opts Options) (Store, error) {
	bucket := u.Host
	if bucket == "" {
		return nil, fmt.Errorf("open store %q: no bucket; use s3://bucket/prefix", raw)
	}
	client, err := NewS3Client(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("open store %q: %w", raw, err)
	}
	st, err := NewS3Store(client, S3Config{
		Bucket:              bucket,
		Prefix:              u.Path,
		SSEKMSKeyID:         opts.SSEKMSKeyID,
		ObjectLockMode:      opts.ObjectLockMode,
		ObjectLockDays:      opts.ObjectLockDays,
		RetentionExempt:     opts.RetentionExempt,
		NoConditionalWrites: opts.NoConditionalWrites,
		Now:                 opts.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("open store %q: %w", raw, err)
	}
	if _, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err != nil {
		where := "AWS"
		if opts.Endpoint != "" {
			where = opts.Endpoint
		}
		switch {
		case isNoSuchBucket(err) && authProbe(ctx, client, bucket) != nil:
			// HEAD has no body: some servers (versitygw) answer an unknown
			// access key with 404; a listing says what it really is.
			return nil, fmt.Errorf("open store %q: bucket %q at %s: %w", raw, bucket, where, authProbe(ctx, client, bucket))
		case isNoSuchBucket(err):
			hint := "create it first (e.g. `aws s3api create-bucket --bucket " + bucket + "`"
			if opts.ObjectLockMode != "" {
				hint += " --object-lock-enabled-for-bucket"
			}
			hint += "), or fix the bucket name"
			return nil, fmt.Errorf("open store %q: bucket %q does not exist at %s: %s", raw, bucket, where, hint)
		case httpStatus(err) == 403 || apiCode(err) == "Forbidden" || apiCode(err) == "AccessDenied":
			return nil, exitcode.Wrap(exitcode.Auth, fmt.Errorf("open store %q: access to bucket %q at %s denied: check AWS credentials (AWS_ACCESS_KEY_ID/AWS_PROFILE) and the bucket policy: %w", raw, bucket, where, err))
		default:
			return nil, classify(fmt.Errorf("open store %q: check bucket %q at %s (endpoint, region, credentials): %w", raw, bucket, where, err))
		}
	}
	if err := confineS3(ctx, client, raw, bucket, u.Path); err != nil {
		return nil, err
	}
	if opts.ObjectLockMode != "" {
		if err := checkObjectLock(ctx, client, bucket); err != nil {
			return nil, fmt.Errorf("open store %q: %w", raw, err)
		}
	}
	return st, nil
}

// NewS3Client builds an S3 client from opts: default credential chain unless
// opts.Credentials is set, the buildable HTTP client (AWS_CA_BUNDLE works),
// optional endpoint and path-style addressing.
func NewS3Client(ctx context.Context, opts Options) (*s3.Client, error) {
	region := opts.Region
	if region == "" {
		region = "us-east-1"
	}
	var httpClient aws.HTTPClient = awshttp.NewBuildableClient()
	if opts.HTTPClient != nil {
		httpClient = opts.HTTPClient
	}
	loadOpts := []func(*config.LoadOptions) error{
		config.WithRegion(region),
		config.WithHTTPClient(httpClient),
	}
	if opts.Credentials != nil {
		loadOpts = append(loadOpts, config.WithCredentialsProvider(opts.Credentials))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = opts.PathStyle
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
		}
	}), nil
}

// checkObjectLock refuses a bucket that certainly has no Object Lock, since
// every Put would then fail. Other errors (no permission to read the
// configuration, servers that do not implement it) are left to Put.
func checkObjectLock(ctx context.Context, client *s3.Client, bucket string) error {
	const hint = "Object Lock can only be enabled when the bucket is created (create-bucket --object-lock-enabled-for-bucket); use such a bucket or unset store.s3.object_lock.mode"
	out, err := client.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String(bucket)})
	if err != nil {
		if apiCode(err) == "ObjectLockConfigurationNotFoundError" {
			return fmt.Errorf("object lock retention is configured but bucket %q has no Object Lock: %s", bucket, hint)
		}
		return nil
	}
	if c := out.ObjectLockConfiguration; c != nil && c.ObjectLockEnabled != "" && c.ObjectLockEnabled != types.ObjectLockEnabledEnabled {
		return fmt.Errorf("object lock retention is configured but bucket %q has Object Lock %q: %s", bucket, c.ObjectLockEnabled, hint)
	}
	return nil
}

// authProbe lists one key of bucket and returns the error when the server
// refuses the credentials (exitcode.Auth), else nil.
func authProbe(ctx context.Context, client *s3.Client, bucket string) error {
	_, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), MaxKeys: aws.Int32(1)})
	if err = classify(err); exitcode.Of(err) == exitcode.Auth {
		return err
	}
	return nil
}
