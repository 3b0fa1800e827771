// Package compress provides the compressing codecs, on
// github.com/klauspost/compress:
//
//   - codec "gzip": gzip (RFC 1952), level 1 (fastest) to 9 (smallest),
//     default 6. Each record carries a CRC-32 of its content.
//   - codec "zstd": Zstandard, level "fastest", "default", "better" or
//     "best", default "default". Each record carries a checksum of its
//     content.
//   - codec "s2": S2 blocks, level "default", "better" or "best", default
//     "default". The fastest of the three and the least compact; a block
//     has no checksum. "best" costs a fixed setup per record, which makes it
//     very slow on small sessions (about 4 MB/s at 1 KiB).
//
// Compression is not authentication: a changed record may decode to other
// bytes. A checksum catches accidental damage, not tampering; chain an
// authenticating codec (aesgcm) after a compressor for that.
//
// Decode refuses to produce more than MaxDecodedSize (64 MiB), so a record
// made to expand without bound (a decompression bomb) is an error wrapping
// codec.ErrCorrupt rather than an exhausted node; Encode refuses larger items
// for the same reason, since nothing could read them back. Every error
// Decode returns wraps codec.ErrCorrupt, except one wrapping the context's
// error when its context is done: a cancelled read says nothing about the
// record.
package compress

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/codec"
	"github.com/wadi-go/wadi/sdk/schema"
)

var _ codec.Plugin = (*Codec)(nil)

// version is the plugin version Info reports.
const version = "0.1.0"

// MaxDecodedSize is the most Decode produces from one record, and the
// largest item Encode takes: 64 MiB, far above any sensible session and far
// below what would hurt a node.
const MaxDecodedSize = 64 << 20

// engine is one algorithm at one configured level. Its methods are safe for
// concurrent use.
type engine interface {
	// encode compresses src, at most MaxDecodedSize bytes, into a new slice.
	encode(src []byte) ([]byte, error)
	// decode decompresses src into a new slice of at most MaxDecodedSize
	// bytes. Its errors wrap codec.ErrCorrupt, or the context's error.
	decode(ctx context.Context, src []byte) ([]byte, error)
}

// algorithm is what tells the three codecs apart.
type algorithm struct {
	name   string
	schema schema.Schema
	// configure builds an engine from a configuration block.
	configure func(config []byte) (engine, error)
}

// Codec is a compressing codec as a plugin. It is usable at its default
// level from the start; Configure changes the level.
type Codec struct {
	alg *algorithm
	// eng is swapped whole by Configure, so a call uses one level from start
	// to end and a refused block changes nothing.
	eng atomic.Pointer[engineRef]
}

type engineRef struct{ engine }

func newCodec(alg *algorithm) *Codec {
	eng, err := alg.configure(nil)
	if err != nil {
		// The defaults are constants of this package: an error is a bug here.
		panic(fmt.Sprintf("compress: %s: default configuration: %v", alg.name, err))
	}
	c := &Codec{alg: alg}
	c.eng.Store(&engineRef{eng})
	return c
}

// Info implements base.Plugin.
func (c *Codec) Info(ctx context.Context) (base.Info, error) {
	if err := ctx.Err(); err != nil {
		return base.Info{}, fmt.Errorf("%s: info: %w", c.alg.name, err)
	}
	return base.Info{Name: c.alg.name, Kind: base.KindCodec, Version: version, APIVersions: []int{base.APIVersion}}, nil
}

// Schema implements base.Plugin.
func (c *Codec) Schema(ctx context.Context) (schema.Schema, error) {
	if err := ctx.Err(); err != nil {
		return schema.Schema{}, fmt.Errorf("%s: schema: %w", c.alg.name, err)
	}
	return c.alg.schema, nil
}

// Configure implements base.Plugin. Records written at any level decode at
// any other: the level only changes how hard Encode works.
func (c *Codec) Configure(ctx context.Context, config []byte, _ base.Node) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: configure: %w", c.alg.name, err)
	}
	eng, err := c.alg.configure(config)
	if err != nil {
		return fmt.Errorf("%s: %w", c.alg.name, err)
	}
	c.eng.Store(&engineRef{eng})
	return nil
}

// Encode implements codec.Codec.
func (c *Codec) Encode(ctx context.Context, items [][]byte) ([][]byte, error) {
	eng := c.eng.Load().engine
	out := make([][]byte, len(items))
	for i, it := range items {
		// Checked per item: a batch can be a whole node's sessions.
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("%s: encode: %w", c.alg.name, err)
		}
		if len(it) > MaxDecodedSize {
			return nil, fmt.Errorf("%s: encode item %d: %d bytes, more than the %d Decode accepts", c.alg.name, i, len(it), MaxDecodedSize)
		}
		b, err := eng.encode(it)
		if err != nil {
			return nil, fmt.Errorf("%s: encode item %d: %w", c.alg.name, i, err)
		}
		out[i] = b
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: encode: %w", c.alg.name, err)
	}
	return out, nil
}

// Decode implements codec.Codec.
func (c *Codec) Decode(ctx context.Context, data []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: decode: %w", c.alg.name, err)
	}
	out, err := c.eng.Load().decode(ctx, data)
	if err != nil {
		return nil, fmt.Errorf("%s: decode: %w", c.alg.name, err)
	}
	if len(out) > MaxDecodedSize {
		// The engines bound their output; this keeps the promise if one
		// day one does not.
		return nil, fmt.Errorf("%s: decode: %w", c.alg.name, errTooLarge)
	}
	if out == nil {
		out = []byte{}
	}
	return out, nil
}

// corrupt wraps err, from a decompressor, as codec.ErrCorrupt.
func corrupt(err error) error {
	return fmt.Errorf("%w: %w", codec.ErrCorrupt, err)
}

// errTooLarge is wrapped by the error for a record that decodes to more
// than MaxDecodedSize: a decompression bomb, or damage that made one.
var errTooLarge = fmt.Errorf("%w: decodes to more than %d bytes", codec.ErrCorrupt, MaxDecodedSize)
