package store

import (
	"context"
	"fmt"

	pb "github.com/wadi-go/wadi/sdk/internal/proto"
	"github.com/wadi-go/wadi/sdk/internal/wire"
)

// grpcServer serves a store Plugin over the store service. It checks what
// it receives before the implementation sees it, so an implementation can
// trust its arguments as it would in process.
type grpcServer struct {
	wire.BaseServer
	impl Plugin
}

var _ pb.StoreServer = (*grpcServer)(nil)

func (s *grpcServer) Save(ctx context.Context, req *pb.SaveRequest) (*pb.SaveResponse, error) {
	if req == nil {
		return nil, wire.Invalid("store.Save: no request")
	}
	recs, err := recordsFromProto(req.GetRecords())
	if err != nil {
		return nil, wire.Invalid("store.Save: %v", err)
	}
	if err := s.impl.Save(ctx, recs); err != nil {
		return nil, wire.ToStatus(err, sentinels()...)
	}
	return &pb.SaveResponse{}, nil
}

func (s *grpcServer) Load(ctx context.Context, req *pb.LoadRequest) (*pb.LoadResponse, error) {
	if req == nil {
		return nil, wire.Invalid("store.Load: no request")
	}
	id := string(req.GetId())
	if err := checkID(id); err != nil {
		return nil, wire.Invalid("store.Load: %v", err)
	}
	rec, err := s.impl.Load(ctx, id)
	if err != nil {
		return nil, wire.ToStatus(err, sentinels()...)
	}
	return &pb.LoadResponse{Record: recordToProto(rec)}, nil
}

func (s *grpcServer) Delete(ctx context.Context, req *pb.DeleteRequest) (*pb.DeleteResponse, error) {
	if req == nil {
		return nil, wire.Invalid("store.Delete: no request")
	}
	ids, err := idsFromProto(req.GetIds())
	if err != nil {
		return nil, wire.Invalid("store.Delete: %v", err)
	}
	if err := s.impl.Delete(ctx, ids); err != nil {
		return nil, wire.ToStatus(err, sentinels()...)
	}
	return &pb.DeleteResponse{}, nil
}

func (s *grpcServer) DeleteExpired(ctx context.Context, req *pb.DeleteExpiredRequest) (*pb.DeleteExpiredResponse, error) {
	if req == nil {
		return nil, wire.Invalid("store.DeleteExpired: no request")
	}
	before, err := timeFromProto(req.GetBefore())
	if err != nil {
		return nil, wire.Invalid("store.DeleteExpired: before: %v", err)
	}
	ids, err := s.impl.DeleteExpired(ctx, before, clampInt(req.GetLimit()))
	if err != nil {
		return nil, wire.ToStatus(err, sentinels()...)
	}
	return &pb.DeleteExpiredResponse{Ids: idsToProto(ids)}, nil
}

func (s *grpcServer) Close(ctx context.Context, req *pb.CloseRequest) (*pb.CloseResponse, error) {
	if err := s.impl.Close(); err != nil {
		return nil, wire.ToStatus(err, sentinels()...)
	}
	return &pb.CloseResponse{}, nil
}

// checkID enforces the id bounds of the Store contract at the process
// boundary, so that an implementation sized for MaxIDLen is never handed
// more, whoever calls the service.
func checkID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("empty record id")
	case len(id) > MaxIDLen:
		return fmt.Errorf("record id of %d bytes, more than %d", len(id), MaxIDLen)
	}
	return nil
}
