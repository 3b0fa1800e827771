// Package testimpl holds small but real implementations of the four
// strategy kinds, for the SDK's own tests and benchmarks: a map-backed
// store, a gzip codec, a router and a round-robin replicator. They run both
// in process and behind the plugin protocol (sdk/internal/testplugin), so
// the same code answers on both sides of a comparison.
package testimpl

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/schema"
)

// Base implements base.Plugin for the implementations here: a fixed Info
// and Schema, and a Configure that keeps what it was given so tests can
// check it arrived intact.
type Base struct {
	kind   base.Kind
	logger hclog.Logger

	mu     sync.Mutex
	config []byte
	node   base.Node
	isSet  bool
}

func newBase(kind base.Kind, logger hclog.Logger) *Base {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &Base{kind: kind, logger: logger}
}

// Schema is the schema every implementation here declares: one attribute of
// each type, with every field of schema.Attribute set somewhere.
func Schema() schema.Schema {
	return schema.Schema{Attributes: []schema.Attribute{
		{Name: "path", Type: schema.String, Required: true, Doc: "Where records go."},
		{Name: "size", Type: schema.Number, Default: "5", Doc: "How many, with a default."},
		{Name: "sync", Type: schema.Bool, Default: "true"},
		{Name: "tags", Type: schema.ListString, Default: `["a","b"]`, Doc: "Doc with \"quotes\" and ünïcödé."},
		{Name: "labels", Type: schema.MapString},
	}}
}

// Info implements base.Plugin.
func (b *Base) Info(ctx context.Context) (base.Info, error) {
	if err := ctx.Err(); err != nil {
		return base.Info{}, err
	}
	return base.Info{Name: "test-" + string(b.kind), Kind: b.kind, Version: "0.1.0", APIVersions: []int{base.APIVersion}}, nil
}

// Schema implements base.Plugin.
func (b *Base) Schema(ctx context.Context) (schema.Schema, error) {
	if err := ctx.Err(); err != nil {
		return schema.Schema{}, err
	}
	return Schema(), nil
}

// Configure implements base.Plugin. It checks the config is a JSON object
// and keeps it for LastConfig.
func (b *Base) Configure(ctx context.Context, config []byte, node base.Node) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var obj map[string]any
	if err := json.Unmarshal(config, &obj); err != nil {
		return fmt.Errorf("test-%s: config is not a JSON object: %w", b.kind, err)
	}
	b.logger.Info("configured", "node", node.Name, "zone", node.Zone)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.config, b.node, b.isSet = append([]byte(nil), config...), node, true
	return nil
}

// LastConfig returns what the last Configure received, and false if it was
// never called.
func (b *Base) LastConfig() ([]byte, base.Node, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.config, b.node, b.isSet
}
