package main

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/replicator"
	"github.com/wadi-go/wadi/sdk/schema"
)

var _ replicator.Plugin = (*Replicator)(nil)

// version is the plugin version Info reports.
const version = "0.1.0"

// maxBackups bounds backups: every change is sent to each backup, so more
// copies than this cost far more than they protect.
const maxBackups = 16

// errNotConfigured is returned by Settings and Place before Configure.
var errNotConfigured = errors.New("zonereplicator: not configured: the host calls Configure before using the replicator")

// Replicator is the zone-aware replicator as a plugin.
type Replicator struct {
	mu  sync.RWMutex
	cfg *rules // nil until Configure
}

// rules are a validated configuration.
type rules struct {
	settings replicator.Settings
	// allowSameZone fills up with members of the primary's zone once the
	// other zones are used up, rather than place fewer backups.
	allowSameZone bool
	// by, if set, is the key of the members' metadata (node.meta) whose
	// value stands for their zone: a rack, a data centre.
	by string
}

// New returns an unconfigured replicator.
func New() *Replicator { return &Replicator{} }

// Info implements base.Plugin.
func (r *Replicator) Info(ctx context.Context) (base.Info, error) {
	if err := ctx.Err(); err != nil {
		return base.Info{}, fmt.Errorf("zonereplicator: info: %w", err)
	}
	return base.Info{Name: "zonereplicator", Kind: base.KindReplicator, Version: version, APIVersions: []int{base.APIVersion}}, nil
}

// Schema implements base.Plugin.
func (r *Replicator) Schema(ctx context.Context) (schema.Schema, error) {
	if err := ctx.Err(); err != nil {
		return schema.Schema{}, fmt.Errorf("zonereplicator: schema: %w", err)
	}
	return schema.Schema{Attributes: []schema.Attribute{
		{Name: "backups", Type: schema.Number, Default: "1", Doc: fmt.Sprintf("copies of each session besides its holder's, 0 to %d", maxBackups)},
		{Name: "mode", Type: schema.String, Default: `"sync"`, Doc: "sync (backups acknowledge before the response) or async"},
		{Name: "granularity", Type: schema.String, Default: `"attribute"`, Doc: "attribute (changed attributes only) or session (the whole session)"},
		{Name: "allow_same_zone", Type: schema.Bool, Default: "false", Doc: "when other zones have too few members, add backups from the primary's zone instead of placing fewer"},
		{Name: "by", Type: schema.String, Doc: "a node.meta key whose value is the member's zone for placement, such as \"rack\"; unset: the node's zone"},
	}}, nil
}

// config is the JSON form of the block.
type config struct {
	Backups       *int    `json:"backups"`
	Mode          *string `json:"mode"`
	Granularity   *string `json:"granularity"`
	AllowSameZone *bool   `json:"allow_same_zone"`
	By            *string `json:"by"`
}

// Configure implements base.Plugin. Placing by zone, the node must have
// one: a farm without zones would get no backups. Placing by a meta key,
// the node's meta is not known here (the host passes it only to Place), so
// nothing is required. A block that is refused leaves the configuration as
// it was.
func (r *Replicator) Configure(ctx context.Context, raw []byte, node base.Node) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("zonereplicator: configure: %w", err)
	}
	cfg, err := parseConfig(raw)
	if err != nil {
		return fmt.Errorf("zonereplicator: %w", err)
	}
	if cfg.by == "" && node.Zone == "" {
		return fmt.Errorf("zonereplicator: node %q has no zone: set node { zone = \"...\" } in wadi.hcl on every node", node.Name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cfg = cfg
	return nil
}

func parseConfig(raw []byte) (*rules, error) {
	var cfg config
	if err := schema.Decode(raw, &cfg); err != nil {
		return nil, err
	}
	out := &rules{settings: replicator.Settings{Backups: 1, Mode: replicator.Sync, Granularity: replicator.Attribute}}
	if cfg.Backups != nil {
		if *cfg.Backups < 0 || *cfg.Backups > maxBackups {
			return nil, fmt.Errorf("config: backups %d: want 0 to %d", *cfg.Backups, maxBackups)
		}
		out.settings.Backups = *cfg.Backups
	}
	if cfg.Mode != nil {
		switch m := replicator.Mode(*cfg.Mode); m {
		case replicator.Sync, replicator.Async:
			out.settings.Mode = m
		default:
			return nil, fmt.Errorf("config: mode %q: want %q or %q", *cfg.Mode, replicator.Sync, replicator.Async)
		}
	}
	if cfg.Granularity != nil {
		switch g := replicator.Granularity(*cfg.Granularity); g {
		case replicator.Attribute, replicator.Session:
			out.settings.Granularity = g
		default:
			return nil, fmt.Errorf("config: granularity %q: want %q or %q", *cfg.Granularity, replicator.Attribute, replicator.Session)
		}
	}
	if cfg.AllowSameZone != nil {
		out.allowSameZone = *cfg.AllowSameZone
	}
	if cfg.By != nil {
		if *cfg.By == "" {
			return nil, errors.New(`config: by "": name a node.meta key, such as "rack", or leave by out to place by zone`)
		}
		out.by = *cfg.By
	}
	return out, nil
}

// current returns the configuration for a call named op. Rules are never
// changed once built (Configure replaces them whole), so the call uses them
// without holding the lock.
func (r *Replicator) current(ctx context.Context, op string) (*rules, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("zonereplicator: %s: %w", op, err)
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.cfg == nil {
		return nil, fmt.Errorf("%w (%s)", errNotConfigured, op)
	}
	return r.cfg, nil
}

// Settings implements replicator.Replicator.
func (r *Replicator) Settings(ctx context.Context) (replicator.Settings, error) {
	cfg, err := r.current(ctx, "settings")
	if err != nil {
		return replicator.Settings{}, err
	}
	return cfg.settings, nil
}

// Place implements replicator.Replicator; see place.
func (r *Replicator) Place(ctx context.Context, req replicator.PlaceRequest) ([][]string, error) {
	cfg, err := r.current(ctx, "place")
	if err != nil {
		return nil, err
	}
	out, err := place(ctx, req, cfg.settings.Backups, cfg.allowSameZone, cfg.by)
	if err != nil {
		return nil, fmt.Errorf("zonereplicator: place: %w", err)
	}
	return out, nil
}
