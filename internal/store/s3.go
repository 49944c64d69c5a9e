package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/otds-highspot/otds-highspot/internal/exitcode"
)

// S3Store keeps objects in one S3 bucket under a key prefix. Write-once is
// enforced by the server with a conditional PutObject (If-None-Match: *), so
// two concurrent writers of one key cannot both succeed.
type S3Store struct {
	client *s3.Client
	bucket string
	prefix string // "" or ends with "/"

	sseKMSKeyID string
	lockMode    types.ObjectLockMode // "" when no retention is applied
	lockDays    int
	lockExempt  []string
	now         func() time.Time
	// headBeforePut: the server ignores If-None-Match, so Put checks with
	// HeadObject first. This leaves a race between the check and the write
	// (two concurrent writers can both pass it); use only for servers that
	// cannot do better.
	headBeforePut bool
}

// S3Config configures an S3Store built from an existing client.
type S3Config struct {
	Bucket string
	Prefix string // key prefix inside the bucket, without leading slash
	// SSEKMSKeyID, when set, asks for SSE-KMS with that key on every Put.
	SSEKMSKeyID string
	// ObjectLockMode ("governance" or "compliance") and ObjectLockDays set an
	// Object Lock retention on every Put; the bucket must have Object Lock on.
	ObjectLockMode string
	ObjectLockDays int
	// RetentionExempt lists key prefixes written without retention (e.g.
	// "_locks/": a run lock must stay deletable). A bucket-level default
	// retention still applies to them.
	RetentionExempt []string
	// NoConditionalWrites is for servers that ignore If-None-Match (old S3
	// emulators): Put then checks existence with HeadObject first, which is
	// racy between concurrent writers. Real S3 and versitygw do not need it.
	NoConditionalWrites bool
	Now                 func() time.Time
}

// NewS3Store wraps client. It does no I/O; Open also checks the bucket.
func NewS3Store(client *s3.Client, cfg S3Config) (*S3Store, error) {
	if client == nil {
		return nil, errors.New("s3 store: nil client")
	}
	if cfg.Bucket == "" {
		return nil, errors.New("s3 store: no bucket; use s3://bucket/prefix")
	}
	prefix := strings.Trim(cfg.Prefix, "/")
	if prefix != "" {
		if err := ValidatePrefix(prefix); err != nil {
			return nil, fmt.Errorf("s3 store: prefix: %w", err)
		}
		prefix += "/"
	}
	st := &S3Store{
		client:        client,
		bucket:        cfg.Bucket,
		prefix:        prefix,
		sseKMSKeyID:   cfg.SSEKMSKeyID,
		lockDays:      cfg.ObjectLockDays,
		lockExempt:    cfg.RetentionExempt,
		now:           cfg.Now,
		headBeforePut: cfg.NoConditionalWrites,
	}
	switch strings.ToLower(cfg.ObjectLockMode) {
	case "":
	case "governance":
		st.lockMode = types.ObjectLockModeGovernance
	case "compliance":
		st.lockMode = types.ObjectLockModeCompliance
	default:
		return nil, fmt.Errorf("s3 store: unknown object lock mode %q; use governance or compliance", cfg.ObjectLockMode)
	}
	if st.lockMode != "" && st.lockDays <= 0 {
		return nil, errors.New("s3 store: object lock mode set without days; set the retention in days (> 0)")
	}
	if st.now == nil {
		st.now = time.Now
	}
	return st, nil
}

func (s *S3Store) exempt(key string) bool {
	for _, p := range s.lockExempt {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

func (s *S3Store) objectKey(key string) string { return s.prefix + key }

// Put implements Store.
func (s *S3Store) Put(ctx context.Context, key string, body io.ReadSeeker, size int64) error {
	if err := ValidateKey(key); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	n, err := bodySize(body, size)
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if s.headBeforePut {
		if _, err := s.Stat(ctx, key); err == nil {
			return fmt.Errorf("put %s: %w", s.URL(key), ErrExists)
		} else if !errors.Is(err, ErrNotFound) {
			return classify(fmt.Errorf("put %s: check existing: %w", key, err))
		}
	}
	in := &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(s.objectKey(key)),
		Body:          body,
		ContentLength: aws.Int64(n),
		IfNoneMatch:   aws.String("*"),
	}
	if s.sseKMSKeyID != "" {
		in.ServerSideEncryption = types.ServerSideEncryptionAwsKms
		in.SSEKMSKeyId = aws.String(s.sseKMSKeyID)
	}
	if s.lockMode != "" && !s.exempt(key) {
		in.ObjectLockMode = s.lockMode
		in.ObjectLockRetainUntilDate = aws.Time(s.now().UTC().Add(time.Duration(s.lockDays) * 24 * time.Hour))
	}
	if _, err := s.client.PutObject(ctx, in); err != nil {
		if isExists(err) {
			return fmt.Errorf("put %s: %w", s.URL(key), ErrExists)
		}
		return classify(fmt.Errorf("put %s: %w", s.URL(key), err))
	}
	return nil
}

// Get implements Store.
func (s *S3Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := ValidateKey(key); err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.objectKey(key)),
	})
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("get %s: %w", s.URL(key), ErrNotFound)
		}
		return nil, classify(fmt.Errorf("get %s: %w", s.URL(key), err))
	}
	return out.Body, nil
}

// Stat implements Store. RetainUntil is the Object Lock retain-until date
// when the object has one.
func (s *S3Store) Stat(ctx context.Context, key string) (Info, error) {
	if err := ValidateKey(key); err != nil {
		return Info{}, fmt.Errorf("stat %s: %w", key, err)
	}
	out, err := s.head(ctx, key)
	if err != nil {
		return Info{}, classify(fmt.Errorf("stat %s: %w", s.URL(key), err))
	}
	info := Info{Key: key, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified)}
	if out.ObjectLockRetainUntilDate != nil {
		info.RetainUntil = *out.ObjectLockRetainUntilDate
	}
	return info, nil
}

func (s *S3Store) head(ctx context.Context, key string) (*s3.HeadObjectOutput, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.objectKey(key)),
	})
	if err != nil {
		if isNotFound(err) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	return out, nil
}

// List implements Store, paging through ListObjectsV2.
func (s *S3Store) List(ctx context.Context, prefix string) ([]Info, error) {
	if err := ValidatePrefix(prefix); err != nil {
		return nil, fmt.Errorf("list %q: %w", prefix, err)
	}
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket),
		Prefix: aws.String(s.prefix + prefix),
	})
	var out []Info
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, classify(fmt.Errorf("list %s: %w", s.URL(prefix), err))
		}
		for _, o := range page.Contents {
			k := strings.TrimPrefix(aws.ToString(o.Key), s.prefix)
			if ValidateKey(k) != nil {
				continue // not written by this store (e.g. a "folder" marker)
			}
			out = append(out, Info{Key: k, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)})
		}
	}
	// S3 already sorts by UTF-8 bytes; some compatible servers do not.
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Delete implements Store. In a versioned bucket (which Object Lock implies) a
// plain DeleteObject only adds a delete marker and always succeeds, so Delete
// removes the current version by id: the data is really gone, or a retention
// rule refuses and Delete returns ErrRetained.
func (s *S3Store) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	head, err := s.head(ctx, key)
	if err != nil {
		return classify(fmt.Errorf("delete %s: %w", s.URL(key), err))
	}
	in := &s3.DeleteObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.objectKey(key)),
	}
	if v := aws.ToString(head.VersionId); v != "" && v != "null" {
		in.VersionId = aws.String(v)
	}
	if _, err := s.client.DeleteObject(ctx, in); err != nil {
		if isRetained(err) {
			until := ""
			if head.ObjectLockRetainUntilDate != nil {
				until = " until " + head.ObjectLockRetainUntilDate.UTC().Format(time.RFC3339)
			}
			return fmt.Errorf("delete %s (object lock %s%s): %w", s.URL(key), head.ObjectLockMode, until, ErrRetained)
		}
		if isNotFound(err) {
			return fmt.Errorf("delete %s: %w", s.URL(key), ErrNotFound)
		}
		return classify(fmt.Errorf("delete %s: %w", s.URL(key), err))
	}
	return nil
}

// URL implements Store.
func (s *S3Store) URL(key string) string {
	return "s3://" + s.bucket + "/" + strings.TrimPrefix(path.Join(s.prefix, key), "/")
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func isExists(err error) bool {
	switch apiCode(err) {
	case "PreconditionFailed", "ConditionalRequestConflict":
		return true
	}
	st := httpStatus(err)
	return st == http.StatusPreconditionFailed || st == http.StatusConflict
}

func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	switch apiCode(err) {
	case "NoSuchKey", "NotFound":
		return true
	}
	return httpStatus(err) == http.StatusNotFound && apiCode(err) != "NoSuchBucket" && apiCode(err) != "XAdminUserNotFound"
}

func isRetained(err error) bool {
	switch apiCode(err) {
	case "AccessDenied", "ObjectLocked":
		return true
	}
	return httpStatus(err) == http.StatusForbidden
}

func isNoSuchBucket(err error) bool {
	var nb *types.NoSuchBucket
	if errors.As(err, &nb) {
		return true
	}
	switch apiCode(err) {
	case "NoSuchBucket":
		return true
	case "NotFound":
		return true // HeadBucket has no body, so 404 surfaces as NotFound
	}
	return httpStatus(err) == http.StatusNotFound
}

// classify gives a store error its exit code: refused credentials or
// permissions are exitcode.Auth (never retried); throttling, 5xx, timeouts
// and network failures are exitcode.Transient (an outage: retry). ErrExists,
// ErrNotFound and ErrRetained are left alone (callers decide).
func classify(err error) error {
	if err == nil || errors.Is(err, ErrExists) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrRetained) {
		return err
	}
	switch apiCode(err) {
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
		"TokenRefreshRequired", "AccountProblem", "AllAccessDisabled", "Forbidden",
		"XAdminUserNotFound": // versitygw's unknown access key (HTTP 404)
		return exitcode.Wrap(exitcode.Auth, fmt.Errorf("%w (the store refused the credentials or the permission: check AWS_ACCESS_KEY_ID/AWS_PROFILE and the bucket policy)", err))
	case "SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed",
		"InternalError", "ServiceUnavailable", "RequestLimitExceeded":
		return exitcode.Wrap(exitcode.Transient, err)
	}
	switch st := httpStatus(err); {
	case st == http.StatusForbidden || st == http.StatusUnauthorized:
		return exitcode.Wrap(exitcode.Auth, fmt.Errorf("%w (the store refused the credentials or the permission)", err))
	case st >= 500 || st == http.StatusTooManyRequests || st == http.StatusRequestTimeout:
		return exitcode.Wrap(exitcode.Transient, err)
	case st != 0:
		return err
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	if IsNetworkError(err) {
		return exitcode.Wrap(exitcode.Transient, fmt.Errorf("%w (the store is unreachable; retry)", err))
	}
	return err
}

// IsNetworkError reports a failure to reach a server: timeouts, refused,
// reset or dropped connections, DNS failures.
func IsNetworkError(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return true
	}
	var de *net.DNSError
	if errors.As(err, &de) {
		return true
	}
	var rf interface{ RetryableError() bool } // the SDK's retry.RetryableError et al.
	return errors.As(err, &rf) && rf.RetryableError()
}
