// Package filestore is the default store strategy: records in one bbolt file
// on the node's local disk.
//
// The file holds three buckets:
//
//	records  id -> value: 8-byte expiry, 1 format byte, then the data
//	expiry   8-byte expiry || id -> nothing; ordered by expiry, so that
//	         DeleteExpired reads only the records it removes
//	meta     "layout" -> the layout version of the file
//
// Expiries are Unix nanoseconds, big-endian, with the sign bit flipped so that
// the byte order of the keys is the order of the times.
package filestore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/wadi-go/wadi/sdk/schema"
	"github.com/wadi-go/wadi/sdk/store"
)

var _ store.Store = (*Store)(nil)

var (
	bucketRecords = []byte("records")
	bucketExpiry  = []byte("expiry")
	bucketMeta    = []byte("meta")
	keyLayout     = []byte("layout")
)

// layoutVersion is the version of the bucket layout above; a file written by
// a later layout is refused rather than misread.
const layoutVersion = 1

// formatV1 is the format byte of a value: data stored as is.
const formatV1 = 1

// headerLen is the length of a value's header: expiry and format byte.
const headerLen = 8 + 1

// DefaultTimeout is how long Open waits for the file lock by default.
const DefaultTimeout = 5 * time.Second

// Options tunes Open.
type Options struct {
	// Timeout is how long Open waits for another process to release the
	// file's lock; zero means DefaultTimeout.
	Timeout time.Duration
}

// Store is a store.Store backed by a bbolt file.
type Store struct {
	db *bolt.DB
}

// Open opens the store in the file at path, creating the file (mode 0600) and
// its directory (mode 0700) if needed. Only one process can hold the file
// open; Open waits opts.Timeout for it.
func Open(path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("filestore: open: empty path")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("filestore: open: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.Timeout})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("filestore: open %s: file is locked by another process (waited %v): %w", path, opts.Timeout, err)
		}
		return nil, fmt.Errorf("filestore: open %s: %w", path, err)
	}
	if err := db.Update(initLayout); err != nil {
		db.Close()
		return nil, fmt.Errorf("filestore: open %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

func initLayout(tx *bolt.Tx) error {
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return err
	}
	switch v := meta.Get(keyLayout); {
	case v == nil:
		if err := meta.Put(keyLayout, []byte{layoutVersion}); err != nil {
			return err
		}
	case len(v) != 1 || v[0] != layoutVersion:
		return fmt.Errorf("file has layout version %v, this build reads version %d", v, layoutVersion)
	}
	for _, name := range [][]byte{bucketRecords, bucketExpiry} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	return nil
}

// Schema describes the store's configuration block.
func Schema() schema.Schema {
	return schema.Schema{Attributes: []schema.Attribute{{
		Name:    "path",
		Type:    schema.String,
		Default: `"sessions.db"`,
		Doc:     "file of the store, relative to the node's data_dir",
	}}}
}

// config is the JSON form of the configuration block.
type config struct {
	Path *string `json:"path"`
}

// pathFromConfig returns the file a configuration block names: a relative
// path is taken relative to dataDir.
func pathFromConfig(cfgJSON []byte, dataDir string) (string, error) {
	var cfg config
	if err := schema.Decode(cfgJSON, &cfg); err != nil {
		return "", fmt.Errorf("filestore: %w", err)
	}
	path := "sessions.db"
	if cfg.Path != nil {
		if *cfg.Path == "" {
			return "", errors.New("filestore: config: path is empty")
		}
		path = *cfg.Path
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(dataDir, path)
	}
	return path, nil
}

// FromConfig opens the store a configuration block describes. cfgJSON is the
// block decoded to JSON ({"path": ...}; empty means all defaults); a relative
// path is taken relative to dataDir.
func FromConfig(cfgJSON []byte, dataDir string) (*Store, error) {
	path, err := pathFromConfig(cfgJSON, dataDir)
	if err != nil {
		return nil, err
	}
	return Open(path, Options{})
}

// Save implements store.Store. The batch is one transaction: all of it is
// written, with one fsync, or none of it.
func (s *Store) Save(ctx context.Context, recs []store.Record) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("filestore: save: %w", err)
	}
	if len(recs) == 0 {
		return nil
	}
	for _, r := range recs {
		if err := checkID(r.ID); err != nil {
			return fmt.Errorf("filestore: save: %w", err)
		}
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		// The writer lock may have been a long wait.
		if err := ctx.Err(); err != nil {
			return err
		}
		records, index := tx.Bucket(bucketRecords), tx.Bucket(bucketExpiry)
		for _, r := range recs {
			id := []byte(r.ID)
			if err := unindex(index, id, records.Get(id)); err != nil {
				return err
			}
			exp := encodeExpiry(r.Expires)
			// bbolt keeps the slices until the transaction commits, and the
			// caller may reuse r.Data once Save returns: the encoding copies.
			if err := records.Put(id, encodeValue(exp, r.Data)); err != nil {
				return fmt.Errorf("record %q: %w", store.LogID(r.ID), err)
			}
			if err := index.Put(indexKey(exp, id), nil); err != nil {
				return fmt.Errorf("index of %q: %w", store.LogID(r.ID), err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("filestore: save %d records: %w", len(recs), err)
	}
	return nil
}

// unindex removes the index entry of the stored value old, if it has one.
// A malformed value has no expiry to find its entry by; DeleteExpired drops
// such orphaned entries when it reaches them.
func unindex(index *bolt.Bucket, id, old []byte) error {
	if old == nil {
		return nil
	}
	exp, _, err := decodeValue(old)
	if err != nil {
		return nil
	}
	return index.Delete(indexKey(exp, id))
}

// Load implements store.Store. A record whose stored value cannot be decoded
// is reported with an error that is not store.ErrNotFound.
func (s *Store) Load(ctx context.Context, id string) (store.Record, error) {
	if err := ctx.Err(); err != nil {
		return store.Record{}, fmt.Errorf("filestore: load: %w", err)
	}
	var rec store.Record
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketRecords).Get([]byte(id))
		if v == nil {
			return store.ErrNotFound
		}
		exp, data, err := decodeValue(v)
		if err != nil {
			return err
		}
		rec.Expires = decodeExpiry(exp)
		if !rec.Expires.After(time.Now()) {
			return store.ErrNotFound
		}
		// v lives in the memory map only as long as the transaction.
		rec.Data = bytes.Clone(data)
		if rec.Data == nil {
			rec.Data = []byte{}
		}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return store.Record{}, store.ErrNotFound
	}
	if err != nil {
		return store.Record{}, fmt.Errorf("filestore: load %q: %w", store.LogID(id), err)
	}
	rec.ID = id
	return rec, nil
}

// Delete implements store.Store, in one transaction.
func (s *Store) Delete(ctx context.Context, ids []string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("filestore: delete: %w", err)
	}
	if len(ids) == 0 {
		return nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		records, index := tx.Bucket(bucketRecords), tx.Bucket(bucketExpiry)
		for _, id := range ids {
			key := []byte(id)
			old := records.Get(key)
			if old == nil {
				continue
			}
			if err := unindex(index, key, old); err != nil {
				return err
			}
			if err := records.Delete(key); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("filestore: delete %d ids: %w", len(ids), err)
	}
	return nil
}

// DeleteExpired implements store.Store. It removes records earliest expiry
// first, in one transaction, so a concurrent Save of the same id is either
// before the check or after the removal. A limit of zero or less removes
// nothing.
//
// An index entry whose record is gone or has another expiry is dropped
// without being reported. A record whose value is malformed but whose index
// entry is due is removed and reported: the index says it has expired.
func (s *Store) DeleteExpired(ctx context.Context, before time.Time, limit int) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("filestore: delete expired: %w", err)
	}
	if limit <= 0 {
		return nil, nil
	}
	cut := encodeExpiry(before)
	// A periodic sweep usually finds nothing due: find that out in a read
	// transaction, which costs no fsync and does not wait for writers.
	var anyDue bool
	err := s.db.View(func(tx *bolt.Tx) error {
		k, _ := tx.Bucket(bucketExpiry).Cursor().First()
		anyDue = k != nil && (len(k) < 8 || bytes.Compare(k[:8], cut[:]) <= 0)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("filestore: delete expired: %w", err)
	}
	if !anyDue {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("filestore: delete expired: %w", err)
	}
	var ids []string
	err = s.db.Update(func(tx *bolt.Tx) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		ids = ids[:0] // in case bbolt ever retries the function
		records, index := tx.Bucket(bucketRecords), tx.Bucket(bucketExpiry)
		// Keys are collected first: deleting under a bbolt cursor skips keys.
		// Orphans are bounded too, so one call's transaction stays small.
		var due, orphans [][]byte
		c := index.Cursor()
		for k, _ := c.First(); k != nil && len(due) < limit && len(orphans) < limit; k, _ = c.Next() {
			if len(k) < 8 {
				// Not a key this package writes; drop it.
				orphans = append(orphans, bytes.Clone(k))
				continue
			}
			if bytes.Compare(k[:8], cut[:]) > 0 {
				break
			}
			exp, id := [8]byte(k[:8]), k[8:]
			v := records.Get(id)
			if v != nil {
				if vexp, _, err := decodeValue(v); err != nil || vexp == exp {
					due = append(due, bytes.Clone(k))
					continue
				}
			}
			orphans = append(orphans, bytes.Clone(k))
		}
		for _, k := range orphans {
			if err := index.Delete(k); err != nil {
				return err
			}
		}
		for _, k := range due {
			if err := index.Delete(k); err != nil {
				return err
			}
			if err := records.Delete(k[8:]); err != nil {
				return err
			}
			ids = append(ids, string(k[8:]))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("filestore: delete expired: %w", err)
	}
	return ids, nil
}

// Close implements store.Store.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("filestore: close: %w", err)
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

// encodeExpiry returns t as Unix nanoseconds, big-endian with the sign bit
// flipped, so that byte order is time order also before 1970. Times outside
// the range of int64 nanoseconds (years 1678 to 2262), such as the zero
// Time, are clamped to it.
func encodeExpiry(t time.Time) [8]byte {
	var n int64
	switch {
	case t.Before(minTime):
		n = math.MinInt64
	case t.After(maxTime):
		n = math.MaxInt64
	default:
		n = t.UnixNano()
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n)^(1<<63))
	return b
}

var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

func decodeExpiry(b [8]byte) time.Time {
	return time.Unix(0, int64(binary.BigEndian.Uint64(b[:])^(1<<63)))
}

func indexKey(exp [8]byte, id []byte) []byte {
	k := make([]byte, 0, 8+len(id))
	return append(append(k, exp[:]...), id...)
}

func encodeValue(exp [8]byte, data []byte) []byte {
	v := make([]byte, 0, headerLen+len(data))
	v = append(v, exp[:]...)
	v = append(v, formatV1)
	return append(v, data...)
}

// errMalformed is wrapped by the errors of values that cannot be decoded.
var errMalformed = fmt.Errorf("%w: malformed stored value", store.ErrCorrupt)

// decodeValue splits a stored value into its encoded expiry and its data,
// which aliases v.
func decodeValue(v []byte) (exp [8]byte, data []byte, err error) {
	if len(v) < headerLen {
		return exp, nil, fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", errMalformed, len(v), headerLen)
	}
	if f := v[8]; f != formatV1 {
		return exp, nil, fmt.Errorf("%w: unknown format %d", errMalformed, f)
	}
	return [8]byte(v[:8]), v[headerLen:], nil
}
