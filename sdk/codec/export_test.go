package codec

import (
	"slices"

	"google.golang.org/grpc"

	pb "github.com/wadi-go/wadi/sdk/internal/proto"
	"github.com/wadi-go/wadi/sdk/internal/wire"
)

// RegisterWithoutSettings registers the codec service for impl as a plugin
// built before Settings existed serves it: without that method, so that
// the server answers Unimplemented.
func RegisterWithoutSettings(s *grpc.Server, impl Plugin) {
	desc := pb.Codec_ServiceDesc
	desc.Methods = slices.DeleteFunc(slices.Clone(desc.Methods), func(m grpc.MethodDesc) bool { return m.MethodName == "Settings" })
	s.RegisterService(&desc, &grpcServer{BaseServer: wire.BaseServer{Impl: impl}, impl: impl})
}
