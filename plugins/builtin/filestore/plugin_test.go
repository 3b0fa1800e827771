package filestore

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/plugintest"
	"github.com/wadi-go/wadi/sdk/store"
)

func TestPluginConformance(t *testing.T) {
	plugintest.TestStore(t, func(t *testing.T) store.Store {
		p := NewPlugin()
		if err := p.Configure(context.Background(), []byte(`{"path":"s.db"}`), base.Node{DataDir: t.TempDir()}); err != nil {
			t.Fatal(err)
		}
		return p
	})
}

func TestPluginLifecycle(t *testing.T) {
	ctx := context.Background()
	p := NewPlugin()
	if _, err := p.Load(ctx, "x"); !errors.Is(err, errNotConfigured) {
		t.Fatalf("Load before Configure: %v", err)
	}
	dir := t.TempDir()
	if err := p.Configure(ctx, []byte(`{"path":"a.db"}`), base.Node{DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	rec := store.Record{ID: "x", Expires: time.Now().Add(time.Hour), Data: []byte("v")}
	if err := p.Save(ctx, []store.Record{rec}); err != nil {
		t.Fatal(err)
	}
	// A bad configuration changes nothing.
	if err := p.Configure(ctx, []byte(`{"path":""}`), base.Node{DataDir: dir}); err == nil {
		t.Fatal("empty path accepted")
	}
	if err := p.Configure(ctx, []byte(`{"pth":"b.db"}`), base.Node{DataDir: dir}); err == nil {
		t.Fatal("unknown attribute accepted")
	}
	if got, err := p.Load(ctx, "x"); err != nil || string(got.Data) != "v" {
		t.Fatalf("after rejected configurations: %v, %v", got, err)
	}
	// Another path switches files.
	if err := p.Configure(ctx, []byte(`{"path":"b.db"}`), base.Node{DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Load(ctx, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Load from the new file: %v", err)
	}
	if p.path != filepath.Join(dir, "b.db") {
		t.Fatalf("path %q", p.path)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Load(ctx, "x"); !errors.Is(err, errNotConfigured) {
		t.Fatalf("Load after Close: %v", err)
	}
}
