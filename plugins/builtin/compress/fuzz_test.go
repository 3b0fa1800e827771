package compress

import (
	"context"
	"errors"
	"testing"

	"github.com/wadi-go/wadi/plugins/builtin/internal/payload"
	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/codec"
)

// fuzzDecode checks, for any input, that Decode returns (no panic), that
// an error wraps codec.ErrCorrupt, and that the output is bounded. The seeds
// are real encodings at every level, so the fuzzer starts from valid
// streams and mutates them.
func fuzzDecode(f *testing.F, cc codecCase) {
	ctx := context.Background()
	inputs := [][]byte{nil, {}, {0}, []byte("x"), []byte("hello, hello, hello, hello"), payload.Session(1<<10, 1), payload.Session(4<<10, 2)}
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

func FuzzDecodeGzip(f *testing.F) { fuzzDecode(f, codecCases[0]) }
func FuzzDecodeZstd(f *testing.F) { fuzzDecode(f, codecCases[1]) }
func FuzzDecodeS2(f *testing.F)   { fuzzDecode(f, codecCases[2]) }
