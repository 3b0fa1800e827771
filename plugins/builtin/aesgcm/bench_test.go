package aesgcm

import (
	"testing"

	"github.com/wadi-go/wadi/plugins/builtin/internal/payload"
)

// BenchmarkAESGCM measures the codec on the shared session payloads: MB/s
// of session bytes encrypted and decrypted, and the ratio of session bytes
// to record bytes (below 1: the header, nonce and tag).
func BenchmarkAESGCM(b *testing.B) {
	payload.BenchmarkCodec(b, configured(b, ringConfig("k2", "k1")))
}
