package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/plugintest"
	"github.com/wadi-go/wadi/sdk/store"
)

// block is a configuration block as the host sends it: every attribute.
func block(t testing.TB, path, busyTimeout string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]string{"path": path, "busy_timeout": busyTimeout})
	if err != nil {
		t.Fatalf("encoding a block: %v", err)
	}
	return b
}

// open returns a store configured on a file in dir, closed when t ends.
func open(t *testing.T, dir string) *Store {
	t.Helper()
	s := New()
	if err := s.Configure(t.Context(), block(t, "s.sqlite", "5s"), base.Node{Name: "node-a", DataDir: dir}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestPlugin(t *testing.T) {
	s := New()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	plugintest.TestPlugin(t, s, base.KindStore, plugintest.Configs{
		Valid: [][]byte{
			block(t, "sessions.sqlite", "5s"),
			block(t, "nested/dir/s.sqlite", "250ms"),
			block(t, filepath.Join(t.TempDir(), "absolute.sqlite"), "0s"),
		},
		Invalid: [][]byte{
			block(t, "", "5s"),
			block(t, "s.sqlite", "soon"),
			block(t, "s.sqlite", "5"),
			block(t, "s.sqlite", "-1s"),
			block(t, "s.sqlite", "2h"),
			// The data directory itself: not a file SQLite can open.
			block(t, ".", "5s"),
			[]byte(`{"path":1,"busy_timeout":"5s"}`),
			[]byte(`{"path":"s.sqlite","busy_timeout":5}`),
		},
	})
}

func TestConformance(t *testing.T) {
	plugintest.TestStore(t, func(t *testing.T) store.Store {
		s := New()
		if err := s.Configure(t.Context(), block(t, "s.sqlite", "5s"), base.Node{Name: "node-a", DataDir: t.TempDir()}); err != nil {
			t.Fatalf("Configure: %v", err)
		}
		return s // the kit closes it
	})
}

func TestParseConfig(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		raw     string
		want    settings
		wantErr string
	}{
		{"defaults-null", `{"path":null,"busy_timeout":null}`, settings{filepath.Join(dir, "sessions.sqlite"), 5 * time.Second}, ""},
		{"defaults-empty", ``, settings{filepath.Join(dir, "sessions.sqlite"), 5 * time.Second}, ""},
		{"relative", `{"path":"a/b.sqlite","busy_timeout":"1m"}`, settings{filepath.Join(dir, "a", "b.sqlite"), time.Minute}, ""},
		{"cleaned", `{"path":"a/../b.sqlite","busy_timeout":"0s"}`, settings{filepath.Join(dir, "b.sqlite"), 0}, ""},
		{"absolute", `{"path":"/var/lib/x.sqlite","busy_timeout":"1h"}`, settings{"/var/lib/x.sqlite", time.Hour}, ""},
		{"empty-path", `{"path":"","busy_timeout":"5s"}`, settings{}, "path is empty"},
		{"bad-duration", `{"path":"x","busy_timeout":"five"}`, settings{}, "busy_timeout"},
		{"negative", `{"path":"x","busy_timeout":"-5s"}`, settings{}, "want 0 to 1h0m0s"},
		{"too-long", `{"path":"x","busy_timeout":"61m"}`, settings{}, "want 0 to 1h0m0s"},
		{"unknown", `{"path":"x","busy_timeout":"5s","journal":"wal"}`, settings{}, "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseConfig([]byte(tt.raw), dir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseConfig(%s) = %+v, %v; want an error containing %q", tt.raw, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseConfig(%s): %v", tt.raw, err)
			}
			if got != tt.want {
				t.Errorf("parseConfig(%s) = %+v; want %+v", tt.raw, got, tt.want)
			}
		})
	}
}

// TestNotConfigured pins down that every store method of an unconfigured
// or closed store fails with errNotConfigured rather than touching a nil
// database.
func TestNotConfigured(t *testing.T) {
	calls := []struct {
		name string
		call func(*Store) error
	}{
		{"Save", func(s *Store) error {
			return s.Save(context.Background(), []store.Record{{ID: "a", Expires: time.Now().Add(time.Hour)}})
		}},
		{"SaveEmpty", func(s *Store) error { return s.Save(context.Background(), nil) }},
		{"Load", func(s *Store) error { _, err := s.Load(context.Background(), "a"); return err }},
		{"Delete", func(s *Store) error { return s.Delete(context.Background(), []string{"a"}) }},
		{"DeleteExpired", func(s *Store) error {
			_, err := s.DeleteExpired(context.Background(), time.Now(), 10)
			return err
		}},
	}
	states := []struct {
		name string
		make func(t *testing.T) *Store
	}{
		{"new", func(*testing.T) *Store { return New() }},
		{"closed", func(t *testing.T) *Store {
			s := open(t, t.TempDir())
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return s
		}},
	}
	for _, st := range states {
		for _, c := range calls {
			t.Run(st.name+"/"+c.name, func(t *testing.T) {
				if err := c.call(st.make(t)); !errors.Is(err, errNotConfigured) {
					t.Errorf("%s on a %s store: %v; want errNotConfigured", c.name, st.name, err)
				}
			})
		}
	}
	if err := New().Close(); err != nil {
		t.Errorf("Close of an unconfigured store: %v", err)
	}
}

// TestSurvivesReopen saves records, closes the store, opens the file again
// and finds the live ones, never the expired ones.
func TestSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	liveRec := store.Record{ID: "live", Expires: time.Now().Add(time.Hour).Round(0), Data: []byte("kept across restarts")}
	recs := []store.Record{
		liveRec,
		{ID: "expired", Expires: time.Now().Add(-time.Second), Data: []byte("stale")},
		{ID: "zero-expiry", Data: []byte("stale")},
	}
	first := New()
	node := base.Node{Name: "node-a", DataDir: dir}
	if err := first.Configure(ctx, block(t, "s.sqlite", "5s"), node); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	if err := first.Save(ctx, recs); err != nil {
		t.Fatalf("Save: %v", err)
	}
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	second := open(t, dir)
	got, err := second.Load(ctx, liveRec.ID)
	if err != nil {
		t.Fatalf("Load(live) after reopening: %v", err)
	}
	if string(got.Data) != string(liveRec.Data) || !got.Expires.Equal(liveRec.Expires) {
		t.Errorf("Load(live) after reopening = %q expiring %v; want %q expiring %v", got.Data, got.Expires, liveRec.Data, liveRec.Expires)
	}
	for _, id := range []string{"expired", "zero-expiry"} {
		if got, err := second.Load(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Load(%s) after reopening = %q, %v; want ErrNotFound", id, got.Data, err)
		}
	}
	// The expired records are still in the file until DeleteExpired removes
	// them, earliest first: Load hid them by their expiry alone.
	ids, err := second.DeleteExpired(ctx, time.Now(), 10)
	if err != nil {
		t.Fatalf("DeleteExpired: %v", err)
	}
	if want := []string{"zero-expiry", "expired"}; !slices.Equal(ids, want) {
		t.Errorf("DeleteExpired = %q; want %q", ids, want)
	}
}

// TestWAL checks that the file is in WAL mode, readable by its owner only,
// with the table and index the README describes, as another SQLite client
// sees it.
func TestWAL(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	if err := s.Save(t.Context(), []store.Record{{ID: "a", Expires: time.Now().Add(time.Hour), Data: []byte("x")}}); err != nil {
		t.Fatalf("Save: %v", err)
	}
	db := rawDB(t, filepath.Join(dir, "s.sqlite"))
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q; want wal", mode)
	}
	for _, name := range []string{"s.sqlite", "s.sqlite-wal"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s has mode %v; want -rw------- (sessions are the node's only)", name, mode)
		}
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE name IN ('sessions', 'sessions_expires')`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("found %d of the table sessions and the index sessions_expires; want both", n)
	}
}

// rawDB opens a SQLite file directly, as another tool would.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("closing the raw database: %v", err)
		}
	})
	return db
}

// TestBadReconfigureChangesNothing configures a store, then tries blocks
// that must be refused: each leaves the store on its file with its data.
func TestBadReconfigureChangesNothing(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	s := open(t, dir)
	rec := store.Record{ID: "x", Expires: time.Now().Add(time.Hour), Data: []byte("v")}
	if err := s.Save(ctx, []store.Record{rec}); err != nil {
		t.Fatalf("Save: %v", err)
	}
	// A file where the store's directory would have to be.
	if err := os.WriteFile(filepath.Join(dir, "file"), []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		raw  []byte
	}{
		{"empty-path", ctx, block(t, "", "5s")},
		{"bad-duration", ctx, block(t, "other.sqlite", "forever")},
		{"unknown-attribute", ctx, []byte(`{"path":"other.sqlite","busy_timeout":"5s","mode":"wal"}`)},
		{"directory", ctx, block(t, ".", "5s")},
		{"under-a-file", ctx, block(t, "file/s.sqlite", "5s")},
		{"cancelled", cancelled, block(t, "other.sqlite", "5s")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.Configure(tt.ctx, tt.raw, base.Node{Name: "node-a", DataDir: dir}); err == nil {
				t.Fatalf("Configure(%s) = nil; want an error", tt.raw)
			}
			got, err := s.Load(ctx, rec.ID)
			if err != nil || string(got.Data) != "v" {
				t.Fatalf("Load after a refused Configure = %q, %v; want the record saved before", got.Data, err)
			}
			if want := filepath.Join(dir, "s.sqlite"); s.set.path != want {
				t.Errorf("path after a refused Configure = %s; want %s", s.set.path, want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "other.sqlite")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused Configure created other.sqlite: %v", err)
	}

	// A good block for another file switches to it; the first keeps its data.
	if err := s.Configure(ctx, block(t, "other.sqlite", "1s"), base.Node{Name: "node-a", DataDir: dir}); err != nil {
		t.Fatalf("Configure(other.sqlite): %v", err)
	}
	if _, err := s.Load(ctx, rec.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Load from the new file: %v; want ErrNotFound", err)
	}
	if err := s.Configure(ctx, block(t, "s.sqlite", "5s"), base.Node{Name: "node-a", DataDir: dir}); err != nil {
		t.Fatalf("Configure(s.sqlite): %v", err)
	}
	if _, err := s.Load(ctx, rec.ID); err != nil {
		t.Errorf("Load after switching back: %v", err)
	}
}

// TestCorruptRow opens a file whose table another tool created without
// STRICT and filled with a text expiry: Load reports ErrCorrupt, not an
// outage and not a record.
func TestCorruptRow(t *testing.T) {
	dir := t.TempDir()
	db := rawDB(t, filepath.Join(dir, "s.sqlite"))
	for _, stmt := range []string{
		`CREATE TABLE sessions (id TEXT PRIMARY KEY NOT NULL, expires INTEGER NOT NULL, data BLOB NOT NULL)`,
		`INSERT INTO sessions VALUES ('bad', 'tomorrow', x'00')`,
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	s := open(t, dir)
	got, err := s.Load(t.Context(), "bad")
	if !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("Load of a row with a text expiry = %+v, %v; want ErrCorrupt", got, err)
	}
}

func TestUnixNanosClamps(t *testing.T) {
	tests := []struct {
		name string
		t    time.Time
		want int64
	}{
		{"zero", time.Time{}, -1 << 63},
		{"epoch", time.Unix(0, 0), 0},
		{"ordinary", time.Unix(1_700_000_000, 5), 1_700_000_000_000_000_005},
		{"year-9999", time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), 1<<63 - 1},
	}
	for _, tt := range tests {
		if got := unixNanos(tt.t); got != tt.want {
			t.Errorf("unixNanos(%s) = %d; want %d", tt.name, got, tt.want)
		}
	}
}

// TestContextEndsLockWait holds the write lock from another connection: a
// Save waits for it no longer than its context allows, well inside
// busy_timeout, and Load meanwhile reads (WAL readers do not wait for the
// writer).
func TestContextEndsLockWait(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir) // busy_timeout 5s
	kept := store.Record{ID: "kept", Expires: time.Now().Add(time.Hour), Data: []byte("v")}
	if err := s.Save(t.Context(), []store.Record{kept}); err != nil {
		t.Fatalf("Save: %v", err)
	}
	conn, err := rawDB(t, filepath.Join(dir, "s.sqlite")).Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if _, err := conn.ExecContext(context.Background(), `ROLLBACK`); err != nil {
			t.Errorf("ROLLBACK: %v", err)
		}
		if err := conn.Close(); err != nil {
			t.Errorf("closing the connection: %v", err)
		}
	}()
	if _, err := conn.ExecContext(t.Context(), `BEGIN IMMEDIATE`); err != nil {
		t.Fatalf("taking the write lock: %v", err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = s.Save(ctx, []store.Record{{ID: "blocked", Expires: time.Now().Add(time.Hour), Data: []byte("x")}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Save while another connection writes: %v; want an error wrapping context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Save returned after %v; its context ended after 200ms", d)
	}
	if _, err := s.Load(t.Context(), kept.ID); err != nil {
		t.Errorf("Load while another connection writes: %v", err)
	}
}

// TestOddPath configures a file name with the characters a URI gives a
// meaning to: the store must create exactly that file.
func TestOddPath(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join("dir with space", "a?b#c%d&e=f.sqlite")
	s := New()
	if err := s.Configure(t.Context(), block(t, name, "5s"), base.Node{Name: "node-a", DataDir: dir}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if err := s.Save(t.Context(), []store.Record{{ID: "a", Expires: time.Now().Add(time.Hour), Data: []byte("x")}}); err != nil {
		t.Fatalf("Save: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
		t.Errorf("the configured file: %v", err)
	}
	entries, err := os.ReadDir(filepath.Join(dir, "dir with space"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "a?b#c%d&e=f.sqlite") {
			t.Errorf("unexpected file %q beside the database", e.Name())
		}
	}
}
