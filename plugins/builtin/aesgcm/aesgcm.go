// Package aesgcm provides codec "aesgcm": AES-256-GCM authenticated
// encryption of serialised sessions, with a key ring so that keys can be
// rotated without losing what was written under the old ones.
//
// The configuration names every key that may decrypt and the one that
// encrypts:
//
//	codec "aesgcm" {
//	  keys    = { k2 = env("WADI_KEY_2"), k1 = env("WADI_KEY_1") }
//	  primary = "k2"
//	}
//
// A key is 32 random bytes, written as 64 hexadecimal characters or as 44
// characters of standard base64 (with its padding); `openssl rand -hex 32`
// makes one. Keys kept out of the configuration go in a key_file of id=key
// lines. A key id is 1 to 64 letters, digits, '.', '_' or '-'.
//
// To rotate: add the new key, make it primary, and keep the old one until
// no record encrypted under it can still be read (the store's session
// expiry); then remove it. Every node must know a key before any node makes
// it primary. Records under a key that is no longer in the ring cannot be
// decrypted: they are reported corrupt, naming the key.
//
// Nonces are random, so one key must not encrypt more than 2^32 records;
// rotate well before that.
//
// Keys are never logged, and no error message contains key material.
package aesgcm

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"sync/atomic"

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

// A record is
//
//	version    1 byte, formatVersion
//	id length  1 byte, 1 to maxKeyID
//	key id     the id of the key that encrypted it
//	nonce      12 random bytes
//	sealed     the ciphertext and its 16-byte GCM tag
//
// and the version, id length and key id are the AEAD's additional data, so
// a record cannot be made to claim another key or format.
const (
	formatVersion = 1
	maxKeyID      = 64
	nonceSize     = 12
	tagSize       = 16
)

// errNotConfigured is returned by Encode and Decode before Configure. It
// does not wrap codec.ErrCorrupt: the record is not at fault.
var errNotConfigured = errors.New("aesgcm: not configured: the host calls Configure before using the codec")

// Codec is the AES-256-GCM codec as a plugin. It has no keys until
// Configure gives it some.
type Codec struct {
	// ring is swapped whole by Configure, so a call sees one key ring from
	// start to end and a refused block changes nothing.
	ring atomic.Pointer[keyRing]
}

// keyRing is a configured set of keys. It is never changed once built.
type keyRing struct {
	primary     string
	primaryAEAD cipher.AEAD
	// header is what every record the primary key encrypts starts with, and
	// its additional data.
	header []byte
	aeads  map[string]cipher.AEAD
}

// New returns an unconfigured codec.
func New() *Codec { return &Codec{} }

// Info implements base.Plugin.
func (c *Codec) Info(ctx context.Context) (base.Info, error) {
	if err := ctx.Err(); err != nil {
		return base.Info{}, fmt.Errorf("aesgcm: info: %w", err)
	}
	return base.Info{Name: "aesgcm", Kind: base.KindCodec, Version: version, APIVersions: []int{base.APIVersion}}, nil
}

// Schema implements base.Plugin.
func (c *Codec) Schema(ctx context.Context) (schema.Schema, error) {
	if err := ctx.Err(); err != nil {
		return schema.Schema{}, fmt.Errorf("aesgcm: schema: %w", err)
	}
	return configSchema(), nil
}

// Settings implements codec.SettingsReporter: GCM authenticates every
// record, so the host refuses one that was not sealed by this codec.
func (c *Codec) Settings(ctx context.Context) (codec.Settings, error) {
	if err := ctx.Err(); err != nil {
		return codec.Settings{}, fmt.Errorf("aesgcm: settings: %w", err)
	}
	return codec.Settings{Authenticates: true}, nil
}

// Configure implements base.Plugin. A relative key_file is taken relative
// to the node's data directory.
func (c *Codec) Configure(ctx context.Context, config []byte, node base.Node) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("aesgcm: configure: %w", err)
	}
	ring, err := parseConfig(ctx, config, node.DataDir)
	if err != nil {
		return fmt.Errorf("aesgcm: %w", err)
	}
	c.ring.Store(ring)
	return nil
}

// Encode implements codec.Codec: each item is encrypted under the primary
// key with a fresh random nonce.
func (c *Codec) Encode(ctx context.Context, items [][]byte) ([][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("aesgcm: encode: %w", err)
	}
	ring := c.ring.Load()
	if ring == nil {
		return nil, errNotConfigured
	}
	out := make([][]byte, len(items))
	for i, it := range items {
		// Checked per item: a batch can be a whole node's sessions.
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("aesgcm: encode: %w", err)
		}
		b := make([]byte, len(ring.header), len(ring.header)+nonceSize+len(it)+tagSize)
		copy(b, ring.header)
		// The additional data is the ring's own header, not b's copy of
		// it: Seal's destination must not overlap it.
		out[i] = ring.primaryAEAD.Seal(b, nil, it, ring.header)
	}
	return out, nil
}

// Decode implements codec.Codec. Every error for a bad record wraps
// codec.ErrCorrupt and says what is wrong with it.
func (c *Codec) Decode(ctx context.Context, data []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("aesgcm: decode: %w", err)
	}
	ring := c.ring.Load()
	if ring == nil {
		return nil, errNotConfigured
	}
	if len(data) == 0 {
		return nil, corrupt("empty record")
	}
	if data[0] != formatVersion {
		return nil, corrupt("unknown format version %d (this codec writes %d)", data[0], formatVersion)
	}
	if len(data) < 2 {
		return nil, corrupt("truncated: %d byte, shorter than its header", len(data))
	}
	n := int(data[1])
	if n == 0 || n > maxKeyID {
		return nil, corrupt("key id length %d out of range 1-%d", n, maxKeyID)
	}
	if len(data) < 2+n {
		return nil, corrupt("truncated: %d bytes, shorter than its header of %d", len(data), 2+n)
	}
	header, sealed := data[:2+n], data[2+n:]
	id := string(header[2:])
	aead, ok := ring.aeads[id]
	if !ok {
		return nil, corrupt("encrypted with key %q, which is not in the key ring", id)
	}
	if len(sealed) < nonceSize+tagSize {
		return nil, corrupt("truncated: %d bytes after the header, fewer than the %d of a nonce and a tag", len(sealed), nonceSize+tagSize)
	}
	out, err := aead.Open(nil, nil, sealed, header)
	if err != nil {
		// GCM cannot tell these apart, and says nothing more.
		return nil, corrupt("authentication with key %q failed: the record was altered or truncated, or encrypted with another key of that id", id)
	}
	if out == nil {
		out = []byte{}
	}
	return out, nil
}

// corrupt is an error wrapping codec.ErrCorrupt.
func corrupt(format string, args ...any) error {
	return fmt.Errorf("aesgcm: decode: %w: %s", codec.ErrCorrupt, fmt.Sprintf(format, args...))
}
