package redisstore

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

var errNotConfigured = errors.New("redisstore: not configured")

// Plugin is the Redis store as a strategy: it has no client until Configure
// names a server.
//
// Configure validates the block and builds the client, but does not reach
// the server: a node must be able to start while its store is briefly down
// (the store is needed only when sessions are evicted or the farm shuts
// down). Calls then fail with an error naming the server, within the
// block's timeout, and the host retries them.
type Plugin struct {
	swap.Store[*Store]
	cur settings // of the current store; guarded by its lock
}

// NewPlugin returns an unconfigured Redis store.
func NewPlugin() *Plugin { return &Plugin{Store: swap.New[*Store](errNotConfigured)} }

// Info implements base.Plugin.
func (p *Plugin) Info(context.Context) (base.Info, error) {
	return base.Info{Name: "redis", Kind: base.KindStore, Version: version, APIVersions: []int{base.APIVersion}}, nil
}

// Schema implements base.Plugin.
func (p *Plugin) Schema(context.Context) (schema.Schema, error) { return Schema(), nil }

// Configure implements base.Plugin. Configuring again with the same block
// keeps the client and its connections; with another, it replaces them once
// the calls in flight are done. A rejected block changes nothing.
func (p *Plugin) Configure(ctx context.Context, config []byte, _ base.Node) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redisstore: configure: %w", err)
	}
	s, opts, err := parseConfig(config)
	if err != nil {
		return err
	}
	p.Lock()
	defer p.Unlock()
	if _, ok := p.Current(); ok && p.cur == s {
		return nil
	}
	oldAddr := p.cur.Addr
	old, had := p.Replace(newStore(s, opts))
	p.cur = s
	if had {
		// The new block is in force either way; a client that failed to
		// close is worth reporting, not worth refusing the block for.
		if err := old.Close(); err != nil {
			return fmt.Errorf("redisstore: configured, but closing the previous client of %s: %w", oldAddr, err)
		}
	}
	return nil
}

// CheckConfig checks a configuration block without connecting.
func CheckConfig(cfgJSON []byte) error {
	_, _, err := parseConfig(cfgJSON)
	return err
}
