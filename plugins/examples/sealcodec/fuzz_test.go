package main

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/wadi-go/wadi/sdk/codec"
)

// FuzzDecode feeds Decode arbitrary bytes. Decode must not panic; it either
// refuses the input with an error wrapping codec.ErrCorrupt or returns a
// payload that seals and opens back to itself. The same bytes are also
// sealed as a payload, and must open back to exactly those bytes.
//
//	go test -run '^$' -fuzz FuzzDecode -fuzztime 30s ./plugins/examples/sealcodec
func FuzzDecode(f *testing.F) {
	keys := ring{"a": keyA, "b": keyB}
	c := configured(f, "b", keys)
	// Seeds: records sealed under either key, so the fuzzer starts from
	// inputs that pass the header checks and mutates towards the tag.
	other := configured(f, "a", keys)
	for _, p := range [][]byte{nil, []byte("x"), []byte(`{"cart":["sku-1"]}`), bytes.Repeat([]byte{0}, 300)} {
		f.Add(seal(f, c, p))
		f.Add(seal(f, other, p))
	}
	f.Add([]byte{})
	f.Add([]byte{formatVersion, 1, 'a'})
	f.Add([]byte{formatVersion, 255})
	f.Add(bytes.Repeat([]byte{0xff}, minSealedLen))

	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		in := bytes.Clone(data)
		got, err := c.Decode(ctx, data)
		if !bytes.Equal(data, in) {
			t.Fatalf("Decode changed its input")
		}
		if err != nil {
			if !errors.Is(err, codec.ErrCorrupt) {
				t.Fatalf("Decode(%d bytes): %v; want an error wrapping codec.ErrCorrupt", len(data), err)
			}
		} else {
			// Only a genuine record is accepted (the fuzzer cannot forge a
			// tag), and what it holds must survive another round.
			again, err := c.Decode(ctx, seal(t, c, got))
			if err != nil || !bytes.Equal(again, got) {
				t.Fatalf("Decode(Encode(accepted payload)) = %q, %v; want %q", again, err, got)
			}
		}

		// The input as a payload: sealed, it opens to exactly itself.
		opened, err := c.Decode(ctx, seal(t, c, data))
		if err != nil {
			t.Fatalf("Decode(Encode(%d bytes)): %v", len(data), err)
		}
		if !bytes.Equal(opened, data) {
			t.Fatalf("Decode(Encode(p)) = %q; want %q", opened, data)
		}
	})
}
