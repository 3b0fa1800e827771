package main

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	// The pure-Go SQLite driver, registered as "sqlite": no cgo, so the
	// plugin cross-compiles like any Go program.
	_ "modernc.org/sqlite"

	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/schema"
	"github.com/wadi-go/wadi/sdk/store"
)

var _ store.Plugin = (*Store)(nil)

// version is the plugin version Info reports.
const version = "0.1.0"

// maxConns bounds the connection pool. SQLite lets one connection write at a
// time whatever the pool's size; more connections only add concurrent
// readers, each with a page cache of its own.
const maxConns = 8

// The statements. Expiries are Unix nanoseconds, so SQLite compares them as
// integers and the index on expires orders them.
const (
	createTableSQL = `CREATE TABLE IF NOT EXISTS sessions (
	id      TEXT PRIMARY KEY NOT NULL,
	expires INTEGER NOT NULL,
	data    BLOB NOT NULL
) STRICT`
	createIndexSQL = `CREATE INDEX IF NOT EXISTS sessions_expires ON sessions (expires)`

	saveSQL = `INSERT INTO sessions (id, expires, data) VALUES (?, ?, ?)
ON CONFLICT (id) DO UPDATE SET expires = excluded.expires, data = excluded.data`
	// A record expires at its expiry, so a live one has expires > now.
	loadSQL   = `SELECT expires, data FROM sessions WHERE id = ? AND expires > ?`
	deleteSQL = `DELETE FROM sessions WHERE id = ?`
	// One statement selects and removes, so a record saved again with a
	// later expiry cannot be removed on the strength of its old one.
	deleteExpiredSQL = `DELETE FROM sessions WHERE id IN (
	SELECT id FROM sessions WHERE expires <= ? ORDER BY expires, id LIMIT ?
) RETURNING id, expires`
)

// errNotConfigured is returned by every store method before Configure and
// after Close.
var errNotConfigured = errors.New("sqlitestore: not configured: the host calls Configure before using the store (or it was closed)")

// Store is the SQLite store as a plugin. It has no database until Configure
// names one.
type Store struct {
	// mu is held shared by every call that uses db and exclusively to swap
	// it, so a database is never closed under a running call.
	mu  sync.RWMutex
	db  *sql.DB
	set settings
	// writer admits one write transaction at a time. SQLite has one
	// writer anyway; queued here, in order and bounded by the caller's
	// context, writers do not rely on SQLite's busy handler, which under
	// load let one wait past busy_timeout while others kept winning.
	writer chan struct{}
}

// New returns an unconfigured store.
func New() *Store { return &Store{writer: make(chan struct{}, 1)} }

// Info implements base.Plugin.
func (s *Store) Info(ctx context.Context) (base.Info, error) {
	if err := ctx.Err(); err != nil {
		return base.Info{}, fmt.Errorf("sqlitestore: info: %w", err)
	}
	return base.Info{Name: "sqlitestore", Kind: base.KindStore, Version: version, APIVersions: []int{base.APIVersion}}, nil
}

// Schema implements base.Plugin.
func (s *Store) Schema(ctx context.Context) (schema.Schema, error) {
	if err := ctx.Err(); err != nil {
		return schema.Schema{}, fmt.Errorf("sqlitestore: schema: %w", err)
	}
	return configSchema(), nil
}

// Configure implements base.Plugin: it opens (creating if need be) the file
// the block names. The same settings again keep the open database; other
// ones open the new database first and switch only once it works, so a
// block that cannot be used leaves the store as it was.
func (s *Store) Configure(ctx context.Context, raw []byte, node base.Node) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlitestore: configure: %w", err)
	}
	set, err := parseConfig(raw, node.DataDir)
	if err != nil {
		return fmt.Errorf("sqlitestore: %w", err)
	}
	s.mu.RLock()
	same := s.db != nil && s.set == set
	s.mu.RUnlock()
	if same {
		return nil
	}
	db, err := openDB(ctx, set)
	if err != nil {
		return fmt.Errorf("sqlitestore: configure: %w", err)
	}
	s.mu.Lock()
	old, oldSet := s.db, s.set
	s.db, s.set = db, set
	s.mu.Unlock()
	if old != nil {
		if err := old.Close(); err != nil {
			return fmt.Errorf("sqlitestore: configure: now using %s, but closing %s failed: %w", set.path, oldSet.path, err)
		}
	}
	return nil
}

// openDB opens the database of set and makes sure it is usable: WAL mode
// and the table and index present.
func openDB(ctx context.Context, set settings) (*sql.DB, error) {
	// SQLite creates the file but not its directory.
	if err := os.MkdirAll(filepath.Dir(set.path), 0o750); err != nil {
		return nil, fmt.Errorf("creating the directory of %s: %w", set.path, err)
	}
	// SQLite would create the file readable by all (0644); sessions are
	// for the node's eyes only. Its -wal and -shm files take the mode of
	// the database file.
	f, err := os.OpenFile(set.path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", set.path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("creating %s: %w", set.path, err)
	}
	db, err := sql.Open("sqlite", dsn(set))
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", set.path, err)
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	if err := initDB(ctx, db); err != nil {
		return nil, errors.Join(fmt.Errorf("opening %s: %w", set.path, err), db.Close())
	}
	return db, nil
}

// dsn is the driver's name for the database: a file: URI (so that any byte
// of the path is escaped) with the settings every pooled connection applies
// when it opens.
func dsn(set settings) string {
	q := url.Values{}
	// busy_timeout is in milliseconds; round up so that "500us" still waits.
	ms := (set.busyTimeout + time.Millisecond - 1) / time.Millisecond
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(int64(ms), 10)+")")
	// WAL: readers do not block the writer nor it them, and a commit is
	// one append.
	q.Add("_pragma", "journal_mode(WAL)")
	// Transactions take the write lock when they begin: a deferred one that
	// read first and then wants to write gets SQLITE_BUSY at once, without
	// waiting busy_timeout, when another connection is writing.
	q.Set("_txlock", "immediate")
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(set.path), RawQuery: q.Encode()}
	return u.String()
}

func initDB(ctx context.Context, db *sql.DB) error {
	var mode string
	if err := db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		return fmt.Errorf("reading the journal mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal mode is %q, not WAL (does the file system support it?)", mode)
	}
	for _, stmt := range []string{createTableSQL, createIndexSQL} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("creating the schema: %w", err)
		}
	}
	return nil
}

// acquire returns the open database for a call named op and the function
// that releases it. A done context is reported first, even before
// Configure, so the host can tell a cancellation from a failure.
func (s *Store) acquire(ctx context.Context, op string) (*sql.DB, func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("sqlitestore: %s: %w", op, err)
	}
	s.mu.RLock()
	if s.db == nil {
		s.mu.RUnlock()
		return nil, nil, fmt.Errorf("%w (%s)", errNotConfigured, op)
	}
	return s.db, s.mu.RUnlock, nil
}

// Save implements store.Store. The batch is one transaction: all of it is
// written or none.
func (s *Store) Save(ctx context.Context, recs []store.Record) error {
	db, release, err := s.acquire(ctx, "save")
	if err != nil {
		return err
	}
	defer release()
	for i, r := range recs {
		if err := checkID(r.ID); err != nil {
			return fmt.Errorf("sqlitestore: save: record %d: %w", i, err)
		}
	}
	if len(recs) == 0 {
		return nil
	}
	return s.inTx(ctx, db, "save", func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, saveSQL)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i, r := range recs {
			data := r.Data
			if data == nil {
				// database/sql binds a nil slice as NULL; the column holds
				// bytes, and no bytes is an empty blob.
				data = []byte{}
			}
			if _, err := stmt.ExecContext(ctx, r.ID, unixNanos(r.Expires), data); err != nil {
				// Not the id: session ids are credentials.
				return fmt.Errorf("record %d: %w", i, err)
			}
		}
		return stmt.Close()
	})
}

// Load implements store.Store.
func (s *Store) Load(ctx context.Context, id string) (store.Record, error) {
	db, release, err := s.acquire(ctx, "load")
	if err != nil {
		return store.Record{}, err
	}
	defer release()
	if err := checkID(id); err != nil {
		return store.Record{}, fmt.Errorf("sqlitestore: load: %w", err)
	}
	rows, err := db.QueryContext(ctx, loadSQL, id, unixNanos(time.Now()))
	if err != nil {
		return store.Record{}, fail(ctx, "load", err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return store.Record{}, fail(ctx, "load", err)
		}
		return store.Record{}, fmt.Errorf("sqlitestore: load: %w", store.ErrNotFound)
	}
	var (
		expires int64
		data    []byte
	)
	if err := rows.Scan(&expires, &data); err != nil {
		// The query worked and the row does not read: a table written by
		// something else. The host skips such a record rather than retry.
		return store.Record{}, fmt.Errorf("sqlitestore: load: %w: %v", store.ErrCorrupt, err)
	}
	if err := rows.Close(); err != nil {
		return store.Record{}, fail(ctx, "load", err)
	}
	return store.Record{ID: id, Expires: time.Unix(0, expires), Data: data}, nil
}

// Delete implements store.Store.
func (s *Store) Delete(ctx context.Context, ids []string) error {
	db, release, err := s.acquire(ctx, "delete")
	if err != nil {
		return err
	}
	defer release()
	for i, id := range ids {
		if err := checkID(id); err != nil {
			return fmt.Errorf("sqlitestore: delete: id %d: %w", i, err)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	return s.inTx(ctx, db, "delete", func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, deleteSQL)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i, id := range ids {
			if _, err := stmt.ExecContext(ctx, id); err != nil {
				return fmt.Errorf("id %d: %w", i, err)
			}
		}
		return stmt.Close()
	})
}

// DeleteExpired implements store.Store. The removal is one statement in a
// transaction that commits only once every removed id was read back, so
// the ids returned are exactly those removed. They come earliest first.
func (s *Store) DeleteExpired(ctx context.Context, before time.Time, limit int) ([]string, error) {
	db, release, err := s.acquire(ctx, "delete expired")
	if err != nil {
		return nil, err
	}
	defer release()
	if limit <= 0 {
		return nil, nil
	}
	type removed struct {
		id      string
		expires int64
	}
	var gone []removed
	err = s.inTx(ctx, db, "delete expired", func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, deleteExpiredSQL, unixNanos(before), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r removed
			if err := rows.Scan(&r.id, &r.expires); err != nil {
				return err
			}
			gone = append(gone, r)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		return rows.Close()
	})
	if err != nil {
		return nil, err
	}
	// RETURNING has no defined order.
	slices.SortFunc(gone, func(a, b removed) int {
		return cmp.Or(cmp.Compare(a.expires, b.expires), strings.Compare(a.id, b.id))
	})
	ids := make([]string, len(gone))
	for i, r := range gone {
		ids[i] = r.id
	}
	return ids, nil
}

// Close implements store.Store. An unconfigured store closes trivially; a
// closed one can be configured again.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	s.db, s.set = nil, settings{}
	if err != nil {
		return fmt.Errorf("sqlitestore: close: %w", err)
	}
	return nil
}

// inTx runs f in a transaction and commits it, or rolls it back if f fails.
func (s *Store) inTx(ctx context.Context, db *sql.DB, op string, f func(*sql.Tx) error) error {
	select {
	case s.writer <- struct{}{}:
	case <-ctx.Done():
		return fail(ctx, op, fmt.Errorf("waiting for the writer: %w", ctx.Err()))
	}
	defer func() { <-s.writer }()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fail(ctx, op, fmt.Errorf("begin: %w", err))
	}
	if err := f(tx); err != nil {
		// A cancelled context has rolled the transaction back already.
		if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			err = errors.Join(err, fmt.Errorf("rollback: %w", rbErr))
		}
		return fail(ctx, op, err)
	}
	if err := tx.Commit(); err != nil {
		return fail(ctx, op, fmt.Errorf("commit: %w", err))
	}
	return nil
}

// fail wraps a database error with the call it broke. When the context is
// done the error wraps ctx.Err() too: the driver reports an interrupted
// statement in words of its own, and the host needs errors.Is to tell a
// cancellation from an outage.
func fail(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("sqlitestore: %s: %w: %w", op, cerr, err)
	}
	return fmt.Errorf("sqlitestore: %s: %w", op, err)
}

// checkID refuses ids the store contract rules out. The error never quotes
// the id: session ids are credentials.
func checkID(id string) error {
	if id == "" {
		return errors.New("empty record id")
	}
	if len(id) > store.MaxIDLen {
		return fmt.Errorf("record id of %d bytes, longer than %d", len(id), store.MaxIDLen)
	}
	return nil
}

// unixNanos returns t in Unix nanoseconds, clamped to the int64 range
// (years 1678 to 2262): UnixNano is undefined outside it, and the zero Time, which means "already
// expired", is far outside it.
func unixNanos(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}
