// Command testplugin is a strategy plugin written the way a plugin author
// writes one, for the SDK's tests and benchmarks that need a real plugin
// process. Its first argument picks the kind it serves: store (the default),
// codec, router or replicator; the implementations are those of
// sdk/internal/testimpl, so in-process and out-of-process runs compare the
// same code. Further arguments change its behaviour for the host's tests:
//
//	api=N     announce plugin API version N instead of the SDK's, so hosts
//	          can test their refusal of a plugin that speaks no version in
//	          common with them
//	hang      (store) Save never answers
//	crash     (store) Save exits the process
//	late-log  (store) Configure logs through a logger made then, after
//	          Serve, and writes to stderr and stdout
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/hashicorp/go-plugin"

	"github.com/wadi-go/wadi/sdk"
	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/internal/testimpl"
	"github.com/wadi-go/wadi/sdk/store"
)

func main() {
	kind := base.KindStore
	if len(os.Args) > 1 {
		kind = base.Kind(os.Args[1])
	}
	api := 0
	var faults faultyStore
	for _, arg := range os.Args[min(2, len(os.Args)):] {
		switch arg {
		case "hang":
			faults.hang = true
		case "crash":
			faults.crash = true
		case "late-log":
			faults.lateLog = true
		default:
			if _, err := fmt.Sscanf(arg, "api=%d", &api); err != nil {
				fmt.Fprintf(os.Stderr, "testplugin: bad argument %q, want api=N, hang, crash or late-log\n", arg)
				os.Exit(2)
			}
		}
	}
	logger := sdk.NewLogger()
	var impl base.Plugin
	switch kind {
	case base.KindStore:
		impl = testimpl.NewStore(logger)
		if faults != (faultyStore{}) {
			faults.Store = impl.(*testimpl.Store)
			impl = &faults
		}
	case base.KindCodec:
		impl = testimpl.NewCodec(logger)
	case base.KindRouter:
		impl = testimpl.NewRouter(logger)
	case base.KindReplicator:
		impl = testimpl.NewReplicator(2, logger)
	default:
		fmt.Fprintf(os.Stderr, "testplugin: unknown kind %q\n", kind)
		os.Exit(2)
	}
	logger.Debug("testplugin starting", "kind", kind)
	if api != 0 {
		vp := map[int]plugin.PluginSet{api: sdk.VersionedPlugins(impl)[base.APIVersion]}
		plugin.Serve(&plugin.ServeConfig{
			HandshakeConfig:  sdk.Handshake,
			VersionedPlugins: vp,
			GRPCServer:       plugin.DefaultGRPCServer,
			Logger:           logger,
		})
		return
	}
	if err := sdk.ServeWith(impl, sdk.ServeConfig{Logger: logger}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// faultyStore is the test store with the faults the arguments ask for.
type faultyStore struct {
	*testimpl.Store
	hang, crash, lateLog bool
}

var _ store.Plugin = (*faultyStore)(nil)

func (f *faultyStore) Configure(ctx context.Context, config []byte, node base.Node) error {
	if f.lateLog {
		// Serve has replaced os.Stderr and os.Stdout by now: this is a
		// plugin that makes its logger where it learns its configuration.
		sdk.NewLogger().Named("late").Warn("logged from configure", "node", node.Name)
		fmt.Fprintln(os.Stderr, "written to stderr")
		fmt.Fprintln(os.Stdout, "[ERROR] written to stdout")
	}
	return f.Store.Configure(ctx, config, node)
}

func (f *faultyStore) Save(ctx context.Context, recs []store.Record) error {
	switch {
	case f.hang:
		select {}
	case f.crash:
		os.Exit(3)
	}
	return f.Store.Save(ctx, recs)
}
