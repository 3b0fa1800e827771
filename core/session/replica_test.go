package session

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/wadi-go/wadi/plugins/builtin/memstore"
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

// A node that hands a session over keeps its record as a backup for the
// receiver, which then replaces or drops it; a drop from anyone else, or a
// copy older than one already kept, leaves it alone.
func TestKeepMovedIsTheReceiversBackup(t *testing.T) {
	opts := DefaultOptions()
	opts.Store = memstore.New()
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	ctx := context.Background()
	s, err := m.create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutString("k", "v"); err != nil {
		t.Fatal(err)
	}
	id := s.ID()
	m.unlockRequest(s)
	if !m.Holds(id) {
		t.Fatal("Holds is false for a session in memory")
	}
	data, commit, _, err := m.Export(ctx, id)
	if err != nil || data == nil {
		t.Fatalf("Export: %v", err)
	}
	commit()
	if m.Holds(id) {
		t.Fatal("Holds is true after the handover")
	}
	if err := m.KeepMoved(ctx, data, "green#1"); err != nil {
		t.Fatal(err)
	}
	got, info, err := m.Backup(ctx, id)
	if err != nil || got == nil || info.Holder != "green#1" || info.Version != s.Version() {
		t.Fatalf("Backup after KeepMoved: %v, %+v", err, info)
	}
	if n := m.BackupCount(); n != 1 {
		t.Fatalf("%d backups, want 1", n)
	}
	for _, tc := range []struct {
		from string
		kind ReplicaKind
		left int
	}{
		{"blue#1", ReplicaDrop, 1},  // not its holder: ignored
		{"green#1", ReplicaDrop, 0}, // the receiver's own backups have it
	} {
		if _, err := m.ApplyReplicas(ctx, tc.from, []ReplicaItem{{Kind: tc.kind, ID: id}}); err != nil {
			t.Fatal(err)
		}
		if n := m.BackupCount(); n != tc.left {
			t.Fatalf("after a drop from %s: %d backups, want %d", tc.from, n, tc.left)
		}
	}
	if err := m.KeepMoved(ctx, []byte("not a record"), "green#1"); err == nil {
		t.Fatal("KeepMoved accepted a corrupt record")
	}
}
