package compress

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/wadi-go/wadi/sdk/codec"
	"github.com/wadi-go/wadi/sdk/schema"
)

// zstdLevels are the levels the zstd codec accepts, in the library's
// terms.
var zstdLevels = map[string]zstd.EncoderLevel{
	"fastest": zstd.SpeedFastest,
	"default": zstd.SpeedDefault,
	"better":  zstd.SpeedBetterCompression,
	"best":    zstd.SpeedBestCompression,
}

var zstdAlgorithm = &algorithm{
	name: "zstd",
	schema: schema.Schema{Attributes: []schema.Attribute{{
		Name:    "level",
		Type:    schema.String,
		Default: `"default"`,
		Doc:     `compression level: "fastest", "default", "better" or "best"`,
	}}},
	configure: configureZstd,
}

// NewZstd returns the zstd codec at its default level.
func NewZstd() *Codec { return newCodec(zstdAlgorithm) }

// zstdWindow is the largest window Encode uses, and so the largest a
// record of this codec asks for; Decode refuses larger ones, which bounds
// the memory a record can make it reserve besides its output. (It is the
// library's default, made explicit because Decode depends on it.)
const zstdWindow = 8 << 20

// maxZstdRatio bounds how far zstd can expand its input: a 4-byte RLE block
// makes at most 128 KiB. A size a record declares beyond that is a lie, and
// is not allocated.
const maxZstdRatio = (128 << 10) / 4

func configureZstd(config []byte) (engine, error) {
	level, err := levelFromConfig(config, "default", []string{"fastest", "default", "better", "best"})
	if err != nil {
		return nil, err
	}
	// With no stream given, the encoder starts no goroutines and EncodeAll
	// is safe for concurrent use: nothing needs closing.
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstdLevels[level]), zstd.WithWindowSize(zstdWindow))
	if err != nil {
		return nil, fmt.Errorf("zstd encoder: %w", err)
	}
	return &zstdEngine{enc: enc}, nil
}

// zstdEngine decodes as a stream, through readBounded, rather than with
// DecodeAll: DecodeAll bounds a frame's output, but may allocate several
// times the bound on the way to finding a frame too large, and cannot be
// interrupted. A stream decoder is used by one call at a time, so they are
// pooled.
type zstdEngine struct {
	enc      *zstd.Encoder
	decoders sync.Pool // *zstd.Decoder
}

func (e *zstdEngine) encode(src []byte) ([]byte, error) {
	return e.enc.EncodeAll(src, nil), nil
}

func (e *zstdEngine) decode(ctx context.Context, src []byte) ([]byte, error) {
	if len(src) == 0 {
		// Encode always writes a frame, even for an empty item.
		return nil, fmt.Errorf("%w: empty record", codec.ErrCorrupt)
	}
	var h zstd.Header
	if err := h.Decode(src); err != nil {
		return nil, corrupt(fmt.Errorf("zstd frame header: %w", err))
	}
	hint := 0
	if h.HasFCS {
		if h.FrameContentSize > MaxDecodedSize {
			return nil, fmt.Errorf("%w: its frame header says %d", errTooLarge, h.FrameContentSize)
		}
		hint = int(min(h.FrameContentSize, uint64(len(src))*maxZstdRatio))
	}
	d, _ := e.decoders.Get().(*zstd.Decoder)
	if d == nil {
		var err error
		d, err = zstd.NewReader(nil,
			// One goroutine, the caller's: no background decoding.
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxWindow(zstdWindow),
			// Never the in-memory shortcut, which is DecodeAll.
			zstd.WithDecodeBuffersBelow(0))
		if err != nil {
			return nil, fmt.Errorf("zstd decoder: %w", err)
		}
	}
	var out []byte
	err := d.Reset(bytes.NewReader(src))
	if err == nil {
		out, err = readBounded(ctx, d, hint)
	} else {
		err = corrupt(err)
	}
	// Reset to nothing, so that the pooled decoder does not keep the input.
	_ = d.Reset(nil)
	e.decoders.Put(d)
	switch {
	case errors.Is(err, zstd.ErrWindowSizeExceeded):
		return nil, fmt.Errorf("%w: window larger than %d: %w", codec.ErrCorrupt, zstdWindow, err)
	case err != nil:
		return nil, err
	}
	return out, nil
}

// levelFromConfig reads a string level from a configuration block.
func levelFromConfig(config []byte, def string, levels []string) (string, error) {
	var cfg struct {
		Level *string `json:"level"`
	}
	if err := schema.Decode(config, &cfg); err != nil {
		return "", err
	}
	if cfg.Level == nil {
		return def, nil
	}
	for _, l := range levels {
		if *cfg.Level == l {
			return l, nil
		}
	}
	return "", fmt.Errorf("config: level %q: want one of %q", *cfg.Level, levels)
}
