package replicator

import (
	"context"
	"fmt"

	"google.golang.org/grpc"

	pb "github.com/wadi-go/wadi/sdk/internal/proto"
	"github.com/wadi-go/wadi/sdk/internal/wire"
)

// grpcClient is a replicator Plugin whose implementation runs in a plugin
// process.
type grpcClient struct {
	wire.BaseClient
	rpc  pb.ReplicatorClient
	done context.Context
}

var _ Plugin = (*grpcClient)(nil)

// newGRPCClient returns a client over conn; done is cancelled when the
// plugin process exits.
func newGRPCClient(done context.Context, conn grpc.ClientConnInterface) *grpcClient {
	rpc := pb.NewReplicatorClient(conn)
	return &grpcClient{
		BaseClient: wire.BaseClient{Kind: "replicator", RPC: rpc, Done: done},
		rpc:        rpc,
		done:       done,
	}
}

// Settings implements Replicator.
func (c *grpcClient) Settings(ctx context.Context) (Settings, error) {
	if err := wire.CheckContext(ctx, "replicator.Settings"); err != nil {
		return Settings{}, err
	}
	resp, err := c.rpc.Settings(ctx, &pb.SettingsRequest{}, wire.CallOptions()...)
	if err != nil {
		return Settings{}, wire.FromStatus(ctx, c.done, "replicator.Settings", err)
	}
	st, err := settingsFromProto(resp)
	if err != nil {
		return Settings{}, fmt.Errorf("replicator.Settings: plugin answered with %w", err)
	}
	return st, nil
}

// Place implements Replicator. The answer has one entry per primary, or the
// call fails.
func (c *grpcClient) Place(ctx context.Context, req PlaceRequest) ([][]string, error) {
	if err := wire.CheckContext(ctx, "replicator.Place"); err != nil {
		return nil, err
	}
	resp, err := c.rpc.Place(ctx, placeRequestToProto(req), wire.CallOptions()...)
	if err != nil {
		return nil, wire.FromStatus(ctx, c.done, "replicator.Place", err)
	}
	table := tableFromProto(resp.GetPartitions())
	if len(table) != len(req.Primaries) {
		return nil, errTableLen(len(req.Primaries), len(table))
	}
	return table, nil
}
