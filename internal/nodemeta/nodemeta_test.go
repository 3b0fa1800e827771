package nodemeta

import (
	"fmt"
	"maps"
	"math"
	"strings"
	"testing"

	"github.com/hashicorp/memberlist"
)

func TestMaxSizeIsMemberlists(t *testing.T) {
	if MaxSize != memberlist.MetaMaxSize {
		t.Fatalf("MaxSize = %d, memberlist.MetaMaxSize = %d", MaxSize, memberlist.MetaMaxSize)
	}
}

func TestCheckMeta(t *testing.T) {
	tests := []struct {
		name string
		meta map[string]string
		err  string // substring; "" means accepted
	}{
		{"none", nil, ""},
		{"typical", map[string]string{"rack": "r1", "dc": "eu-1", "host.class": "big_2", "Tier-A": "gold plated"}, ""},
		{"empty value", map[string]string{"rack": ""}, ""},
		{"longest", map[string]string{strings.Repeat("k", MaxKeyLen): strings.Repeat("v", MaxValueLen)}, ""},
		{"unicode value", map[string]string{"site": "Zürich"}, ""},
		{"empty key", map[string]string{"": "x"}, `meta key ""`},
		{"key starts with a digit", map[string]string{"1rack": "x"}, `meta key "1rack"`},
		{"key with a space", map[string]string{"my rack": "x"}, `meta key "my rack"`},
		{"key with a slash", map[string]string{"a/b": "x"}, `meta key "a/b"`},
		{"key too long", map[string]string{strings.Repeat("k", MaxKeyLen+1): "x"}, "must be 1 to 32"},
		{"value too long", map[string]string{"rack": strings.Repeat("v", MaxValueLen+1)}, `meta "rack": the value is 65 bytes`},
		{"value with a newline", map[string]string{"rack": "r1\nr2"}, "U+000A"},
		{"value with a NUL", map[string]string{"rack": "r\x00"}, "U+0000"},
		{"value not UTF-8", map[string]string{"rack": "r\xff"}, "not UTF-8"},
		{"first bad key reported", map[string]string{"b!": "x", "a!": "x"}, `"a!"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckMeta(tt.meta)
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("CheckMeta: %v; want accepted", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("CheckMeta: %v; want an error containing %q", err, tt.err)
			}
		})
	}
}

func node(meta map[string]string) Node {
	return Node{Name: "red", Peer: "127.0.0.1:7950", HTTP: "http://127.0.0.1:8080", Zone: "z1",
		ProtoMin: ProtocolMin, ProtoMax: ProtocolMax, Started: math.MaxInt64, Meta: meta}
}

// fill returns meta within the rules, its last value ending in last, with
// which node encodes to exactly size bytes.
func fill(t *testing.T, size int, last string) map[string]string {
	t.Helper()
	meta := map[string]string{}
	for i := 0; ; i++ {
		k := fmt.Sprintf("k%02d", i)
		meta[k] = last
		room := size - node(meta).Size()
		switch {
		case room < 0:
			t.Fatalf("no meta makes %d bytes", size)
		case room+len(last) <= MaxValueLen:
			meta[k] = strings.Repeat("v", room) + last
			return meta
		}
		// Room is left for the next key.
		meta[k] = strings.Repeat("v", min(MaxValueLen, room-20))
	}
}

func TestEncodeDecode(t *testing.T) {
	tests := []struct {
		name string
		meta map[string]string
		ok   bool
	}{
		{"no meta", nil, true},
		{"meta", map[string]string{"rack": "r1", "dc": "eu-1"}, true},
		{"at the limit", fill(t, MaxSize, ""), true},
		{"a byte over", fill(t, MaxSize+1, ""), false},
		// json.Marshal writes '<' as \u003c: the encoding counts, not the
		// string's length.
		{"escaped", fill(t, MaxSize+1, "<"), false},
		{"escaped at the limit", fill(t, MaxSize, "<"), true},
		{"bad key", map[string]string{"no good": "x"}, false},
		{"bad value", map[string]string{"rack": "a\tb"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := node(tt.meta)
			b, err := n.Encode()
			if (err == nil) != tt.ok {
				t.Fatalf("Encode: %d bytes, %v; want ok %v", n.Size(), err, tt.ok)
			}
			if err != nil {
				return
			}
			if len(b) != n.Size() {
				t.Errorf("Size = %d, encoding %d bytes", n.Size(), len(b))
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got.Name != n.Name || got.Started != n.Started || !maps.Equal(got.Meta, n.Meta) {
				t.Errorf("Decode = %+v, want %+v", got, n)
			}
		})
	}
}

// A peer's meta is held to the same rules as this node's: what Encode
// refuses to send, Decode refuses to take.
func TestDecodeRefuses(t *testing.T) {
	tests := []struct {
		name, meta string
		want       string // substring of the error; "" means accepted
	}{
		{"none", ``, ""},
		{"empty meta is nil", `,"meta":{}`, ""},
		{"good", `,"meta":{"rack":"r1"}`, ""},
		{"not an object", `,"meta":"rack=r1"`, "metadata: json"},
		{"a number value", `,"meta":{"rack":1}`, "metadata: json"},
		{"bad key", `,"meta":{"ra ck":"r1"}`, `meta key "ra ck"`},
		{"control character", `,"meta":{"rack":"r\u0007"}`, "U+0007"},
		{"long value", `,"meta":{"rack":"` + strings.Repeat("v", MaxValueLen+1) + `"}`, "more than 64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := Decode([]byte(`{"name":"a","peer":"p","http":"h","proto_min":1,"proto_max":1` + tt.meta + `}`))
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Decode: %v; want accepted", err)
			case tt.want == "" && n.Meta != nil && len(n.Meta) == 0:
				t.Fatalf("Decode gave an empty, non-nil meta")
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Decode: %v; want an error containing %q", err, tt.want)
			}
		})
	}
}
