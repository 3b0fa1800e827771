package replicator

import (
	"context"
	"errors"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pb "github.com/wadi-go/wadi/sdk/internal/proto"
	"github.com/wadi-go/wadi/sdk/internal/wire"
)

// GRPCPlugin is the go-plugin glue of the replicator kind. In a plugin
// process Impl is the replicator being served (sdk.Serve sets it up); on the
// host Impl is nil and Dispense returns a Plugin that calls the process.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Plugin
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer registers the replicator service for Impl.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.Impl == nil {
		return errors.New("replicator: GRPCPlugin has no Impl to serve")
	}
	pb.RegisterReplicatorServer(s, &grpcServer{BaseServer: wire.BaseServer{Impl: p.Impl}, impl: p.Impl})
	return nil
}

// GRPCClient returns a Plugin that calls the replicator service over conn.
// ctx is cancelled by go-plugin when the plugin process exits.
func (p *GRPCPlugin) GRPCClient(ctx context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return newGRPCClient(ctx, conn), nil
}
