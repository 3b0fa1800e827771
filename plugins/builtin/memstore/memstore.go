// Package memstore is a store strategy that keeps records in the process's
// memory: for tests and for throwaway nodes whose sessions need not outlive
// them. Nothing is shared between nodes or survives a restart.
package memstore

import (
	"bytes"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/schema"
	"github.com/wadi-go/wadi/sdk/store"
)

var _ store.Plugin = (*Store)(nil)

// version is the plugin version Info reports.
const version = "0.1.0"

// errClosed is returned by every method called after Close.
var errClosed = errors.New("memstore: store is closed")

// Store is an in-memory store.Store. The zero value is not usable; call New.
type Store struct {
	mu      sync.RWMutex
	records map[string]*entry
	// byExpiry orders the records by expiry so that DeleteExpired visits only
	// the records it removes.
	byExpiry expiryHeap
	closed   bool
}

type entry struct {
	id      string
	expires time.Time
	data    []byte
	index   int // position in byExpiry, kept by the heap
}

// New returns an empty store.
func New() *Store {
	return &Store{records: make(map[string]*entry)}
}

// Info implements base.Plugin.
func (s *Store) Info(context.Context) (base.Info, error) {
	return base.Info{Name: "memory", Kind: base.KindStore, Version: version, APIVersions: []int{base.APIVersion}}, nil
}

// Schema implements base.Plugin: the block has no attributes.
func (s *Store) Schema(context.Context) (schema.Schema, error) {
	return schema.Schema{}, nil
}

// Configure implements base.Plugin. The block has no attributes: config
// must be empty, null or an empty object.
func (s *Store) Configure(_ context.Context, config []byte, _ base.Node) error {
	var cfg struct{}
	if err := schema.Decode(config, &cfg); err != nil {
		return fmt.Errorf("memstore: %w", err)
	}
	return nil
}

// Save implements store.Store. A batch is applied at once: no reader sees
// part of it.
func (s *Store) Save(ctx context.Context, recs []store.Record) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: save: %w", err)
	}
	if len(recs) == 0 {
		return nil
	}
	for _, r := range recs {
		if err := checkID(r.ID); err != nil {
			return err
		}
	}
	// Copy outside the lock: the caller may reuse its buffers once Save
	// returns, and large sessions should not hold up readers.
	entries := make([]*entry, len(recs))
	for i, r := range recs {
		entries[i] = &entry{
			id:      r.ID,
			expires: r.Expires.Round(0), // drop the monotonic reading: expiries are wall-clock times
			data:    bytes.Clone(r.Data),
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	for _, e := range entries {
		if old, ok := s.records[e.id]; ok {
			heap.Remove(&s.byExpiry, old.index)
		}
		s.records[e.id] = e
		heap.Push(&s.byExpiry, e)
	}
	return nil
}

// Load implements store.Store.
func (s *Store) Load(ctx context.Context, id string) (store.Record, error) {
	if err := ctx.Err(); err != nil {
		return store.Record{}, fmt.Errorf("memstore: load: %w", err)
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return store.Record{}, errClosed
	}
	e, ok := s.records[id]
	var rec store.Record
	if ok {
		// Entries are never changed in place, only replaced, so the copy
		// below may happen after the lock is released.
		rec = store.Record{ID: e.id, Expires: e.expires}
	}
	s.mu.RUnlock()
	if !ok || !rec.Expires.After(time.Now()) {
		return store.Record{}, store.ErrNotFound
	}
	rec.Data = bytes.Clone(e.data)
	if rec.Data == nil {
		rec.Data = []byte{}
	}
	return rec, nil
}

// Delete implements store.Store.
func (s *Store) Delete(ctx context.Context, ids []string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: delete: %w", err)
	}
	if len(ids) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	for _, id := range ids {
		if e, ok := s.records[id]; ok {
			heap.Remove(&s.byExpiry, e.index)
			delete(s.records, id)
		}
	}
	return nil
}

// DeleteExpired implements store.Store. It removes the records in order of
// expiry, earliest first; a limit of zero or less removes nothing.
func (s *Store) DeleteExpired(ctx context.Context, before time.Time, limit int) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memstore: delete expired: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	var ids []string
	for len(ids) < limit && len(s.byExpiry) > 0 && !s.byExpiry[0].expires.After(before) {
		e := heap.Pop(&s.byExpiry).(*entry)
		delete(s.records, e.id)
		ids = append(ids, e.id)
	}
	return ids, nil
}

// Close implements store.Store; it drops every record.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.records = nil
	s.byExpiry = nil
	return nil
}

// Len returns the number of records held, expired or not.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.records)
}

func checkID(id string) error {
	if id == "" {
		return errors.New("memstore: save: empty record id")
	}
	if len(id) > store.MaxIDLen {
		return fmt.Errorf("memstore: save: record id of %d bytes, longer than %d", len(id), store.MaxIDLen)
	}
	return nil
}

// expiryHeap is a min-heap of entries by expiry, ties broken by id so that
// the order is deterministic.
type expiryHeap []*entry

func (h expiryHeap) Len() int { return len(h) }

func (h expiryHeap) Less(i, j int) bool {
	if c := h[i].expires.Compare(h[j].expires); c != 0 {
		return c < 0
	}
	return h[i].id < h[j].id
}

func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (h *expiryHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}

func (h *expiryHeap) Pop() any {
	old := *h
	n := len(old)
	e := old[n-1]
	old[n-1] = nil // let the entry be collected
	e.index = -1
	*h = old[:n-1]
	return e
}
