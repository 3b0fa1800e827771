package testimpl

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/store"
)

// Store is a map-backed store.Plugin that keeps the whole Store contract,
// so the conformance kit can run against it through the protocol.
type Store struct {
	*Base
	mu   sync.Mutex
	recs map[string]store.Record
}

var _ store.Plugin = (*Store)(nil)

// NewStore returns an empty store logging to logger (nil: nowhere).
func NewStore(logger hclog.Logger) *Store {
	return &Store{Base: newBase(base.KindStore, logger), recs: make(map[string]store.Record)}
}

func checkID(id string) error {
	if id == "" || len(id) > store.MaxIDLen {
		return fmt.Errorf("test-store: bad id of %d bytes", len(id))
	}
	return nil
}

// Save implements store.Store.
func (s *Store) Save(ctx context.Context, recs []store.Record) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("test-store: save: %w", err)
	}
	for _, r := range recs {
		if err := checkID(r.ID); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range recs {
		r.Data = slices.Clone(r.Data)
		s.recs[r.ID] = r
	}
	s.logger.Debug("saved", "records", len(recs))
	return nil
}

// Load implements store.Store.
func (s *Store) Load(ctx context.Context, id string) (store.Record, error) {
	if err := ctx.Err(); err != nil {
		return store.Record{}, fmt.Errorf("test-store: load: %w", err)
	}
	if err := checkID(id); err != nil {
		return store.Record{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recs[id]
	if !ok || !r.Expires.After(time.Now()) {
		return store.Record{}, fmt.Errorf("test-store: load %q: %w", id, store.ErrNotFound)
	}
	r.Data = slices.Clone(r.Data)
	return r, nil
}

// Delete implements store.Store.
func (s *Store) Delete(ctx context.Context, ids []string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("test-store: delete: %w", err)
	}
	for _, id := range ids {
		if err := checkID(id); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		delete(s.recs, id)
	}
	return nil
}

// DeleteExpired implements store.Store.
func (s *Store) DeleteExpired(ctx context.Context, before time.Time, limit int) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("test-store: delete expired: %w", err)
	}
	if limit <= 0 {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var due []store.Record
	for _, r := range s.recs {
		if !r.Expires.After(before) {
			due = append(due, r)
		}
	}
	slices.SortFunc(due, func(a, b store.Record) int {
		if c := a.Expires.Compare(b.Expires); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	if len(due) > limit {
		due = due[:limit]
	}
	var ids []string
	for _, r := range due {
		delete(s.recs, r.ID)
		ids = append(ids, r.ID)
	}
	return ids, nil
}

// Close implements store.Store.
func (s *Store) Close() error { return nil }
