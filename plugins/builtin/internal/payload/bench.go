package payload

import (
	"context"
	"testing"

	"github.com/wadi-go/wadi/sdk/codec"
)

// Size is a payload size the codec benchmarks measure.
type Size struct {
	Name  string
	Bytes int
}

// Sizes are the session sizes the codec benchmarks measure: a small
// session, a typical one with a cart and a history, and a large one.
func Sizes() []Size {
	return []Size{{"1KiB", 1 << 10}, {"16KiB", 16 << 10}, {"256KiB", 256 << 10}}
}

// BenchmarkCodec measures c on a session of each of Sizes: Encode and
// Decode of one item, with throughput in session bytes (b.SetBytes) and the
// ratio of session bytes to encoded bytes ("ratio"), so that every codec is
// measured on the same data in the same way.
func BenchmarkCodec(b *testing.B, c codec.Codec) {
	ctx := context.Background()
	for i, s := range Sizes() {
		p := Session(s.Bytes, uint64(i)+1)
		out, err := c.Encode(ctx, [][]byte{p})
		if err != nil {
			b.Fatalf("Encode(%s session): %v", s.Name, err)
		}
		enc := out[0]
		ratio := float64(len(p)) / float64(len(enc))
		b.Run("size="+s.Name+"/encode", func(b *testing.B) {
			b.SetBytes(int64(len(p)))
			b.ReportAllocs()
			items := [][]byte{p}
			for b.Loop() {
				if _, err := c.Encode(ctx, items); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(ratio, "ratio")
		})
		b.Run("size="+s.Name+"/decode", func(b *testing.B) {
			b.SetBytes(int64(len(p)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Decode(ctx, enc); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(ratio, "ratio")
		})
	}
}
