package replicator

import (
	"context"

	pb "github.com/wadi-go/wadi/sdk/internal/proto"
	"github.com/wadi-go/wadi/sdk/internal/wire"
)

// Bounds of a PlaceRequest a server accepts. Farms are tens of nodes and
// partition tables hundreds of partitions; these limits are far above both
// and only keep an implementation from being handed a table it would spend
// minutes or gigabytes on.
const (
	maxMembers    = 1 << 12
	maxPartitions = 1 << 16
)

// grpcServer serves a replicator Plugin over the replicator service.
type grpcServer struct {
	wire.BaseServer
	impl Plugin
}

var _ pb.ReplicatorServer = (*grpcServer)(nil)

func (s *grpcServer) Settings(ctx context.Context, _ *pb.SettingsRequest) (*pb.SettingsResponse, error) {
	st, err := s.impl.Settings(ctx)
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	return &pb.SettingsResponse{Backups: int64(st.Backups), Mode: string(st.Mode), Granularity: string(st.Granularity)}, nil
}

func (s *grpcServer) Place(ctx context.Context, req *pb.PlaceRequest) (*pb.PlaceResponse, error) {
	if req == nil {
		return nil, wire.Invalid("replicator.Place: no request")
	}
	pr, err := placeRequestFromProto(req)
	if err != nil {
		return nil, wire.Invalid("replicator.Place: %v", err)
	}
	table, err := s.impl.Place(ctx, pr)
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	if len(table) != len(pr.Primaries) {
		// Every node must compute the same table; a short one would shift
		// partitions onto the wrong backups.
		return nil, wire.ToStatus(errTableLen(len(pr.Primaries), len(table)))
	}
	return &pb.PlaceResponse{Partitions: tableToProto(table)}, nil
}
