package artifact

import (
	"encoding/json"
	"strconv"
)

// SummaryInt reads a numeric summary value. Manifests are decoded with
// json.Number (so large counts keep their precision); this accepts that, the
// float64 of a manifest built in memory, and plain ints. Missing or
// non-numeric values read as 0, false.
func (m *Manifest) SummaryInt(key string) (int64, bool) {
	if m == nil {
		return 0, false
	}
	switch v := m.Summary[key].(type) {
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return n, true
		}
		if f, err := v.Float64(); err == nil {
			return int64(f), true
		}
	case float64:
		return int64(v), true
	case int:
		return int64(v), true
	case int64:
		return v, true
	case string:
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n, true
		}
	}
	return 0, false
}
