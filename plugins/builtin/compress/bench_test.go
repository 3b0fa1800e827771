package compress

import (
	"testing"

	"github.com/wadi-go/wadi/plugins/builtin/internal/payload"
)

// BenchmarkGzip, BenchmarkZstd and BenchmarkS2 measure each level on the
// shared session payloads: MB/s of session bytes encoded and decoded, and
// the ratio of session bytes to encoded bytes.
func BenchmarkGzip(b *testing.B) {
	benchLevels(b, NewGzip, `{"level":1}`, `{"level":6}`, `{"level":9}`)
}

func BenchmarkZstd(b *testing.B) {
	benchLevels(b, NewZstd, `{"level":"fastest"}`, `{"level":"default"}`, `{"level":"better"}`, `{"level":"best"}`)
}

func BenchmarkS2(b *testing.B) {
	benchLevels(b, NewS2, `{"level":"default"}`, `{"level":"better"}`, `{"level":"best"}`)
}

func benchLevels(b *testing.B, newCodec func() *Codec, cfgs ...string) {
	for _, cfg := range cfgs {
		c := configured(b, newCodec, cfg)
		b.Run("level="+levelName(cfg), func(b *testing.B) { payload.BenchmarkCodec(b, c) })
	}
}

// levelName is the level a one-attribute config sets, for a benchmark name.
func levelName(cfg string) string {
	const prefix = `{"level":`
	s := cfg[len(prefix) : len(cfg)-1]
	if len(s) > 1 && s[0] == '"' {
		s = s[1 : len(s)-1]
	}
	return s
}
