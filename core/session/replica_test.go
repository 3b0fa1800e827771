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

// newMemManager is a manager with the default options on a memory store,
// on the real clock, closed when the test ends.
func newMemManager(t *testing.T) *Manager {
	t.Helper()
	opts := DefaultOptions()
	opts.Store = memstore.New()
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(context.Background()) })
	return m
}

// A node that hands a session over keeps its record as a backup for the
// receiver, which then replaces or drops it; a drop from anyone else, or a
// copy older than one already kept, leaves it alone.
func TestKeepMovedIsTheReceiversBackup(t *testing.T) {
	m := newMemManager(t)
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

// A backup store takes changes from the session's holder only: a delta
// that does not follow the copy is a gap (the holder then sends it
// whole), another node's changes are fenced unless they are a takeover,
// a fence keeps the fenced holder out, and a corrupt item is an error
// that changes nothing. Copies expire with their sessions.
func TestApplyReplicas(t *testing.T) {
	m := newMemManager(t)
	ctx := context.Background()
	id, err := newID()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	encode := func(raw []byte) []byte {
		enc, err := m.encodeStored(ctx, [][]byte{raw})
		if err != nil {
			t.Fatal(err)
		}
		return enc[0]
	}
	full := func(kind ReplicaKind, v uint64) ReplicaItem {
		r := &record{id: id, version: v, created: now, lastAccess: now, idle: time.Hour, attrs: map[string][]byte{"n": {byte(v)}}}
		return ReplicaItem{Kind: kind, ID: id, Version: v, Data: encode(encodeRecord(r)), ExpiresIn: time.Hour}
	}
	delta := func(base, v uint64) ReplicaItem {
		d := &delta{id: id, base: base, version: v, lastAccess: now, puts: map[string][]byte{"n": {byte(v)}}}
		return ReplicaItem{Kind: ReplicaDelta, ID: id, Version: v, Base: base, Data: encode(encodeDelta(d)), ExpiresIn: time.Hour}
	}
	other, err := newID()
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name    string
		from    string
		item    ReplicaItem
		want    ReplicaStatus
		wantErr bool
		holder  string // of the copy afterwards; "" for none
		version uint64
	}{
		{"first copy", "red#1", full(ReplicaFull, 1), ReplicaOK, false, "red#1", 1},
		{"next delta", "red#1", delta(1, 2), ReplicaOK, false, "red#1", 2},
		{"delta past a gap", "red#1", delta(1, 3), ReplicaGap, false, "red#1", 2},
		{"delta from another node", "blue#1", delta(2, 3), ReplicaFenced, false, "red#1", 2},
		{"whole from another node", "blue#1", full(ReplicaFull, 5), ReplicaFenced, false, "red#1", 2},
		{"takeover", "blue#1", full(ReplicaTakeover, 5), ReplicaOK, false, "blue#1", 5},
		{"the old holder after the takeover", "red#1", full(ReplicaFull, 6), ReplicaFenced, false, "blue#1", 5},
		{"drop from a node that is not the holder", "red#1", ReplicaItem{Kind: ReplicaDrop, ID: id}, ReplicaOK, false, "blue#1", 5},
		{"corrupt record", "blue#1", ReplicaItem{Kind: ReplicaFull, ID: id, Data: []byte("garbage")}, 0, true, "blue#1", 5},
		{"corrupt delta", "blue#1", ReplicaItem{Kind: ReplicaDelta, ID: id, Data: encode([]byte("garbage"))}, 0, true, "blue#1", 5},
		{"record of another session", "blue#1", func() ReplicaItem { it := full(ReplicaFull, 6); it.ID = other; return it }(), 0, true, "blue#1", 5},
		{"bad id", "blue#1", ReplicaItem{Kind: ReplicaTouch, ID: "../x"}, 0, true, "blue#1", 5},
		{"fence with no holder", "green#1", ReplicaItem{Kind: ReplicaFence, ID: id}, 0, true, "blue#1", 5},
		{"fence against the holder", "green#1", ReplicaItem{Kind: ReplicaFence, ID: id, Holder: "blue#1"}, ReplicaOK, false, "", 0},
		{"the fenced holder again", "blue#1", full(ReplicaFull, 7), ReplicaFenced, false, "", 0},
		{"another holder past the fence", "green#1", full(ReplicaFull, 8), ReplicaOK, false, "green#1", 8},
		{"touch", "green#1", ReplicaItem{Kind: ReplicaTouch, ID: id, ExpiresIn: time.Hour}, ReplicaOK, false, "green#1", 8},
		{"drop from the holder", "green#1", ReplicaItem{Kind: ReplicaDrop, ID: id}, ReplicaOK, false, "", 0},
	}
	for _, st := range steps {
		got, err := m.ApplyReplicas(ctx, st.from, []ReplicaItem{st.item})
		switch {
		case st.wantErr && err == nil:
			t.Fatalf("%s: no error", st.name)
		case !st.wantErr && err != nil:
			t.Fatalf("%s: %v", st.name, err)
		case !st.wantErr && (len(got) != 1 || got[0] != st.want):
			t.Fatalf("%s: status %v, want %v", st.name, got, st.want)
		}
		_, info, err := m.Backup(ctx, id)
		if err != nil {
			t.Fatalf("%s: Backup: %v", st.name, err)
		}
		if info.Holder != st.holder || (st.holder != "" && info.Version != st.version) {
			t.Fatalf("%s: copy of %q at %d, want of %q at %d", st.name, info.Holder, info.Version, st.holder, st.version)
		}
	}
	// A copy lives as long as its session, plus the renewal margin.
	if _, err := m.ApplyReplicas(ctx, "green#1", []ReplicaItem{full(ReplicaFull, 9)}); err != nil {
		t.Fatal(err)
	}
	m.sweepBackups(time.Now().Add(time.Hour))
	if m.BackupCount() != 1 {
		t.Fatal("the copy expired before its session")
	}
	m.sweepBackups(time.Now().Add(time.Hour + m.backupGrace() + time.Second))
	if m.BackupCount() != 0 {
		t.Fatal("the copy outlived its session")
	}
}
