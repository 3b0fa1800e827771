package filestore

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

var errNotConfigured = errors.New("filestore: not configured")

// Plugin is the file store as a strategy: it has no file until Configure
// names one, the way the host configures every strategy, builtin or not.
type Plugin struct {
	mu   sync.RWMutex
	st   *Store
	path string
}

// NewPlugin returns an unconfigured file store.
func NewPlugin() *Plugin { return &Plugin{} }

// Info implements base.Plugin.
func (p *Plugin) Info(context.Context) (base.Info, error) {
	return base.Info{Name: "file", Kind: base.KindStore, Version: version, APIVersions: []int{base.APIVersion}}, nil
}

// Schema implements base.Plugin.
func (p *Plugin) Schema(context.Context) (schema.Schema, error) { return Schema(), nil }

// Configure implements base.Plugin: it opens the file the block names,
// relative to the node's data directory. Configuring again with another path
// switches files; with the same path it keeps the open one.
func (p *Plugin) Configure(ctx context.Context, config []byte, node base.Node) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("filestore: configure: %w", err)
	}
	path, err := pathFromConfig(config, node.DataDir)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.st != nil && p.path == path {
		return nil
	}
	st, err := Open(path, Options{})
	if err != nil {
		return err
	}
	if p.st != nil {
		if err := p.st.Close(); err != nil {
			_ = st.Close()
			return fmt.Errorf("filestore: closing %s: %w", p.path, err)
		}
	}
	p.st, p.path = st, path
	return nil
}

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
