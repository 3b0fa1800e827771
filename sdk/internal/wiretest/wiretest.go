// Package wiretest connects a plugin's client and server in process, over
// an in-memory gRPC connection with the same server options sdk.Serve uses
// (message sizes, panic recovery), so the SDK's tests exercise the protocol
// as a plugin process serves it without starting one.
package wiretest

import (
	"context"
	"net"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/wadi-go/wadi/sdk/internal/wire"
)

// Dispense serves p (whose Impl is set) and returns what p's GRPCClient
// returns, the host's side of the plugin. The logger receives the server's
// logs, such as recovered panics; nil discards them. Everything is stopped
// when the test ends.
func Dispense(t testing.TB, p plugin.GRPCPlugin, logger hclog.Logger) any {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(wire.ServerOptions(logger)...)
	if err := p.GRPCServer(nil, srv); err != nil {
		t.Fatalf("GRPCServer: %v", err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(lis)
	}()
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	)
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	done, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		_ = conn.Close()
		srv.Stop()
		<-served
	})
	raw, err := p.GRPCClient(done, nil, conn)
	if err != nil {
		t.Fatalf("GRPCClient: %v", err)
	}
	return raw
}
