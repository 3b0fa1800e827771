package codec

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/wadi-go/wadi/sdk/internal/proto"
	"github.com/wadi-go/wadi/sdk/internal/wire"
)

// grpcClient is a codec Plugin whose implementation runs in a plugin
// process. errors.Is(err, ErrCorrupt) and the context errors work as they
// would in process.
//
// Empty and nil are one value on the wire: an empty batch comes back nil,
// and every item, input or output, arrives as a non-nil slice (empty when
// it was empty or nil), so that a payload is never mistaken for an absent
// one.
type grpcClient struct {
	wire.BaseClient
	rpc  pb.CodecClient
	done context.Context
}

var (
	_ Plugin           = (*grpcClient)(nil)
	_ SettingsReporter = (*grpcClient)(nil)
)

// newGRPCClient returns a client over conn; done is cancelled when the
// plugin process exits.
func newGRPCClient(done context.Context, conn grpc.ClientConnInterface) *grpcClient {
	rpc := pb.NewCodecClient(conn)
	return &grpcClient{
		BaseClient: wire.BaseClient{Kind: "codec", RPC: rpc, Done: done},
		rpc:        rpc,
		done:       done,
	}
}

func (c *grpcClient) fail(ctx context.Context, method string, err error) error {
	return wire.FromStatus(ctx, c.done, "codec."+method, err, sentinels()...)
}

// Encode implements Codec.
func (c *grpcClient) Encode(ctx context.Context, items [][]byte) ([][]byte, error) {
	if err := wire.CheckContext(ctx, "codec.Encode"); err != nil {
		return nil, err
	}
	if len(items) == 0 {
		items = nil
	}
	resp, err := c.rpc.Encode(ctx, &pb.EncodeRequest{Items: items}, wire.CallOptions()...)
	if err != nil {
		return nil, c.fail(ctx, "Encode", err)
	}
	out := itemsFromProto(resp.GetItems())
	if len(out) != len(items) {
		return nil, errBatchLen(len(items), len(out))
	}
	return out, nil
}

// Decode implements Codec.
func (c *grpcClient) Decode(ctx context.Context, data []byte) ([]byte, error) {
	if err := wire.CheckContext(ctx, "codec.Decode"); err != nil {
		return nil, err
	}
	resp, err := c.rpc.Decode(ctx, &pb.DecodeRequest{Data: data}, wire.CallOptions()...)
	if err != nil {
		return nil, c.fail(ctx, "Decode", err)
	}
	return payload(resp.GetData()), nil
}

// Settings implements SettingsReporter. A plugin built with an SDK from
// before Settings answers Unimplemented: it declares nothing, as it did.
func (c *grpcClient) Settings(ctx context.Context) (Settings, error) {
	if err := wire.CheckContext(ctx, "codec.Settings"); err != nil {
		return Settings{}, err
	}
	resp, err := c.rpc.Settings(ctx, &pb.CodecSettingsRequest{}, wire.CallOptions()...)
	if status.Code(err) == codes.Unimplemented {
		return Settings{}, nil
	}
	if err != nil {
		return Settings{}, c.fail(ctx, "Settings", err)
	}
	return Settings{Authenticates: resp.GetAuthenticates()}, nil
}
