package router

import (
	"context"
	"fmt"

	pb "github.com/wadi-go/wadi/sdk/internal/proto"
	"github.com/wadi-go/wadi/sdk/internal/wire"
)

// maxMissField bounds each field of a Miss a server accepts. A Miss
// describes one HTTP request, and no HTTP server accepts a request line or
// header near this size, so anything longer is not a request the host saw.
const maxMissField = 1 << 20

// grpcServer serves a router Plugin over the router service.
type grpcServer struct {
	wire.BaseServer
	impl Plugin
}

var _ pb.RouterServer = (*grpcServer)(nil)

func (s *grpcServer) Format(ctx context.Context, _ *pb.FormatRequest) (*pb.FormatResponse, error) {
	f, err := s.impl.Format(ctx)
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	return &pb.FormatResponse{RouteSeparator: f.RouteSeparator, RouteCookie: f.RouteCookie, RouteHeader: f.RouteHeader}, nil
}

func (s *grpcServer) Relocate(ctx context.Context, req *pb.RelocateRequest) (*pb.RelocateResponse, error) {
	if req.GetMiss() == nil {
		return nil, wire.Invalid("router.Relocate: no miss in the request")
	}
	m, err := missFromProto(req.GetMiss())
	if err != nil {
		return nil, wire.Invalid("router.Relocate: %v", err)
	}
	d, err := s.impl.Relocate(ctx, m)
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	action, err := actionToProto(d.Action)
	if err != nil {
		return nil, wire.ToStatus(fmt.Errorf("router.Relocate: %w", err))
	}
	return &pb.RelocateResponse{Action: action, Url: []byte(d.URL)}, nil
}
