package testimpl

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/codec"
)

// Codec is a gzip codec.Plugin: a real transformation whose output differs
// from its input and whose Decode detects input it did not produce.
type Codec struct {
	*Base
	// writers recycles gzip writers: a new one allocates most of a MiB,
	// which would swamp the cost the benchmarks are there to measure.
	writers sync.Pool
}

var _ codec.Plugin = (*Codec)(nil)

// NewCodec returns a gzip codec logging to logger (nil: nowhere).
func NewCodec(logger hclog.Logger) *Codec {
	return &Codec{Base: newBase(base.KindCodec, logger), writers: sync.Pool{New: func() any {
		zw, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed) // BestSpeed is a valid level
		return zw
	}}}
}

// Encode implements codec.Codec.
func (c *Codec) Encode(ctx context.Context, items [][]byte) ([][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("test-codec: encode: %w", err)
	}
	zw := c.writers.Get().(*gzip.Writer)
	defer c.writers.Put(zw)
	out := make([][]byte, len(items))
	for i, item := range items {
		var buf bytes.Buffer
		zw.Reset(&buf)
		if _, err := zw.Write(item); err != nil {
			return nil, fmt.Errorf("test-codec: encode item %d: %w", i, err)
		}
		if err := zw.Close(); err != nil {
			return nil, fmt.Errorf("test-codec: encode item %d: %w", i, err)
		}
		out[i] = buf.Bytes()
	}
	return out, nil
}

// Decode implements codec.Codec. Anything that is not a whole gzip stream
// is corrupt.
func (c *Codec) Decode(ctx context.Context, data []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("test-codec: decode: %w", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("test-codec: decode: %w: %v", codec.ErrCorrupt, err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("test-codec: decode: %w: %v", codec.ErrCorrupt, err)
	}
	return out, nil
}
