package artifact

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"
)

// ValidateRunID checks that a run id is usable as a path segment and a
// partition value: it starts with a valid date (YYYYMMDD), holds only
// [A-Za-z0-9._-] and is at most MaxRunIDLen bytes long, so it is always one
// path segment and can never resolve outside its run's folders.
func ValidateRunID(runID string) error {
	_, err := RunDate(runID)
	return err
}

// MaxRunIDLen bounds a run id: it is a path segment and a partition value
// (file systems refuse segments over 255 bytes; S3 keys over 1024).
const MaxRunIDLen = 100

// RunDate is the dt= partition date of a run id (its leading YYYYMMDD).
func RunDate(runID string) (time.Time, error) {
	if runID == "" {
		return time.Time{}, fmt.Errorf("run id is empty; use a date-prefixed id such as %s", NewRunID(time.Date(2026, 11, 25, 23, 59, 59, 0, time.UTC)))
	}
	if len(runID) > MaxRunIDLen {
		return time.Time{}, fmt.Errorf("run id %.40q... is %d bytes long; at most %d are allowed (e.g. 20261125T235959Z-1a2b)", runID, len(runID), MaxRunIDLen)
	}
	if err := checkName("run id", runID); err != nil {
		return time.Time{}, err
	}
	if len(runID) < 8 {
		return time.Time{}, fmt.Errorf("run id %q must start with a date YYYYMMDD (e.g. 20261125T235959Z-1a2b)", runID)
	}
	d, err := time.Parse("20060102", runID[:8])
	if err != nil {
		return time.Time{}, fmt.Errorf("run id %q must start with a valid date YYYYMMDD (e.g. 20261125T235959Z-1a2b)", runID)
	}
	return d, nil
}

// NewRunID makes a sortable run id: 20261125T235959Z-1a2b.
func NewRunID(now time.Time) string {
	return now.UTC().Format("20060102T150405Z") + "-" + randomHex(2)
}

// randomHex returns 2*n lowercase hex digits from crypto/rand.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand.Read never fails on supported platforms (Go >= 1.24 it
		// crashes the program instead); keep a deterministic fallback anyway.
		return fmt.Sprintf("%0*x", 2*n, time.Now().UnixNano()&((1<<(8*n))-1))
	}
	return hex.EncodeToString(b)
}

// checkName accepts non-empty names made of [A-Za-z0-9._-] that are not "."
// or ".." (run ids, stage names, blob names, table names).
func checkName(what, s string) error {
	if s == "" {
		return fmt.Errorf("%s is empty", what)
	}
	if s == "." || s == ".." {
		return fmt.Errorf("%s %q is not allowed", what, s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return fmt.Errorf("%s %q holds %q; only letters, digits, '.', '_' and '-' are allowed", what, s, c)
		}
	}
	return nil
}
