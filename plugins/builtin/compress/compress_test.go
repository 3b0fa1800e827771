package compress

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"

	"github.com/wadi-go/wadi/plugins/builtin/internal/payload"
	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/codec"
	"github.com/wadi-go/wadi/sdk/plugintest"
)

// codecCase is one of the three codecs with the configurations it must
// accept and refuse.
type codecCase struct {
	name    string
	new     func() *Codec
	valid   []string
	invalid []string
	// levels are valid configurations from the fastest level to the most
	// compact.
	levels []string
}

var codecCases = []codecCase{
	{
		name:    "gzip",
		new:     NewGzip,
		valid:   []string{`{"level":6}`, `{"level":1}`, `{"level":9}`, `{"level":4.0}`},
		invalid: []string{`{"level":0}`, `{"level":10}`, `{"level":-1}`, `{"level":5.5}`, `{"level":"6"}`, `{"level":true}`},
		levels:  []string{`{"level":1}`, `{"level":4.0}`, `{"level":6}`, `{"level":9}`},
	},
	{
		name:    "zstd",
		new:     NewZstd,
		valid:   []string{`{"level":"default"}`, `{"level":"fastest"}`, `{"level":"better"}`, `{"level":"best"}`},
		invalid: []string{`{"level":""}`, `{"level":"Default"}`, `{"level":"3"}`, `{"level":3}`, `{"level":"max"}`},
		levels:  []string{`{"level":"fastest"}`, `{"level":"default"}`, `{"level":"better"}`, `{"level":"best"}`},
	},
	{
		name:    "s2",
		new:     NewS2,
		valid:   []string{`{"level":"default"}`, `{"level":"better"}`, `{"level":"best"}`},
		invalid: []string{`{"level":""}`, `{"level":"fastest"}`, `{"level":"BEST"}`, `{"level":1}`},
		levels:  []string{`{"level":"default"}`, `{"level":"better"}`, `{"level":"best"}`},
	},
}

func byteConfigs(cfgs []string) [][]byte {
	out := make([][]byte, len(cfgs))
	for i, c := range cfgs {
		out[i] = []byte(c)
	}
	return out
}

func configured(t testing.TB, newCodec func() *Codec, cfg string) *Codec {
	t.Helper()
	c := newCodec()
	if err := c.Configure(context.Background(), []byte(cfg), base.Node{DataDir: t.TempDir()}); err != nil {
		t.Fatalf("Configure(%s): %v", cfg, err)
	}
	return c
}

func TestConformance(t *testing.T) {
	for _, cc := range codecCases {
		t.Run(cc.name, func(t *testing.T) {
			plugintest.TestPlugin(t, cc.new(), base.KindCodec, plugintest.Configs{
				Valid:   byteConfigs(cc.valid),
				Invalid: byteConfigs(cc.invalid),
			})
			for _, cfg := range cc.valid {
				t.Run(cfg, func(t *testing.T) {
					plugintest.TestCodecWith(t, func(t *testing.T) codec.Codec {
						return configured(t, cc.new, cfg)
					}, plugintest.CodecOptions{Unauthenticated: true})
				})
			}
		})
	}
}

func TestSchemaDefaultsAreValid(t *testing.T) {
	for _, cc := range codecCases {
		c := cc.new()
		s, err := c.Schema(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Attributes) != 1 || s.Attributes[0].Name != "level" {
			t.Fatalf("%s: schema %+v; want one attribute, level", cc.name, s)
		}
		cfg := `{"level":` + s.Attributes[0].Default + `}`
		if err := c.Configure(context.Background(), []byte(cfg), base.Node{}); err != nil {
			t.Errorf("%s: Configure with the schema's default %s: %v", cc.name, cfg, err)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		codec   func() *Codec
		cfg     string
		wantErr string // empty: accepted
	}{
		{NewGzip, ``, ""},
		{NewGzip, `null`, ""},
		{NewGzip, `{}`, ""},
		{NewGzip, `{"level":null}`, ""},
		{NewGzip, `{"level":1}`, ""},
		{NewGzip, `{"level":9}`, ""},
		{NewGzip, `{"level":0}`, "level 0: want a whole number from 1 to 9"},
		{NewGzip, `{"level":10}`, "level 10: want a whole number from 1 to 9"},
		{NewGzip, `{"level":2.5}`, "level 2.5: want a whole number"},
		{NewGzip, `{"level":"fast"}`, "cannot unmarshal string"},
		{NewGzip, `{"levl":6}`, `unknown field "levl"`},
		{NewZstd, `{"level":null}`, ""},
		{NewZstd, `{"level":"fastest"}`, ""},
		{NewZstd, `{"level":"best"}`, ""},
		{NewZstd, `{"level":"max"}`, `level "max": want one of ["fastest" "default" "better" "best"]`},
		{NewZstd, `{"level":19}`, "cannot unmarshal number"},
		{NewZstd, `{"level":"default"} {}`, "data after"},
		{NewS2, `{"level":null}`, ""},
		{NewS2, `{"level":"better"}`, ""},
		{NewS2, `{"level":"fastest"}`, `level "fastest": want one of ["default" "better" "best"]`},
		{NewS2, `[]`, "cannot unmarshal array"},
	}
	for _, tt := range tests {
		c := tt.codec()
		name := c.alg.name + " " + tt.cfg
		err := c.Configure(context.Background(), []byte(tt.cfg), base.Node{})
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case tt.wantErr != "" && err == nil:
			t.Errorf("%s: accepted; want an error containing %q", name, tt.wantErr)
		case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
			t.Errorf("%s: %v; want an error containing %q", name, err, tt.wantErr)
		case err != nil && !strings.HasPrefix(err.Error(), c.alg.name+": "):
			t.Errorf("%s: %v; want the codec's name in front", name, err)
		}
	}
}

// The level changes the output: for a compressible session, each level is at
// least as compact as the one before it and the most compact strictly beats
// the fastest, so a Configure that ignored the level fails. A refused
// configuration keeps the level in force, and a record written at one level
// decodes at every other: the level is not part of the format.
func TestLevels(t *testing.T) {
	ctx := context.Background()
	p := payload.Session(16<<10, 1)
	for _, cc := range codecCases {
		t.Run(cc.name, func(t *testing.T) {
			encode := func(c *Codec) []byte {
				t.Helper()
				enc, err := c.Encode(ctx, [][]byte{p})
				if err != nil {
					t.Fatal(err)
				}
				return enc[0]
			}
			sizes := make([]int, len(cc.levels))
			for i, level := range cc.levels {
				sizes[i] = len(encode(configured(t, cc.new, level)))
				if i > 0 && sizes[i] > sizes[i-1] {
					t.Errorf("%s: %d bytes, larger than %d at %s", level, sizes[i], sizes[i-1], cc.levels[i-1])
				}
			}
			if first, last := sizes[0], sizes[len(sizes)-1]; last >= first {
				t.Errorf("%s: %d bytes, not smaller than %d at %s: the level makes no difference",
					cc.levels[len(cc.levels)-1], last, first, cc.levels[0])
			}
			t.Logf("16 KiB session at %v: %v bytes", cc.levels, sizes)

			for _, from := range cc.levels {
				enc := encode(configured(t, cc.new, from))
				for j, to := range cc.levels {
					c := configured(t, cc.new, to)
					if err := c.Configure(ctx, []byte(cc.invalid[0]), base.Node{}); err == nil {
						t.Fatalf("Configure(%s) accepted", cc.invalid[0])
					}
					if n := len(encode(c)); n != sizes[j] {
						t.Errorf("at %s after a refused block: %d bytes, want the level's %d", to, n, sizes[j])
					}
					got, err := c.Decode(ctx, enc)
					if err != nil || !bytes.Equal(got, p) {
						t.Errorf("written at %s, read at %s: %d bytes, %v", from, to, len(got), err)
					}
				}
			}
		})
	}
}

// Configure may run while other goroutines encode and decode.
func TestConfigureWhileInUse(t *testing.T) {
	ctx := context.Background()
	for _, cc := range codecCases {
		t.Run(cc.name, func(t *testing.T) {
			c := configured(t, cc.new, cc.valid[0])
			p := payload.Session(4<<10, 2)
			var wg sync.WaitGroup
			for w := range 4 {
				wg.Go(func() {
					for range 50 {
						enc, err := c.Encode(ctx, [][]byte{p})
						if err != nil {
							t.Errorf("worker %d: Encode: %v", w, err)
							return
						}
						if got, err := c.Decode(ctx, enc[0]); err != nil || !bytes.Equal(got, p) {
							t.Errorf("worker %d: Decode: %d bytes, %v", w, len(got), err)
							return
						}
					}
				})
			}
			for i := range 40 {
				if err := c.Configure(ctx, []byte(cc.valid[i%len(cc.valid)]), base.Node{}); err != nil {
					t.Error(err)
				}
			}
			wg.Wait()
		})
	}
}

// writeZeros writes n zero bytes to w in chunks, so that a bomb is built
// without holding its content.
func writeZeros(t *testing.T, w interface{ Write([]byte) (int, error) }, n int) {
	t.Helper()
	chunk := make([]byte, 1<<20)
	for n > 0 {
		k := min(n, len(chunk))
		if _, err := w.Write(chunk[:k]); err != nil {
			t.Fatal(err)
		}
		n -= k
	}
}

func gzipBomb(t *testing.T, members, each int) []byte {
	var b bytes.Buffer
	for range members {
		w, err := gzip.NewWriterLevel(&b, gzip.BestSpeed)
		if err != nil {
			t.Fatal(err)
		}
		writeZeros(t, w, each)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// zstdBomb is frames of zeros, each declaring its size or not.
func zstdBomb(t *testing.T, frames, each int, declared bool) []byte {
	var b bytes.Buffer
	w, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	for range frames {
		if declared {
			w.ResetContentSize(&b, int64(each))
		} else {
			w.Reset(&b)
		}
		writeZeros(t, w, each)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// A record that expands past MaxDecodedSize is an error wrapping
// codec.ErrCorrupt, found without holding its whole content.
func TestDecompressionBomb(t *testing.T) {
	const over = MaxDecodedSize + 1<<20
	s2Header := func(n uint64) []byte {
		return append(binary.AppendUvarint(nil, n), 0, 0, 0, 0, 0, 0, 0, 0)
	}
	tests := []struct {
		codec *Codec
		name  string
		bomb  func(t *testing.T) []byte
	}{
		{NewGzip(), "one member", func(t *testing.T) []byte { return gzipBomb(t, 1, over) }},
		{NewGzip(), "many members", func(t *testing.T) []byte { return gzipBomb(t, 5, 16<<20) }},
		{NewZstd(), "declared size", func(t *testing.T) []byte { return zstdBomb(t, 1, over, true) }},
		{NewZstd(), "undeclared size", func(t *testing.T) []byte { return zstdBomb(t, 1, over, false) }},
		{NewZstd(), "many frames", func(t *testing.T) []byte { return zstdBomb(t, 5, 16<<20, true) }},
		{NewS2(), "real block", func(t *testing.T) []byte { return s2.Encode(nil, make([]byte, over)) }},
		{NewS2(), "claimed 4 GiB", func(t *testing.T) []byte { return s2Header(1<<32 - 1) }},
		{NewS2(), "claimed 64 MiB + 1", func(t *testing.T) []byte { return s2Header(MaxDecodedSize + 1) }},
	}
	for _, tt := range tests {
		t.Run(tt.codec.alg.name+"/"+tt.name, func(t *testing.T) {
			bomb := tt.bomb(t)
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			out, err := tt.codec.Decode(context.Background(), bomb)
			runtime.ReadMemStats(&after)
			if err == nil || !errors.Is(err, codec.ErrCorrupt) || !errors.Is(err, errTooLarge) {
				t.Fatalf("Decode(a %d-byte bomb) = %d bytes, %v; want an error wrapping codec.ErrCorrupt and errTooLarge", len(bomb), len(out), err)
			}
			if out != nil {
				t.Errorf("Decode returned %d bytes with its error", len(out))
			}
			// The output buffer may reach MaxDecodedSize before the bomb is
			// found, and grows by doubling: the buffers it outgrew add as
			// much again. A small multiple of the bound is the most it may
			// cost in all.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4*MaxDecodedSize {
				t.Errorf("Decode of a %d-byte bomb allocated %d MiB", len(bomb), alloc>>20)
			}
			t.Logf("%d-byte bomb: %d MiB allocated: %v", len(bomb), (after.TotalAlloc-before.TotalAlloc)>>20, err)
		})
	}
}

// Exactly MaxDecodedSize is still a session; one byte more is refused by
// Encode, which would otherwise write what nothing can read.
func TestSizeLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("compresses 64 MiB per codec")
	}
	ctx := context.Background()
	limit := make([]byte, MaxDecodedSize)
	copy(limit, payload.Session(64<<10, 3))
	for _, cc := range codecCases {
		t.Run(cc.name, func(t *testing.T) {
			c := cc.new()
			enc, err := c.Encode(ctx, [][]byte{limit})
			if err != nil {
				t.Fatalf("Encode(MaxDecodedSize bytes): %v", err)
			}
			got, err := c.Decode(ctx, enc[0])
			if err != nil || !bytes.Equal(got, limit) {
				t.Fatalf("Decode(Encode(MaxDecodedSize bytes)) = %d bytes, %v", len(got), err)
			}
			_, err = c.Encode(ctx, [][]byte{[]byte("small"), make([]byte, MaxDecodedSize+1)})
			if err == nil || errors.Is(err, codec.ErrCorrupt) || !strings.Contains(err.Error(), "item 1") {
				t.Fatalf("Encode(MaxDecodedSize+1 bytes): %v; want an error naming item 1, not ErrCorrupt", err)
			}
		})
	}
}

// Every error Decode returns for a bad record names the codec and wraps
// codec.ErrCorrupt; a done context is the context's error, not the record's.
func TestDecodeErrors(t *testing.T) {
	ctx := context.Background()
	for _, cc := range codecCases {
		c := cc.new()
		for _, in := range [][]byte{nil, {}, {0}, []byte("not compressed"), bytes.Repeat([]byte{0xff}, 40)} {
			_, err := c.Decode(ctx, in)
			if err == nil {
				continue // unauthenticated: some garbage is a valid encoding
			}
			if !errors.Is(err, codec.ErrCorrupt) || !strings.HasPrefix(err.Error(), cc.name+": decode: ") {
				t.Errorf("%s: Decode(%q): %v", cc.name, in, err)
			}
		}
		done, cancel := context.WithCancel(ctx)
		cancel()
		enc, err := c.Encode(ctx, [][]byte{[]byte("x")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Decode(done, enc[0]); !errors.Is(err, context.Canceled) || errors.Is(err, codec.ErrCorrupt) {
			t.Errorf("%s: Decode with a cancelled context: %v", cc.name, err)
		}
	}
}

func ExampleNewZstd() {
	ctx := context.Background()
	c := NewZstd()
	if err := c.Configure(ctx, []byte(`{"level":"better"}`), base.Node{}); err != nil {
		panic(err)
	}
	session := payload.Session(16<<10, 1)
	enc, _ := c.Encode(ctx, [][]byte{session})
	dec, _ := c.Decode(ctx, enc[0])
	fmt.Println(len(enc[0]) < len(session)/3, bytes.Equal(dec, session))
	// Output: true true
}
