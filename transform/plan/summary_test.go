package plan

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
)

// The plan counts match_review rows from the transform manifest: the
// table's row count, else the summary transform writes (rows by reason).
func TestMatchReviewRows(t *testing.T) {
	for _, tc := range []struct {
		name     string
		manifest string
		want     int64
	}{
		{"table rows", `{"tables":{"match_review":{"rows":3}},"summary":{"match_review":{"weak_match_only":3}}}`, 3},
		{"summary by reason only", `{"summary":{"match_review":{"weak_match_only":2,"shared_email":1}}}`, 3},
		{"no reviews", `{"summary":{"match_review":{}}}`, 0},
		{"nothing recorded", `{}`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := json.NewDecoder(bytes.NewReader([]byte(tc.manifest)))
			d.UseNumber() // as artifact.ReadManifest decodes
			var m artifact.Manifest
			if err := d.Decode(&m); err != nil {
				t.Fatal(err)
			}
			if got := matchReviewRows(&m); got != tc.want {
				t.Errorf("matchReviewRows = %d, want %d", got, tc.want)
			}
		})
	}
}
