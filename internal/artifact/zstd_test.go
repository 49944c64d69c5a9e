package artifact

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"

	"github.com/apache/arrow-go/v18/parquet/compress"
)

// Every Parquet column writer compressing at once holds a zstd encoder; with
// zstd's default 8 MiB window each held a 16 MiB history buffer, whatever the
// page size (extract's peak RSS grew with the tables it wrote at once).
func TestPageZstdEncoderIsSmall(t *testing.T) {
	codec, err := compress.GetCodec(compress.Codecs.Zstd)
	if err != nil {
		t.Fatal(err)
	}
	var page bytes.Buffer
	for i := 0; page.Len() < 256<<10; i++ {
		fmt.Fprintf(&page, "cn=user%07d,ou=Root,ou=P%d,ou=IdentityProviders,dc=identity,dc=opentext,dc=net\n", i*7919%1000003, i%4)
	}
	src := page.Bytes()
	runtime.GC()
	runtime.GC() // twice: empties the encoder pools, so the next encode builds an encoder
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	out := codec.EncodeLevel(nil, src, zstdLevel)
	runtime.ReadMemStats(&after)
	const limit = 4 << 20
	if got := after.TotalAlloc - before.TotalAlloc; got > limit {
		t.Errorf("compressing one %d KiB page allocated %d KiB, want at most %d KiB (an encoder with a small window)", len(src)>>10, got>>10, limit>>10)
	}
	back, err := compress.Decode(codec, nil, out)
	if err != nil || !bytes.Equal(back, src) {
		t.Errorf("round trip: got %d bytes, %v; want the %d bytes compressed", len(back), err, len(src))
	}
	if len(out) >= len(src)/2 {
		t.Errorf("compressed %d bytes to %d, want less than half", len(src), len(out))
	}
}
