// Package codec defines the codec strategy: a transformation applied to
// serialised sessions on their way to a store or a peer — compression,
// encryption. The host chains codecs in the order the configuration lists
// them and writes a header naming them into every record, so a codec sees
// only its own input and output.
package codec

import (
	"context"
	"errors"

	"github.com/wadi-go/wadi/sdk/base"
)

// ErrCorrupt is wrapped by Decode's error when the input was not produced by
// this codec with this configuration, or was changed since: a wrong key, a
// tampered or truncated record. A codec never returns garbage instead.
var ErrCorrupt = errors.New("codec: corrupt input")

// Codec is what the host calls of a codec strategy. Methods are safe for
// concurrent use and never modify their inputs.
type Codec interface {
	// Encode transforms each item; the result has one entry per item. Items
	// come in batches so that a codec out of process pays one call for all
	// the sessions a node evicts or hands over at once.
	Encode(ctx context.Context, items [][]byte) ([][]byte, error)
	// Decode reverses Encode for one item. Input that Encode did not produce
	// yields an error wrapping ErrCorrupt.
	Decode(ctx context.Context, data []byte) ([]byte, error)
}

// Plugin is a codec strategy as a plugin: the Codec and the base
// every plugin implements. Builtins implement it too, so that any of them can
// also run out of process.
type Plugin interface {
	base.Plugin
	Codec
}
