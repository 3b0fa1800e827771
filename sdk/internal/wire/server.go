package wire

import (
	"context"
	"runtime/debug"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// MaxMessageSize bounds a protocol message either way. Sessions can be
// several MiB and a store's or codec's batch several of them; gRPC's default
// of 4 MiB for what a side receives would refuse those.
const MaxMessageSize = 64 << 20

// ServerOptions are the options of every plugin's gRPC server: the message
// size limits, and an interceptor that turns a panic in an implementation
// into an Internal error for that call, logged with its stack, instead of
// a crash of the plugin process that would fail every call in flight.
func ServerOptions(logger hclog.Logger) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxMessageSize),
		grpc.MaxSendMsgSize(MaxMessageSize),
		grpc.ChainUnaryInterceptor(RecoverInterceptor(logger)),
	}
}

// CallOptions are the options of every client call. They are set per call
// rather than on the connection because go-plugin dials the connection.
func CallOptions() []grpc.CallOption {
	return []grpc.CallOption{
		grpc.MaxCallRecvMsgSize(MaxMessageSize),
		grpc.MaxCallSendMsgSize(MaxMessageSize),
	}
}

// RecoverInterceptor recovers a panic of a unary handler and answers the
// call with codes.Internal. The process keeps serving: a strategy that
// panics on one odd input should fail that input, not every session.
func RecoverInterceptor(logger hclog.Logger) grpc.UnaryServerInterceptor {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if r := recover(); r != nil {
				logger.Error("plugin panicked", "method", info.FullMethod, "panic", r, "stack", string(debug.Stack()))
				resp, err = nil, status.Errorf(codes.Internal, "plugin panicked in %s: %v", info.FullMethod, r)
			}
		}()
		return handler(ctx, req)
	}
}
