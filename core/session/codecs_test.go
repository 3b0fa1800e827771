package session

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wadi-go/wadi/sdk/codec"
	"github.com/wadi-go/wadi/sdk/store"
)

// gzipCodec and tagCodec are small real codecs: compression, and an
// integrity tag that detects tampering, like encryption would.
type gzipCodec struct{}

func (gzipCodec) Encode(_ context.Context, items [][]byte) ([][]byte, error) {
	out := make([][]byte, len(items))
	for i, it := range items {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write(it)
		w.Close()
		out[i] = b.Bytes()
	}
	return out, nil
}

func (gzipCodec) Decode(_ context.Context, data []byte) ([]byte, error) {
	r, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", codec.ErrCorrupt, err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", codec.ErrCorrupt, err)
	}
	return out, nil
}

type tagCodec struct {
	key  []byte
	down atomic.Bool // the codec (a plugin) is unavailable
}

func (c *tagCodec) tag(b []byte) []byte {
	h := hmac.New(sha256.New, c.key)
	h.Write(b)
	return h.Sum(nil)
}

func (c *tagCodec) Encode(_ context.Context, items [][]byte) ([][]byte, error) {
	if c.down.Load() {
		return nil, errInjected
	}
	out := make([][]byte, len(items))
	for i, it := range items {
		out[i] = append(bytes.Clone(it), c.tag(it)...)
	}
	return out, nil
}

func (c *tagCodec) Decode(_ context.Context, data []byte) ([]byte, error) {
	if c.down.Load() {
		return nil, errInjected
	}
	if len(data) < sha256.Size {
		return nil, fmt.Errorf("%w: too short", codec.ErrCorrupt)
	}
	body, tag := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
	if !hmac.Equal(tag, c.tag(body)) {
		return nil, fmt.Errorf("%w: bad tag", codec.ErrCorrupt)
	}
	return bytes.Clone(body), nil
}

// badSettings cannot say what it declares.
type badSettings struct{ gzipCodec }

func (badSettings) Settings(context.Context) (codec.Settings, error) {
	return codec.Settings{}, errors.New("no settings today")
}

func TestCodecChainRoundTrip(t *testing.T) {
	tag := &tagCodec{key: []byte("k1")}
	h := newHarness(t, func(o *Options) {
		o.Codecs = []NamedCodec{{"gzip", gzipCodec{}}, {"tag", tag}}
	})
	id := h.newSession(t, map[string]string{"k": string(bytes.Repeat([]byte("compressible "), 100))})
	if _, err := h.m.evictAll(context.Background(), h.m.sessions(), false); err != nil {
		t.Fatal(err)
	}
	rec, err := h.mem.Load(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	names, _, err := parseChain(rec.Data)
	if err != nil || len(names) != 2 || names[0] != "gzip" || names[1] != "tag" {
		t.Fatalf("stored header names %v, %v", names, err)
	}
	if bytes.Contains(rec.Data, []byte("compressible compressible")) {
		t.Fatal("the stored record was not compressed")
	}
	if got, ok := h.get(t, id, "k"); !ok || len(got) != 1300 {
		t.Fatalf("after a round trip through the codecs: %d bytes, %v", len(got), ok)
	}
}

func TestCodecChainChanges(t *testing.T) {
	tag := &tagCodec{key: []byte("k1")}
	tests := []struct {
		name    string
		before  []NamedCodec // when the record was written
		after   []NamedCodec // when it is read
		retired map[string]codec.Codec
		found   bool
	}{
		{"plain record, codecs added", nil, []NamedCodec{{"tag", tag}}, nil, true},
		{"codec added in front", []NamedCodec{{"tag", tag}}, []NamedCodec{{"gzip", gzipCodec{}}, {"tag", tag}}, nil, true},
		{"codec removed, retired", []NamedCodec{{"gzip", gzipCodec{}}}, nil, map[string]codec.Codec{"gzip": gzipCodec{}}, true},
		{"codec removed, not retired", []NamedCodec{{"gzip", gzipCodec{}}}, nil, map[string]codec.Codec{"zstd": gzipCodec{}}, false},
		{"configured wins over retired", []NamedCodec{{"tag", tag}}, []NamedCodec{{"tag", tag}}, map[string]codec.Codec{"tag": &tagCodec{key: []byte("k2")}}, true},
		{"wrong key", []NamedCodec{{"tag", tag}}, []NamedCodec{{"tag", &tagCodec{key: []byte("k2")}}}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := newHarness(t, func(o *Options) { o.Codecs = tt.before })
			id := mem.newSession(t, map[string]string{"k": "v"})
			if err := mem.m.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			h := newHarness(t, func(o *Options) { o.Codecs = tt.after; o.Retired = tt.retired; o.Store = mem.mem })
			got, ok := h.get(t, id, "k")
			if ok != tt.found || (ok && got != "v") {
				t.Fatalf("found %v %q, want found %v", ok, got, tt.found)
			}
		})
	}
}

func TestCodecUnavailableIsNotANewSession(t *testing.T) {
	tag := &tagCodec{key: []byte("k1")}
	h := newHarness(t, func(o *Options) { o.Codecs = []NamedCodec{{"tag", tag}} })
	id := h.newSession(t, map[string]string{"k": "v"})
	tag.down.Store(true)
	if n, err := h.m.evictAll(context.Background(), h.m.sessions(), false); n != 0 || !errors.Is(err, errInjected) {
		t.Fatalf("evict with the codec down: %d, %v", n, err)
	}
	if h.m.Len() != 1 {
		t.Fatal("a session that could not be encoded left memory")
	}
	tag.down.Store(false)
	if _, err := h.m.evictAll(context.Background(), h.m.sessions(), false); err != nil {
		t.Fatal(err)
	}
	tag.down.Store(true)
	if s, err := h.m.lookup(context.Background(), id); s != nil || !errors.Is(err, errInjected) {
		t.Fatalf("lookup with the codec down: %v, %v", s, err)
	}
	tag.down.Store(false)
	if got, ok := h.get(t, id, "k"); !ok || got != "v" {
		t.Fatal("session lost")
	}
}

func TestTamperedRecordIsSkipped(t *testing.T) {
	tag := &tagCodec{key: []byte("k1")}
	h := newHarness(t, func(o *Options) { o.Codecs = []NamedCodec{{"tag", tag}} })
	id := h.newSession(t, map[string]string{"k": "v"})
	h.m.evictAll(context.Background(), h.m.sessions(), false)
	rec, _ := h.mem.Load(context.Background(), id)
	rec.Data[len(rec.Data)/2] ^= 1
	h.mem.Save(context.Background(), []store.Record{{ID: id, Expires: time.Now().Add(time.Hour), Data: rec.Data}})
	if _, ok := h.get(t, id, "k"); ok {
		t.Fatal("a tampered record was adopted")
	}
}

// FuzzParseChain checks that parseChain never panics, that what it refuses
// is an error wrapping ErrCorruptRecord, and that what it accepts is exactly
// a header and the rest: writing the names back in the header format and
// appending the rest gives the input again, so no byte of a record is
// skipped or read twice.
func FuzzParseChain(f *testing.F) {
	m := &Manager{opts: Options{Codecs: []NamedCodec{{"gzip", gzipCodec{}}, {"tag", &tagCodec{}}}}}
	f.Add(append(m.chainHeader(), "payload"...))
	f.Add(m.chainHeader())
	f.Add([]byte("WCH\x01\x00"))
	f.Add([]byte("WCH\x01\x01\x04zstd"))
	f.Add([]byte("WCH\x02\x01\x04zstd"))
	f.Add([]byte("WCH"))
	f.Add([]byte("WC"))
	f.Add([]byte("WSR\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		names, rest, err := parseChain(data)
		if err != nil {
			if !errors.Is(err, ErrCorruptRecord) {
				t.Fatalf("error %v does not wrap ErrCorruptRecord", err)
			}
			return
		}
		if len(names) > maxChainLen || len(rest) > len(data) {
			t.Fatalf("names %d, rest %d of %d", len(names), len(rest), len(data))
		}
		for _, n := range names {
			if n == "" || len(n) > maxCodecName {
				t.Fatalf("name %q accepted", n)
			}
		}
		if again := appendChain(nil, names, rest); !bytes.Equal(again, data) {
			t.Fatalf("parseChain(%q) = %q, %q; written back: %q", data, names, rest, again)
		}
	})
}

// appendChain writes a record as encodeStored does: the chain header for
// names, if any, then rest.
func appendChain(b []byte, names []string, rest []byte) []byte {
	if len(names) > 0 {
		b = append(append(b, chainMagic...), chainFormat1)
		b = binary.AppendUvarint(b, uint64(len(names)))
		for _, n := range names {
			b = appendBytes(b, n)
		}
	}
	return append(b, rest...)
}
