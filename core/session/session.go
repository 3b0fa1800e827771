package session

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
)

// Errors returned by Session methods.
var (
	// ErrInvalidated is returned when changing a session that was invalidated,
	// renewed away or expired while the caller held it.
	ErrInvalidated = errors.New("session: invalidated")
	// ErrTooLarge is wrapped by the errors of Put when an attribute or the
	// whole session would exceed its size limit.
	ErrTooLarge = errors.New("session: too large")
)

// state is where a Session object stands. Only a live session serves
// requests; the others tell a request that found the object to look again.
type state int32

const (
	stateLive      state = iota
	stateEvicted         // written to the store and dropped from memory
	stateDestroyed       // invalidated or expired: gone everywhere
	stateMoved           // handed over to another node of the farm
)

// exclusiveWeight is the weight of the exclusive side of a session's lock.
// Requests take 1 (shared mode) or all of it (exclusive mode); the manager
// takes all of it to serialise, evict or move the session.
const exclusiveWeight = 1 << 30

// Session is one user's conversational state. Attributes are named byte
// strings, changed only through Put, Remove, Pop and Clear, so every change is
// known exactly and bumps the version.
//
// A *Session is valid for the request that obtained it (see From). All
// methods are safe for concurrent use.
type Session struct {
	m *Manager
	// lock is the per-session read-write lock with bounded waits: requests
	// hold it shared (or exclusive in exclusive mode) while application code
	// runs; the manager holds it exclusive to evict or serialise. It is a
	// weighted semaphore because sync.RWMutex cannot wait with a deadline, and
	// because its FIFO order stops new requests from entering while the
	// manager waits for the session.
	lock *semaphore.Weighted

	created    time.Time
	idle       time.Duration
	lifetime   time.Duration
	lastAccess atomic.Int64 // unix nanoseconds, on this node's clock
	state      atomic.Int32

	mu      sync.Mutex // guards the fields below
	id      string
	attrs   map[string][]byte
	size    int // sum of len(key)+len(value) over attrs
	version uint64
	// dirty are the attributes changed since the last replication round,
	// cleared whether Clear ran since; kept only on a farm that replicates.
	dirty   map[string]struct{}
	cleared bool

	// replMu serialises replication rounds of the session, so that its
	// backups see its versions in order.
	replMu sync.Mutex
	repl   replState
}

func newSession(m *Manager, id string, created time.Time) *Session {
	s := &Session{
		m:        m,
		lock:     semaphore.NewWeighted(exclusiveWeight),
		created:  created,
		idle:     m.opts.IdleTimeout,
		lifetime: m.opts.Lifetime,
		id:       id,
		attrs:    make(map[string][]byte),
	}
	s.lastAccess.Store(created.UnixNano())
	return s
}

func sessionFromRecord(m *Manager, r *record) *Session {
	s := &Session{
		m:        m,
		lock:     semaphore.NewWeighted(exclusiveWeight),
		created:  r.created,
		idle:     r.idle,
		lifetime: r.lifetime,
		id:       r.id,
		attrs:    r.attrs,
		version:  r.version,
	}
	for k, v := range r.attrs {
		s.size += len(k) + len(v)
	}
	s.lastAccess.Store(r.lastAccess.UnixNano())
	return s
}

// ID returns the session's current id (RenewID changes it).
func (s *Session) ID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id
}

// Version returns a number that increases with every change of the session.
func (s *Session) Version() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version
}

// Created returns when the session was created.
func (s *Session) Created() time.Time { return s.created }

// Expires returns when the session will expire if nobody touches it again.
func (s *Session) Expires() time.Time {
	return expiry(s.created, time.Unix(0, s.lastAccess.Load()), s.idle, s.lifetime)
}

func (s *Session) live() bool { return state(s.state.Load()) == stateLive }

// Get returns a copy of the attribute's value, and whether it exists.
func (s *Session) Get(key string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.attrs[key]
	if !ok {
		return nil, false
	}
	return slices.Clone(v), true
}

// Has reports whether the attribute exists.
func (s *Session) Has(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.attrs[key]
	return ok
}

// GetString returns the attribute as a string, or "" if it is absent.
func (s *Session) GetString(key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.attrs[key])
}

// GetInt returns the attribute as an integer written by PutInt (decimal, so
// that applications in other languages can share it); 0 if it is absent.
func (s *Session) GetInt(key string) (int, error) {
	v := s.GetString(key)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("session: attribute %q is not an integer: %w", key, err)
	}
	return n, nil
}

// GetBool returns the attribute as a boolean written by PutBool; false if it
// is absent.
func (s *Session) GetBool(key string) (bool, error) {
	v := s.GetString(key)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("session: attribute %q is not a boolean: %w", key, err)
	}
	return b, nil
}

// GetJSON decodes the attribute's JSON value into v. It reports false, and
// leaves v alone, if the attribute is absent.
func (s *Session) GetJSON(key string, v any) (bool, error) {
	s.mu.Lock()
	raw, ok := s.attrs[key]
	s.mu.Unlock()
	if !ok {
		return false, nil
	}
	// raw is never modified in place (Put replaces the slice), so it can be
	// read outside the lock.
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("session: attribute %q: %w", key, err)
	}
	return true, nil
}

// Put sets the attribute to a copy of value.
func (s *Session) Put(key string, value []byte) error {
	return s.put(key, slices.Clone(value))
}

// PutString sets the attribute to a string.
func (s *Session) PutString(key, value string) error { return s.put(key, []byte(value)) }

// PutInt sets the attribute to an integer, stored in decimal.
func (s *Session) PutInt(key string, value int) error {
	return s.put(key, strconv.AppendInt(nil, int64(value), 10))
}

// PutBool sets the attribute to a boolean, stored as "true" or "false".
func (s *Session) PutBool(key string, value bool) error {
	return s.put(key, strconv.AppendBool(nil, value))
}

// PutJSON sets the attribute to the JSON encoding of value.
func (s *Session) PutJSON(key string, value any) error {
	b, err := json.Marshal(value)
	if err != nil {
		return fmt.Errorf("session: attribute %q: %w", key, err)
	}
	return s.put(key, b)
}

// put takes ownership of value.
func (s *Session) put(key string, value []byte) error {
	opts := &s.m.opts
	if n := len(key) + len(value); n > opts.MaxAttributeSize {
		return fmt.Errorf("%w: attribute %q is %d bytes, the limit is %d", ErrTooLarge, key, n, opts.MaxAttributeSize)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.live() {
		return ErrInvalidated
	}
	size := s.size + len(key) + len(value)
	if old, ok := s.attrs[key]; ok {
		size -= len(key) + len(old)
	}
	if size > opts.MaxSessionSize {
		return fmt.Errorf("%w: setting %q would make the session %d bytes, the limit is %d", ErrTooLarge, key, size, opts.MaxSessionSize)
	}
	s.attrs[key] = value
	s.size = size
	s.version++
	s.markDirty(key)
	return nil
}

// Remove deletes the attribute; removing an absent one changes nothing.
func (s *Session) Remove(key string) error {
	_, _, err := s.pop(key)
	return err
}

// Pop removes the attribute and returns its value, and whether it existed.
func (s *Session) Pop(key string) ([]byte, bool) {
	v, ok, err := s.pop(key)
	return v, ok && err == nil
}

// PopString removes the attribute and returns it as a string ("" if absent).
func (s *Session) PopString(key string) string {
	v, _ := s.Pop(key)
	return string(v)
}

func (s *Session) pop(key string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.live() {
		return nil, false, ErrInvalidated
	}
	v, ok := s.attrs[key]
	if !ok {
		return nil, false, nil
	}
	delete(s.attrs, key)
	s.size -= len(key) + len(v)
	s.version++
	s.markDirty(key)
	return v, true, nil
}

// Keys returns the attribute names in sorted order.
func (s *Session) Keys() []string {
	s.mu.Lock()
	keys := make([]string, 0, len(s.attrs))
	for k := range s.attrs {
		keys = append(keys, k)
	}
	s.mu.Unlock()
	slices.Sort(keys)
	return keys
}

// Len returns the number of attributes.
func (s *Session) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.attrs)
}

// Clear removes every attribute; the session itself stays.
func (s *Session) Clear() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.live() {
		return ErrInvalidated
	}
	if len(s.attrs) == 0 {
		return nil
	}
	clear(s.attrs)
	s.size = 0
	s.version++
	if s.m.replicating() {
		clear(s.dirty)
		s.cleared = true
	}
	return nil
}

// markDirty records a changed attribute for the next replication round.
// The caller holds mu.
func (s *Session) markDirty(key string) {
	if !s.m.replicating() {
		return
	}
	if s.dirty == nil {
		s.dirty = make(map[string]struct{})
	}
	s.dirty[key] = struct{}{}
}

// Attributes returns a copy of all attributes.
func (s *Session) Attributes() map[string][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]byte, len(s.attrs))
	for k, v := range s.attrs {
		out[k] = slices.Clone(v)
	}
	return out
}

// snapshot returns the session as a record. The caller holds the exclusive
// lock, so no request is changing it; values are shared, not copied, because
// put replaces slices instead of writing into them.
func (s *Session) snapshot() *record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snapshotLocked()
}

// snapshotLocked is snapshot for a caller that holds mu.
func (s *Session) snapshotLocked() *record {
	attrs := make(map[string][]byte, len(s.attrs))
	for k, v := range s.attrs {
		attrs[k] = v
	}
	return &record{
		id:         s.id,
		version:    s.version,
		created:    s.created,
		lastAccess: time.Unix(0, s.lastAccess.Load()),
		idle:       s.idle,
		lifetime:   s.lifetime,
		attrs:      attrs,
	}
}
