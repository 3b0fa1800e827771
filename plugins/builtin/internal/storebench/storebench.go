// Package storebench holds the benchmarks every builtin store runs against
// its backend, so that their figures compare like with like: Save of one
// record, Save of a batch, and Load, each reporting p50 and p99 per call
// beside ns/op.
package storebench

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/wadi-go/wadi/sdk/store"
)

// Open returns a fresh, empty store for one benchmark; the benchmark
// closes it.
type Open func(tb testing.TB) store.Store

// latencies collects per-operation durations and reports their
// percentiles alongside ns/op.
type latencies []time.Duration

func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	slices.Sort(l)
	at := func(p float64) float64 {
		return float64(l[sort.Search(len(l), func(i int) bool { return float64(i+1) >= p*float64(len(l)) })])
	}
	b.ReportMetric(at(0.50), "p50-ns")
	b.ReportMetric(at(0.99), "p99-ns")
}

var sizes = []struct {
	name string
	n    int
}{{"1KiB", 1 << 10}, {"16KiB", 16 << 10}}

// Save saves one record per op, of 1 KiB and of 16 KiB.
func Save(b *testing.B, open Open) {
	for _, sz := range sizes {
		b.Run(sz.name, func(b *testing.B) {
			s := open(b)
			defer s.Close()
			ctx := context.Background()
			data := bytes.Repeat([]byte{0xa5}, sz.n)
			exp := time.Now().Add(time.Hour)
			lat := make(latencies, 0, 1024)
			b.SetBytes(int64(sz.n))
			i := 0
			for b.Loop() {
				// Cycle through a working set of ids, so that most saves
				// replace a record, as evictions of live sessions do.
				rec := store.Record{ID: fmt.Sprintf("session-%04d", i%1000), Expires: exp, Data: data}
				i++
				start := time.Now()
				if err := s.Save(ctx, []store.Record{rec}); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			lat.report(b)
		})
	}
}

// SaveBatch saves 100 records of 1 KiB per op, as eviction and shutdown do.
func SaveBatch(b *testing.B, open Open) {
	const batch, size = 100, 1 << 10
	s := open(b)
	defer s.Close()
	ctx := context.Background()
	data := bytes.Repeat([]byte{0xa5}, size)
	exp := time.Now().Add(time.Hour)
	recs := make([]store.Record, batch)
	lat := make(latencies, 0, 1024)
	b.SetBytes(batch * size)
	i := 0
	for b.Loop() {
		for j := range recs {
			recs[j] = store.Record{ID: fmt.Sprintf("session-%05d", (i*batch+j)%10000), Expires: exp, Data: data}
		}
		i++
		start := time.Now()
		if err := s.Save(ctx, recs); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	lat.report(b)
}

// Load loads one record per op from a working set of 1000, of 1 KiB and of
// 16 KiB.
func Load(b *testing.B, open Open) {
	for _, sz := range sizes {
		b.Run(sz.name, func(b *testing.B) {
			const n = 1000
			s := open(b)
			defer s.Close()
			ctx := context.Background()
			data := bytes.Repeat([]byte{0xa5}, sz.n)
			exp := time.Now().Add(time.Hour)
			recs := make([]store.Record, n)
			ids := make([]string, n)
			for i := range recs {
				ids[i] = fmt.Sprintf("session-%04d", i)
				recs[i] = store.Record{ID: ids[i], Expires: exp, Data: data}
			}
			if err := s.Save(ctx, recs); err != nil {
				b.Fatal(err)
			}
			lat := make(latencies, 0, 1024)
			b.SetBytes(int64(sz.n))
			i := 0
			for b.Loop() {
				start := time.Now()
				rec, err := s.Load(ctx, ids[i%n])
				lat = append(lat, time.Since(start))
				if err != nil || len(rec.Data) != sz.n {
					b.Fatalf("Load: %d bytes, %v", len(rec.Data), err)
				}
				i++
			}
			lat.report(b)
		})
	}
}
