package cluster_test

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkReplicationTraffic measures what one changing request sends to
// backups, by replicator and farm size: `partitioned` with one backup
// sends one message whatever the farm's size, `all` (every node keeps a
// copy, as Tomcat's DeltaManager) one per other node.
func BenchmarkReplicationTraffic(b *testing.B) {
	for _, rep := range []struct {
		name    string
		backups int
	}{{"partitioned", 1}, {"all", 1 << 20}} {
		for _, nodes := range []int{3, 5, 7} {
			b.Run(fmt.Sprintf("%s/nodes=%d", rep.name, nodes), func(b *testing.B) {
				f := newFarm(b)
				f.replicator, f.backups = rep.name, rep.backups
				var first *farmNode
				for i := range nodes {
					fn := f.add([]string{"red", "green", "blue", "white", "black", "cyan", "pink"}[i])
					if i == 0 {
						first = fn
					}
				}
				f.settled()
				br := newBrowsers(1)[0]
				if _, err := br.try(first); err != nil {
					b.Fatal(err)
				}
				// Until the first request's backups are made, the next
				// would send whole sessions to new backups.
				deadline := time.Now().Add(10 * time.Second)
				for _, bk := f.counts(); bk != min(rep.backups, nodes-1); _, bk = f.counts() {
					if time.Now().After(deadline) {
						s, _ := f.counts()
						b.Fatalf("backups not made: %d sessions, %d backups", s, bk)
					}
					time.Sleep(10 * time.Millisecond)
				}
				m0, by0 := first.node.ReplicationTraffic()
				b.ResetTimer()
				for range b.N {
					if _, err := br.try(first); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				m1, by1 := first.node.ReplicationTraffic()
				b.ReportMetric(float64(m1-m0)/float64(b.N), "msgs/req")
				b.ReportMetric(float64(by1-by0)/float64(b.N), "bytes/req")
			})
		}
	}
}
