package load_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"

	"github.com/otds-highspot/otds-highspot/load"
)

// BenchmarkListGuardPage: the guard's cost per page of 100 users of about
// 250 bytes (pull at 1M: 2,339 pages).
func BenchmarkListGuardPage(b *testing.B) {
	items := make([]json.RawMessage, 100)
	for i := range items {
		items[i] = json.RawMessage(fmt.Sprintf(`{"display_name":"Given %d","email":"user%07d@bench.example","groups":["g000000000000000000000001","g000000000000000000000002"],"id":"u%023d","name":"Given","surname":"%d","suspended":false}`, i, i, i, i))
	}
	g := load.NewListGuard(context.Background(), "/users")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		items[0][len(items[0])-2] = byte('0' + i%10) // each page differs
		items[1][len(items[1])-2] = byte('0' + i/10%10)
		if err := g.Page(strconv.Itoa(i), items, len(items), -1); err != nil && i < 100 {
			b.Fatal(err)
		}
	}
}
