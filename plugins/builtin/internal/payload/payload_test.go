package payload

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestSession(t *testing.T) {
	for _, size := range []int{MinSize, 1000 + MinSize, 1 << 10, 4 << 10, 16 << 10, 100003, 256 << 10} {
		for seed := range uint64(4) {
			p := Session(size, seed)
			if len(p) != size {
				t.Errorf("Session(%d, %d) is %d bytes", size, seed, len(p))
			}
			var v map[string]any
			if err := json.Unmarshal(p, &v); err != nil {
				t.Errorf("Session(%d, %d) is not a JSON object: %v", size, seed, err)
			}
			if !bytes.Equal(p, Session(size, seed)) {
				t.Errorf("Session(%d, %d) differs between calls", size, seed)
			}
			if seed > 0 && bytes.Equal(p, Session(size, seed-1)) {
				t.Errorf("Session(%d, %d) equals the previous seed's", size, seed)
			}
		}
	}
	if p := Session(10, 1); len(p) < 10 || !json.Valid(p) {
		t.Errorf("Session(10, 1) = %d bytes, valid %v", len(p), json.Valid(p))
	}
}
