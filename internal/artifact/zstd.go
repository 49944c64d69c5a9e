package artifact

import (
	"fmt"
	"io"
	"sync"

	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/klauspost/compress/zstd"
)

// zstdWindow is the window of the zstd encoders that compress Parquet pages.
// arrow-go's own codec keeps zstd's default 8 MiB window, for which every
// pooled encoder holds a 16 MiB history buffer (window + window) however
// small its input; each Parquet column writer compressing at once holds one.
// A page is at most ~1 MiB (the data page size), so a 1 MiB window finds
// every match a larger one would, and an encoder holds 2 MiB.
const zstdWindow = 1 << 20

// pageZstd is arrow-go's zstd codec (decoding and streams are its own) with
// page compression by encoders of zstdWindow.
type pageZstd struct {
	def   zstdDefault
	pools sync.Map // zstd.EncoderLevel -> *sync.Pool of *zstd.Encoder
}

// zstdDefault is what arrow-go's zstd codec implements: the page reader
// streams only from a codec that is a StreamingCodec, and reports decoding
// errors of an ErrorCodec.
type zstdDefault interface {
	compress.ErrorCodec
	compress.StreamingCodec
}

func (z *pageZstd) CompressBound(n int64) int64          { return z.def.CompressBound(n) }
func (z *pageZstd) Decode(dst, src []byte) []byte        { return z.def.Decode(dst, src) }
func (z *pageZstd) NewReader(r io.Reader) io.ReadCloser  { return z.def.NewReader(r) }
func (z *pageZstd) NewWriter(w io.Writer) io.WriteCloser { return z.def.NewWriter(w) }
func (z *pageZstd) DecodeWithError(dst, src []byte) ([]byte, error) {
	return z.def.DecodeWithError(dst, src)
}
func (z *pageZstd) NewWriterLevel(w io.Writer, level int) (io.WriteCloser, error) {
	return z.def.NewWriterLevel(w, level)
}

func (z *pageZstd) encoder(level zstd.EncoderLevel) (*zstd.Encoder, *sync.Pool) {
	p, ok := z.pools.Load(level)
	if !ok {
		p, _ = z.pools.LoadOrStore(level, &sync.Pool{New: func() any {
			enc, err := zstd.NewWriter(nil, zstd.WithZeroFrames(true), zstd.WithEncoderLevel(level),
				zstd.WithEncoderConcurrency(1), zstd.WithAllLitEntropyCompression(true), zstd.WithWindowSize(zstdWindow))
			if err != nil {
				panic(err) // only for invalid options, which these are not
			}
			return enc
		}})
	}
	pool := p.(*sync.Pool)
	return pool.Get().(*zstd.Encoder), pool
}

func (z *pageZstd) Encode(dst, src []byte) []byte {
	return z.EncodeLevel(dst, src, compress.DefaultCompressionLevel)
}

func (z *pageZstd) EncodeLevel(dst, src []byte, level int) []byte {
	l := zstd.EncoderLevelFromZstd(level)
	if level == compress.DefaultCompressionLevel {
		l = zstd.SpeedDefault
	}
	enc, pool := z.encoder(l)
	defer pool.Put(enc)
	return enc.EncodeAll(src, dst[:0])
}

func init() {
	c, err := compress.GetCodec(compress.Codecs.Zstd)
	def, ok := c.(zstdDefault)
	if err != nil || !ok {
		panic(fmt.Sprintf("arrow-go's zstd codec is %T (%v), not a streaming codec with DecodeWithError", c, err))
	}
	compress.RegisterCodec(compress.Codecs.Zstd, &pageZstd{def: def})
}
