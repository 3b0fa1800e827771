package compress

import (
	"context"
	"fmt"

	"github.com/klauspost/compress/s2"

	"github.com/wadi-go/wadi/sdk/schema"
)

// s2Levels are the levels the s2 codec accepts, as the library's block
// encoders.
var s2Levels = map[string]func(dst, src []byte) []byte{
	"default": s2.Encode,
	"better":  s2.EncodeBetter,
	"best":    s2.EncodeBest,
}

var s2Algorithm = &algorithm{
	name: "s2",
	schema: schema.Schema{Attributes: []schema.Attribute{{
		Name:    "level",
		Type:    schema.String,
		Default: `"default"`,
		Doc:     `compression level: "default", "better" or "best"`,
	}}},
	configure: configureS2,
}

// NewS2 returns the s2 codec at its default level.
func NewS2() *Codec { return newCodec(s2Algorithm) }

func configureS2(config []byte) (engine, error) {
	level, err := levelFromConfig(config, "default", []string{"default", "better", "best"})
	if err != nil {
		return nil, err
	}
	return s2Engine{encodeBlock: s2Levels[level]}, nil
}

// s2Engine writes S2 blocks: one per record, which starts with the size of
// its content, so Decode checks the size before it allocates anything.
type s2Engine struct {
	encodeBlock func(dst, src []byte) []byte
}

func (e s2Engine) encode(src []byte) ([]byte, error) {
	// The block encoders panic only above 4 GiB; Encode stops items at
	// MaxDecodedSize.
	return e.encodeBlock(nil, src), nil
}

func (e s2Engine) decode(_ context.Context, src []byte) ([]byte, error) {
	n, err := s2.DecodedLen(src)
	if err != nil {
		return nil, corrupt(err)
	}
	if n > MaxDecodedSize {
		return nil, fmt.Errorf("%w: its header says %d", errTooLarge, n)
	}
	out, err := s2.Decode(nil, src)
	if err != nil {
		return nil, corrupt(err)
	}
	return out, nil
}
