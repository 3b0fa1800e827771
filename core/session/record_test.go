package session

import (
	"bytes"
	"errors"
	"maps"
	"testing"
	"time"
)

func sampleRecord() *record {
	return &record{
		id:         "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		version:    42,
		created:    time.Unix(1700000000, 123456789),
		lastAccess: time.Unix(1700000100, 5),
		idle:       30 * time.Minute,
		lifetime:   24 * time.Hour,
		attrs: map[string][]byte{
			"count": []byte("7"),
			"":      {},
			"bin":   {0, 1, 2, 255},
		},
	}
}

func TestRecordRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		rec  *record
	}{
		{"attributes", sampleRecord()},
		{"empty", &record{id: sampleRecord().id, created: time.Unix(0, 0), lastAccess: time.Unix(0, 0), attrs: map[string][]byte{}}},
		{"negative times", &record{id: sampleRecord().id, created: time.Unix(-5, 0), lastAccess: time.Unix(-1, 9), idle: 1, lifetime: 2, attrs: map[string][]byte{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeRecord(encodeRecord(tt.rec))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if got.id != tt.rec.id || got.version != tt.rec.version || !got.created.Equal(tt.rec.created) ||
				!got.lastAccess.Equal(tt.rec.lastAccess) || got.idle != tt.rec.idle || got.lifetime != tt.rec.lifetime {
				t.Fatalf("decoded %+v, want %+v", got, tt.rec)
			}
			if !maps.EqualFunc(got.attrs, tt.rec.attrs, bytes.Equal) {
				t.Fatalf("attrs %q, want %q", got.attrs, tt.rec.attrs)
			}
		})
	}
}

func TestRecordCorrupt(t *testing.T) {
	good := encodeRecord(sampleRecord())
	// Every truncation of a valid record is corrupt, never a panic.
	for n := range len(good) {
		if _, err := decodeRecord(good[:n]); !errors.Is(err, ErrCorruptRecord) {
			t.Fatalf("truncated to %d bytes: err = %v, want ErrCorruptRecord", n, err)
		}
	}
	dupe := encodeRecord(&record{id: sampleRecord().id, attrs: map[string][]byte{"a": nil}})
	// Rewrite the count from 1 to 2 and append the same attribute again.
	dupe[len(dupe)-4] = 2
	dupe = append(dupe, 1, 'a', 0)

	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"nil", nil, "bad magic"},
		{"bad magic", append([]byte("XSR"), good[3:]...), "bad magic"},
		{"unknown format", append([]byte("WSR\x09"), good[4:]...), "unknown format 9"},
		{"trailing", append(bytes.Clone(good), 0), "trailing"},
		{"bad id", encodeRecord(&record{id: "short", attrs: map[string][]byte{}}), "invalid session id"},
		{"duplicate attribute", dupe, "appears twice"},
		{"huge count", append([]byte("WSR\x01\x00\x00\x00\x00\x00\x00"), 0xff, 0xff, 0xff, 0xff, 0x0f), "attribute count"},
		{"huge length", append([]byte("WSR\x01"), 0xff, 0xff, 0xff, 0xff, 0x0f), "id length"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeRecord(tt.data)
			if !errors.Is(err, ErrCorruptRecord) || !bytes.Contains([]byte(err.Error()), []byte(tt.want)) {
				t.Fatalf("err = %v, want ErrCorruptRecord containing %q", err, tt.want)
			}
		})
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord(sampleRecord()))
	f.Add([]byte("WSR\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeRecord(data)
		if err != nil {
			if !errors.Is(err, ErrCorruptRecord) {
				t.Fatalf("error %v does not wrap ErrCorruptRecord", err)
			}
			return
		}
		// Whatever decodes must survive a round trip unchanged.
		again, err := decodeRecord(encodeRecord(r))
		if err != nil {
			t.Fatalf("re-decoding: %v", err)
		}
		if again.id != r.id || again.version != r.version || !maps.EqualFunc(again.attrs, r.attrs, bytes.Equal) {
			t.Fatalf("round trip changed the record: %+v vs %+v", again, r)
		}
	})
}

func TestValidID(t *testing.T) {
	id, err := newID()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in   string
		want bool
	}{
		{id, true},
		{"", false},
		{id[:len(id)-1], false},
		{id + "A", false},
		{id[:len(id)-1] + "=", false},
		{id[:len(id)-1] + ".", false},
		{id[:len(id)-1] + "é"[:1], false},
	}
	for _, tt := range tests {
		if got := ValidID(tt.in); got != tt.want {
			t.Errorf("ValidID(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	other, _ := newID()
	if other == id {
		t.Fatal("two ids are equal")
	}
}
