// Package pgstore is a store strategy on PostgreSQL, shared by the nodes of
// a farm.
//
// Records live in one table (default wadi_sessions):
//
//	id       bytea  primary key
//	expires  bigint Unix nanoseconds, exact; indexed, for the sweeper
//	data     bytea
//
// The store creates the table on first use and migrates it, under an
// advisory lock, so that nodes starting at once agree; wadi_schema_versions
// records each table's schema version. Expiries are the node's clock's:
// Load compares them with the node's time, never the server's.
//
// The store uses pgx's default of cached prepared statements; behind a
// pooler in transaction mode (PgBouncer), set default_query_exec_mode in the
// DSN.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wadi-go/wadi/sdk/store"
)

var _ store.Store = (*Store)(nil)

// Bounds on one INSERT of a batch: a larger batch is several statements in
// one transaction, so that no statement's parameters grow without bound.
const (
	maxChunkRows  = 1000
	maxChunkBytes = 16 << 20
)

// Store is a store.Store on a PostgreSQL table.
type Store struct {
	pool    *pgxpool.Pool
	table   string
	addr    string // names the server in errors; never holds credentials
	timeout time.Duration

	// migrated is set once the table is known to be at the latest schema;
	// migrating holds the right to try, taken with a context.
	migrated  atomic.Bool
	migrating chan struct{}

	sqlSave, sqlLoad, sqlDelete, sqlDeleteExpired string
}

// FromConfig returns the store a configuration block describes (JSON, as
// the host hands it to Configure). It does not reach the server: the first
// call does, creating or migrating the table, and fails with a clear error
// while the server is down.
func FromConfig(cfgJSON []byte) (*Store, error) {
	s, pc, err := parseConfig(cfgJSON)
	if err != nil {
		return nil, err
	}
	return newStore(s, pc)
}

func newStore(s settings, pc *pgxpool.Config) (*Store, error) {
	// With no minimum of connections, creating the pool connects nowhere.
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	cc := pc.ConnConfig
	t := pgx.Identifier{s.Table}.Sanitize()
	return &Store{
		pool:      pool,
		table:     s.Table,
		addr:      fmt.Sprintf("%s/%s", net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port))), cc.Database),
		timeout:   s.Timeout,
		migrating: make(chan struct{}, 1),
		// Duplicate ids are merged before the INSERT, which ON CONFLICT
		// requires.
		sqlSave: `INSERT INTO ` + t + ` (id, expires, data)
			SELECT * FROM unnest($1::bytea[], $2::bigint[], $3::bytea[])
			ON CONFLICT (id) DO UPDATE SET expires = EXCLUDED.expires, data = EXCLUDED.data`,
		sqlLoad:   `SELECT expires, data FROM ` + t + ` WHERE id = $1 AND expires > $2`,
		sqlDelete: `DELETE FROM ` + t + ` WHERE id = ANY($1::bytea[])`,
		// The rows are locked as they are chosen, and the expiry checked
		// again on the row the DELETE sees: a record saved again with a
		// later expiry meanwhile is left alone. SKIP LOCKED lets sweepers
		// on several nodes share the work instead of queueing.
		sqlDeleteExpired: `DELETE FROM ` + t + ` WHERE id IN (
				SELECT id FROM ` + t + ` WHERE expires <= $1 ORDER BY expires LIMIT $2 FOR UPDATE SKIP LOCKED
			) AND expires <= $1
			RETURNING id`,
	}, nil
}

// call bounds a call by the store's timeout. Its cause names the server,
// so that a call that timed out says where it was waiting.
func (s *Store) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, s.timeout,
		fmt.Errorf("no answer from postgres at %s within %v: %w", s.addr, s.timeout, context.DeadlineExceeded))
}

// fail wraps the error of a call made with ctx (from call): with the cause
// of its timeout or cancellation, if it ended that way, so that errors.Is
// finds the context's error whatever the driver returned.
func (s *Store) fail(ctx context.Context, op string, err error) error {
	if d, ok := ctx.Deadline(); ok && ctx.Err() == nil && !time.Now().Before(d) {
		// A connection deadline fired just before the context's own timer:
		// it is about to.
		<-ctx.Done()
	}
	if cause := context.Cause(ctx); cause != nil && !errors.Is(err, cause) {
		return fmt.Errorf("pgstore: %s: %w (%v)", op, cause, err)
	}
	return fmt.Errorf("pgstore: %s at postgres %s: %w", op, s.addr, err)
}

// ready creates or migrates the table, once: on the first call, not in
// Configure, so that a node starts while the server is down. A failure is
// retried by the next call.
func (s *Store) ready(ctx context.Context) error {
	if s.migrated.Load() {
		return nil
	}
	select {
	case s.migrating <- struct{}{}:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	defer func() { <-s.migrating }()
	if s.migrated.Load() {
		return nil
	}
	if err := migrate(ctx, s.pool, s.table); err != nil {
		return fmt.Errorf("preparing table %s: %w", s.table, err)
	}
	s.migrated.Store(true)
	return nil
}

// chunk is part of a batch as the INSERT's array parameters.
type chunk struct {
	ids, data [][]byte
	expires   []int64
}

// chunks merges a batch's records by id (the last wins, as if saved in
// order) and splits it into INSERTs of bounded size.
func chunks(recs []store.Record) []chunk {
	last := make(map[string]int, len(recs))
	for i, r := range recs {
		last[r.ID] = i
	}
	var out []chunk
	var cur chunk
	size := 0
	for i, r := range recs {
		if last[r.ID] != i {
			continue
		}
		if len(cur.ids) == maxChunkRows || (len(cur.ids) > 0 && size+len(r.Data) > maxChunkBytes) {
			out = append(out, cur)
			cur, size = chunk{}, 0
		}
		data := r.Data
		if data == nil {
			data = []byte{} // nil would be NULL
		}
		cur.ids = append(cur.ids, []byte(r.ID))
		cur.expires = append(cur.expires, nanos(r.Expires))
		cur.data = append(cur.data, data)
		size += len(data)
	}
	return append(out, cur)
}

// Save implements store.Store. A batch is one transaction: all of it is
// written or none of it.
func (s *Store) Save(ctx context.Context, recs []store.Record) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pgstore: save: %w", err)
	}
	if len(recs) == 0 {
		return nil
	}
	for _, r := range recs {
		if err := checkID(r.ID); err != nil {
			return fmt.Errorf("pgstore: save: %w", err)
		}
	}
	ctx, cancel := s.call(ctx)
	defer cancel()
	op := fmt.Sprintf("save %d records", len(recs))
	if err := s.ready(ctx); err != nil {
		return s.fail(ctx, op, err)
	}
	cs := chunks(recs)
	var err error
	if len(cs) == 1 {
		_, err = s.pool.Exec(ctx, s.sqlSave, cs[0].ids, cs[0].expires, cs[0].data)
	} else {
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			for _, c := range cs {
				if _, err := tx.Exec(ctx, s.sqlSave, c.ids, c.expires, c.data); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		return s.fail(ctx, op, err)
	}
	return nil
}

// Load implements store.Store. An id no record can have (empty, or longer
// than store.MaxIDLen) is not found.
func (s *Store) Load(ctx context.Context, id string) (store.Record, error) {
	if err := ctx.Err(); err != nil {
		return store.Record{}, fmt.Errorf("pgstore: load: %w", err)
	}
	if checkID(id) != nil {
		return store.Record{}, store.ErrNotFound
	}
	ctx, cancel := s.call(ctx)
	defer cancel()
	op := fmt.Sprintf("load %q", store.LogID(id))
	if err := s.ready(ctx); err != nil {
		return store.Record{}, s.fail(ctx, op, err)
	}
	var exp int64
	var data []byte
	err := s.pool.QueryRow(ctx, s.sqlLoad, []byte(id), nanos(time.Now())).Scan(&exp, &data)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Record{}, store.ErrNotFound
	}
	if err != nil {
		return store.Record{}, s.fail(ctx, op, err)
	}
	if data == nil {
		data = []byte{}
	}
	return store.Record{ID: id, Expires: time.Unix(0, exp), Data: data}, nil
}

// Delete implements store.Store, in one statement. Ids no record can have
// are absent, not an error.
func (s *Store) Delete(ctx context.Context, ids []string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pgstore: delete: %w", err)
	}
	keys := make([][]byte, 0, len(ids))
	for _, id := range ids {
		if checkID(id) == nil {
			keys = append(keys, []byte(id))
		}
	}
	if len(keys) == 0 {
		return nil
	}
	ctx, cancel := s.call(ctx)
	defer cancel()
	op := fmt.Sprintf("delete %d ids", len(ids))
	if err := s.ready(ctx); err != nil {
		return s.fail(ctx, op, err)
	}
	if _, err := s.pool.Exec(ctx, s.sqlDelete, keys); err != nil {
		return s.fail(ctx, op, err)
	}
	return nil
}

// DeleteExpired implements store.Store, in one statement, so that the check
// and the removal are atomic.
func (s *Store) DeleteExpired(ctx context.Context, before time.Time, limit int) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("pgstore: delete expired: %w", err)
	}
	if limit <= 0 {
		return nil, nil
	}
	ctx, cancel := s.call(ctx)
	defer cancel()
	const op = "delete expired"
	if err := s.ready(ctx); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	rows, err := s.pool.Query(ctx, s.sqlDeleteExpired, nanos(before), int64(limit))
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	ids, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (string, error) {
		var id []byte
		err := row.Scan(&id)
		return string(id), err
	})
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	return ids, nil
}

// Close implements store.Store. It waits for the calls in flight.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

func checkID(id string) error {
	if id == "" {
		return errors.New("empty record id")
	}
	if len(id) > store.MaxIDLen {
		return fmt.Errorf("record id of %d bytes, longer than %d", len(id), store.MaxIDLen)
	}
	return nil
}

var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// nanos is t in Unix nanoseconds. Times outside their range (years 1678 to
// 2262), such as the zero Time, are clamped to it.
func nanos(t time.Time) int64 {
	switch {
	case t.Before(minTime):
		return math.MinInt64
	case t.After(maxTime):
		return math.MaxInt64
	default:
		return t.UnixNano()
	}
}
