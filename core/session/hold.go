package session

import (
	"context"
	"fmt"
)

// Hold finds the session with the id and holds it for the caller the way
// the filter holds a request's session: found in memory, fetched from the
// farm or loaded from the store, and locked (shared, or exclusive in
// exclusive mode) against eviction and migration. It is for callers that
// act on a session outside any HTTP request of this node, such as the
// node-local session API. release replicates what the caller changed
// (waiting for the backups in synchronous mode) and gives the lock back;
// it must be called exactly once. ErrNoSession means no live session has
// the id.
func (m *Manager) Hold(ctx context.Context, id string) (s *Session, release func(context.Context) error, err error) {
	if !ValidID(id) {
		return nil, nil, ErrNoSession
	}
	s, err = m.lookup(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if s == nil {
		return nil, nil, ErrNoSession
	}
	release = func(ctx context.Context) error {
		defer m.unlockRequest(s)
		return m.finish(ctx, s)
	}
	return s, release, nil
}

// Update sets and removes attributes as one change: either all of it
// applies or, when a value or the resulting session is too large or the
// session is gone, none of it does. A key in both set and remove is set.
// Each changed attribute is marked for replication, as Put and Remove do.
func (s *Session) Update(set map[string][]byte, remove []string) error {
	opts := &s.m.opts
	for k, v := range set {
		if n := len(k) + len(v); n > opts.MaxAttributeSize {
			return fmt.Errorf("%w: attribute %q is %d bytes, the limit is %d", ErrTooLarge, k, n, opts.MaxAttributeSize)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.live() {
		return ErrInvalidated
	}
	size := s.size
	for _, k := range remove {
		if _, setToo := set[k]; setToo {
			continue
		}
		if old, ok := s.attrs[k]; ok {
			size -= len(k) + len(old)
		}
	}
	for k, v := range set {
		if old, ok := s.attrs[k]; ok {
			size -= len(k) + len(old)
		}
		size += len(k) + len(v)
	}
	if size > opts.MaxSessionSize {
		return fmt.Errorf("%w: the change would make the session %d bytes, the limit is %d", ErrTooLarge, size, opts.MaxSessionSize)
	}
	changed := false
	for _, k := range remove {
		if _, setToo := set[k]; setToo {
			continue
		}
		if _, ok := s.attrs[k]; ok {
			delete(s.attrs, k)
			s.markDirty(k)
			changed = true
		}
	}
	for k, v := range set {
		s.attrs[k] = v
		s.markDirty(k)
		changed = true
	}
	if changed {
		s.size = size
		s.version++
	}
	return nil
}

// Limits returns the manager's attribute and session size limits, so that
// a caller can refuse an oversized input before decoding it all.
func (m *Manager) Limits() (maxAttribute, maxSession int) {
	return m.opts.MaxAttributeSize, m.opts.MaxSessionSize
}
