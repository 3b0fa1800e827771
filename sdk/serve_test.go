package sdk_test

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/wadi-go/wadi/sdk"
	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/codec"
	"github.com/wadi-go/wadi/sdk/internal/testimpl"
	"github.com/wadi-go/wadi/sdk/internal/wiretest"
	"github.com/wadi-go/wadi/sdk/replicator"
	"github.com/wadi-go/wadi/sdk/router"
	"github.com/wadi-go/wadi/sdk/schema"
	"github.com/wadi-go/wadi/sdk/store"
)

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// configurable is what the test implementations offer besides base.Plugin.
type configurable interface {
	base.Plugin
	LastConfig() ([]byte, base.Node, bool)
}

// kinds are the four kinds with an implementation each and a way to serve
// one over the protocol in process.
func kinds() []struct {
	kind base.Kind
	impl configurable
	dial func(t *testing.T, impl base.Plugin, logger hclog.Logger) base.Plugin
} {
	return []struct {
		kind base.Kind
		impl configurable
		dial func(t *testing.T, impl base.Plugin, logger hclog.Logger) base.Plugin
	}{
		{base.KindStore, testimpl.NewStore(nil), func(t *testing.T, impl base.Plugin, l hclog.Logger) base.Plugin {
			return wiretest.Dispense(t, &store.GRPCPlugin{Impl: impl.(store.Plugin)}, l).(base.Plugin)
		}},
		{base.KindCodec, testimpl.NewCodec(nil), func(t *testing.T, impl base.Plugin, l hclog.Logger) base.Plugin {
			return wiretest.Dispense(t, &codec.GRPCPlugin{Impl: impl.(codec.Plugin)}, l).(base.Plugin)
		}},
		{base.KindRouter, testimpl.NewRouter(nil), func(t *testing.T, impl base.Plugin, l hclog.Logger) base.Plugin {
			return wiretest.Dispense(t, &router.GRPCPlugin{Impl: impl.(router.Plugin)}, l).(base.Plugin)
		}},
		{base.KindReplicator, testimpl.NewReplicator(1, nil), func(t *testing.T, impl base.Plugin, l hclog.Logger) base.Plugin {
			return wiretest.Dispense(t, &replicator.GRPCPlugin{Impl: impl.(replicator.Plugin)}, l).(base.Plugin)
		}},
	}
}

// The base RPCs round-trip for every kind: Info, every field of every
// schema attribute, the config bytes and the node.
func TestBaseRoundTrip(t *testing.T) {
	for _, k := range kinds() {
		t.Run(string(k.kind), func(t *testing.T) {
			ctx := ctxT(t)
			p := k.dial(t, k.impl, nil)

			info, err := p.Info(ctx)
			want, _ := k.impl.Info(ctx)
			if err != nil || !reflect.DeepEqual(info, want) {
				t.Errorf("Info = %+v, %v; want %+v", info, err, want)
			}
			if info.Kind != k.kind {
				t.Errorf("Info.Kind = %q, want %q", info.Kind, k.kind)
			}

			sch, err := p.Schema(ctx)
			if err != nil || !reflect.DeepEqual(sch, testimpl.Schema()) {
				t.Errorf("Schema = %+v, %v; want %+v", sch, err, testimpl.Schema())
			}

			config := []byte(`{"path":"/var/lib/wadi/ü","size":5,"sync":null,"tags":["a"],"labels":{"k":"v"}}`)
			node := base.Node{Name: "node-1", Zone: "eu-west-1a", DataDir: "/var/lib/wadi"}
			if err := p.Configure(ctx, config, node); err != nil {
				t.Fatalf("Configure: %v", err)
			}
			gotConfig, gotNode, ok := k.impl.LastConfig()
			if !ok || !bytes.Equal(gotConfig, config) || gotNode != node {
				t.Errorf("impl configured with %s %+v (%v), want %s %+v", gotConfig, gotNode, ok, config, node)
			}

			err = p.Configure(ctx, []byte("not json"), base.Node{})
			if err == nil || !strings.Contains(err.Error(), "config is not a JSON object") {
				t.Errorf("Configure(bad JSON) = %v, want the plugin's error", err)
			}
		})
	}
}

// bare is a base.Plugin whose Info and Schema are as empty as they can be,
// and whose Configure panics.
type bare struct{ *testimpl.Store }

func (bare) Info(context.Context) (base.Info, error) { return base.Info{}, nil }
func (bare) Schema(context.Context) (schema.Schema, error) {
	return schema.Schema{Attributes: []schema.Attribute{}}, nil
}
func (bare) Configure(context.Context, []byte, base.Node) error {
	panic("configure exploded")
}

// Empty lists come back nil; a panic in a base method is that call's error,
// logged by the server with its stack.
func TestBaseEmptyAndPanic(t *testing.T) {
	ctx := ctxT(t)
	var logs syncBuffer
	logger := hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Trace})
	p := wiretest.Dispense(t, &store.GRPCPlugin{Impl: bare{testimpl.NewStore(nil)}}, logger).(store.Plugin)
	info, err := p.Info(ctx)
	if err != nil || !reflect.DeepEqual(info, base.Info{}) {
		t.Errorf("Info = %#v, %v; want the zero Info", info, err)
	}
	sch, err := p.Schema(ctx)
	if err != nil || sch.Attributes != nil {
		t.Errorf("Schema = %#v, %v; want nil Attributes", sch, err)
	}
	err = p.Configure(ctx, nil, base.Node{})
	if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "configure exploded") {
		t.Errorf("Configure panicking = %v, want Internal", err)
	}
	if !strings.Contains(logs.String(), "plugin panicked") || !strings.Contains(logs.String(), "goroutine") {
		t.Errorf("panic not logged with its stack:\n%s", logs.String())
	}
	if err := p.Save(ctx, nil); err != nil {
		t.Errorf("Save after a panic: %v", err)
	}
}

// many implements two kinds at once.
type many struct {
	*testimpl.Store
	*testimpl.Codec
}

func (m many) Info(ctx context.Context) (base.Info, error) { return m.Store.Info(ctx) }
func (m many) Schema(ctx context.Context) (schema.Schema, error) {
	return m.Store.Schema(ctx)
}
func (m many) Configure(ctx context.Context, c []byte, n base.Node) error {
	return m.Store.Configure(ctx, c, n)
}

// liar implements a store but says it is a codec.
type liar struct{ *testimpl.Store }

func (liar) Info(context.Context) (base.Info, error) { return base.Info{Kind: base.KindCodec}, nil }

// baseOnly implements no kind.
type baseOnly struct{ base.Plugin }

func TestKindOfAndVersionedPlugins(t *testing.T) {
	host := sdk.VersionedPlugins(nil)
	if len(host) != 1 || len(host[base.APIVersion]) != len(base.Kinds) {
		t.Fatalf("VersionedPlugins(nil) = %v, want every kind at version %d", host, base.APIVersion)
	}
	for _, k := range base.Kinds {
		if _, ok := host[base.APIVersion][string(k)].(plugin.GRPCPlugin); !ok {
			t.Errorf("host set has no gRPC plugin for %q", k)
		}
	}

	for _, k := range kinds() {
		got, err := sdk.KindOf(k.impl)
		if err != nil || got != k.kind {
			t.Errorf("KindOf(%T) = %q, %v; want %q", k.impl, got, err, k.kind)
		}
		set := sdk.VersionedPlugins(k.impl)[base.APIVersion]
		if len(set) != 1 || set[string(k.kind)] == nil {
			t.Errorf("VersionedPlugins(%T) = %v, want only %q", k.impl, set, k.kind)
		}
	}

	for name, impl := range map[string]base.Plugin{
		"several": many{testimpl.NewStore(nil), testimpl.NewCodec(nil)},
		"none":    baseOnly{testimpl.NewStore(nil)},
		"nil":     nil,
	} {
		if kind, err := sdk.KindOf(impl); err == nil {
			t.Errorf("KindOf(%s) = %q, want an error", name, kind)
		}
		if impl != nil {
			if set := sdk.VersionedPlugins(impl)[base.APIVersion]; len(set) != 0 {
				t.Errorf("VersionedPlugins(%s) serves %v", name, set)
			}
			if err := sdk.ServeWith(impl, sdk.ServeConfig{}); err == nil {
				t.Errorf("ServeWith(%s) did not refuse", name)
			}
		}
	}
	if err := sdk.ServeWith(liar{testimpl.NewStore(nil)}, sdk.ServeConfig{}); err == nil || !strings.Contains(err.Error(), "Info says") {
		t.Errorf("ServeWith(a store whose Info says codec) = %v, want a refusal", err)
	}
}

// fakeProtocol dispenses what it is given.
type fakeProtocol struct{ raw any }

func (f fakeProtocol) Dispense(string) (any, error) { return f.raw, nil }
func (fakeProtocol) Ping() error                    { return nil }
func (fakeProtocol) Close() error                   { return nil }

func TestDispenseKind(t *testing.T) {
	if p, err := sdk.DispenseKind(fakeProtocol{testimpl.NewCodec(nil)}, base.KindCodec); err != nil || p == nil {
		t.Errorf("DispenseKind(codec) = %v, %v", p, err)
	}
	if _, err := sdk.DispenseKind(fakeProtocol{testimpl.NewCodec(nil)}, base.KindStore); err == nil {
		t.Errorf("DispenseKind(store) of a codec: no error")
	}
	if _, err := sdk.DispenseKind(fakeProtocol{testimpl.NewCodec(nil)}, "cache"); err == nil {
		t.Errorf("DispenseKind of an unknown kind: no error")
	}
}

// ServeWith in go-plugin's test mode, attached to by a real go-plugin
// client: the whole host path except the process. The 16 MiB record checks
// that Serve's server takes the protocol's message sizes.
func TestServeWithReattach(t *testing.T) {
	ctx := ctxT(t)
	impl := testimpl.NewStore(nil)
	reattach := make(chan *plugin.ReattachConfig, 1)
	closed := make(chan struct{})
	serveCtx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() {
		served <- sdk.ServeWith(impl, sdk.ServeConfig{
			Logger: hclog.NewNullLogger(),
			Test:   &plugin.ServeTestConfig{Context: serveCtx, ReattachConfigCh: reattach, CloseCh: closed},
		})
	}()
	var rc *plugin.ReattachConfig
	select {
	case rc = <-reattach:
	case err := <-served:
		t.Fatalf("ServeWith returned before serving: %v", err)
	case <-ctx.Done():
		t.Fatal("no reattach config")
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig: sdk.Handshake,
		// On reattach go-plugin negotiates nothing and dispenses from
		// Plugins, not VersionedPlugins.
		Plugins:          sdk.VersionedPlugins(nil)[base.APIVersion],
		Reattach:         rc,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           hclog.NewNullLogger(),
	})
	defer client.Kill()
	rpc, err := client.Client()
	if err != nil {
		t.Fatalf("Client: %v", err)
	}
	p, err := sdk.DispenseKind(rpc, base.KindStore)
	if err != nil {
		t.Fatal(err)
	}
	s := p.(store.Plugin)
	data := bytes.Repeat([]byte{1, 2, 3, 4}, 4<<20)
	if err := s.Save(ctx, []store.Record{{ID: "big", Expires: time.Now().Add(time.Hour), Data: data}}); err != nil {
		t.Fatalf("Save 16 MiB: %v", err)
	}
	got, err := s.Load(ctx, "big")
	if err != nil || !bytes.Equal(got.Data, data) {
		t.Fatalf("Load 16 MiB: %v (equal %v)", err, bytes.Equal(got.Data, data))
	}
	if _, err := s.Load(ctx, "absent"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Load(absent) through go-plugin = %v, want ErrNotFound", err)
	}

	stop()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("ServeWith did not stop with its test context")
	}
	if err := <-served; err != nil {
		t.Errorf("ServeWith: %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for a logger writing while the test
// reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
