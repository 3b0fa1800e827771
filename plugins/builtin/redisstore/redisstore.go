// Package redisstore is a store strategy on a Redis server (or a server that
// speaks its protocol, such as Valkey), shared by the nodes of a farm.
//
// The store's keys all begin with its key prefix:
//
//	PREFIX + id  a string: 1 format byte, the expiry as 8-byte big-endian
//	             Unix nanoseconds, then the data; its Redis TTL is the
//	             expiry, so Redis removes the record by itself
//	PREFIX       a sorted set: id -> expiry in Unix microseconds (rounded
//	             up); the expiry index DeleteExpired reads. No record has
//	             this key: ids are never empty
//
// The exact expiry travels with the data, so that Load returns it to the
// nanosecond and never returns a record past it, whatever Redis's clock
// says. TTLs are set as durations (SET ... PX), not as instants, because the
// node's clock and the server's may differ: the expiry is the node's
// decision. A record saved with an expiry in the past is removed, not
// stored.
//
// Redis removes expired records itself, so DeleteExpired's job is the index:
// it removes the entries that are due, and any record still behind them, in
// one script, and returns their ids, so the host learns which sessions
// expired in the store. Between sweeps the index keeps the ids of records
// Redis has already dropped.
//
// The server must not evict keys under memory pressure (maxmemory-policy
// noeviction, the default): an evicted record is a lost session. The store
// speaks to a single server (or a proxy in front of replicas), not to a
// Redis Cluster: a record and the index live in one keyspace.
package redisstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"

	"github.com/wadi-go/wadi/sdk/store"
)

var _ store.Store = (*Store)(nil)

// formatV1 is the format byte of a stored value: expiry, then data as is.
const formatV1 = 1

// headerLen is the length of a value's header: format byte and expiry.
const headerLen = 1 + 8

// Store is a store.Store on a Redis server.
type Store struct {
	client  *redis.Client
	addr    string // names the server in errors; never holds credentials
	prefix  string
	timeout time.Duration
}

// FromConfig returns the store a configuration block describes (JSON, as
// the host hands it to Configure). It does not reach the server: the first
// call does, and fails with a clear error while the server is down.
func FromConfig(cfgJSON []byte) (*Store, error) {
	s, opts, err := parseConfig(cfgJSON)
	if err != nil {
		return nil, err
	}
	return newStore(s, opts), nil
}

func newStore(s settings, opts *redis.Options) *Store {
	silenceClientLog.Do(func() { redis.SetLogger(&logging.VoidLogger{}) })
	return &Store{client: redis.NewClient(opts), addr: s.Addr, prefix: s.KeyPrefix, timeout: s.Timeout}
}

// silenceClientLog turns go-redis's own logger off when the first store is
// made. That logger writes unstructured lines to stderr, one per failed dial
// while the server is down, repeating what the store's calls already return
// as errors with context, which the host logs. go-redis v9 has only a
// process-wide logger (redis.SetLogger), no per-client option, hence a
// package variable; setting it is safe because nothing else in a wadi
// process uses go-redis, and it is set once so as not to undo a logger a
// test or an embedding program sets after.
var silenceClientLog sync.Once

// call bounds a call by the store's timeout. Its cause names the server,
// so that a call that timed out says where it was waiting.
func (s *Store) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, s.timeout,
		fmt.Errorf("no answer from redis at %s within %v: %w", s.addr, s.timeout, context.DeadlineExceeded))
}

// fail wraps the error of a call made with ctx (from call): with the cause
// of its timeout or cancellation, if it ended that way, so that errors.Is
// finds the context's error whatever the client returned.
func (s *Store) fail(ctx context.Context, op string, err error) error {
	if d, ok := ctx.Deadline(); ok && ctx.Err() == nil && !time.Now().Before(d) {
		// The connection's deadline is the context's, and fired before the
		// context's own timer: it is about to.
		<-ctx.Done()
	}
	if cause := context.Cause(ctx); cause != nil && !errors.Is(err, cause) {
		return fmt.Errorf("redisstore: %s: %w (%v)", op, cause, err)
	}
	return fmt.Errorf("redisstore: %s at %s: %w", op, s.addr, err)
}

// Save implements store.Store. The batch is one MULTI/EXEC transaction in
// one round trip: no reader sees part of it.
func (s *Store) Save(ctx context.Context, recs []store.Record) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redisstore: save: %w", err)
	}
	if len(recs) == 0 {
		return nil
	}
	for _, r := range recs {
		if err := checkID(r.ID); err != nil {
			return fmt.Errorf("redisstore: save: %w", err)
		}
	}
	ctx, cancel := s.call(ctx)
	defer cancel()
	now := time.Now()
	_, err := s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, r := range recs {
			key := s.prefix + r.ID
			if ttl := r.Expires.Sub(now); ttl > 0 {
				// Rounded up to Redis's millisecond, so that Redis never
				// drops a record before its expiry.
				ttl = (ttl + time.Millisecond - 1).Truncate(time.Millisecond)
				p.Set(ctx, key, encodeValue(r.Expires, r.Data), ttl)
			} else {
				p.Del(ctx, key)
			}
			// Indexed even when already expired: DeleteExpired reports it.
			p.ZAdd(ctx, s.prefix, redis.Z{Score: float64(ceilMicros(r.Expires)), Member: r.ID})
		}
		return nil
	})
	if err != nil {
		return s.fail(ctx, fmt.Sprintf("save %d records", len(recs)), err)
	}
	return nil
}

// Load implements store.Store. A stored value that cannot be decoded is
// reported with an error wrapping store.ErrCorrupt. An id no record can have
// (empty, or longer than store.MaxIDLen) is not found.
func (s *Store) Load(ctx context.Context, id string) (store.Record, error) {
	if err := ctx.Err(); err != nil {
		return store.Record{}, fmt.Errorf("redisstore: load: %w", err)
	}
	if checkID(id) != nil {
		return store.Record{}, store.ErrNotFound
	}
	ctx, cancel := s.call(ctx)
	defer cancel()
	v, err := s.client.Get(ctx, s.prefix+id).Bytes()
	if errors.Is(err, redis.Nil) {
		return store.Record{}, store.ErrNotFound
	}
	if err != nil {
		return store.Record{}, s.fail(ctx, fmt.Sprintf("load %q", store.LogID(id)), err)
	}
	exp, data, err := decodeValue(v)
	if err != nil {
		return store.Record{}, fmt.Errorf("redisstore: load %q at %s: %w", store.LogID(id), s.addr, err)
	}
	// Redis's clock may lag the node's: the node's decides.
	if !exp.After(time.Now()) {
		return store.Record{}, store.ErrNotFound
	}
	if data == nil {
		data = []byte{}
	}
	// v is this call's own copy: the record may alias it.
	return store.Record{ID: id, Expires: exp, Data: data}, nil
}

// Delete implements store.Store, in one transaction. Ids no record can
// have are absent, not an error.
func (s *Store) Delete(ctx context.Context, ids []string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redisstore: delete: %w", err)
	}
	keys := make([]string, 0, len(ids))
	members := make([]any, 0, len(ids))
	for _, id := range ids {
		if checkID(id) == nil {
			keys = append(keys, s.prefix+id)
			members = append(members, id)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	ctx, cancel := s.call(ctx)
	defer cancel()
	_, err := s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, keys...)
		p.ZRem(ctx, s.prefix, members...)
		return nil
	})
	if err != nil {
		return s.fail(ctx, fmt.Sprintf("delete %d ids", len(ids)), err)
	}
	return nil
}

// deleteExpired removes, atomically (a script runs alone), up to ARGV[2]
// index entries of KEYS[1] due at ARGV[1], earliest first, with the records
// behind them, and returns their ids. A record saved again with a later
// expiry has a later score, so it is not due; one Redis already dropped
// still has its entry, and is reported.
var deleteExpired = redis.NewScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do
	redis.call('DEL', KEYS[1] .. id)
	redis.call('ZREM', KEYS[1], id)
end
return ids
`)

// DeleteExpired implements store.Store. The index keeps microseconds: a
// record due less than a microsecond before the cut-off may wait for the
// next sweep, but none is removed before its expiry.
func (s *Store) DeleteExpired(ctx context.Context, before time.Time, limit int) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("redisstore: delete expired: %w", err)
	}
	if limit <= 0 {
		return nil, nil
	}
	ctx, cancel := s.call(ctx)
	defer cancel()
	ids, err := deleteExpired.Run(ctx, s.client, []string{s.prefix},
		strconv.FormatInt(floorMicros(before), 10), strconv.Itoa(limit)).StringSlice()
	if err != nil {
		return nil, s.fail(ctx, "delete expired", err)
	}
	return ids, nil
}

// Close implements store.Store.
func (s *Store) Close() error {
	if err := s.client.Close(); err != nil {
		return fmt.Errorf("redisstore: close: %w", err)
	}
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

// ceilMicros and floorMicros are t in Unix microseconds, rounded so that
// the index never makes a record due before its expiry. Microseconds are
// exact in a float64 score until the year 2255.
func ceilMicros(t time.Time) int64 {
	us := t.UnixMicro()
	if time.UnixMicro(us).Before(t) {
		us++
	}
	return us
}

func floorMicros(t time.Time) int64 {
	us := t.UnixMicro()
	if time.UnixMicro(us).After(t) {
		us--
	}
	return us
}

var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// encodeValue returns the stored value of a record. Expiries outside the
// range of int64 nanoseconds (years 1678 to 2262), such as the zero Time,
// are clamped to it.
func encodeValue(exp time.Time, data []byte) []byte {
	var n int64
	switch {
	case exp.Before(minTime):
		n = math.MinInt64
	case exp.After(maxTime):
		n = math.MaxInt64
	default:
		n = exp.UnixNano()
	}
	v := make([]byte, headerLen, headerLen+len(data))
	v[0] = formatV1
	binary.BigEndian.PutUint64(v[1:headerLen], uint64(n))
	return append(v, data...)
}

// errMalformed is wrapped by the errors of values that cannot be decoded.
var errMalformed = fmt.Errorf("%w: malformed stored value", store.ErrCorrupt)

// decodeValue splits a stored value into its expiry and its data, which
// aliases v.
func decodeValue(v []byte) (time.Time, []byte, error) {
	if len(v) < headerLen {
		return time.Time{}, nil, fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", errMalformed, len(v), headerLen)
	}
	if v[0] != formatV1 {
		return time.Time{}, nil, fmt.Errorf("%w: unknown format %d", errMalformed, v[0])
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v[1:headerLen]))), v[headerLen:], nil
}
