package aesgcm

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/wadi-go/wadi/plugins/builtin/internal/payload"
	"github.com/wadi-go/wadi/sdk/codec"
)

// FuzzDecode checks that Decode never panics, that every error wraps
// codec.ErrCorrupt, and that nothing but a real encoding decodes: the seeds
// are records under each key of the ring, and any input the fuzzer derives
// from them that decodes must be one of them, to the same bytes. (The seeds
// are sealed with fixed nonces, by the documented layout, because each fuzz
// worker process runs this setup again and must know the same records.)
func FuzzDecode(f *testing.F) {
	ctx := context.Background()
	c := configured(f, ringConfig("k1", "k2"))
	plaintexts := [][]byte{nil, {0}, []byte("hello"), payload.Session(1<<10, 1)}
	known := map[string][]byte{}
	for _, id := range []string{"k1", "k2"} {
		for i, p := range plaintexts {
			rec := sealWithNonce(f, id, byte(i), p)
			known[string(rec)] = p
			f.Add(rec)
		}
	}
	f.Add([]byte{})
	f.Add([]byte{formatVersion})
	f.Add([]byte{formatVersion, 2, 'k', '0'})
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
		want, ok := known[string(data)]
		if !ok {
			t.Fatalf("Decode accepted %d bytes that Encode did not produce: %q", len(data), out)
		}
		if !bytes.Equal(out, want) {
			t.Fatalf("Decode = %q; want %q", out, want)
		}
	})
}
