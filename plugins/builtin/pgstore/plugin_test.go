package pgstore

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

// TestPluginBase runs the base kit with no server at the DSN's address:
// Configure must not need one.
func TestPluginBase(t *testing.T) {
	p := NewPlugin()
	t.Cleanup(func() { _ = p.Close() })
	plugintest.TestPlugin(t, p, base.KindStore, plugintest.Configs{
		Valid: [][]byte{
			blockJSON(t, map[string]any{"dsn": "postgres://wadi@127.0.0.1:1/wadi?sslmode=disable"}),
			blockJSON(t, map[string]any{"dsn": "host=db.example user=wadi dbname=wadi", "table": "other", "max_conns": 1, "timeout": "1s"}),
		},
		Invalid: [][]byte{
			blockJSON(t, nil),
			blockJSON(t, map[string]any{"dsn": "postgres://wadi@127.0.0.1:1/wadi", "table": "x; DROP TABLE y"}),
			blockJSON(t, map[string]any{"dsn": "postgres://wadi@127.0.0.1:1/wadi", "max_conns": 0}),
			blockJSON(t, map[string]any{"dsn": "postgres://wadi@127.0.0.1:1/wadi", "timeout": "later"}),
			blockJSON(t, map[string]any{"dsn": "postgres://wadi@127.0.0.1:port/wadi"}),
		},
	})
}

func TestPluginConformance(t *testing.T) {
	plugintest.TestStore(t, func(t *testing.T) store.Store {
		p := NewPlugin()
		if err := p.Configure(context.Background(), blockJSON(t, map[string]any{"dsn": testservers.StartPostgres(t)}), base.Node{}); err != nil {
			t.Fatal(err)
		}
		return p
	})
}

func TestPluginLifecycle(t *testing.T) {
	ctx := context.Background()
	dsn := testservers.StartPostgres(t)
	p := NewPlugin()
	if _, err := p.Load(ctx, "x"); !errors.Is(err, errNotConfigured) {
		t.Fatalf("Load before Configure: %v", err)
	}
	first := blockJSON(t, map[string]any{"dsn": dsn})
	if err := p.Configure(ctx, first, base.Node{}); err != nil {
		t.Fatal(err)
	}
	st, _ := p.Current()
	rec := store.Record{ID: "x", Expires: time.Now().Add(time.Hour), Data: []byte("v")}
	if err := p.Save(ctx, []store.Record{rec}); err != nil {
		t.Fatal(err)
	}
	// The same block keeps the pool; a bad one changes nothing.
	err := p.Configure(ctx, first, base.Node{})
	now, _ := p.Current()
	if err != nil || now != st {
		t.Fatalf("Configure with the same block: %v, pool replaced: %v", err, now != st)
	}
	if err := p.Configure(ctx, blockJSON(t, map[string]any{"dsn": dsn, "table": "no-dashes"}), base.Node{}); err == nil {
		t.Fatal("a table that is not an identifier accepted")
	}
	if got, err := p.Load(ctx, "x"); err != nil || string(got.Data) != "v" {
		t.Fatalf("after a rejected configuration: %q, %v", got.Data, err)
	}
	// Another table is another store.
	if err := p.Configure(ctx, blockJSON(t, map[string]any{"dsn": dsn, "table": "other"}), base.Node{}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Load(ctx, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Load from the new table: %v", err)
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
	// promptly, naming it, and the table is created once one is there.
	ctx := context.Background()
	p := NewPlugin()
	defer p.Close()
	if err := p.Configure(ctx, blockJSON(t, map[string]any{"dsn": "postgres://wadi@127.0.0.1:1/wadi?sslmode=disable", "timeout": "1s"}), base.Node{}); err != nil {
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
