package plugintest

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/wadi-go/wadi/sdk/codec"
)

// CodecOptions adapts the codec tests to what a codec can promise.
type CodecOptions struct {
	// Unauthenticated is set for codecs that cannot detect every change to
	// their output, such as plain compression. Decode of garbage, of an empty
	// input, or of a truncated, extended or altered encoding may then return
	// a result instead of an error. It must still return promptly and not
	// panic, and an error it returns must still wrap codec.ErrCorrupt.
	//
	// By default a codec is authenticated (a MAC, an AEAD): every such input
	// must be an error wrapping codec.ErrCorrupt.
	Unauthenticated bool
}

// TestCodec runs the codec conformance tests with the default CodecOptions.
//
// open is called once or more per subtest and must return a configured codec.
// Every codec it returns must be configured alike (the same keys): the kit
// checks that one decodes what another encoded, as a restarted node reads
// what it wrote before. Encodings need not be deterministic.
func TestCodec(t *testing.T, open func(t *testing.T) codec.Codec) {
	t.Helper()
	TestCodecWith(t, open, CodecOptions{})
}

// TestCodecWith is TestCodec with options for codecs that cannot promise
// everything the default run checks.
func TestCodecWith(t *testing.T, open func(t *testing.T) codec.Codec, opts CodecOptions) {
	t.Helper()
	k := codecKit{open: open, opts: opts}
	tests := []struct {
		name string
		run  func(*testing.T)
	}{
		{"RoundTrip", k.testRoundTrip},
		{"AcrossInstances", k.testAcrossInstances},
		{"Batch", k.testBatch},
		{"EmptyBatch", k.testEmptyBatch},
		{"InputsUnchanged", k.testInputsUnchanged},
		{"CallerOwnsSlices", k.testCallerOwnsSlices},
		{"Corrupt", k.testCorrupt},
		{"Cancelled", k.testCancelled},
		{"Concurrent", k.testConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.run)
	}
}

// TestCodecPair checks whether data encoded by one codec decodes with
// another, as when keys are rotated: with wantCompatible, every payload
// encoded by a codec from newA decodes with one from newB to the same bytes;
// without, every decode fails with an error wrapping codec.ErrCorrupt.
//
// Only the direction A to B is checked. A rotation that adds a key is
// typically compatible from the old codec to the new one and not back:
//
//	plugintest.TestCodecPair(t, withKeys("k1"), withKeys("k2", "k1"), true)
//	plugintest.TestCodecPair(t, withKeys("k2", "k1"), withKeys("k1"), false)
func TestCodecPair(t *testing.T, newA, newB func(t *testing.T) codec.Codec, wantCompatible bool) {
	t.Helper()
	ka, kb := codecKit{open: newA}, codecKit{open: newB}
	for _, p := range pairPayloads() {
		t.Run(p.name, func(t *testing.T) {
			a, b := ka.codec(t), kb.codec(t)
			enc := encodeOne(t, a, p.data)
			if wantCompatible {
				decodeEqual(t, b, "B.Decode(A.Encode(payload))", enc, p.data)
				return
			}
			out, err := b.Decode(t.Context(), enc)
			switch {
			case err == nil:
				t.Errorf("B.Decode(A.Encode(payload)) = %s, nil; want an error wrapping codec.ErrCorrupt", describe(out))
			case !errors.Is(err, codec.ErrCorrupt):
				t.Errorf("B.Decode(A.Encode(payload)): %v; want an error wrapping codec.ErrCorrupt", err)
			}
		})
	}
}

type codecKit struct {
	open func(t *testing.T) codec.Codec
	opts CodecOptions
}

func (k codecKit) codec(t *testing.T) codec.Codec {
	t.Helper()
	c := k.open(t)
	if c == nil {
		t.Fatal("open returned a nil codec")
	}
	return c
}

// payload is a named input for a codec.
type payload struct {
	name string
	data []byte
}

// codecPayloads are the shapes of data a codec must round-trip: nothing,
// one byte, session-like JSON of several sizes, incompressible data, and
// highly compressible data.
func codecPayloads() []payload {
	return []payload{
		{"nil", nil},
		{"empty", []byte{}},
		{"one-byte", []byte{0x2a}},
		{"json-1KiB", sessionJSON(1<<10, 1)},
		{"json-16KiB", sessionJSON(16<<10, 2)},
		{"json-256KiB", sessionJSON(256<<10, 3)},
		{"random-64KiB", randomBytes(64<<10, 4)},
		{"zeros-1MiB", make([]byte, 1<<20)},
	}
}

func pairPayloads() []payload {
	return []payload{
		{"empty", []byte{}},
		{"one-byte", []byte{0x2a}},
		{"json-1KiB", sessionJSON(1<<10, 5)},
		{"random-64KiB", randomBytes(64<<10, 6)},
	}
}

var sessionWords = strings.Fields(`cart checkout user locale theme en-GB fr-FR visited
	product basket token preferences dark light currency EUR USD page search query`)

// sessionJSON returns n bytes (n >= 256) of JSON shaped like a serialised
// session, different for each seed.
func sessionJSON(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 0x5e55))
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"id":"%016x%016x","attrs":{`, rng.Uint64(), rng.Uint64())
	for i := 0; b.Len() < n-200; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"attr_%d":{"v":%d,"items":["sku-%d","sku-%d"],"note":"%s %s %s"}`, i,
			rng.IntN(1e6), rng.IntN(1000), rng.IntN(1000),
			sessionWords[rng.IntN(len(sessionWords))], sessionWords[rng.IntN(len(sessionWords))],
			sessionWords[rng.IntN(len(sessionWords))])
	}
	b.WriteString(`},"pad":"`)
	for b.Len() < n-2 {
		b.WriteByte('x')
	}
	b.WriteString(`"}`)
	return b.Bytes()
}

// randomBytes returns n incompressible bytes, different for each seed.
func randomBytes(n int, seed uint64) []byte {
	rng := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 'w', 'a', 'd', 'i'})
	b := make([]byte, n)
	_, _ = rng.Read(b)
	return b
}

// encodeOne encodes a copy of p as a batch of one and returns its encoding.
func encodeOne(t *testing.T, c codec.Codec, p []byte) []byte {
	t.Helper()
	out, err := c.Encode(t.Context(), [][]byte{slices.Clone(p)})
	if err != nil {
		t.Fatalf("Encode(%s): %v", describe(p), err)
	}
	if len(out) != 1 {
		t.Fatalf("Encode of a batch of 1 returned %d items", len(out))
	}
	return out[0]
}

// decodeEqual decodes data and checks it gives want.
func decodeEqual(t *testing.T, c codec.Codec, call string, data, want []byte) {
	t.Helper()
	got, err := c.Decode(t.Context(), data)
	if err != nil {
		t.Errorf("%s: %v", call, err)
		return
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s = %s; want %s", call, describe(got), describe(want))
	}
}

// testRoundTrip checks that Decode(Encode(p)) == p for every payload shape.
func (k codecKit) testRoundTrip(t *testing.T) {
	c := k.codec(t)
	for _, p := range codecPayloads() {
		t.Run(p.name, func(t *testing.T) {
			want := slices.Clone(p.data)
			enc := encodeOne(t, c, p.data)
			decodeEqual(t, c, "Decode(Encode(payload))", enc, want)
		})
	}
}

// testAcrossInstances checks that data encoded by one codec decodes with
// another configured alike: what a node wrote to a store before a restart,
// or what a peer sent, must be readable.
func (k codecKit) testAcrossInstances(t *testing.T) {
	a, b := k.codec(t), k.codec(t)
	for _, p := range []payload{{"one-byte", []byte{1}}, {"json-16KiB", sessionJSON(16<<10, 7)}} {
		decodeEqual(t, b, "second.Decode(first.Encode("+p.name+"))", encodeOne(t, a, p.data), p.data)
	}
}

// batchItems are many items of mixed sizes, empty and nil ones and two
// equal ones among them.
func batchItems() [][]byte {
	sizes := []int{0, 1, 10, 300, 1000, 5000, 40000}
	items := make([][]byte, 70)
	for i := range items {
		n := sizes[i%len(sizes)]
		switch {
		case n == 0 && i%2 == 0:
			items[i] = nil
		case n == 0:
			items[i] = []byte{}
		case n < 300:
			items[i] = []byte(fmt.Sprintf("%0*d", n, i)[:n])
		default:
			items[i] = sessionJSON(max(n, 256), uint64(100+i))
		}
	}
	items[41] = slices.Clone(items[40])
	return items
}

// testBatch checks that Encode returns one output per item, in the order of
// the items, each decoding to its item.
func (k codecKit) testBatch(t *testing.T) {
	c := k.codec(t)
	items := batchItems()
	want := cloneItems(items)
	out, err := c.Encode(t.Context(), items)
	if err != nil {
		t.Fatalf("Encode(%d items): %v", len(items), err)
	}
	if len(out) != len(items) {
		t.Fatalf("Encode(%d items) returned %d outputs; want one per item", len(items), len(out))
	}
	for i := range out {
		decodeEqual(t, c, fmt.Sprintf("Decode(output %d)", i), out[i], want[i])
	}
}

func cloneItems(items [][]byte) [][]byte {
	c := make([][]byte, len(items))
	for i, it := range items {
		c[i] = slices.Clone(it)
	}
	return c
}

// testEmptyBatch checks that a nil or empty batch encodes to no outputs
// without an error.
func (k codecKit) testEmptyBatch(t *testing.T) {
	c := k.codec(t)
	for _, items := range [][][]byte{nil, {}} {
		out, err := c.Encode(t.Context(), items)
		if err != nil {
			t.Errorf("Encode(%#v): %v", items, err)
		} else if len(out) != 0 {
			t.Errorf("Encode(%#v) returned %d outputs; want none", items, len(out))
		}
	}
}

// withSpare returns a copy of p in a buffer with spare capacity after it,
// and the whole buffer, so that a test can check that nothing wrote past p
// (as append(p, …) does when p has room).
func withSpare(p []byte) (item, buf []byte) {
	buf = make([]byte, len(p)+64)
	copy(buf, p)
	for i := len(p); i < len(buf); i++ {
		buf[i] = 0xa5
	}
	return buf[:len(p):len(buf)], buf
}

// testInputsUnchanged checks that Encode and Decode do not write to their
// inputs, including the spare capacity of the input slices and the batch
// itself: codecs are called with the host's buffers.
func (k codecKit) testInputsUnchanged(t *testing.T) {
	c := k.codec(t)
	ps := []payload{{"empty", []byte{}}, {"one-byte", []byte{7}}, {"json-16KiB", sessionJSON(16<<10, 8)}, {"random-64KiB", randomBytes(64<<10, 9)}}
	items := make([][]byte, len(ps))
	bufs := make([][]byte, len(ps))
	for i, p := range ps {
		items[i], bufs[i] = withSpare(p.data)
	}
	batch := slices.Clone(items)
	wantBufs := cloneItems(bufs)

	out, err := c.Encode(t.Context(), batch)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	for i, p := range ps {
		if !bytes.Equal(bufs[i], wantBufs[i]) {
			t.Errorf("Encode changed input item %d (%s) or the spare capacity after it", i, p.name)
		}
		if len(batch[i]) != len(items[i]) || (len(items[i]) > 0 && &batch[i][0] != &items[i][0]) {
			t.Errorf("Encode replaced entry %d (%s) of the batch it was given", i, p.name)
		}
	}
	if len(out) != len(ps) {
		t.Fatalf("Encode(%d items) returned %d outputs", len(ps), len(out))
	}
	for i, p := range ps {
		data, buf := withSpare(out[i])
		wantBuf := slices.Clone(buf)
		got, err := c.Decode(t.Context(), data)
		if err != nil {
			t.Errorf("Decode(%s): %v", p.name, err)
			continue
		}
		if !bytes.Equal(got, p.data) {
			t.Errorf("Decode(%s) = %s; want %s", p.name, describe(got), describe(p.data))
		}
		if !bytes.Equal(buf, wantBuf) {
			t.Errorf("Decode(%s) changed its input or the spare capacity after it", p.name)
		}
	}
}

// testCallerOwnsSlices checks that what Encode and Decode return shares no
// memory with their inputs or with each other: the host reuses its buffers
// and changes what it was given.
func (k codecKit) testCallerOwnsSlices(t *testing.T) {
	c := k.codec(t)
	orig := sessionJSON(4<<10, 10)
	items := [][]byte{slices.Clone(orig), slices.Clone(orig)}
	out, err := c.Encode(t.Context(), items)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	if len(out) != 2 {
		t.Fatalf("Encode of 2 items returned %d outputs", len(out))
	}
	// The caller reuses its input buffers after Encode returns.
	for i := range items {
		fill(items[i], 'X')
	}
	encoded := slices.Clone(out[1])
	decodeEqual(t, c, "Decode(output 0) after the inputs were overwritten", out[0], orig)
	// The caller overwrites one output: the other is untouched.
	fill(out[0], 0)
	if !bytes.Equal(out[1], encoded) {
		t.Errorf("overwriting output 0 of Encode changed output 1: they share memory")
	}
	decodeEqual(t, c, "Decode(output 1) after output 0 was overwritten", out[1], orig)

	// The caller changes what Decode returned, then its input.
	got, err := c.Decode(t.Context(), out[1])
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	fill(got, 'Y')
	decodeEqual(t, c, "Decode(output 1) after the previous result was overwritten", out[1], orig)
	got, err = c.Decode(t.Context(), out[1])
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	fill(out[1], 0)
	if !bytes.Equal(got, orig) {
		t.Errorf("overwriting Decode's input changed its result: they share memory")
	}
}

func fill(b []byte, v byte) {
	for i := range b {
		b[i] = v
	}
}

// checkCorrupt decodes data that Encode did not produce: the result must be
// an error wrapping codec.ErrCorrupt, or, for an unauthenticated codec, any
// result; never a panic, a hang, or another error.
func (k codecKit) checkCorrupt(t *testing.T, c codec.Codec, what string, data []byte) {
	t.Helper()
	var out []byte
	var err error
	if !guard(t, "Decode("+what+")", promptly, func() { out, err = c.Decode(t.Context(), data) }) {
		return
	}
	switch {
	case err != nil && !errors.Is(err, codec.ErrCorrupt):
		t.Errorf("Decode(%s): %v; want an error wrapping codec.ErrCorrupt", what, err)
	case err == nil && !k.opts.Unauthenticated:
		t.Errorf("Decode(%s) = %s, nil; want an error wrapping codec.ErrCorrupt", what, describe(out))
	}
}

func gzipped(p []byte) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, _ = w.Write(p)
	_ = w.Close()
	return b.Bytes()
}

// testCorrupt feeds Decode what Encode did not produce: garbage, an empty
// input, and encodings that were truncated, extended, concatenated or had a
// bit flipped. An authenticated codec must reject every one with an error
// wrapping codec.ErrCorrupt: a codec never returns garbage instead.
func (k codecKit) testCorrupt(t *testing.T) {
	c := k.codec(t)
	t.Run("Garbage", func(t *testing.T) {
		for _, g := range []payload{
			{"text", []byte("this is not an encoded session")},
			{"json", []byte(`{"id":"abc","attrs":{}}`)},
			{"one-zero-byte", []byte{0}},
			{"zeros-64", make([]byte, 64)},
			{"ff-100", bytes.Repeat([]byte{0xff}, 100)},
			{"random-1KiB", randomBytes(1<<10, 11)},
			{"gzip-stream", gzipped([]byte("a gzip stream, not an encoding"))},
		} {
			k.checkCorrupt(t, c, g.name, g.data)
		}
	})
	t.Run("Empty", func(t *testing.T) {
		k.checkCorrupt(t, c, "nil", nil)
		k.checkCorrupt(t, c, "empty", []byte{})
	})
	encodings := []struct {
		name string
		enc  []byte
	}{
		{"empty-payload", encodeOne(t, c, nil)},
		{"json-1KiB", encodeOne(t, c, sessionJSON(1<<10, 12))},
	}
	for _, e := range encodings {
		if len(e.enc) == 0 {
			// Only an unauthenticated codec can get away with it; the Empty
			// test above fails an authenticated one.
			t.Logf("Encode(%s) returned an empty encoding: no truncation or bit flip to try", e.name)
			continue
		}
		t.Run("Truncated/"+e.name, func(t *testing.T) {
			n := len(e.enc)
			for _, cut := range dedupe([]int{1, 2, 4, n / 4, n / 2, n - 33, n - 32, n - 16, n - 4, n - 1}) {
				if cut > 0 && cut < n {
					k.checkCorrupt(t, c, fmt.Sprintf("first %d of %d bytes", cut, n), e.enc[:cut])
				}
			}
		})
		t.Run("BitFlip/"+e.name, func(t *testing.T) {
			n := len(e.enc)
			rng := rand.New(rand.NewPCG(uint64(n), 13))
			bits := []int{0, 7, 8, 15, (n / 3) * 8, (n/2)*8 + 3, (n-33)*8 + 1, (n-1)*8 + 0, (n-1)*8 + 7}
			for range 8 {
				bits = append(bits, rng.IntN(n*8))
			}
			for _, bit := range dedupe(bits) {
				if bit < 0 || bit >= n*8 {
					continue
				}
				flipped := slices.Clone(e.enc)
				flipped[bit/8] ^= 1 << (bit % 8)
				k.checkCorrupt(t, c, fmt.Sprintf("encoding with bit %d of byte %d flipped", bit%8, bit/8), flipped)
			}
		})
		t.Run("Extended/"+e.name, func(t *testing.T) {
			k.checkCorrupt(t, c, "encoding with a zero byte appended", append(slices.Clone(e.enc), 0))
			k.checkCorrupt(t, c, "encoding with 32 bytes appended", append(slices.Clone(e.enc), randomBytes(32, 14)...))
			k.checkCorrupt(t, c, "encoding with its first byte repeated in front", append([]byte{e.enc[0]}, e.enc...))
		})
	}
	t.Run("Concatenated", func(t *testing.T) {
		if len(encodings[0].enc) == 0 || len(encodings[1].enc) == 0 {
			t.Skip("an empty encoding: see above")
		}
		a, b := encodings[0].enc, encodings[1].enc
		k.checkCorrupt(t, c, "two encodings concatenated", append(slices.Clone(a), b...))
		k.checkCorrupt(t, c, "an encoding repeated", append(slices.Clone(b), b...))
	})
}

func dedupe(xs []int) []int {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	return slices.Compact(xs)
}

// testCancelled checks that Encode and Decode given a done context return
// promptly with an error wrapping the context's error, and that the codec
// still works afterwards.
func (k codecKit) testCancelled(t *testing.T) {
	for _, tt := range doneContexts(t) {
		t.Run(tt.name, func(t *testing.T) {
			c := k.codec(t)
			p := sessionJSON(4<<10, 15)
			enc := encodeOne(t, c, p)
			check := func(call string, err error) {
				t.Helper()
				if err == nil {
					t.Errorf("%s with a done context returned no error", call)
				} else if !errors.Is(err, tt.want) {
					t.Errorf("%s with a done context: %v; want an error wrapping %v", call, err, tt.want)
				}
			}
			var err error
			if guard(t, "Encode", promptly, func() { _, err = c.Encode(tt.ctx, [][]byte{slices.Clone(p)}) }) {
				check("Encode", err)
			}
			if guard(t, "Decode", promptly, func() { _, err = c.Decode(tt.ctx, enc) }) {
				check("Decode", err)
			}
			decodeEqual(t, c, "Decode(Encode(payload)) after calls with a done context", encodeOne(t, c, p), p)
		})
	}
}

// testConcurrent has goroutines encode and decode payloads of their own
// through one codec; every one must round-trip.
func (k codecKit) testConcurrent(t *testing.T) {
	c := k.codec(t)
	const workers, rounds = 8, 16
	ctx := t.Context()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				seed := uint64(w*rounds + r)
				p1 := sessionJSON(256+int(seed*397)%8000, seed)
				p2 := randomBytes(int(seed*131)%3000, seed)
				out, err := c.Encode(ctx, [][]byte{slices.Clone(p1), slices.Clone(p2)})
				if err != nil {
					t.Errorf("worker %d round %d: Encode: %v", w, r, err)
					return
				}
				if len(out) != 2 {
					t.Errorf("worker %d round %d: Encode of 2 items returned %d", w, r, len(out))
					return
				}
				for i, want := range [][]byte{p1, p2} {
					got, err := c.Decode(ctx, out[i])
					if err != nil {
						t.Errorf("worker %d round %d: Decode(item %d): %v", w, r, i, err)
					} else if !bytes.Equal(got, want) {
						t.Errorf("worker %d round %d: Decode(item %d) = %s; want %s", w, r, i, describe(got), describe(want))
					}
				}
			}
		})
	}
	wg.Wait()
}
