package sdk

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/codec"
	"github.com/wadi-go/wadi/sdk/internal/wire"
	"github.com/wadi-go/wadi/sdk/replicator"
	"github.com/wadi-go/wadi/sdk/router"
	"github.com/wadi-go/wadi/sdk/store"
)

// Handshake is what the host and a plugin process check of each other
// before anything else. The cookie is not a secret: it only makes a plugin
// binary run by hand say that it is one instead of waiting for a host.
// ProtocolVersion is go-plugin's fallback for hosts that announce no
// versions; the versions actually negotiated are VersionedPlugins' keys.
//
// It is a variable only because go-plugin takes the struct by value; treat
// it as a constant.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  base.APIVersion,
	MagicCookieKey:   "WADI_PLUGIN",
	MagicCookieValue: "eb03a504afaf033a80aae10ba47d53b9",
}

// VersionedPlugins is the set of plugins per API version, for go-plugin's
// ServeConfig and ClientConfig. The host passes nil and gets every kind,
// named by its base.Kind, to dispense the one it wants. A plugin process
// passes its implementation and gets only the entry of its kind; an impl
// that implements no kind, or more than one, gets no entry (KindOf says
// why, and Serve checks it first).
func VersionedPlugins(impl base.Plugin) map[int]plugin.PluginSet {
	if impl == nil {
		return map[int]plugin.PluginSet{
			base.APIVersion: {
				string(base.KindStore):      &store.GRPCPlugin{},
				string(base.KindCodec):      &codec.GRPCPlugin{},
				string(base.KindRouter):     &router.GRPCPlugin{},
				string(base.KindReplicator): &replicator.GRPCPlugin{},
			},
		}
	}
	kind, err := KindOf(impl)
	if err != nil {
		return map[int]plugin.PluginSet{base.APIVersion: {}}
	}
	var p plugin.Plugin
	switch kind {
	case base.KindStore:
		p = &store.GRPCPlugin{Impl: impl.(store.Plugin)}
	case base.KindCodec:
		p = &codec.GRPCPlugin{Impl: impl.(codec.Plugin)}
	case base.KindRouter:
		p = &router.GRPCPlugin{Impl: impl.(router.Plugin)}
	case base.KindReplicator:
		p = &replicator.GRPCPlugin{Impl: impl.(replicator.Plugin)}
	}
	return map[int]plugin.PluginSet{base.APIVersion: {string(kind): p}}
}

// KindOf returns the strategy kind impl implements, found by its methods:
// exactly one of store.Plugin, codec.Plugin, router.Plugin and
// replicator.Plugin.
func KindOf(impl base.Plugin) (base.Kind, error) {
	if impl == nil {
		return "", fmt.Errorf("sdk: no plugin implementation")
	}
	var kinds []base.Kind
	if _, ok := impl.(store.Plugin); ok {
		kinds = append(kinds, base.KindStore)
	}
	if _, ok := impl.(codec.Plugin); ok {
		kinds = append(kinds, base.KindCodec)
	}
	if _, ok := impl.(router.Plugin); ok {
		kinds = append(kinds, base.KindRouter)
	}
	if _, ok := impl.(replicator.Plugin); ok {
		kinds = append(kinds, base.KindReplicator)
	}
	switch len(kinds) {
	case 0:
		return "", fmt.Errorf("sdk: %T implements no strategy kind: it needs the methods of one of store.Plugin, codec.Plugin, router.Plugin or replicator.Plugin", impl)
	case 1:
		return kinds[0], nil
	}
	return "", fmt.Errorf("sdk: %T implements several strategy kinds %v; a plugin serves exactly one", impl, kinds)
}

// ServeConfig adjusts ServeWith. The zero value is what Serve uses.
type ServeConfig struct {
	// Logger is the logger go-plugin logs through; nil means NewLogger().
	// The plugin's own code should log through a logger made the same way,
	// so its lines reach the host's log too.
	Logger hclog.Logger
	// Test, if set, serves in-process for a test instead of taking over the
	// process: no handshake cookie check, no os.Exit, and serving ends when
	// Test.Context is cancelled. See plugin.ServeTestConfig.
	Test *plugin.ServeTestConfig
}

// NewLogger returns the logger a plugin should log through: JSON lines on
// stderr at trace level. The host parses them and logs each line into its
// logger under the plugin's name, at the line's level and with its fields;
// the host's level decides what is kept. It may be made anywhere, before
// Serve or after (in Configure, say): Serve swaps os.Stderr for a pipe that
// go-plugin streams to the host, and the wadi host logs what arrives there
// the same way, as it does plain lines written to os.Stderr or os.Stdout.
func NewLogger() hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Level:      hclog.Trace,
		Output:     os.Stderr,
		JSONFormat: true,
	})
}

// Serve is the whole main function of a plugin:
//
//	func main() { sdk.Serve(mystore.New()) }
//
// It serves impl over gRPC until the host ends the process. If impl
// implements no strategy kind, or several, or its Info names another kind,
// Serve says so on stderr and exits with status 1; so does a plugin binary
// run by hand rather than by a host.
func Serve(impl base.Plugin) {
	if err := ServeWith(impl, ServeConfig{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// ServeWith is Serve with a configuration, returning the error Serve
// reports instead of exiting. Outside tests it returns only on that error.
func ServeWith(impl base.Plugin, cfg ServeConfig) error {
	kind, err := KindOf(impl)
	if err != nil {
		return err
	}
	if err := checkInfo(impl, kind); err != nil {
		return err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = NewLogger()
	}
	if cfg.Test == nil {
		go exitWithHost(logger, os.Getppid(), hostPollInterval)
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: VersionedPlugins(impl),
		// No TLSProvider: with it unset, go-plugin answers a host's AutoMTLS
		// with a certificate of its own.
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return plugin.DefaultGRPCServer(append(opts, wire.ServerOptions(logger)...))
		},
		Logger: logger,
		Test:   cfg.Test,
	})
	return nil
}

// hostPollInterval is how often a plugin process checks that its host is
// still there.
const hostPollInterval = 500 * time.Millisecond

// exitWithHost ends the plugin process once its host is gone. A host that
// is killed (SIGKILL, a crash) cannot stop its plugins, and go-plugin does
// not notice: without this every plugin of every killed host would run on,
// reparented, holding its files and ports. The parent changes only when it
// dies.
func exitWithHost(log hclog.Logger, host int, every time.Duration) {
	for range time.Tick(every) {
		if os.Getppid() != host {
			log.Info("the host process is gone; exiting", "host_pid", host)
			os.Exit(0)
		}
	}
}

// infoTimeout bounds the Info call Serve makes before serving; Info must not
// depend on configuration, so it has nothing to wait for.
const infoTimeout = 10 * time.Second

// checkInfo refuses a plugin whose Info names another kind than the one its
// methods implement: the host would dispense one kind and describe another.
// An empty Info.Kind is accepted and filled in by nobody; the host reports
// it when it describes the plugin.
func checkInfo(impl base.Plugin, kind base.Kind) error {
	ctx, cancel := context.WithTimeout(context.Background(), infoTimeout)
	defer cancel()
	info, err := impl.Info(ctx)
	if err != nil {
		return fmt.Errorf("sdk: %T.Info: %w", impl, err)
	}
	if info.Kind != "" && info.Kind != kind {
		return fmt.Errorf("sdk: %T implements a %s but its Info says %q", impl, kind, info.Kind)
	}
	return nil
}

// GRPCDialOptions are the dial options a host passes in go-plugin's
// ClientConfig.GRPCDialOptions: the protocol's message size limit (64 MiB)
// for every call on the connection. The kinds' clients set the same limit
// on each call they make, so a host that omits these still works; setting
// them keeps the limit in one place for anything else on the connection.
func GRPCDialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithDefaultCallOptions(wire.CallOptions()...)}
}

// DispenseKind dispenses the plugin of the kind from a started plugin
// client and checks that it is that kind's Plugin. Dispensing only builds
// the client side; whether the process serves that kind shows on the first
// call (Unimplemented) — hosts call Info first and compare its Kind.
func DispenseKind(c plugin.ClientProtocol, kind base.Kind) (base.Plugin, error) {
	raw, err := c.Dispense(string(kind))
	if err != nil {
		return nil, fmt.Errorf("sdk: dispense %s: %w", kind, err)
	}
	var (
		p  base.Plugin
		ok bool
	)
	switch kind {
	case base.KindStore:
		p, ok = raw.(store.Plugin)
	case base.KindCodec:
		p, ok = raw.(codec.Plugin)
	case base.KindRouter:
		p, ok = raw.(router.Plugin)
	case base.KindReplicator:
		p, ok = raw.(replicator.Plugin)
	default:
		return nil, fmt.Errorf("sdk: dispense: unknown strategy kind %q", kind)
	}
	if !ok {
		return nil, fmt.Errorf("sdk: dispense %s: got %T, not a %s plugin", kind, raw, kind)
	}
	return p, nil
}
