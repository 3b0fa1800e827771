package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wadi-go/wadi/core/cluster"
	"github.com/wadi-go/wadi/core/session"
	"github.com/wadi-go/wadi/plugins/builtin/memstore"
	"github.com/wadi-go/wadi/sdk/base"
)

func newMetrics(t testing.TB) *Metrics {
	t.Helper()
	m, err := New()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Each hook moves its families, and only those.
func TestHooks(t *testing.T) {
	tests := []struct {
		name     string
		do       func(m *Metrics)
		families []string
		want     string
	}{
		{"local hits and a proxied request", func(m *Metrics) {
			m.Request(session.OutcomeLocal)
			m.Request(session.OutcomeLocal)
			m.Request(session.OutcomeProxied)
			m.Request(session.Outcome(99)) // out of the set: ignored
		}, []string{"wadi_requests_total"}, `
# HELP wadi_requests_total Requests through the session filter, by how their session was found: local, migrated_in, restored, loaded, created, none, error, proxied, redirected.
# TYPE wadi_requests_total counter
wadi_requests_total{outcome="created"} 0
wadi_requests_total{outcome="error"} 0
wadi_requests_total{outcome="loaded"} 0
wadi_requests_total{outcome="local"} 2
wadi_requests_total{outcome="migrated_in"} 0
wadi_requests_total{outcome="none"} 0
wadi_requests_total{outcome="proxied"} 1
wadi_requests_total{outcome="redirected"} 0
wadi_requests_total{outcome="restored"} 0
`},
		{"sessions come and go", func(m *Metrics) {
			m.SessionsChanged(1)
			m.SessionsChanged(1)
			m.SessionsChanged(1)
			m.SessionsChanged(-1)
			m.Evicted(1)
			m.Evicted(0)
			m.Destroyed(session.Invalidated)
		}, []string{"wadi_sessions", "wadi_sessions_evicted_total", "wadi_sessions_destroyed_total"}, `
# HELP wadi_sessions Sessions held in memory on this node.
# TYPE wadi_sessions gauge
wadi_sessions 2
# HELP wadi_sessions_destroyed_total Sessions destroyed, by reason: expired or invalidated.
# TYPE wadi_sessions_destroyed_total counter
wadi_sessions_destroyed_total{reason="expired"} 0
wadi_sessions_destroyed_total{reason="invalidated"} 1
# HELP wadi_sessions_evicted_total Idle or least recently used sessions written to the store and dropped from memory.
# TYPE wadi_sessions_evicted_total counter
wadi_sessions_evicted_total 1
`},
		{"a migration and restores", func(m *Metrics) {
			m.MigratedIn(30*time.Millisecond, 1200)
			m.Restored(true)
			m.Restored(false)
			m.Restored(false)
		}, []string{"wadi_migration_bytes_total", "wadi_sessions_restored_total"}, `
# HELP wadi_migration_bytes_total Bytes of the session records handed over to this node for requests.
# TYPE wadi_migration_bytes_total counter
wadi_migration_bytes_total 1200
# HELP wadi_sessions_restored_total Sessions this node restored from a backup after their holder died, by what restored them: a request or the background.
# TYPE wadi_sessions_restored_total counter
wadi_sessions_restored_total{by="background"} 2
wadi_sessions_restored_total{by="request"} 1
`},
		{"replication, one message failing", func(m *Metrics) {
			m.Replicated(2*time.Millisecond, 300, nil)
			m.Replicated(5*time.Second, 100, errors.New("deadline exceeded"))
		}, []string{"wadi_replication_bytes_total", "wadi_replication_messages_total", "wadi_replication_failures_total"}, `
# HELP wadi_replication_bytes_total Bytes of the replication messages sent to backups, on the wire.
# TYPE wadi_replication_bytes_total counter
wadi_replication_bytes_total 400
# HELP wadi_replication_failures_total Replication messages that failed: the backup did not answer.
# TYPE wadi_replication_failures_total counter
wadi_replication_failures_total 1
# HELP wadi_replication_messages_total Replication messages sent to backups.
# TYPE wadi_replication_messages_total counter
wadi_replication_messages_total 2
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMetrics(t)
			tt.do(m)
			if err := testutil.GatherAndCompare(m.Gatherer(), strings.NewReader(tt.want), tt.families...); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// The histograms observe latency in seconds; a failed replication is not
// a latency.
func TestHistograms(t *testing.T) {
	m := newMetrics(t)
	m.MigratedIn(30*time.Millisecond, 1)
	m.Replicated(2*time.Millisecond, 1, nil)
	m.Replicated(5*time.Second, 1, errors.New("timeout"))
	for _, tc := range []struct {
		name  string
		count uint64
		sum   float64
	}{
		{"wadi_migration_duration_seconds", 1, 0.03},
		{"wadi_replication_duration_seconds", 1, 0.002},
	} {
		h := histogram(t, m, tc.name)
		if h.count != tc.count || h.sum < tc.sum*0.99 || h.sum > tc.sum*1.01 {
			t.Fatalf("%s: count %d sum %g, want %d and %g", tc.name, h.count, h.sum, tc.count, tc.sum)
		}
	}
}

type histo struct {
	count uint64
	sum   float64
}

func histogram(t *testing.T, m *Metrics, name string) histo {
	t.Helper()
	mfs, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			h := mf.GetMetric()[0].GetHistogram()
			return histo{h.GetSampleCount(), h.GetSampleSum()}
		}
	}
	t.Fatalf("no family %s", name)
	return histo{}
}

type fakePlugin struct {
	name     string
	kind     base.Kind
	up       atomic.Bool
	restarts atomic.Int64
}

func (p *fakePlugin) Name() string    { return p.name }
func (p *fakePlugin) Kind() base.Kind { return p.kind }
func (p *fakePlugin) Up() bool        { return p.up.Load() }
func (p *fakePlugin) Restarts() int64 { return p.restarts.Load() }

// Plugin health and restarts are read from the supervisors when scraped.
func TestPlugins(t *testing.T) {
	m := newMetrics(t)
	redis := &fakePlugin{name: "redis", kind: base.KindStore}
	redis.up.Store(true)
	m.WatchPlugin(redis)
	gz := &fakePlugin{name: "gzip", kind: base.KindCodec}
	m.WatchPlugin(gz)
	gz.restarts.Store(3)
	const want = `
# HELP wadi_plugin_restarts_total Restarts of the plugin after a crash, a hang or a failed health check.
# TYPE wadi_plugin_restarts_total counter
wadi_plugin_restarts_total{kind="codec",plugin="gzip"} %d
wadi_plugin_restarts_total{kind="store",plugin="redis"} 0
# HELP wadi_plugin_up 1 while the plugin process serves, 0 while it is down (crashed, hung, or failing to restart).
# TYPE wadi_plugin_up gauge
wadi_plugin_up{kind="codec",plugin="gzip"} %d
wadi_plugin_up{kind="store",plugin="redis"} 1
`
	compare := func(restarts, up int) {
		t.Helper()
		text := fmt.Sprintf(want, restarts, up)
		if err := testutil.GatherAndCompare(m.Gatherer(), strings.NewReader(text), "wadi_plugin_up", "wadi_plugin_restarts_total"); err != nil {
			t.Fatal(err)
		}
	}
	compare(3, 0)
	gz.up.Store(true)
	gz.restarts.Add(1)
	compare(4, 1)
}

type fakeFarm struct{ members, backups, out int }

func (f fakeFarm) Members() []cluster.Member { return make([]cluster.Member, f.members) }
func (f fakeFarm) Backups() int              { return f.backups }
func (f fakeFarm) HandedOver() int64         { return int64(f.out) }

func TestWatchFarm(t *testing.T) {
	m := newMetrics(t)
	if err := m.WatchFarm(fakeFarm{3, 7, 2}); err != nil {
		t.Fatal(err)
	}
	const want = `
# HELP wadi_backups Backup copies this node keeps of other members' sessions.
# TYPE wadi_backups gauge
wadi_backups 7
# HELP wadi_cluster_members Live members of the farm, this node included, as this node sees them.
# TYPE wadi_cluster_members gauge
wadi_cluster_members 3
# HELP wadi_migrations_out_total Sessions this node handed over to members that asked for them.
# TYPE wadi_migrations_out_total counter
wadi_migrations_out_total 2
`
	if err := testutil.GatherAndCompare(m.Gatherer(), strings.NewReader(want), "wadi_backups", "wadi_cluster_members", "wadi_migrations_out_total"); err != nil {
		t.Fatal(err)
	}
	if err := m.WatchFarm(fakeFarm{}); err == nil {
		t.Fatal("a second farm registered the same families")
	}
}

// Through a real manager: the counters move as requests are made, and the
// endpoint serves them with the runtime's.
func TestManagerRequestsMoveMetrics(t *testing.T) {
	m := newMetrics(t)
	mgr := newManager(t, m)
	h := mgr.Middleware(http.HandlerFunc(count))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	cookie := rec.Result().Cookies()[0]
	for range 3 {
		req := httptest.NewRequest("GET", "/", nil)
		req.AddCookie(cookie)
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	for _, tc := range []struct {
		outcome session.Outcome
		want    float64
	}{{session.OutcomeCreated, 1}, {session.OutcomeLocal, 3}, {session.OutcomeLoaded, 0}} {
		if got := testutil.ToFloat64(m.requests[tc.outcome]); got != tc.want {
			t.Fatalf("requests %v = %g, want %g", tc.outcome, got, tc.want)
		}
	}
	if got := testutil.ToFloat64(m.sessions); got != 1 {
		t.Fatalf("sessions = %g, want 1", got)
	}
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{`wadi_requests_total{outcome="local"} 3`, "wadi_sessions 1", "go_goroutines ", "process_start_time_seconds "} {
		if !strings.Contains(string(body), line) {
			t.Fatalf("the endpoint serves no %q:\n%s", line, body)
		}
	}
}

func newManager(t testing.TB, m session.Metrics) *session.Manager {
	t.Helper()
	opts := session.DefaultOptions()
	opts.Store = memstore.New()
	opts.MaxInMemory = 1 << 30
	if m != nil {
		opts.Metrics = m
	}
	mgr, err := session.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mgr.Close(context.Background()) })
	return mgr
}

func count(w http.ResponseWriter, r *http.Request) {
	s, err := session.From(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	n, _ := s.GetInt("n")
	if err := s.PutInt("n", n+1); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	_, _ = w.Write(strconv.AppendInt(nil, int64(n+1), 10))
}
