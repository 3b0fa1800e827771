package cluster_test

import (
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wadi-go/wadi/core/cluster"
	"github.com/wadi-go/wadi/core/session"
)

// recorder is what one farm node's manager and cluster node report: it is
// both a session.Metrics and a cluster.Metrics.
type recorder struct {
	requests         [16]atomic.Int64 // by outcome
	sessions         atomic.Int64
	migrations       atomic.Int64
	migBytes         atomic.Int64
	restoredRequest  atomic.Int64
	restoredBackgrnd atomic.Int64
	replMessages     atomic.Int64
	replBytes        atomic.Int64
	replFailed       atomic.Int64
	replUntimed      atomic.Int64 // observations without a duration
}

var (
	_ session.Metrics = (*recorder)(nil)
	_ cluster.Metrics = (*recorder)(nil)
)

func (r *recorder) Request(o session.Outcome)   { r.requests[o].Add(1) }
func (r *recorder) SessionsChanged(delta int)   { r.sessions.Add(int64(delta)) }
func (r *recorder) Evicted(int)                 {}
func (r *recorder) Destroyed(session.Reason)    {}
func (r *recorder) count(o session.Outcome) int { return int(r.requests[o].Load()) }

func (r *recorder) MigratedIn(d time.Duration, bytes int) {
	if d > 0 && bytes > 0 {
		r.migrations.Add(1)
		r.migBytes.Add(int64(bytes))
	}
}

func (r *recorder) Restored(byRequest bool) {
	if byRequest {
		r.restoredRequest.Add(1)
	} else {
		r.restoredBackgrnd.Add(1)
	}
}

func (r *recorder) Replicated(d time.Duration, bytes int, err error) {
	r.replMessages.Add(1)
	r.replBytes.Add(int64(bytes))
	if err != nil {
		r.replFailed.Add(1)
	}
	if d <= 0 {
		r.replUntimed.Add(1)
	}
}

// total is the number of requests counted under any outcome.
func (r *recorder) total() int {
	n := 0
	for _, o := range session.Outcomes() {
		n += r.count(o)
	}
	return n
}

// The outcome of a request that lands on a node that does not hold its
// session is counted on that node as the router's policy served it, and
// the holder counts what it served locally.
func TestMetricsRelocation(t *testing.T) {
	tests := []struct {
		policy string // "" lets the session move
		// on green, the node the second request lands on, and on red, its
		// session's first node.
		green, red session.Outcome
	}{
		{"", session.OutcomeMigratedIn, session.OutcomeCreated},
		{"proxy", session.OutcomeProxied, session.OutcomeLocal},
		{"redirect", session.OutcomeRedirected, session.OutcomeLocal},
	}
	for _, tt := range tests {
		t.Run("policy "+tt.policy, func(t *testing.T) {
			f := newFarm(t)
			f.policy = tt.policy
			red, green := f.add("red"), f.add("green")
			f.settled()
			b := &browser{hc: &http.Client{Timeout: 10 * time.Second}}
			b.incr(t, red)
			if got := b.incr(t, green); got != 2 {
				t.Fatalf("count %d through green, want 2", got)
			}
			if green.metrics.total() != 1 || green.metrics.count(tt.green) != 1 {
				t.Fatalf("green counted %d requests, %d %v; want one %v", green.metrics.total(), green.metrics.count(tt.green), tt.green, tt.green)
			}
			wantRed := 1
			if tt.red == session.OutcomeLocal {
				wantRed = 2 // created, then served for green
			}
			if red.metrics.total() != wantRed || red.metrics.count(tt.red) != 1 {
				t.Fatalf("red counted %d requests, %d %v; want %d with one %v", red.metrics.total(), red.metrics.count(tt.red), tt.red, wantRed, tt.red)
			}
			wantMig := int64(0)
			if tt.policy == "" {
				wantMig = 1
			}
			if n := green.metrics.migrations.Load(); n != wantMig || (n > 0) != (green.metrics.migBytes.Load() > 0) {
				t.Fatalf("green observed %d migrations of %d bytes, want %d", n, green.metrics.migBytes.Load(), wantMig)
			}
			for _, fn := range []*farmNode{red, green} {
				if got, want := fn.metrics.sessions.Load(), int64(fn.mgr.Len()); got != want {
					t.Fatalf("%s: session count %d from the metrics, %d in memory", fn.name, got, want)
				}
			}
		})
	}
}

// Replication messages are timed and measured as they are sent; after a
// crash, every session of the dead node is restored exactly once across
// the survivors, by a request or in the background, and the requests
// that followed are counted.
func TestMetricsReplicationAndRestore(t *testing.T) {
	f := newFarm(t)
	f.replicator, f.backups = "partitioned", 1
	red, green, blue := f.add("red"), f.add("green"), f.add("blue")
	f.settled()
	bs := newBrowsers(10)
	for _, b := range bs {
		b.incr(t, red)
	}
	m := red.metrics
	if m.replMessages.Load() < int64(len(bs)) || m.replBytes.Load() <= 0 || m.replUntimed.Load() != 0 {
		t.Fatalf("red observed %d replication messages, %d bytes, %d untimed; want ≥%d, >0, 0", m.replMessages.Load(), m.replBytes.Load(), m.replUntimed.Load(), len(bs))
	}
	f.crash(red)
	for i, b := range bs {
		if got := b.incr(t, green); got != 2 {
			t.Fatalf("browser %d after the crash: count %d, want 2", i, got)
		}
	}
	restored := 0
	for _, fn := range []*farmNode{green, blue} {
		restored += int(fn.metrics.restoredRequest.Load() + fn.metrics.restoredBackgrnd.Load())
		if got, want := fn.metrics.restoredRequest.Load(), int64(fn.metrics.count(session.OutcomeRestored)); got != want {
			t.Fatalf("%s: %d restores by request, %d requests counted restored", fn.name, got, want)
		}
	}
	if restored != len(bs) {
		t.Fatalf("%d restores counted across the survivors, want %d", restored, len(bs))
	}
	g := green.metrics
	if served := g.count(session.OutcomeRestored) + g.count(session.OutcomeLocal) + g.count(session.OutcomeMigratedIn); served != len(bs) || g.total() != len(bs) {
		t.Fatalf("green counted %d requests, %d restored, local or migrated in; want %d", g.total(), served, len(bs))
	}
	f.waitCounts(t, len(bs), len(bs), 10*time.Second)
	for _, fn := range []*farmNode{green, blue} {
		if got, want := fn.metrics.sessions.Load(), int64(fn.mgr.Len()); got != want {
			t.Fatalf("%s: session count %d from the metrics, %d in memory", fn.name, got, want)
		}
	}
}

// A request proxied to its session's holder counts as proxied only when
// the holder answered it; when the holder cannot be reached (502) or cuts
// its answer short (the connection is aborted), it counts as an error.
func TestMetricsProxyFailure(t *testing.T) {
	tests := []struct {
		name   string
		path   string
		down   bool // the holder's HTTP server is gone, its node alive
		status int  // 0: the response must be cut short
		want   session.Outcome
	}{
		{"holder answers", "/", false, http.StatusOK, session.OutcomeProxied},
		{"holder unreachable", "/", true, http.StatusBadGateway, session.OutcomeError},
		{"holder cuts the body", "/abort", false, 0, session.OutcomeError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFarm(t)
			f.policy = "proxy"
			red, green := f.add("red"), f.add("green")
			f.settled()
			b := &browser{hc: &http.Client{Timeout: 10 * time.Second}}
			b.incr(t, red)
			if tt.down {
				red.http.Close()
			}
			req, _ := http.NewRequest("POST", green.http.URL+tt.path, nil)
			req.Header.Set("Cookie", "WADISESSIONID="+b.cookie)
			resp, err := b.hc.Do(req)
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			switch {
			case tt.status == 0 && err == nil:
				t.Fatalf("got a whole %s; want the response cut short", resp.Status)
			case tt.status != 0 && err != nil:
				t.Fatalf("want %d: %v", tt.status, err)
			case tt.status != 0 && resp.StatusCode != tt.status:
				t.Fatalf("got %s, want %d", resp.Status, tt.status)
			}
			if green.metrics.total() != 1 || green.metrics.count(tt.want) != 1 {
				t.Fatalf("green counted %d requests, %d proxied, %d errors; want one %v",
					green.metrics.total(), green.metrics.count(session.OutcomeProxied), green.metrics.count(session.OutcomeError), tt.want)
			}
		})
	}
}
