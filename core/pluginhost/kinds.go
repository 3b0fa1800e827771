package pluginhost

import (
	"context"
	"errors"
	"time"

	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/codec"
	"github.com/wadi-go/wadi/sdk/replicator"
	"github.com/wadi-go/wadi/sdk/router"
	"github.com/wadi-go/wadi/sdk/store"
)

// The adapters below give the supervised plugin the interface of its kind,
// so the rest of the host cannot tell a supervised plugin from a builtin.

var (
	_ store.Store            = storeAdapter{}
	_ codec.Codec            = codecAdapter{}
	_ codec.SettingsReporter = codecAdapter{}
	_ router.Router          = routerAdapter{}
	_ replicator.Replicator  = replicatorAdapter{}
)

// Store returns the supervised plugin as a store. Closing it closes the
// supervisor.
func (s *Supervisor) Store() store.Store { return storeAdapter{s} }

// Codec returns the supervised plugin as a codec.
func (s *Supervisor) Codec() codec.Codec { return codecAdapter{s} }

// Router returns the supervised plugin as a router.
func (s *Supervisor) Router() router.Router { return routerAdapter{s} }

// Replicator returns the supervised plugin as a replicator.
func (s *Supervisor) Replicator() replicator.Replicator { return replicatorAdapter{s} }

type storeAdapter struct{ s *Supervisor }

func asStore(p base.Plugin) store.Plugin { return p.(store.Plugin) }

func (a storeAdapter) Save(ctx context.Context, recs []store.Record) error {
	return a.s.call(ctx, "save", func(ctx context.Context, p base.Plugin) error { return asStore(p).Save(ctx, recs) })
}

func (a storeAdapter) Load(ctx context.Context, id string) (rec store.Record, err error) {
	err = a.s.call(ctx, "load", func(ctx context.Context, p base.Plugin) error {
		rec, err = asStore(p).Load(ctx, id)
		return err
	})
	return rec, err
}

func (a storeAdapter) Delete(ctx context.Context, ids []string) error {
	return a.s.call(ctx, "delete", func(ctx context.Context, p base.Plugin) error { return asStore(p).Delete(ctx, ids) })
}

func (a storeAdapter) DeleteExpired(ctx context.Context, before time.Time, limit int) (ids []string, err error) {
	err = a.s.call(ctx, "delete expired", func(ctx context.Context, p base.Plugin) error {
		ids, err = asStore(p).DeleteExpired(ctx, before, limit)
		return err
	})
	return ids, err
}

// Close closes the plugin's store, then stops the plugin.
func (a storeAdapter) Close() error {
	var err error
	if inst := a.s.current(); inst != nil {
		err = asStore(inst.impl).Close()
	}
	return errors.Join(err, a.s.Close())
}

type codecAdapter struct{ s *Supervisor }

func (a codecAdapter) Encode(ctx context.Context, items [][]byte) (out [][]byte, err error) {
	err = a.s.call(ctx, "encode", func(ctx context.Context, p base.Plugin) error {
		out, err = p.(codec.Plugin).Encode(ctx, items)
		return err
	})
	return out, err
}

func (a codecAdapter) Decode(ctx context.Context, data []byte) (out []byte, err error) {
	err = a.s.call(ctx, "decode", func(ctx context.Context, p base.Plugin) error {
		out, err = p.(codec.Plugin).Decode(ctx, data)
		return err
	})
	return out, err
}

// Settings asks the plugin what its codec declares; a plugin built before
// codec settings existed declares nothing.
func (a codecAdapter) Settings(ctx context.Context) (st codec.Settings, err error) {
	err = a.s.call(ctx, "settings", func(ctx context.Context, p base.Plugin) error {
		st, err = codec.SettingsOf(ctx, p.(codec.Plugin))
		return err
	})
	return st, err
}

type routerAdapter struct{ s *Supervisor }

func (a routerAdapter) Format(ctx context.Context) (f router.Format, err error) {
	err = a.s.call(ctx, "format", func(ctx context.Context, p base.Plugin) error {
		f, err = p.(router.Plugin).Format(ctx)
		return err
	})
	return f, err
}

func (a routerAdapter) Relocate(ctx context.Context, m router.Miss) (d router.Decision, err error) {
	err = a.s.call(ctx, "relocate", func(ctx context.Context, p base.Plugin) error {
		d, err = p.(router.Plugin).Relocate(ctx, m)
		return err
	})
	return d, err
}

type replicatorAdapter struct{ s *Supervisor }

func (a replicatorAdapter) Settings(ctx context.Context) (st replicator.Settings, err error) {
	err = a.s.call(ctx, "settings", func(ctx context.Context, p base.Plugin) error {
		st, err = p.(replicator.Plugin).Settings(ctx)
		return err
	})
	return st, err
}

func (a replicatorAdapter) Place(ctx context.Context, req replicator.PlaceRequest) (out [][]string, err error) {
	err = a.s.call(ctx, "place", func(ctx context.Context, p base.Plugin) error {
		out, err = p.(replicator.Plugin).Place(ctx, req)
		return err
	})
	return out, err
}
