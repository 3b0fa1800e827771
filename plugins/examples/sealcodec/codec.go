package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync/atomic"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/codec"
	"github.com/wadi-go/wadi/sdk/schema"
)

var (
	_ codec.Plugin           = (*Codec)(nil)
	_ codec.SettingsReporter = (*Codec)(nil)
)

// version is the plugin version Info reports.
const version = "0.1.0"

// formatVersion is the first byte of every sealed record. A later format
// gets another, so a record is never read with the wrong layout.
//
// A sealed record is
//
//	version    1 byte
//	id length  1 byte, n >= 1
//	key id     n bytes
//	nonce      24 bytes, random
//	sealed     ciphertext and its 16-byte Poly1305 tag
//
// and the first 2+n bytes are the AEAD's additional data.
const formatVersion = 1

// minSealedLen is the length of the shortest record: a one-byte key id and
// an empty payload.
const minSealedLen = 2 + 1 + chacha20poly1305.NonceSizeX + chacha20poly1305.Overhead

// errNotConfigured is returned by Encode and Decode before Configure. It does
// not wrap codec.ErrCorrupt: the input is not at fault.
var errNotConfigured = errors.New("sealcodec: not configured: the host calls Configure before using the codec")

// Codec is the sealing codec as a plugin. It has no keys until Configure
// gives it some.
type Codec struct {
	// ring is swapped whole by Configure, so a call sees one configuration
	// from start to end.
	ring atomic.Pointer[keyRing]
}

// New returns an unconfigured codec.
func New() *Codec { return &Codec{} }

// Info implements base.Plugin.
func (c *Codec) Info(ctx context.Context) (base.Info, error) {
	if err := ctx.Err(); err != nil {
		return base.Info{}, fmt.Errorf("sealcodec: info: %w", err)
	}
	return base.Info{Name: "sealcodec", Kind: base.KindCodec, Version: version, APIVersions: []int{base.APIVersion}}, nil
}

// Schema implements base.Plugin.
func (c *Codec) Schema(ctx context.Context) (schema.Schema, error) {
	if err := ctx.Err(); err != nil {
		return schema.Schema{}, fmt.Errorf("sealcodec: schema: %w", err)
	}
	return configSchema(), nil
}

// Settings implements codec.SettingsReporter: Poly1305 authenticates every
// record, so the host refuses one that was not sealed by this codec.
func (c *Codec) Settings(ctx context.Context) (codec.Settings, error) {
	if err := ctx.Err(); err != nil {
		return codec.Settings{}, fmt.Errorf("sealcodec: settings: %w", err)
	}
	return codec.Settings{Authenticates: true}, nil
}

// Configure implements base.Plugin. A block that is refused leaves the key
// ring as it was.
func (c *Codec) Configure(ctx context.Context, raw []byte, _ base.Node) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sealcodec: configure: %w", err)
	}
	ring, err := parseConfig(raw)
	if err != nil {
		return fmt.Errorf("sealcodec: %w", err)
	}
	c.ring.Store(ring)
	return nil
}

// Encode implements codec.Codec: each item is sealed under the primary key
// with a nonce of its own, into a buffer of its own.
func (c *Codec) Encode(ctx context.Context, items [][]byte) ([][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sealcodec: encode: %w", err)
	}
	ring := c.ring.Load()
	if ring == nil {
		return nil, errNotConfigured
	}
	k := ring.primary
	out := make([][]byte, len(items))
	for i, item := range items {
		// Sealing a large batch takes a while: stop when the host gives up.
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("sealcodec: encode: %w", err)
		}
		var nonce [chacha20poly1305.NonceSizeX]byte
		// Random nonces are safe with XChaCha20's 192 bits: a collision is
		// negligible for any number of records a farm could seal.
		if _, err := rand.Read(nonce[:]); err != nil {
			return nil, fmt.Errorf("sealcodec: encode: reading a nonce: %w", err)
		}
		buf := make([]byte, 0, len(k.header)+len(nonce)+len(item)+chacha20poly1305.Overhead)
		buf = append(buf, k.header...)
		buf = append(buf, nonce[:]...)
		// The header is passed from the key, not from buf: Seal's dst and
		// additional data must not overlap.
		out[i] = k.aead.Seal(buf, nonce[:], item, k.header)
	}
	return out, nil
}

// Decode implements codec.Codec. Anything but an unaltered record sealed
// under a key of the ring is an error wrapping codec.ErrCorrupt.
func (c *Codec) Decode(ctx context.Context, data []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sealcodec: decode: %w", err)
	}
	ring := c.ring.Load()
	if ring == nil {
		return nil, errNotConfigured
	}
	if len(data) < minSealedLen {
		return nil, corrupt("%d bytes, shorter than any sealed record (%d)", len(data), minSealedLen)
	}
	if data[0] != formatVersion {
		return nil, corrupt("format version %d; this codec reads %d", data[0], formatVersion)
	}
	n := int(data[1])
	headerLen := 2 + n
	if n == 0 || len(data) < headerLen+chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead {
		return nil, corrupt("key id of %d bytes in a record of %d", n, len(data))
	}
	id := string(data[2:headerLen])
	k, ok := ring.byID[id]
	if !ok {
		return nil, corrupt("sealed under key id %q, which is not in keys", id)
	}
	nonce := data[headerLen : headerLen+chacha20poly1305.NonceSizeX]
	sealed := data[headerLen+chacha20poly1305.NonceSizeX:]
	// Open into a new buffer: the result shares no memory with data.
	plain, err := k.aead.Open(nil, nonce, sealed, data[:headerLen])
	if err != nil {
		return nil, corrupt("authentication under key id %q failed: wrong key, or the record was altered", id)
	}
	return plain, nil
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("sealcodec: decode: %w: "+format, append([]any{codec.ErrCorrupt}, args...)...)
}
