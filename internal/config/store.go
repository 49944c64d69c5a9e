package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Store configures the artifact store.
type Store struct {
	// URL is file:///abs/path, a relative path (./artifacts) or s3://bucket/prefix.
	// The OTDS_HIGHSPOT_STORE environment variable overrides it.
	URL string  `yaml:"url"`
	S3  S3Store `yaml:"s3"`
	// LockStaleAfter: a lock whose holder wrote no heartbeat for this long is
	// considered abandoned (holders beat every LockStaleAfter/5).
	LockStaleAfter time.Duration `yaml:"lock_stale_after"`
}

// S3Store holds S3-specific settings. Credentials come from the usual AWS chain
// (env, shared config, IMDS); never from this file.
type S3Store struct {
	Endpoint    string `yaml:"endpoint"`   // S3-compatible endpoint, e.g. http://127.0.0.1:7070
	Region      string `yaml:"region"`     // default us-east-1
	PathStyle   bool   `yaml:"path_style"` // path-style addressing (most S3-compatible servers)
	SSEKMSKeyID string `yaml:"sse_kms_key_id"`
	// ObjectLock applies retention to every object written, when Mode is set.
	ObjectLock ObjectLock `yaml:"object_lock"`
}

// ObjectLock is S3 Object Lock retention.
type ObjectLock struct {
	Mode string `yaml:"mode"` // "", governance or compliance
	Days int    `yaml:"days"`
}

func (s *Store) applyDefaults() {
	if s.URL == "" {
		s.URL = "./artifacts"
	}
	if s.S3.Region == "" {
		s.S3.Region = "us-east-1"
	}
	if s.LockStaleAfter == 0 {
		s.LockStaleAfter = 10 * time.Minute
	}
}

func (s *Store) validate(k string) Errors {
	var errs Errors
	if strings.Contains(s.URL, "://") {
		u, err := url.Parse(s.URL)
		switch {
		case err != nil:
			errs = append(errs, Error{Key: k + ".url", Msg: fmt.Sprintf("not a URL: %v; use file:///path, ./path or s3://bucket/prefix", err)})
		case u.Scheme != "file" && u.Scheme != "s3":
			errs = append(errs, Error{Key: k + ".url", Msg: fmt.Sprintf("unsupported scheme %q; use file:// or s3://", u.Scheme)})
		case u.Scheme == "s3" && u.Host == "":
			errs = append(errs, Error{Key: k + ".url", Msg: "s3 URL has no bucket; use s3://bucket/prefix"})
		}
	}
	switch s.S3.ObjectLock.Mode {
	case "", "governance", "compliance":
	default:
		errs = append(errs, Error{Key: k + ".s3.object_lock.mode", Msg: fmt.Sprintf("unknown mode %q; use governance or compliance", s.S3.ObjectLock.Mode)})
	}
	if s.S3.ObjectLock.Mode != "" && s.S3.ObjectLock.Days <= 0 {
		errs = append(errs, Error{Key: k + ".s3.object_lock.days", Msg: "set the retention in days (> 0) when object_lock.mode is set"})
	}
	if s.S3.Endpoint != "" {
		if u, err := url.Parse(s.S3.Endpoint); err != nil || u.Scheme == "" || u.Host == "" {
			errs = append(errs, Error{Key: k + ".s3.endpoint", Msg: "not a URL; use e.g. http://127.0.0.1:7070"})
		}
	}
	if s.LockStaleAfter < 0 {
		errs = append(errs, Error{Key: k + ".lock_stale_after", Msg: "must be positive, e.g. 10m"})
	}
	return errs
}
