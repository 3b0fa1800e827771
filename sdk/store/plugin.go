package store

import (
	"context"
	"errors"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	pb "github.com/wadi-go/wadi/sdk/internal/proto"
	"github.com/wadi-go/wadi/sdk/internal/wire"
)

// GRPCPlugin is the go-plugin glue of the store kind. In a plugin process
// Impl is the store being served (sdk.Serve sets it up); on the host Impl is
// nil and Dispense returns a Plugin that calls the process.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Plugin
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer registers the store service for Impl.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.Impl == nil {
		return errors.New("store: GRPCPlugin has no Impl to serve")
	}
	pb.RegisterStoreServer(s, &grpcServer{BaseServer: wire.BaseServer{Impl: p.Impl}, impl: p.Impl})
	return nil
}

// GRPCClient returns a Plugin that calls the store service over conn. ctx
// is cancelled by go-plugin when the plugin process exits.
func (p *GRPCPlugin) GRPCClient(ctx context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return newGRPCClient(ctx, conn), nil
}

// sentinels are the store's errors that keep their identity across the
// wire.
func sentinels() []wire.Sentinel {
	return []wire.Sentinel{
		{Err: ErrNotFound, Code: codes.NotFound},
		{Err: ErrCorrupt, Code: codes.DataLoss},
	}
}
