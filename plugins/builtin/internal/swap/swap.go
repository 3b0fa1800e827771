// Package swap holds the store a builtin store plugin has been configured
// with, so that Configure can replace it while calls are in flight: every
// call runs under a read lock, and a replacement waits for the calls in
// flight to finish.
package swap

import (
	"context"
	"sync"
	"time"

	"github.com/wadi-go/wadi/sdk/store"
)

// Store forwards the store.Store methods to the current store, or fails
// them with the not-configured error while there is none. A plugin embeds
// it and replaces the store from Configure under Lock.
type Store[S store.Store] struct {
	mu            sync.RWMutex
	cur           S
	set           bool
	notConfigured error
}

// New returns a Store with no store yet; calls fail with notConfigured.
func New[S store.Store](notConfigured error) Store[S] {
	return Store[S]{notConfigured: notConfigured}
}

// Lock takes the store exclusively, waiting for the calls in flight, for
// Configure to look at and replace it.
func (s *Store[S]) Lock() { s.mu.Lock() }

// Unlock releases Lock.
func (s *Store[S]) Unlock() { s.mu.Unlock() }

// Current returns the store and whether there is one. The caller holds
// Lock.
func (s *Store[S]) Current() (S, bool) { return s.cur, s.set }

// Replace installs st and returns the previous store, if any, for the
// caller to close. The caller holds Lock.
func (s *Store[S]) Replace(st S) (S, bool) {
	old, had := s.cur, s.set
	s.cur, s.set = st, true
	return old, had
}

func (s *Store[S]) get() (S, func(), error) {
	s.mu.RLock()
	if !s.set {
		s.mu.RUnlock()
		var zero S
		return zero, nil, s.notConfigured
	}
	return s.cur, s.mu.RUnlock, nil
}

// Save implements store.Store.
func (s *Store[S]) Save(ctx context.Context, recs []store.Record) error {
	st, done, err := s.get()
	if err != nil {
		return err
	}
	defer done()
	return st.Save(ctx, recs)
}

// Load implements store.Store.
func (s *Store[S]) Load(ctx context.Context, id string) (store.Record, error) {
	st, done, err := s.get()
	if err != nil {
		return store.Record{}, err
	}
	defer done()
	return st.Load(ctx, id)
}

// Delete implements store.Store.
func (s *Store[S]) Delete(ctx context.Context, ids []string) error {
	st, done, err := s.get()
	if err != nil {
		return err
	}
	defer done()
	return st.Delete(ctx, ids)
}

// DeleteExpired implements store.Store.
func (s *Store[S]) DeleteExpired(ctx context.Context, before time.Time, limit int) ([]string, error) {
	st, done, err := s.get()
	if err != nil {
		return nil, err
	}
	defer done()
	return st.DeleteExpired(ctx, before, limit)
}

// Close implements store.Store: it closes the current store, after which
// calls fail as before Configure. Closing with no store is not an error.
func (s *Store[S]) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.set {
		return nil
	}
	err := s.cur.Close()
	var zero S
	s.cur, s.set = zero, false
	return err
}
