package pgstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/schema"
	"github.com/wadi-go/wadi/sdk/store"
)

var _ store.Plugin = (*Plugin)(nil)

// version is the plugin version Info reports.
const version = "0.1.0"

var errNotConfigured = errors.New("pgstore: not configured")

// Plugin is the PostgreSQL store as a strategy: it has no pool until
// Configure names a database.
//
// Configure validates the block and builds the pool, but does not reach the
// server, nor create the table: a node must be able to start while its
// store is briefly down (the store is needed only when sessions are evicted
// or the farm shuts down). Calls then fail with an error naming the server,
// within the block's timeout, and the host retries them; the first that
// reaches the server creates or migrates the table.
type Plugin struct {
	mu  sync.RWMutex
	st  *Store
	cur settings
}

// NewPlugin returns an unconfigured PostgreSQL store.
func NewPlugin() *Plugin { return &Plugin{} }

// Info implements base.Plugin.
func (p *Plugin) Info(context.Context) (base.Info, error) {
	return base.Info{Name: "postgres", Kind: base.KindStore, Version: version, APIVersions: []int{base.APIVersion}}, nil
}

// Schema implements base.Plugin.
func (p *Plugin) Schema(context.Context) (schema.Schema, error) { return Schema(), nil }

// Configure implements base.Plugin. Configuring again with the same block
// keeps the pool and its connections; with another, it replaces them once
// the calls in flight are done. A rejected block changes nothing.
func (p *Plugin) Configure(ctx context.Context, config []byte, _ base.Node) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pgstore: configure: %w", err)
	}
	s, pc, err := parseConfig(config)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.st != nil && p.cur == s {
		return nil
	}
	st, err := newStore(s, pc)
	if err != nil {
		return err
	}
	old := p.st
	p.st, p.cur = st, s
	if old != nil {
		// The new block is in force either way; a pool that failed to
		// close is worth reporting, not worth refusing the block for.
		if err := old.Close(); err != nil {
			return fmt.Errorf("pgstore: configured, but closing the previous pool: %w", err)
		}
	}
	return nil
}

// store returns the configured store, read-locked until done is called, so
// that Configure and Close wait for the calls in flight.
func (p *Plugin) store() (*Store, func(), error) {
	p.mu.RLock()
	if p.st == nil {
		p.mu.RUnlock()
		return nil, nil, errNotConfigured
	}
	return p.st, p.mu.RUnlock, nil
}

// Save implements store.Store.
func (p *Plugin) Save(ctx context.Context, recs []store.Record) error {
	st, done, err := p.store()
	if err != nil {
		return err
	}
	defer done()
	return st.Save(ctx, recs)
}

// Load implements store.Store.
func (p *Plugin) Load(ctx context.Context, id string) (store.Record, error) {
	st, done, err := p.store()
	if err != nil {
		return store.Record{}, err
	}
	defer done()
	return st.Load(ctx, id)
}

// Delete implements store.Store.
func (p *Plugin) Delete(ctx context.Context, ids []string) error {
	st, done, err := p.store()
	if err != nil {
		return err
	}
	defer done()
	return st.Delete(ctx, ids)
}

// DeleteExpired implements store.Store.
func (p *Plugin) DeleteExpired(ctx context.Context, before time.Time, limit int) ([]string, error) {
	st, done, err := p.store()
	if err != nil {
		return nil, err
	}
	defer done()
	return st.DeleteExpired(ctx, before, limit)
}

// Close implements store.Store. An unconfigured plugin closes trivially.
func (p *Plugin) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.st == nil {
		return nil
	}
	err := p.st.Close()
	p.st = nil
	return err
}
