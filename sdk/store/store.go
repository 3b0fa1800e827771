// Package store defines the store strategy: shared long-term storage for
// sessions that were evicted from memory or written out when their node shut
// down.
//
// A store holds opaque records. The host serialises (and, through codecs,
// compresses or encrypts) a session before it reaches the store, so a store
// never interprets Data; it only keeps it until Expires.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/wadi-go/wadi/sdk/base"
)

// Errors a store returns; callers test them with errors.Is.
var (
	// ErrNotFound is returned by Load when no live record has the id.
	ErrNotFound = errors.New("store: record not found")
	// ErrCorrupt is wrapped by Load's error when the stored record cannot be
	// read back; the host reports and skips it, unlike an outage, which it
	// retries.
	ErrCorrupt = errors.New("store: corrupt record")
)

// Record is one stored session.
type Record struct {
	// ID is the session id. Stores may rely on it being at most MaxIDLen bytes.
	ID string
	// Expires is when the record stops being valid; a store must not return a
	// record past its expiry from Load, and DeleteExpired removes it. A zero
	// or past Expires is accepted and means already expired.
	Expires time.Time
	// Data is the encoded session; the store keeps it byte for byte.
	Data []byte
}

// MaxIDLen bounds the length of a record id so that stores can size keys.
const MaxIDLen = 128

// LogID shortens a record id for logs and errors: its first 8 bytes and
// "…", enough to tell records apart in a log, not enough to use. A record id
// is a session id, a bearer credential, and logs reach more people than the
// store does. The host shortens ids the same way, so a store's error and
// the host's line around it name a session alike.
func LogID(id string) string {
	if len(id) > 8 {
		return id[:8] + "…"
	}
	return id
}

// Store is implemented by every store strategy. All methods are safe for
// concurrent use. Every method given a context that is already done returns
// an error wrapping ctx.Err(), even for an empty batch, and returns promptly
// when it is cancelled. An id that is empty or longer than MaxIDLen makes the
// call fail whole.
type Store interface {
	// Save writes the records, replacing any with the same id. A batch is
	// written as a whole where the backend allows it; on error, some records
	// may have been written, and the caller retries the whole batch (Save is
	// idempotent).
	Save(ctx context.Context, recs []Record) error
	// Load returns the record with the id, or ErrNotFound if there is none or
	// it has expired.
	Load(ctx context.Context, id string) (Record, error)
	// Delete removes the records with the ids; ids that are absent are not an
	// error.
	Delete(ctx context.Context, ids []string) error
	// DeleteExpired removes up to limit records whose expiry is at or before
	// the given time, earliest first, and returns their ids; limit <= 0
	// removes nothing. A record saved again with a later expiry since is not
	// removed: the check and the removal are atomic. Stores whose backend
	// expires records by itself (Redis TTLs) may return no ids.
	DeleteExpired(ctx context.Context, before time.Time, limit int) ([]string, error)
	// Close releases the store's resources. No method is called after it.
	Close() error
}

// Plugin is a store strategy as a plugin: the Store and the base every plugin
// implements. Builtins implement it too, so that any of them can also run out
// of process.
type Plugin interface {
	base.Plugin
	Store
}
