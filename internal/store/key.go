package store

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrInvalidKey is returned (wrapped) for a key or list prefix that is not a
// clean, relative, slash-separated path.
var ErrInvalidKey = errors.New("invalid key")

// TempPrefix starts the name of the temporary files the local store writes
// before publishing an object. No key segment may start with it, and List
// never returns such names.
const TempPrefix = ".tmp-"

// ValidateKey checks that key is a clean relative path: not empty, no leading
// or trailing slash, no empty, "." or ".." segments, no backslash or NUL, and
// no segment starting with TempPrefix. Every backend applies the same rule, so
// a key valid on disk is valid on S3 and the other way round.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	}
	if strings.HasSuffix(key, "/") {
		return fmt.Errorf("%w %q: ends with /; keys name objects, not folders", ErrInvalidKey, key)
	}
	return validatePath(key)
}

// ValidatePrefix checks a List prefix: empty (everything) or a key-like path
// that may end with "/" and may end in a partial segment.
func ValidatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	return validatePath(strings.TrimSuffix(prefix, "/"))
}

func validatePath(p string) error {
	if strings.HasPrefix(p, "/") {
		return fmt.Errorf("%w %q: starts with /; keys are relative to the store root", ErrInvalidKey, p)
	}
	if strings.ContainsAny(p, "\\\x00") {
		return fmt.Errorf("%w %q: contains a backslash or NUL", ErrInvalidKey, p)
	}
	for _, seg := range strings.Split(p, "/") {
		switch {
		case seg == "":
			return fmt.Errorf("%w %q: empty path segment (//)", ErrInvalidKey, p)
		case seg == "." || seg == "..":
			return fmt.Errorf("%w %q: %q segments are not allowed", ErrInvalidKey, p, seg)
		case strings.HasPrefix(seg, TempPrefix):
			return fmt.Errorf("%w %q: segments starting with %q are reserved for temporary files", ErrInvalidKey, p, TempPrefix)
		}
	}
	return nil
}

// bodySize returns how many bytes remain in body from its current offset and
// checks that it equals size (a negative size means "whatever remains"). A
// mismatch would publish a truncated or padded object, so it is refused before
// anything is written.
func bodySize(body io.ReadSeeker, size int64) (int64, error) {
	cur, err := body.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, fmt.Errorf("seek body: %w", err)
	}
	end, err := body.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, fmt.Errorf("seek body: %w", err)
	}
	if _, err := body.Seek(cur, io.SeekStart); err != nil {
		return 0, fmt.Errorf("seek body: %w", err)
	}
	remaining := end - cur
	if size >= 0 && size != remaining {
		return 0, fmt.Errorf("body has %d bytes, caller said %d: refusing to store a truncated object", remaining, size)
	}
	return remaining, nil
}
