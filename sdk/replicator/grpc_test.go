package replicator_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/wadi-go/wadi/sdk/internal/testimpl"
	"github.com/wadi-go/wadi/sdk/internal/wiretest"
	"github.com/wadi-go/wadi/sdk/replicator"
)

func dial(t *testing.T, impl replicator.Plugin) replicator.Plugin {
	t.Helper()
	return wiretest.Dispense(t, &replicator.GRPCPlugin{Impl: impl}, nil).(replicator.Plugin)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestGRPCRoundTrip(t *testing.T) {
	ctx := ctxT(t)
	impl := testimpl.NewReplicator(2, nil)
	r := dial(t, impl)

	st, err := r.Settings(ctx)
	want, _ := impl.Settings(ctx)
	if err != nil || st != want {
		t.Errorf("Settings = %+v, %v; want %+v", st, err, want)
	}

	req := replicator.PlaceRequest{
		Members: []replicator.Member{
			{Name: "n1", Zone: "a", Meta: map[string]string{"rack": "1", "ünï": "cödé"}},
			{Name: "n2", Zone: "b"},
			{Name: "n3", Zone: "a", Meta: map[string]string{}},
		},
		Primaries: []string{"n1", "n2", "n3", "n1", "gone"},
	}
	got, err := r.Place(ctx, req)
	if err != nil {
		t.Fatalf("Place: %v", err)
	}
	wantTable, _ := impl.Place(ctx, req)
	if !reflect.DeepEqual(got, wantTable) {
		t.Errorf("Place = %q, in process %q", got, wantTable)
	}
}

// spy records the request that reached it and answers with an empty
// placement per partition.
type spy struct {
	*testimpl.Replicator
	got chan replicator.PlaceRequest
}

func (s spy) Place(_ context.Context, req replicator.PlaceRequest) ([][]string, error) {
	s.got <- req
	return make([][]string, len(req.Primaries)), nil
}

// Empty and nil are one value on the wire: empty lists and maps reach the
// implementation as nil, and a partition with no backups comes back nil.
func TestGRPCEmptyAndNil(t *testing.T) {
	ctx := ctxT(t)
	s := spy{testimpl.NewReplicator(1, nil), make(chan replicator.PlaceRequest, 1)}
	r := dial(t, s)
	req := replicator.PlaceRequest{
		Members:   []replicator.Member{{Name: "n1", Meta: map[string]string{}}, {Name: "n2", Meta: map[string]string{"k": ""}}},
		Primaries: []string{"n1", "n2"},
	}
	table, err := r.Place(ctx, req)
	if err != nil || !reflect.DeepEqual(table, [][]string{nil, nil}) {
		t.Errorf("Place = %#v, %v; want two nil placements", table, err)
	}
	got := <-s.got
	want := replicator.PlaceRequest{
		Members:   []replicator.Member{{Name: "n1"}, {Name: "n2", Meta: map[string]string{"k": ""}}},
		Primaries: []string{"n1", "n2"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("impl got %#v, want %#v", got, want)
	}

	table, err = r.Place(ctx, replicator.PlaceRequest{Members: []replicator.Member{}, Primaries: []string{}})
	if err != nil || table != nil {
		t.Errorf("Place(empty) = %#v, %v; want nil", table, err)
	}
	if got := <-s.got; got.Members != nil || got.Primaries != nil {
		t.Errorf("impl got %#v for an empty request, want nil lists", got)
	}
}

// wrong answers with a table of the wrong length, or panics.
type wrong struct{ *testimpl.Replicator }

func (wrong) Place(_ context.Context, req replicator.PlaceRequest) ([][]string, error) {
	if len(req.Primaries) == 1 {
		panic(fmt.Sprintf("cannot place %s", req.Primaries[0]))
	}
	return nil, nil
}

func TestGRPCInvalid(t *testing.T) {
	ctx := ctxT(t)
	r := dial(t, testimpl.NewReplicator(1, nil))
	many := make([]replicator.Member, 1<<12+1)
	for i := range many {
		many[i].Name = fmt.Sprint("n", i)
	}
	if _, err := r.Place(ctx, replicator.PlaceRequest{Members: many}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("Place with %d members = %v, want InvalidArgument", len(many), err)
	}
	parts := make([]string, 1<<16+1)
	if _, err := r.Place(ctx, replicator.PlaceRequest{Primaries: parts}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("Place with %d partitions = %v, want InvalidArgument", len(parts), err)
	}

	w := dial(t, wrong{testimpl.NewReplicator(1, nil)})
	if _, err := w.Place(ctx, replicator.PlaceRequest{Primaries: []string{"a", "b"}}); err == nil || !strings.Contains(err.Error(), "0 placements for 2 partitions") {
		t.Errorf("Place answering no table = %v, want a length error", err)
	}
	if _, err := w.Place(ctx, replicator.PlaceRequest{Primaries: []string{"a"}}); status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "cannot place a") {
		t.Errorf("Place panicking = %v, want Internal with the panic", err)
	}
	if _, err := w.Settings(ctx); err != nil {
		t.Errorf("Settings after a panic: %v", err)
	}
}
