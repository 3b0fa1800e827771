package store

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"

	pb "github.com/wadi-go/wadi/sdk/internal/proto"
	"github.com/wadi-go/wadi/sdk/internal/wire"
)

// closeTimeout bounds Close, which has no context: a plugin that does not
// answer must not hold the host's shutdown forever.
const closeTimeout = 30 * time.Second

// grpcClient is a store Plugin whose implementation runs in a plugin
// process. Errors keep their identity: errors.Is(err, ErrNotFound),
// ErrCorrupt and the context errors work as they would in process.
type grpcClient struct {
	wire.BaseClient
	rpc  pb.StoreClient
	done context.Context
}

var _ Plugin = (*grpcClient)(nil)

// newGRPCClient returns a client over conn; done is cancelled when the
// plugin process exits.
func newGRPCClient(done context.Context, conn grpc.ClientConnInterface) *grpcClient {
	rpc := pb.NewStoreClient(conn)
	return &grpcClient{
		BaseClient: wire.BaseClient{Kind: "store", RPC: rpc, Done: done},
		rpc:        rpc,
		done:       done,
	}
}

func (c *grpcClient) fail(ctx context.Context, method string, err error) error {
	return wire.FromStatus(ctx, c.done, "store."+method, err, sentinels()...)
}

// Save implements Store.
func (c *grpcClient) Save(ctx context.Context, recs []Record) error {
	if err := wire.CheckContext(ctx, "store.Save"); err != nil {
		return err
	}
	_, err := c.rpc.Save(ctx, &pb.SaveRequest{Records: recordsToProto(recs)}, wire.CallOptions()...)
	return c.fail(ctx, "Save", err)
}

// Load implements Store.
func (c *grpcClient) Load(ctx context.Context, id string) (Record, error) {
	if err := wire.CheckContext(ctx, "store.Load"); err != nil {
		return Record{}, err
	}
	resp, err := c.rpc.Load(ctx, &pb.LoadRequest{Id: []byte(id)}, wire.CallOptions()...)
	if err != nil {
		return Record{}, c.fail(ctx, "Load", err)
	}
	rec, err := recordFromProto(resp.GetRecord())
	if err != nil {
		return Record{}, fmt.Errorf("store.Load: plugin answered with a bad record: %w", err)
	}
	return rec, nil
}

// Delete implements Store.
func (c *grpcClient) Delete(ctx context.Context, ids []string) error {
	if err := wire.CheckContext(ctx, "store.Delete"); err != nil {
		return err
	}
	_, err := c.rpc.Delete(ctx, &pb.DeleteRequest{Ids: idsToProto(ids)}, wire.CallOptions()...)
	return c.fail(ctx, "Delete", err)
}

// DeleteExpired implements Store.
func (c *grpcClient) DeleteExpired(ctx context.Context, before time.Time, limit int) ([]string, error) {
	if err := wire.CheckContext(ctx, "store.DeleteExpired"); err != nil {
		return nil, err
	}
	resp, err := c.rpc.DeleteExpired(ctx, &pb.DeleteExpiredRequest{Before: timeToProto(before), Limit: int64(limit)}, wire.CallOptions()...)
	if err != nil {
		return nil, c.fail(ctx, "DeleteExpired", err)
	}
	ids := resp.GetIds()
	if len(ids) == 0 {
		return nil, nil
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = string(id)
	}
	return out, nil
}

// Close implements Store. It closes the plugin's store, not the connection:
// the host ends the process through go-plugin.
func (c *grpcClient) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	_, err := c.rpc.Close(ctx, &pb.CloseRequest{}, wire.CallOptions()...)
	return c.fail(ctx, "Close", err)
}
