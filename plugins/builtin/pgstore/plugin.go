package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/wadi-go/wadi/plugins/builtin/internal/swap"
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
	swap.Store[*Store]
	cur settings // of the current store; guarded by its lock
}

// NewPlugin returns an unconfigured PostgreSQL store.
func NewPlugin() *Plugin { return &Plugin{Store: swap.New[*Store](errNotConfigured)} }

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
	p.Lock()
	defer p.Unlock()
	if _, ok := p.Current(); ok && p.cur == s {
		return nil
	}
	st, err := newStore(s, pc)
	if err != nil {
		return err
	}
	old, had := p.Replace(st)
	p.cur = s
	if had {
		// The new block is in force either way; a pool that failed to
		// close is worth reporting, not worth refusing the block for.
		if err := old.Close(); err != nil {
			return fmt.Errorf("pgstore: configured, but closing the previous pool: %w", err)
		}
	}
	return nil
}

// CheckConfig checks a configuration block without connecting.
func CheckConfig(cfgJSON []byte) error {
	_, _, err := parseConfig(cfgJSON)
	return err
}
