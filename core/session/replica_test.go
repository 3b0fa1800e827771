package session

import (
	"bytes"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"
)

func TestDeltaRoundTrip(t *testing.T) {
	id, err := newID()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []*delta{
		{id: id, base: 0, version: 1, lastAccess: time.Unix(0, 42), puts: map[string][]byte{"n": []byte("1")}},
		{id: id, base: 3, version: 7, lastAccess: time.Unix(0, 1), cleared: true, puts: map[string][]byte{}, removes: []string{"a", "b"}},
	} {
		got, err := decodeDelta(encodeDelta(d))
		if err != nil {
			t.Fatal(err)
		}
		if got.id != d.id || got.base != d.base || got.version != d.version || got.cleared != d.cleared ||
			!got.lastAccess.Equal(d.lastAccess) || !slices.Equal(got.removes, d.removes) ||
			!maps.EqualFunc(got.puts, d.puts, bytes.Equal) {
			t.Fatalf("round trip: got %+v, want %+v", got, d)
		}
	}
	bad := encodeDelta(&delta{id: id, base: 5, version: 5, puts: map[string][]byte{}})
	if _, err := decodeDelta(bad); !errors.Is(err, ErrCorruptRecord) {
		t.Fatalf("a delta that does not advance the version: %v", err)
	}
}

func FuzzDecodeDelta(f *testing.F) {
	id, err := newID()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(encodeDelta(&delta{id: id, version: 1, puts: map[string][]byte{"k": []byte("v")}}))
	f.Add([]byte("WSD\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decodeDelta(b)
		if err != nil {
			if !errors.Is(err, ErrCorruptRecord) {
				t.Fatalf("error not wrapping ErrCorruptRecord: %v", err)
			}
			return
		}
		again, err := decodeDelta(encodeDelta(d))
		if err != nil || again.version != d.version || len(again.puts) != len(d.puts) {
			t.Fatalf("re-encoding a valid delta: %v", err)
		}
	})
}
