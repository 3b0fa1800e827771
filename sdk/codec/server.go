package codec

import (
	"context"

	pb "github.com/wadi-go/wadi/sdk/internal/proto"
	"github.com/wadi-go/wadi/sdk/internal/wire"
)

// grpcServer serves a codec Plugin over the codec service.
type grpcServer struct {
	wire.BaseServer
	impl Plugin
}

var _ pb.CodecServer = (*grpcServer)(nil)

func (s *grpcServer) Encode(ctx context.Context, req *pb.EncodeRequest) (*pb.EncodeResponse, error) {
	if req == nil {
		return nil, wire.Invalid("codec.Encode: no request")
	}
	items := itemsFromProto(req.GetItems())
	out, err := s.impl.Encode(ctx, items)
	if err != nil {
		return nil, wire.ToStatus(err, sentinels()...)
	}
	if len(out) != len(items) {
		// The host would otherwise pair outputs with the wrong sessions.
		return nil, wire.ToStatus(errBatchLen(len(items), len(out)))
	}
	return &pb.EncodeResponse{Items: out}, nil
}

func (s *grpcServer) Decode(ctx context.Context, req *pb.DecodeRequest) (*pb.DecodeResponse, error) {
	if req == nil {
		return nil, wire.Invalid("codec.Decode: no request")
	}
	out, err := s.impl.Decode(ctx, payload(req.GetData()))
	if err != nil {
		return nil, wire.ToStatus(err, sentinels()...)
	}
	return &pb.DecodeResponse{Data: out}, nil
}

// Settings answers with the implementation's Settings, the zero Settings
// if it declares none.
func (s *grpcServer) Settings(ctx context.Context, _ *pb.CodecSettingsRequest) (*pb.CodecSettingsResponse, error) {
	st, err := SettingsOf(ctx, s.impl)
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	return &pb.CodecSettingsResponse{Authenticates: st.Authenticates}, nil
}
