package memstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/plugintest"
	"github.com/wadi-go/wadi/sdk/store"
)

func TestConformance(t *testing.T) {
	plugintest.TestStore(t, func(*testing.T) store.Store { return New() })
}

func TestSchema(t *testing.T) {
	sch, err := New().Schema(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(); err != nil {
		t.Fatal(err)
	}
	if n := len(sch.Attributes); n != 0 {
		t.Errorf("Schema has %d attributes, want none", n)
	}
}

func TestConfigure(t *testing.T) {
	tests := []struct {
		name    string
		cfg     string
		wantErr bool
	}{
		{"nil", "", false},
		{"blank", " \n", false},
		{"empty object", "{}", false},
		{"null", "null", false},
		{"unknown attribute", `{"path":"x"}`, true},
		{"not an object", `[]`, true},
		{"malformed", `{`, true},
		{"trailing data", `{} {}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			err := s.Configure(context.Background(), []byte(tt.cfg), base.Node{})
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Configure(%q) returned no error", tt.cfg)
				}
				return
			}
			if err != nil {
				t.Fatalf("Configure(%q): %v", tt.cfg, err)
			}
			if err := s.Save(context.Background(), []store.Record{{ID: "a", Expires: time.Now().Add(time.Hour)}}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRejectsBadIDs(t *testing.T) {
	s := New()
	ctx := context.Background()
	good := store.Record{ID: "good", Expires: time.Now().Add(time.Hour)}
	for _, id := range []string{"", string(make([]byte, store.MaxIDLen+1))} {
		if err := s.Save(ctx, []store.Record{good, {ID: id, Expires: good.Expires}}); err == nil {
			t.Errorf("Save with a %d-byte id returned no error", len(id))
		}
	}
	// A rejected batch writes nothing.
	if _, err := s.Load(ctx, "good"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Load after a rejected batch: %v, want ErrNotFound", err)
	}
}

func TestDeleteExpiredFreesMemory(t *testing.T) {
	s := New()
	ctx := context.Background()
	cut := time.Now()
	var recs []store.Record
	for i := range 100 {
		recs = append(recs, store.Record{ID: string(rune('A' + i)), Expires: cut.Add(time.Duration(i-50) * time.Second)})
	}
	if err := s.Save(ctx, recs); err != nil {
		t.Fatal(err)
	}
	ids, err := s.DeleteExpired(ctx, cut, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 51 || s.Len() != 49 {
		t.Errorf("DeleteExpired removed %d, %d left; want 51 removed, 49 left", len(ids), s.Len())
	}
	// Earliest first.
	if ids[0] != "A" || ids[50] != string(rune('A'+50)) {
		t.Errorf("DeleteExpired order: first %q, last %q", ids[0], ids[50])
	}
}

func TestClosed(t *testing.T) {
	s := New()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Save(ctx, []store.Record{{ID: "a"}}); !errors.Is(err, errClosed) {
		t.Errorf("Save after Close: %v", err)
	}
	if _, err := s.Load(ctx, "a"); !errors.Is(err, errClosed) {
		t.Errorf("Load after Close: %v", err)
	}
}

func BenchmarkSave(b *testing.B) {
	s := New()
	ctx := context.Background()
	rec := store.Record{ID: "bench", Expires: time.Now().Add(time.Hour), Data: make([]byte, 1024)}
	for b.Loop() {
		if err := s.Save(ctx, []store.Record{rec}); err != nil {
			b.Fatal(err)
		}
	}
}
