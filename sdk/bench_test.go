package sdk_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/codec"
	"github.com/wadi-go/wadi/sdk/internal/testimpl"
	"github.com/wadi-go/wadi/sdk/replicator"
	"github.com/wadi-go/wadi/sdk/router"
	"github.com/wadi-go/wadi/sdk/store"
)

// benchSizes are the payload sizes: a small session, a typical one, a large
// one. For the router the size is the request path's length; for the
// replicator, the bytes of member metadata in the PlaceRequest.
var benchSizes = []struct {
	name string
	n    int
}{{"64B", 64}, {"4KiB", 4 << 10}, {"64KiB", 64 << 10}}

// benchOp makes one call of a kind (for the store, Save then Load; for the
// codec, Encode of one item then Decode) for a payload size. setup is run
// once per size, outside the timing.
type benchOp func(ctx context.Context, p base.Plugin, payload []byte) error

// BenchmarkCall compares one call of each kind in process (a direct Go
// call to the implementation) with the same implementation in a plugin
// process, reporting the median and 99th percentile of a call besides the
// mean. Run with `go test -bench Call ./sdk/`.
func BenchmarkCall(b *testing.B) {
	bin := buildTestPlugin(b)
	ops := []struct {
		kind base.Kind
		impl base.Plugin
		op   benchOp
	}{
		{base.KindStore, testimpl.NewStore(nil), storeOp},
		{base.KindCodec, testimpl.NewCodec(nil), codecOp},
		{base.KindRouter, testimpl.NewRouter(nil), routerOp},
		{base.KindReplicator, testimpl.NewReplicator(2, nil), replicatorOp},
	}
	for _, o := range ops {
		b.Run(string(o.kind), func(b *testing.B) {
			remote, _ := startPlugin(b, bin, o.kind, hclog.NewNullLogger())
			for _, size := range benchSizes {
				payload := make([]byte, size.n)
				rng := rand.New(rand.NewPCG(uint64(size.n), 1))
				for i := range payload {
					payload[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[rng.IntN(36)]
				}
				b.Run(size.name+"/inproc", func(b *testing.B) { runOp(b, o.impl, o.op, payload) })
				b.Run(size.name+"/plugin", func(b *testing.B) { runOp(b, remote, o.op, payload) })
			}
		})
	}
}

func runOp(b *testing.B, p base.Plugin, op benchOp, payload []byte) {
	ctx := context.Background()
	if err := op(ctx, p, payload); err != nil { // warm up connections and caches
		b.Fatal(err)
	}
	durations := make([]time.Duration, 0, b.N)
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		if err := op(ctx, p, payload); err != nil {
			b.Fatal(err)
		}
		durations = append(durations, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(durations)
	b.ReportMetric(float64(percentile(durations, 50).Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(percentile(durations, 99).Nanoseconds()), "p99-ns")
}

func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[(len(sorted)-1)*p/100]
}

func storeOp(ctx context.Context, p base.Plugin, payload []byte) error {
	s := p.(store.Plugin)
	if err := s.Save(ctx, []store.Record{{ID: "bench", Expires: time.Now().Add(time.Hour), Data: payload}}); err != nil {
		return err
	}
	rec, err := s.Load(ctx, "bench")
	if err == nil && len(rec.Data) != len(payload) {
		err = fmt.Errorf("loaded %d bytes, saved %d", len(rec.Data), len(payload))
	}
	return err
}

func codecOp(ctx context.Context, p base.Plugin, payload []byte) error {
	c := p.(codec.Plugin)
	enc, err := c.Encode(ctx, [][]byte{payload})
	if err != nil {
		return err
	}
	dec, err := c.Decode(ctx, enc[0])
	if err == nil && len(dec) != len(payload) {
		err = fmt.Errorf("decoded %d bytes, encoded %d", len(dec), len(payload))
	}
	return err
}

func routerOp(ctx context.Context, p base.Plugin, payload []byte) error {
	d, err := p.(router.Plugin).Relocate(ctx, router.Miss{
		SessionID: "0123456789abcdef", Here: "n1", Holder: "n2", HolderURL: "http://n2:8080",
		Method: "GET", Host: "example.com", Path: "/" + string(payload[1:]),
	})
	if err == nil && d.Action != router.Redirect {
		err = fmt.Errorf("decision %v, want redirect", d.Action)
	}
	return err
}

// replicatorOp places 64 partitions on 8 members whose metadata adds up to
// the payload's size.
func replicatorOp(ctx context.Context, p base.Plugin, payload []byte) error {
	const members, partitions = 8, 64
	req := replicator.PlaceRequest{Members: make([]replicator.Member, members), Primaries: make([]string, partitions)}
	per := len(payload) / members
	for i := range req.Members {
		req.Members[i] = replicator.Member{
			Name: fmt.Sprint("node-", i),
			Zone: fmt.Sprint("zone-", i%3),
			Meta: map[string]string{"blob": string(payload[i*per : (i+1)*per])},
		}
	}
	for i := range req.Primaries {
		req.Primaries[i] = req.Members[i%members].Name
	}
	table, err := p.(replicator.Plugin).Place(ctx, req)
	if err == nil && len(table) != partitions {
		err = fmt.Errorf("%d placements for %d partitions", len(table), partitions)
	}
	if err == nil && strings.Join(table[0], ",") != "node-1,node-2" {
		err = fmt.Errorf("partition 0 placed on %q", table[0])
	}
	return err
}
