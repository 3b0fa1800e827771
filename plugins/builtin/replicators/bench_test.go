package replicators

import (
	"fmt"
	"testing"
)

// BenchmarkPlace measures partitioned placing a 271-partition table as the
// host asks for it, once per membership change: every partition's primary
// the calling node.
func BenchmarkPlace(b *testing.B) {
	for _, size := range []int{3, 7, 31} {
		for _, backups := range []int{1, 2} {
			b.Run(fmt.Sprintf("members-%d/backups-%d", size, backups), func(b *testing.B) {
				r := configured(b, NewPartitioned, block(backups, "sync", "attribute"))
				req := own(members(size), "node-0", 271)
				b.ReportAllocs()
				for b.Loop() {
					if _, err := r.Place(b.Context(), req); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
