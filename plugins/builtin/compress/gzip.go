package compress

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/klauspost/compress/gzip"

	"github.com/wadi-go/wadi/sdk/schema"
)

const defaultGzipLevel = 6

// maxDeflateRatio bounds how far deflate can expand its input (a little
// over 1032:1), so that a size hint read from a record cannot make Decode
// allocate more than its input could produce.
const maxDeflateRatio = 1032

var gzipAlgorithm = &algorithm{
	name: "gzip",
	schema: schema.Schema{Attributes: []schema.Attribute{{
		Name:    "level",
		Type:    schema.Number,
		Default: fmt.Sprint(defaultGzipLevel),
		Doc:     "compression level, 1 (fastest) to 9 (smallest)",
	}}},
	configure: configureGzip,
}

// NewGzip returns the gzip codec at its default level.
func NewGzip() *Codec { return newCodec(gzipAlgorithm) }

func configureGzip(config []byte) (engine, error) {
	var cfg struct {
		Level *float64 `json:"level"`
	}
	if err := schema.Decode(config, &cfg); err != nil {
		return nil, err
	}
	level := defaultGzipLevel
	if cfg.Level != nil {
		l := *cfg.Level
		if l != math.Trunc(l) || l < gzip.BestSpeed || l > gzip.BestCompression {
			return nil, fmt.Errorf("config: level %v: want a whole number from %d to %d", l, gzip.BestSpeed, gzip.BestCompression)
		}
		level = int(l)
	}
	return &gzipEngine{level: level}, nil
}

// gzipEngine pools its writers and readers: each holds hundreds of KiB of
// tables that are worth reusing, and neither is safe for concurrent use.
type gzipEngine struct {
	level   int
	writers sync.Pool // *gzip.Writer at level
	readers sync.Pool // *gzip.Reader
}

func (e *gzipEngine) encode(src []byte) ([]byte, error) {
	var buf bytes.Buffer
	// Sessions typically shrink three to ten times.
	buf.Grow(len(src)/3 + 64)
	w, _ := e.writers.Get().(*gzip.Writer)
	if w == nil {
		var err error
		if w, err = gzip.NewWriterLevel(&buf, e.level); err != nil {
			return nil, err
		}
	} else {
		w.Reset(&buf)
	}
	if _, err := w.Write(src); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	// Reset so that the pooled writer does not keep the output alive.
	w.Reset(io.Discard)
	e.writers.Put(w)
	return buf.Bytes(), nil
}

func (e *gzipEngine) decode(ctx context.Context, src []byte) ([]byte, error) {
	in := bytes.NewReader(src)
	r, _ := e.readers.Get().(*gzip.Reader)
	var err error
	if r == nil {
		r, err = gzip.NewReader(in)
	} else {
		err = r.Reset(in)
	}
	if err != nil {
		if r != nil {
			e.readers.Put(r)
		}
		return nil, corrupt(fmt.Errorf("gzip header: %w", err))
	}
	out, err := readBounded(ctx, r, gzipSizeHint(src))
	// Reset to an empty reader so that the pooled reader does not keep the
	// input alive; its error (an empty stream) is expected.
	_ = r.Reset(bytes.NewReader(nil))
	e.readers.Put(r)
	return out, err
}

// gzipSizeHint is how much to allocate for src's output: the size its
// trailer records, if its input could produce that much.
func gzipSizeHint(src []byte) int {
	if len(src) < 18 { // header, empty deflate block, trailer
		return 0
	}
	isize := int64(binary.LittleEndian.Uint32(src[len(src)-4:]))
	return int(min(isize, int64(len(src))*maxDeflateRatio, MaxDecodedSize))
}

// readBounded reads r to its end into a new slice of at most MaxDecodedSize
// bytes, starting with room for hint. Its errors wrap codec.ErrCorrupt, or
// the context's error.
func readBounded(ctx context.Context, r io.Reader, hint int) ([]byte, error) {
	// One byte more than the hint: a reader may report the end only on the
	// read after the last byte, and that read needs room.
	buf := make([]byte, 0, min(hint, MaxDecodedSize)+1)
	for {
		if len(buf) == cap(buf) {
			if len(buf) > MaxDecodedSize {
				return nil, errTooLarge
			}
			// Room for one byte past the limit, to tell "exactly the
			// limit" from "more".
			grown := make([]byte, len(buf), min(max(2*cap(buf), 4096), MaxDecodedSize+1))
			copy(grown, buf)
			buf = grown
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > MaxDecodedSize {
			return nil, errTooLarge
		}
		switch {
		case errors.Is(err, io.EOF):
			return buf, nil
		case err != nil:
			return nil, corrupt(err)
		}
	}
}
