// Command testplugin is a strategy plugin written the way a plugin author
// writes one, for the SDK's tests and benchmarks that need a real plugin
// process. Its argument picks the kind it serves: store (the default),
// codec, router or replicator; the implementations are those of
// sdk/internal/testimpl, so in-process and out-of-process runs compare the
// same code. A second argument "api=N" makes it announce plugin API version
// N instead of the SDK's, so hosts can test their refusal of a plugin that
// speaks no version in common with them.
package main

import (
	"fmt"
	"os"

	"github.com/hashicorp/go-plugin"

	"github.com/wadi-go/wadi/sdk"
	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/internal/testimpl"
)

func main() {
	kind := base.KindStore
	if len(os.Args) > 1 {
		kind = base.Kind(os.Args[1])
	}
	logger := sdk.NewLogger()
	var impl base.Plugin
	switch kind {
	case base.KindStore:
		impl = testimpl.NewStore(logger)
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
	if len(os.Args) > 2 {
		var v int
		if _, err := fmt.Sscanf(os.Args[2], "api=%d", &v); err != nil {
			fmt.Fprintf(os.Stderr, "testplugin: bad argument %q, want api=N\n", os.Args[2])
			os.Exit(2)
		}
		vp := map[int]plugin.PluginSet{v: sdk.VersionedPlugins(impl)[base.APIVersion]}
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
