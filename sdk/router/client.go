package router

import (
	"context"
	"fmt"

	"google.golang.org/grpc"

	pb "github.com/wadi-go/wadi/sdk/internal/proto"
	"github.com/wadi-go/wadi/sdk/internal/wire"
)

// grpcClient is a router Plugin whose implementation runs in a plugin
// process.
type grpcClient struct {
	wire.BaseClient
	rpc  pb.RouterClient
	done context.Context
}

var _ Plugin = (*grpcClient)(nil)

// newGRPCClient returns a client over conn; done is cancelled when the
// plugin process exits.
func newGRPCClient(done context.Context, conn grpc.ClientConnInterface) *grpcClient {
	rpc := pb.NewRouterClient(conn)
	return &grpcClient{
		BaseClient: wire.BaseClient{Kind: "router", RPC: rpc, Done: done},
		rpc:        rpc,
		done:       done,
	}
}

// Format implements Router.
func (c *grpcClient) Format(ctx context.Context) (Format, error) {
	if err := wire.CheckContext(ctx, "router.Format"); err != nil {
		return Format{}, err
	}
	resp, err := c.rpc.Format(ctx, &pb.FormatRequest{}, wire.CallOptions()...)
	if err != nil {
		return Format{}, wire.FromStatus(ctx, c.done, "router.Format", err)
	}
	return Format{
		RouteSeparator: resp.GetRouteSeparator(),
		RouteCookie:    resp.GetRouteCookie(),
		RouteHeader:    resp.GetRouteHeader(),
	}, nil
}

// Relocate implements Router.
func (c *grpcClient) Relocate(ctx context.Context, m Miss) (Decision, error) {
	if err := wire.CheckContext(ctx, "router.Relocate"); err != nil {
		return Decision{}, err
	}
	resp, err := c.rpc.Relocate(ctx, &pb.RelocateRequest{Miss: missToProto(m)}, wire.CallOptions()...)
	if err != nil {
		return Decision{}, wire.FromStatus(ctx, c.done, "router.Relocate", err)
	}
	action, err := actionFromProto(resp.GetAction())
	if err != nil {
		return Decision{}, fmt.Errorf("router.Relocate: plugin answered with an %w", err)
	}
	return Decision{Action: action, URL: string(resp.GetUrl())}, nil
}
