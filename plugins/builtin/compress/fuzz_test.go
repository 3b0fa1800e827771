package compress

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/codec"
)

// fuzzDecode checks, for any input, that Decode returns (no panic), that
// an error wraps codec.ErrCorrupt, and that the output is bounded. The seeds
// are real encodings at every level, so the fuzzer starts from valid
// streams and mutates them.
//
// The seeds are kept small (encodings of at most a few hundred bytes): the
// fuzzer minimizes every input that finds new coverage, in time quadratic in
// its length when its tail cannot be cut, as a zstd frame's cannot (a cut
// block is only "unexpected EOF"). From encodings of 1 and 4 KiB sessions,
// FuzzDecodeZstd spent nearly all its time minimizing: 1,000-2,000 execs
// counted in 20 s on 2 cores, against some 300,000 from these.
func fuzzDecode(f *testing.F, cc codecCase) {
	ctx := context.Background()
	inputs := [][]byte{nil, {}, {0}, []byte("x"), []byte("hello, hello, hello, hello"), smallSession, skewedText(256)}
	for _, cfg := range cc.valid {
		c := cc.new()
		if err := c.Configure(ctx, []byte(cfg), base.Node{}); err != nil {
			f.Fatal(err)
		}
		encs, err := c.Encode(ctx, inputs)
		if err != nil {
			f.Fatal(err)
		}
		for _, e := range encs {
			f.Add(e)
		}
	}
	f.Add([]byte{})
	c := cc.new()
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := c.Decode(ctx, data)
		if err != nil {
			if !errors.Is(err, codec.ErrCorrupt) {
				t.Fatalf("Decode: %v; want an error wrapping codec.ErrCorrupt", err)
			}
			if out != nil {
				t.Fatalf("Decode returned %d bytes and an error", len(out))
			}
			return
		}
		if len(out) > MaxDecodedSize {
			t.Fatalf("Decode returned %d bytes, more than MaxDecodedSize", len(out))
		}
	})
}

// smallSession is a short serialised session: matches and literals, in a
// record small enough to minimize quickly.
var smallSession = []byte(`{"user":"u-1234","roles":["admin","buyer"],"cart":[{"sku":"SKU-000123","n":2},` +
	`{"sku":"SKU-000456","n":1},{"sku":"SKU-000123","n":2}],"seen":"2026-03-14T09:26:53Z"}`)

// skewedText is n letters of a small alphabet in a fixed pseudo-random
// order: few matches, but literals worth entropy coding, so that the seeds
// reach the decoders' Huffman (zstd) and dynamic-block (gzip) paths.
func skewedText(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "eeeeeeeetttaaoinshrdlu"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return b
}

func FuzzDecodeGzip(f *testing.F) { fuzzDecode(f, codecCases[0]) }
func FuzzDecodeZstd(f *testing.F) { fuzzDecode(f, codecCases[1]) }
func FuzzDecodeS2(f *testing.F)   { fuzzDecode(f, codecCases[2]) }
