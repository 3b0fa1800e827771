// Package codec defines the codec strategy: a transformation applied to
// serialised sessions on their way to a store or a peer — compression,
// encryption. The host chains codecs in the order the configuration lists
// them and writes a header naming them into every record, so a codec sees
// only its own input and output.
package codec

import (
	"context"
	"errors"
	"fmt"

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

// Settings are what a codec declares about itself. The zero value declares
// nothing, which is what a codec without a Settings method has.
type Settings struct {
	// Authenticates declares that Decode refuses, with ErrCorrupt, every
	// input that Encode did not produce under this configuration: an AEAD
	// or a MAC, not a checksum. The host then refuses a record whose header
	// does not name this codec, so that whoever can write the store cannot
	// plant a record by leaving the codec out.
	Authenticates bool
}

// SettingsReporter is implemented by a codec that declares Settings. It is
// optional, so that codecs written before it need no change; the host asks
// once, after Configure, through SettingsOf.
type SettingsReporter interface {
	Settings(ctx context.Context) (Settings, error)
}

// SettingsOf returns c's Settings, or the zero Settings if c declares none.
func SettingsOf(ctx context.Context, c Codec) (Settings, error) {
	r, ok := c.(SettingsReporter)
	if !ok {
		return Settings{}, nil
	}
	st, err := r.Settings(ctx)
	if err != nil {
		return Settings{}, fmt.Errorf("codec settings: %w", err)
	}
	return st, nil
}

// Plugin is a codec strategy as a plugin: the Codec and the base
// every plugin implements. Builtins implement it too, so that any of them can
// also run out of process.
type Plugin interface {
	base.Plugin
	Codec
}
