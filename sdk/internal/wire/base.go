package wire

import (
	"context"
	"fmt"
	"math"

	"google.golang.org/grpc"

	"github.com/wadi-go/wadi/sdk/base"
	pb "github.com/wadi-go/wadi/sdk/internal/proto"
	"github.com/wadi-go/wadi/sdk/schema"
)

// BaseServer answers the base RPCs that every kind's service starts with.
// A kind's server embeds it, so the four services share one implementation.
type BaseServer struct {
	Impl base.Plugin
}

// Info answers with the implementation's Info.
func (s *BaseServer) Info(ctx context.Context, req *pb.InfoRequest) (*pb.InfoResponse, error) {
	info, err := s.Impl.Info(ctx)
	if err != nil {
		return nil, ToStatus(err)
	}
	return InfoToProto(info), nil
}

// Schema answers with the implementation's Schema.
func (s *BaseServer) Schema(ctx context.Context, req *pb.SchemaRequest) (*pb.SchemaResponse, error) {
	sch, err := s.Impl.Schema(ctx)
	if err != nil {
		return nil, ToStatus(err)
	}
	return SchemaToProto(sch), nil
}

// Configure passes the configuration and node to the implementation.
func (s *BaseServer) Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	if req == nil {
		return nil, Invalid("configure: no request")
	}
	if err := s.Impl.Configure(ctx, req.GetConfig(), NodeFromProto(req.GetNode())); err != nil {
		return nil, ToStatus(err)
	}
	return &pb.ConfigureResponse{}, nil
}

// BaseRPC is the part of every kind's generated client that the base
// methods call.
type BaseRPC interface {
	Info(ctx context.Context, in *pb.InfoRequest, opts ...grpc.CallOption) (*pb.InfoResponse, error)
	Schema(ctx context.Context, in *pb.SchemaRequest, opts ...grpc.CallOption) (*pb.SchemaResponse, error)
	Configure(ctx context.Context, in *pb.ConfigureRequest, opts ...grpc.CallOption) (*pb.ConfigureResponse, error)
}

// BaseClient implements base.Plugin over a kind's generated client. A kind's
// client embeds it.
type BaseClient struct {
	// Kind prefixes the errors' method names ("store.Info").
	Kind base.Kind
	RPC  BaseRPC
	// Done is cancelled by go-plugin when the plugin process exits.
	Done context.Context
}

var _ base.Plugin = (*BaseClient)(nil)

// Info implements base.Plugin.
func (c *BaseClient) Info(ctx context.Context) (base.Info, error) {
	if err := CheckContext(ctx, c.method("Info")); err != nil {
		return base.Info{}, err
	}
	resp, err := c.RPC.Info(ctx, &pb.InfoRequest{}, CallOptions()...)
	if err != nil {
		return base.Info{}, FromStatus(ctx, c.Done, c.method("Info"), err)
	}
	return InfoFromProto(resp)
}

// Schema implements base.Plugin.
func (c *BaseClient) Schema(ctx context.Context) (schema.Schema, error) {
	if err := CheckContext(ctx, c.method("Schema")); err != nil {
		return schema.Schema{}, err
	}
	resp, err := c.RPC.Schema(ctx, &pb.SchemaRequest{}, CallOptions()...)
	if err != nil {
		return schema.Schema{}, FromStatus(ctx, c.Done, c.method("Schema"), err)
	}
	return SchemaFromProto(resp), nil
}

// Configure implements base.Plugin.
func (c *BaseClient) Configure(ctx context.Context, config []byte, node base.Node) error {
	if err := CheckContext(ctx, c.method("Configure")); err != nil {
		return err
	}
	_, err := c.RPC.Configure(ctx, &pb.ConfigureRequest{Config: config, Node: NodeToProto(node)}, CallOptions()...)
	return FromStatus(ctx, c.Done, c.method("Configure"), err)
}

func (c *BaseClient) method(name string) string { return string(c.Kind) + "." + name }

// InfoToProto converts a base.Info for the wire.
func InfoToProto(info base.Info) *pb.InfoResponse {
	resp := &pb.InfoResponse{Name: info.Name, Kind: string(info.Kind), Version: info.Version}
	if len(info.APIVersions) > 0 {
		resp.ApiVersions = make([]int64, len(info.APIVersions))
		for i, v := range info.APIVersions {
			resp.ApiVersions[i] = int64(v)
		}
	}
	return resp
}

// InfoFromProto converts an Info answer back; an API version that does not
// fit an int is an error rather than a silently different number.
func InfoFromProto(resp *pb.InfoResponse) (base.Info, error) {
	info := base.Info{Name: resp.GetName(), Kind: base.Kind(resp.GetKind()), Version: resp.GetVersion()}
	if vs := resp.GetApiVersions(); len(vs) > 0 {
		info.APIVersions = make([]int, len(vs))
		for i, v := range vs {
			if v < math.MinInt || v > math.MaxInt {
				return base.Info{}, fmt.Errorf("plugin Info: API version %d out of range", v)
			}
			info.APIVersions[i] = int(v)
		}
	}
	return info, nil
}

// SchemaToProto converts a schema for the wire.
func SchemaToProto(s schema.Schema) *pb.SchemaResponse {
	resp := &pb.SchemaResponse{}
	if len(s.Attributes) > 0 {
		resp.Attributes = make([]*pb.Attribute, len(s.Attributes))
		for i, a := range s.Attributes {
			resp.Attributes[i] = &pb.Attribute{
				Name:        a.Name,
				Type:        string(a.Type),
				Required:    a.Required,
				DefaultJson: a.Default,
				Doc:         a.Doc,
			}
		}
	}
	return resp
}

// SchemaFromProto converts a Schema answer back. A schema with no
// attributes has a nil Attributes slice.
func SchemaFromProto(resp *pb.SchemaResponse) schema.Schema {
	var s schema.Schema
	if as := resp.GetAttributes(); len(as) > 0 {
		s.Attributes = make([]schema.Attribute, len(as))
		for i, a := range as {
			s.Attributes[i] = schema.Attribute{
				Name:     a.GetName(),
				Type:     schema.Type(a.GetType()),
				Required: a.GetRequired(),
				Default:  a.GetDefaultJson(),
				Doc:      a.GetDoc(),
			}
		}
	}
	return s
}

// NodeToProto converts a base.Node for the wire.
func NodeToProto(n base.Node) *pb.Node {
	return &pb.Node{Name: n.Name, Zone: n.Zone, DataDir: n.DataDir}
}

// NodeFromProto converts a node back; an absent node is the zero Node.
func NodeFromProto(n *pb.Node) base.Node {
	return base.Node{Name: n.GetName(), Zone: n.GetZone(), DataDir: n.GetDataDir()}
}
