package filestore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/wadi-go/wadi/plugins/builtin/internal/storebench"
	"github.com/wadi-go/wadi/sdk/plugintest"
	"github.com/wadi-go/wadi/sdk/store"
)

func openTemp(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sessions.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s, path
}

func TestConformance(t *testing.T) {
	plugintest.TestStore(t, func(t *testing.T) store.Store {
		s, _ := openTemp(t)
		return s
	})
}

func TestPersistence(t *testing.T) {
	ctx := context.Background()
	s, path := openTemp(t)
	cut := time.Now().Add(-time.Minute)
	kept := store.Record{ID: "kept", Expires: time.Now().Add(time.Hour), Data: []byte("kept\x00data")}
	due := store.Record{ID: "due", Expires: cut.Add(-time.Second), Data: []byte("due")}
	if err := s.Save(ctx, []store.Record{kept, due, {ID: "gone", Expires: kept.Expires}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, []string{"gone"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	got, err := s.Load(ctx, "kept")
	if err != nil {
		t.Fatalf("Load after reopen: %v", err)
	}
	if !got.Expires.Equal(kept.Expires) || !bytes.Equal(got.Data, kept.Data) {
		t.Errorf("Load after reopen = %v %q, want %v %q", got.Expires, got.Data, kept.Expires, kept.Data)
	}
	if _, err := s.Load(ctx, "gone"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Load(gone) after reopen: %v, want ErrNotFound", err)
	}
	// The expiry index persisted too.
	ids, err := s.DeleteExpired(ctx, cut, 10)
	if err != nil || !slices.Equal(ids, []string{"due"}) {
		t.Errorf("DeleteExpired after reopen = %q, %v; want [due]", ids, err)
	}
}

// putRaw writes bytes straight into a bucket, as corruption or another
// version of the program might.
func putRaw(t *testing.T, s *Store, bucket []byte, key, value []byte) {
	t.Helper()
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).Put(key, value)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCorruptValue(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	defer s.Close()
	cut := time.Now().Add(-time.Minute)
	past := encodeExpiry(cut.Add(-time.Second))
	future := encodeExpiry(time.Now().Add(time.Hour))

	good := store.Record{ID: "good", Expires: time.Now().Add(time.Hour), Data: []byte("fine")}
	if err := s.Save(ctx, []store.Record{good}); err != nil {
		t.Fatal(err)
	}
	bad := map[string][]byte{
		"empty":          {},
		"short":          []byte("abc"),
		"header-only-8":  future[:],
		"unknown-format": append(append(future[:], 0x7f), "data"...),
		"format-zero":    append(append(future[:], 0), "data"...),
	}
	for id, v := range bad {
		putRaw(t, s, bucketRecords, []byte(id), v)
	}
	for id := range bad {
		_, err := s.Load(ctx, id)
		if err == nil || errors.Is(err, store.ErrNotFound) {
			t.Errorf("Load(%s) of a malformed value: %v; want an error other than ErrNotFound", id, err)
			continue
		}
		if !errors.Is(err, errMalformed) || !strings.HasPrefix(err.Error(), "filestore: load") || !strings.Contains(err.Error(), store.LogID(id)) {
			t.Errorf("Load(%s): error %q does not say what and where", id, err)
		}
		// An id is a session's credential, and the host logs this error.
		if len(id) > 8 && strings.Contains(err.Error(), id) {
			t.Errorf("Load(%s): error %q carries the whole id; want it shortened", id, err)
		}
	}

	// Index entries DeleteExpired must cope with: one due for a malformed
	// record, one for a record that is gone, one whose record has another
	// expiry, and a key too short to be an index key.
	putRaw(t, s, bucketExpiry, indexKey(past, []byte("short")), nil)
	putRaw(t, s, bucketExpiry, indexKey(past, []byte("vanished")), nil)
	putRaw(t, s, bucketExpiry, indexKey(past, []byte("good")), nil)
	putRaw(t, s, bucketExpiry, []byte("x"), nil)

	ids, err := s.DeleteExpired(ctx, cut, 100)
	if err != nil {
		t.Fatalf("DeleteExpired: %v", err)
	}
	if !slices.Equal(ids, []string{"short"}) {
		t.Errorf("DeleteExpired = %q, want [short]", ids)
	}
	if _, err := s.Load(ctx, "good"); err != nil {
		t.Errorf("Load(good) after DeleteExpired: %v", err)
	}
	if _, err := s.Load(ctx, "short"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Load(short) after DeleteExpired: %v, want ErrNotFound", err)
	}
	// Only the index entries of live records are left.
	var keys []string
	err = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketExpiry).ForEach(func(k, _ []byte) error {
			keys = append(keys, string(k[8:]))
			return nil
		})
	})
	if err != nil || !slices.Equal(keys, []string{"good"}) {
		t.Errorf("index holds %q (%v), want [good]", keys, err)
	}

	// A malformed record can be replaced and deleted.
	fixed := store.Record{ID: "unknown-format", Expires: time.Now().Add(time.Hour), Data: []byte("new")}
	if err := s.Save(ctx, []store.Record{fixed}); err != nil {
		t.Fatalf("Save over a malformed value: %v", err)
	}
	if got, err := s.Load(ctx, fixed.ID); err != nil || string(got.Data) != "new" {
		t.Errorf("Load after replacing a malformed value = %q, %v", got.Data, err)
	}
	if err := s.Delete(ctx, []string{"format-zero", "empty"}); err != nil {
		t.Fatalf("Delete of malformed values: %v", err)
	}
	for _, id := range []string{"format-zero", "empty"} {
		if _, err := s.Load(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Load(%s) after Delete: %v, want ErrNotFound", id, err)
		}
	}
}

func TestBadIDs(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	defer s.Close()
	exp := time.Now().Add(time.Hour)
	for _, id := range []string{"", strings.Repeat("x", store.MaxIDLen+1)} {
		err := s.Save(ctx, []store.Record{{ID: "ok", Expires: exp}, {ID: id, Expires: exp}})
		if err == nil {
			t.Errorf("Save with a %d-byte id returned no error", len(id))
		}
		if _, err := s.Load(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Load of a %d-byte id: %v, want ErrNotFound", len(id), err)
		}
	}
	if _, err := s.Load(ctx, "ok"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a rejected batch was partly written: Load(ok) = %v", err)
	}
	if ids, err := s.DeleteExpired(ctx, time.Now(), 0); err != nil || len(ids) != 0 {
		t.Errorf("DeleteExpired(limit 0) = %q, %v", ids, err)
	}
}

func TestOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	path := filepath.Join(dir, "s.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for p, want := range map[string]os.FileMode{dir: 0o700, path: 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("mode of %s = %v, want %v", p, got, want)
		}
	}

	// A second Open of the same file waits for the lock, then gives up.
	start := time.Now()
	if s2, err := Open(path, Options{Timeout: 100 * time.Millisecond}); err == nil {
		s2.Close()
		t.Error("second Open of a locked file succeeded")
	} else if !errors.Is(err, berrors.ErrTimeout) || !strings.Contains(err.Error(), "locked") {
		t.Errorf("second Open: %v, want a lock timeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("second Open took %v with a 100ms timeout", d)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("not a bbolt file "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	future := filepath.Join(dir, "future.db")
	db, err := bolt.Open(future, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		return b.Put(keyLayout, []byte{layoutVersion + 1})
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	tests := []struct {
		name, path, want string
	}{
		{"empty path", "", "empty path"},
		{"not a database", garbage, garbage},
		{"parent is a file", filepath.Join(notDir, "s.db"), "filestore: open"},
		{"later layout", future, "layout version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(tt.path, Options{Timeout: 100 * time.Millisecond})
			if err == nil {
				s.Close()
				t.Fatal("Open returned no error")
			}
			if !strings.HasPrefix(err.Error(), "filestore: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open: %q, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestSchema(t *testing.T) {
	sch := Schema()
	if err := sch.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(sch.Attributes) != 1 {
		t.Fatalf("Schema has %d attributes, want 1", len(sch.Attributes))
	}
	a := sch.Attributes[0]
	var def string
	if err := json.Unmarshal([]byte(a.Default), &def); err != nil || a.Name != "path" || def != "sessions.db" {
		t.Errorf("attribute %+v: default %q (%v), want path defaulting to sessions.db", a, def, err)
	}
}

func TestFromConfig(t *testing.T) {
	dataDir := t.TempDir()
	abs := filepath.Join(t.TempDir(), "abs.db")
	tests := []struct {
		name     string
		cfg      string
		wantPath string // file expected to exist; empty when an error is wanted
		wantErr  string
	}{
		{name: "empty", cfg: "", wantPath: filepath.Join(dataDir, "sessions.db")},
		{name: "empty object", cfg: "{}", wantPath: filepath.Join(dataDir, "sessions.db")},
		{name: "null", cfg: "null", wantPath: filepath.Join(dataDir, "sessions.db")},
		{name: "relative", cfg: `{"path":"sub/dir/x.db"}`, wantPath: filepath.Join(dataDir, "sub", "dir", "x.db")},
		{name: "absolute", cfg: fmt.Sprintf(`{"path":%q}`, abs), wantPath: abs},
		{name: "empty path", cfg: `{"path":""}`, wantErr: "path is empty"},
		{name: "unknown attribute", cfg: `{"path":"x.db","timeout":"5s"}`, wantErr: `unknown field "timeout"`},
		{name: "wrong type", cfg: `{"path":5}`, wantErr: "cannot unmarshal number"},
		{name: "not an object", cfg: `"x.db"`, wantErr: "cannot unmarshal string"},
		{name: "malformed", cfg: `{"path":`, wantErr: "unexpected EOF"},
		{name: "trailing data", cfg: `{"path":"x.db"} {}`, wantErr: "data after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := FromConfig([]byte(tt.cfg), dataDir)
			if tt.wantErr != "" {
				if err == nil {
					s.Close()
					t.Fatalf("FromConfig(%s) returned no error", tt.cfg)
				}
				if !strings.HasPrefix(err.Error(), "filestore: config") || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("FromConfig(%s): %q, want it to mention %q", tt.cfg, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("FromConfig(%s): %v", tt.cfg, err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(tt.wantPath); err != nil {
				t.Errorf("store file: %v", err)
			}
		})
	}
}

func TestExpiryEncoding(t *testing.T) {
	times := []time.Time{
		{}, // the zero Time, clamped to the earliest
		time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Unix(0, -1<<62),
		time.Unix(-1, 0),
		time.Unix(0, -1),
		time.Unix(0, 0),
		time.Unix(0, 1),
		time.Unix(1_700_000_000, 123456789),
		time.Unix(0, 1<<62),
		time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), // clamped to the latest
	}
	for i := 1; i < len(times); i++ {
		a, b := encodeExpiry(times[i-1]), encodeExpiry(times[i])
		if bytes.Compare(a[:], b[:]) > 0 {
			t.Errorf("encodeExpiry(%v) sorts after encodeExpiry(%v)", times[i-1], times[i])
		}
	}
	for _, tm := range times[2:9] {
		if got := decodeExpiry(encodeExpiry(tm)); !got.Equal(tm) {
			t.Errorf("decodeExpiry(encodeExpiry(%v)) = %v", tm, got)
		}
	}
}

func FuzzDecodeValue(f *testing.F) {
	f.Add([]byte{}, int64(0), []byte{})
	f.Add([]byte("short"), int64(-1), []byte{0})
	exp := encodeExpiry(time.Unix(1_700_000_000, 0))
	f.Add(encodeValue(exp, []byte("data")), int64(1_700_000_000_000_000_000), []byte("data"))
	f.Add(append(exp[:], 2, 'x'), int64(1)<<62, bytes.Repeat([]byte{0xff}, 40))
	f.Fuzz(func(t *testing.T, raw []byte, nanos int64, data []byte) {
		// Any bytes decode without panicking, and whatever decodes encodes
		// back to the same bytes.
		if e, d, err := decodeValue(raw); err == nil {
			if back := encodeValue(e, d); !bytes.Equal(back, raw) {
				t.Fatalf("encodeValue(decodeValue(%x)) = %x", raw, back)
			}
		} else if !errors.Is(err, errMalformed) {
			t.Fatalf("decodeValue(%x): error %v does not wrap errMalformed", raw, err)
		}
		// Any expiry and data round-trip.
		tm := time.Unix(0, nanos)
		e, d, err := decodeValue(encodeValue(encodeExpiry(tm), data))
		if err != nil {
			t.Fatalf("decodeValue of a valid value: %v", err)
		}
		if got := decodeExpiry(e); !got.Equal(tm) || !bytes.Equal(d, data) {
			t.Fatalf("round trip: %v %x, want %v %x", got, d, tm, data)
		}
	})
}

// The benchmarks shared by the builtin stores, against this one.
func BenchmarkSave(b *testing.B) { storebench.Save(b, openFilestore) }

func BenchmarkSaveBatch(b *testing.B) { storebench.SaveBatch(b, openFilestore) }

func BenchmarkLoad(b *testing.B) { storebench.Load(b, openFilestore) }

var openFilestore storebench.Open = func(tb testing.TB) store.Store { s, _ := openTemp(tb); return s }
