package redisstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wadi-go/wadi/internal/testservers"
	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/plugintest"
	"github.com/wadi-go/wadi/sdk/store"
)

// TestPluginBase runs the base kit with no server at the address: Configure
// must not need one.
func TestPluginBase(t *testing.T) {
	p := NewPlugin()
	t.Cleanup(func() { _ = p.Close() })
	plugintest.TestPlugin(t, p, base.KindStore, plugintest.Configs{
		Valid: [][]byte{
			blockJSON(t, map[string]any{"address": "127.0.0.1:1"}),
			blockJSON(t, map[string]any{"url": "rediss://user:pw@cache.example:6380/2", "timeout": "250ms"}),
		},
		Invalid: [][]byte{
			blockJSON(t, nil),
			blockJSON(t, map[string]any{"address": "127.0.0.1:1", "url": "redis://127.0.0.1:1"}),
			blockJSON(t, map[string]any{"address": "no-port"}),
			blockJSON(t, map[string]any{"url": "http://127.0.0.1:1"}),
			blockJSON(t, map[string]any{"address": "127.0.0.1:1", "database": -1}),
			blockJSON(t, map[string]any{"address": "127.0.0.1:1", "timeout": "later"}),
			blockJSON(t, map[string]any{"address": "127.0.0.1:1", "key_prefix": ""}),
		},
	})
}

func TestPluginConformance(t *testing.T) {
	plugintest.TestStore(t, func(t *testing.T) store.Store {
		p := NewPlugin()
		cfg := blockJSON(t, map[string]any{"address": testservers.StartRedis(t), "key_prefix": freshPrefix()})
		if err := p.Configure(context.Background(), cfg, base.Node{}); err != nil {
			t.Fatal(err)
		}
		return p
	})
}

func TestPluginLifecycle(t *testing.T) {
	ctx := context.Background()
	addr := testservers.StartRedis(t)
	p := NewPlugin()
	if _, err := p.Load(ctx, "x"); !errors.Is(err, errNotConfigured) {
		t.Fatalf("Load before Configure: %v", err)
	}
	first := blockJSON(t, map[string]any{"address": addr, "key_prefix": freshPrefix()})
	if err := p.Configure(ctx, first, base.Node{}); err != nil {
		t.Fatal(err)
	}
	st, _ := p.Current()
	rec := store.Record{ID: "x", Expires: time.Now().Add(time.Hour), Data: []byte("v")}
	if err := p.Save(ctx, []store.Record{rec}); err != nil {
		t.Fatal(err)
	}
	// The same block keeps the client; a bad one changes nothing.
	err := p.Configure(ctx, first, base.Node{})
	now, _ := p.Current()
	if err != nil || now != st {
		t.Fatalf("Configure with the same block: %v, client replaced: %v", err, now != st)
	}
	if err := p.Configure(ctx, blockJSON(t, map[string]any{"address": addr, "url": "redis://" + addr}), base.Node{}); err == nil {
		t.Fatal("address and url both accepted")
	}
	if got, err := p.Load(ctx, "x"); err != nil || string(got.Data) != "v" {
		t.Fatalf("after a rejected configuration: %q, %v", got.Data, err)
	}
	// Another prefix is another store.
	if err := p.Configure(ctx, blockJSON(t, map[string]any{"address": addr, "key_prefix": freshPrefix()}), base.Node{}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Load(ctx, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Load under the new prefix: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Load(ctx, "x"); !errors.Is(err, errNotConfigured) {
		t.Fatalf("Load after Close: %v", err)
	}
}

func TestPluginServerDown(t *testing.T) {
	// Configure succeeds with no server at the address; calls then fail
	// promptly, naming it.
	ctx := context.Background()
	p := NewPlugin()
	defer p.Close()
	if err := p.Configure(ctx, blockJSON(t, map[string]any{"address": "127.0.0.1:1", "timeout": "1s"}), base.Node{}); err != nil {
		t.Fatalf("Configure with the server down: %v", err)
	}
	start := time.Now()
	_, err := p.Load(ctx, "x")
	if err == nil || errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("Load with the server down: %v; want an error naming the server", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Load with the server down took %v", d)
	}
}
