package records

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
)

// ChangesSHA256 is the plan hash: sha256 over the canonical change list (one
// JSON object per change, in Seq order, newline-terminated). The plan stage
// records it, `plan show` prints it, and apply recomputes it over exactly the
// changes it is about to execute. cs is not modified.
func ChangesSHA256(cs []Change) string {
	ordered := cs
	if !sort.SliceIsSorted(cs, func(i, j int) bool { return cs[i].Seq < cs[j].Seq }) {
		ordered = append([]Change(nil), cs...)
		sort.SliceStable(ordered, func(i, j int) bool { return ordered[i].Seq < ordered[j].Seq })
	}
	h := sha256.New()
	enc := json.NewEncoder(h)
	for i := range ordered {
		_ = enc.Encode(&ordered[i]) // hash.Hash never fails
	}
	return hex.EncodeToString(h.Sum(nil))
}
