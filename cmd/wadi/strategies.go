package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/wadi-go/wadi/config"
	"github.com/wadi-go/wadi/core/pluginhost"
	"github.com/wadi-go/wadi/core/session"
	"github.com/wadi-go/wadi/internal/metrics"
	"github.com/wadi-go/wadi/plugins/builtin"
	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/codec"
	"github.com/wadi-go/wadi/sdk/replicator"
	"github.com/wadi-go/wadi/sdk/router"
	"github.com/wadi-go/wadi/sdk/schema"
	"github.com/wadi-go/wadi/sdk/store"
)

// schemas resolves a strategy block's schema for the configuration loader:
// a builtin's from memory, a declared plugin's by starting it and asking, so
// that `wadi validate` checks a plugin's block before anything runs.
func schemas(ctx context.Context, log hclog.Logger) config.Schemas {
	return func(kind, name string, p *config.Plugin) (schema.Schema, error) {
		if p != nil {
			d, err := pluginhost.Describe(ctx, pluginSpec(p), base.Kind(kind), log)
			if err != nil {
				return schema.Schema{}, err
			}
			return d.Schema, nil
		}
		if s, ok := builtin.Schema(base.Kind(kind), name); ok {
			return s, nil
		}
		return schema.Schema{}, config.ErrUnknownStrategy
	}
}

// checkStrategy checks a builtin's block values when the configuration is
// loaded, so `wadi validate` reports them at the block. A plugin's values
// are its own to check, when it is configured at start.
func checkStrategy(ctx context.Context) func(*config.Strategy, string) error {
	return func(st *config.Strategy, dataDir string) error {
		if st.Plugin != nil {
			return nil
		}
		b, ok := builtin.Lookup(base.Kind(st.Kind), st.Name)
		if !ok {
			return nil // reported as unknown already
		}
		dir, err := filepath.Abs(dataDir)
		if err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
		return b.Check(ctx, st.Config, base.Node{DataDir: dir})
	}
}

func pluginSpec(p *config.Plugin) pluginhost.Spec {
	return pluginhost.Spec{Name: p.Name, Path: p.Path, SHA256: p.SHA256, Args: p.Args}
}

func nodeInfo(cfg *config.Config) (base.Node, error) {
	dir, err := filepath.Abs(cfg.Node.DataDir)
	if err != nil {
		return base.Node{}, fmt.Errorf("data directory: %w", err)
	}
	return base.Node{Name: cfg.Node.Name, Zone: cfg.Node.Zone, DataDir: dir}, nil
}

// strategies are the configured strategies, started and configured.
type strategies struct {
	store store.Store
	// codecs in the order the configuration lists them: the order of
	// encoding.
	codecs []session.NamedCodec
	// retired decode the layers of records written by builtin codecs no
	// longer configured, so that removing or switching a compressor loses
	// no session.
	retired map[string]codec.Codec
	routing session.Routing
	router  router.Router // nil: none configured
	// replicator places backups on a farm; nil on a single node.
	replicator  replicator.Replicator
	replication replicator.Settings
	closers     []func() error
	// metrics are the node's, served on the admin address; made here
	// because the plugins started here are the first thing they watch.
	metrics *metrics.Metrics
}

// formatTimeout bounds asking the router for its token format at start.
const formatTimeout = 10 * time.Second

func (s *strategies) Close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	return errors.Join(errs...)
}

// startStrategies starts every strategy the configuration names: builtins
// in process, declared plugins as supervised processes.
func startStrategies(ctx context.Context, cfg *config.Config, log hclog.Logger) (*strategies, error) {
	node, err := nodeInfo(cfg)
	if err != nil {
		return nil, err
	}
	st := cfg.Store
	if st == nil {
		st = &config.Strategy{Kind: string(base.KindStore), Name: builtin.DefaultStore, Config: []byte("{}")}
	}
	met, err := metrics.New()
	if err != nil {
		return nil, err
	}
	s := &strategies{metrics: met, retired: builtin.Retired()}
	p, closer, err := startStrategy(ctx, st, node, log, met)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, closer)
	s.store = p.(store.Store)
	for _, c := range cfg.Codecs {
		p, closer, err := startStrategy(ctx, c, node, log, met)
		if err != nil {
			return nil, errors.Join(err, s.Close())
		}
		s.closers = append(s.closers, closer)
		s.codecs = append(s.codecs, session.NamedCodec{Name: c.Name, Codec: p.(codec.Codec)})
	}
	if cfg.Router != nil {
		p, closer, err := startStrategy(ctx, cfg.Router, node, log, met)
		if err != nil {
			return nil, errors.Join(err, s.Close())
		}
		s.closers = append(s.closers, closer)
		// Asked once: the filter applies the format in process on every
		// request, so routing never waits on the strategy.
		fctx, cancel := context.WithTimeout(ctx, formatTimeout)
		f, err := p.(router.Router).Format(fctx)
		cancel()
		if err != nil {
			return nil, errors.Join(fmt.Errorf("router %q: format: %w", cfg.Router.Name, err), s.Close())
		}
		s.routing = session.Routing{Route: cfg.Node.Name, Format: f}
		s.router = p.(router.Router)
	}
	if rep := cfg.Replication; rep != nil || cfg.Cluster != nil {
		if rep == nil {
			rep = &config.Strategy{Kind: string(base.KindReplicator), Name: builtin.DefaultReplicator, Config: []byte("{}")}
		}
		p, closer, err := startStrategy(ctx, rep, node, log, met)
		if err != nil {
			return nil, errors.Join(err, s.Close())
		}
		s.closers = append(s.closers, closer)
		// Asked once; placement is asked at each membership change.
		sctx, cancel := context.WithTimeout(ctx, formatTimeout)
		st, err := p.(replicator.Replicator).Settings(sctx)
		cancel()
		if err == nil {
			err = checkSettings(st)
		}
		if err != nil {
			return nil, errors.Join(fmt.Errorf("replication %q: settings: %w", rep.Name, err), s.Close())
		}
		s.replicator, s.replication = p.(replicator.Replicator), st
		if cfg.Cluster == nil {
			log.Warn("replication configured on a node that is not in a farm: it has nowhere to keep backups", "replication", rep.Name)
		}
	}
	return s, nil
}

// checkSettings refuses what a replicator plugin may answer but the node
// cannot do.
func checkSettings(st replicator.Settings) error {
	switch {
	case st.Backups < 0:
		return fmt.Errorf("backups %d is negative", st.Backups)
	case st.Mode != replicator.Sync && st.Mode != replicator.Async:
		return fmt.Errorf("mode %q is neither %q nor %q", st.Mode, replicator.Sync, replicator.Async)
	case st.Granularity != replicator.Attribute && st.Granularity != replicator.Session:
		return fmt.Errorf("granularity %q is neither %q nor %q", st.Granularity, replicator.Attribute, replicator.Session)
	}
	return nil
}

// startStrategy returns the strategy as its kind's interface (any, to be
// asserted by the caller) and how to stop it. A plugin's health and
// restarts go to met.
func startStrategy(ctx context.Context, st *config.Strategy, node base.Node, log hclog.Logger, met *metrics.Metrics) (any, func() error, error) {
	p, closer, err := startStrategyAt(ctx, st, node, log, met)
	if err != nil && st.DeclRange.Filename != "" {
		// Point at the block, as the configuration's diagnostics do.
		return nil, nil, fmt.Errorf("%s: %w", st.DeclRange, err)
	}
	if err != nil {
		return nil, nil, err
	}
	return p, closer, nil
}

func startStrategyAt(ctx context.Context, st *config.Strategy, node base.Node, log hclog.Logger, met *metrics.Metrics) (any, func() error, error) {
	kind := base.Kind(st.Kind)
	if st.Plugin != nil {
		sup, err := pluginhost.Start(ctx, pluginSpec(st.Plugin), kind, st.Config, node, pluginhost.Options{Logger: log.Named("plugin")})
		if err != nil {
			return nil, nil, err
		}
		met.WatchPlugin(sup)
		switch kind {
		case base.KindStore:
			a := sup.Store()
			return a, a.Close, nil
		case base.KindCodec:
			return sup.Codec(), sup.Close, nil
		case base.KindRouter:
			return sup.Router(), sup.Close, nil
		case base.KindReplicator:
			return sup.Replicator(), sup.Close, nil
		}
		_ = sup.Close()
		return nil, nil, fmt.Errorf("unknown strategy kind %q", kind)
	}
	b, ok := builtin.Lookup(kind, st.Name)
	if !ok {
		return nil, nil, fmt.Errorf("unknown %s %q", kind, st.Name)
	}
	p := b.New()
	if err := p.Configure(ctx, st.Config, node); err != nil {
		return nil, nil, fmt.Errorf("%s %q: %w", kind, st.Name, err)
	}
	closer := func() error { return nil }
	if c, ok := p.(interface{ Close() error }); ok {
		closer = c.Close
	}
	return p, closer, nil
}
