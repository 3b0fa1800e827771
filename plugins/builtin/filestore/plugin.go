package filestore

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

var errNotConfigured = errors.New("filestore: not configured")

// Plugin is the file store as a strategy: it has no file until Configure
// names one, the way the host configures every strategy, builtin or not.
type Plugin struct {
	swap.Store[*Store]
	path string // of the current store; guarded by its lock
}

// NewPlugin returns an unconfigured file store.
func NewPlugin() *Plugin { return &Plugin{Store: swap.New[*Store](errNotConfigured)} }

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
	p.Lock()
	defer p.Unlock()
	cur, ok := p.Current()
	if ok && p.path == path {
		return nil
	}
	st, err := Open(path, Options{})
	if err != nil {
		return err
	}
	if ok {
		if err := cur.Close(); err != nil {
			_ = st.Close()
			return fmt.Errorf("filestore: closing %s: %w", p.path, err)
		}
	}
	p.Replace(st)
	p.path = path
	return nil
}

// CheckConfig checks a configuration block without opening the file.
func CheckConfig(cfgJSON []byte) error {
	_, err := pathFromConfig(cfgJSON, "")
	return err
}
