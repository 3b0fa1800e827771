// Package metrics exports what a WADI node does as Prometheus metrics. It
// implements the hooks the core declares (session.Metrics, cluster.Metrics)
// with client_golang, and reads at scrape time what the core counts anyway
// (members, backups, plugin health), so that the core imports no metrics
// library and a node without metrics pays for none.
//
// Each Metrics has its own registry: two nodes in one process (tests) never
// share a series, and nothing is registered globally.
//
// The families, all prefixed wadi_:
//
//	sessions                      gauge    sessions held in memory on this node
//	sessions_evicted_total        counter  idle or least recently used sessions written to the store
//	sessions_destroyed_total      counter  {reason="expired|invalidated"}
//	sessions_restored_total       counter  {by="request|background"} restored from a backup after their holder died
//	backups                       gauge    backup copies this node keeps of other members' sessions
//	requests_total                counter  {outcome} one per request through the session filter, see below
//	migration_duration_seconds    histogram a request waiting for its session to be handed over from its holder
//	migration_bytes_total         counter  size of the session records handed over to this node
//	migrations_out_total          counter  sessions this node handed over to members that asked
//	replication_duration_seconds  histogram one replication message to a backup, until it answered
//	replication_bytes_total       counter  replication messages' size on the wire (protobuf)
//	replication_messages_total    counter  replication messages sent to backups
//	replication_failures_total    counter  replication messages that failed (the backup did not answer)
//	cluster_members               gauge    live members of the farm, this node included, as it sees them
//	plugin_up                     gauge    {plugin,kind} 1 while the plugin process serves, 0 while it is down
//	plugin_restarts_total         counter  {plugin,kind} restarts after a crash, hang or failed health check
//
// The outcome label of requests_total is a closed set: local (in memory
// here), migrated_in (handed over by its holder), restored (from a backup,
// its holder dead), loaded (from the store), created (a new session),
// none (the request used no session), error (finding or creating it
// failed, or the holder a request was proxied to did not answer it whole),
// proxied and redirected (sent to the holder by the router).
package metrics

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wadi-go/wadi/core/cluster"
	"github.com/wadi-go/wadi/core/session"
	"github.com/wadi-go/wadi/sdk/base"
)

// Metrics is one node's metrics. It implements session.Metrics and
// cluster.Metrics; its methods are safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	// requests holds one counter per outcome, resolved once, so that a
	// local hit costs one atomic add and no label lookup.
	requests       []prometheus.Counter
	sessions       prometheus.Gauge
	evicted        prometheus.Counter
	destroyed      *prometheus.CounterVec
	restored       [2]prometheus.Counter // background, by request
	migrationTime  prometheus.Histogram
	migrationBytes prometheus.Counter
	replTime       prometheus.Histogram
	replBytes      prometheus.Counter
	replMessages   prometheus.Counter
	replFailures   prometheus.Counter

	plugins *pluginCollector
}

var (
	_ session.Metrics = (*Metrics)(nil)
	_ cluster.Metrics = (*Metrics)(nil)
)

// latencyBuckets span a hand-over or replication call between nodes: from
// half a millisecond on one rack to the seconds a holder may take to drain
// its requests.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// New returns the metrics of one node, with the Go runtime and process
// collectors registered beside WADI's own.
func New() (*Metrics, error) {
	m := &Metrics{reg: prometheus.NewRegistry(), plugins: &pluginCollector{}}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wadi_requests_total",
		Help: "Requests through the session filter, by how their session was found: local, migrated_in, restored, loaded, created, none, error, proxied, redirected.",
	}, []string{"outcome"})
	for _, o := range session.Outcomes() {
		// Created up front: a series that appears only on its first event
		// makes rate() blind to it.
		m.requests = append(m.requests, requests.WithLabelValues(o.String()))
	}
	m.sessions = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "wadi_sessions", Help: "Sessions held in memory on this node.",
	})
	m.evicted = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "wadi_sessions_evicted_total", Help: "Idle or least recently used sessions written to the store and dropped from memory.",
	})
	m.destroyed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wadi_sessions_destroyed_total", Help: "Sessions destroyed, by reason: expired or invalidated.",
	}, []string{"reason"})
	for _, r := range []session.Reason{session.Expired, session.Invalidated} {
		m.destroyed.WithLabelValues(r.String())
	}
	restored := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wadi_sessions_restored_total", Help: "Sessions this node restored from a backup after their holder died, by what restored them: a request or the background.",
	}, []string{"by"})
	m.restored = [2]prometheus.Counter{restored.WithLabelValues("background"), restored.WithLabelValues("request")}
	m.migrationTime = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "wadi_migration_duration_seconds", Help: "How long a request waited for its session to be handed over to this node by its holder.",
		Buckets: latencyBuckets,
	})
	m.migrationBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "wadi_migration_bytes_total", Help: "Bytes of the session records handed over to this node for requests.",
	})
	m.replTime = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "wadi_replication_duration_seconds", Help: "How long a replication message to a backup took to be answered.",
		Buckets: latencyBuckets,
	})
	m.replBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "wadi_replication_bytes_total", Help: "Bytes of the replication messages sent to backups, on the wire.",
	})
	m.replMessages = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "wadi_replication_messages_total", Help: "Replication messages sent to backups.",
	})
	m.replFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "wadi_replication_failures_total", Help: "Replication messages that failed: the backup did not answer.",
	})
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		requests, m.sessions, m.evicted, m.destroyed, restored,
		m.migrationTime, m.migrationBytes, m.replTime, m.replBytes, m.replMessages, m.replFailures,
		m.plugins,
	} {
		if err := m.reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: registering: %w", err)
		}
	}
	return m, nil
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		// A collector that fails leaves the others served.
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      m.reg,
	})
}

// Gatherer is the registry, for tests and for embedding in another one.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// Request implements session.Metrics and cluster.Metrics.
func (m *Metrics) Request(o session.Outcome) {
	if o >= 0 && int(o) < len(m.requests) {
		m.requests[o].Inc()
	}
}

// SessionsChanged implements session.Metrics.
func (m *Metrics) SessionsChanged(delta int) { m.sessions.Add(float64(delta)) }

// Evicted implements session.Metrics.
func (m *Metrics) Evicted(n int) {
	if n > 0 {
		m.evicted.Add(float64(n))
	}
}

// Destroyed implements session.Metrics.
func (m *Metrics) Destroyed(why session.Reason) {
	if why == session.Expired || why == session.Invalidated {
		m.destroyed.WithLabelValues(why.String()).Inc()
	}
}

// Restored implements session.Metrics.
func (m *Metrics) Restored(byRequest bool) {
	if byRequest {
		m.restored[1].Inc()
	} else {
		m.restored[0].Inc()
	}
}

// MigratedIn implements session.Metrics.
func (m *Metrics) MigratedIn(d time.Duration, bytes int) {
	m.migrationTime.Observe(d.Seconds())
	m.migrationBytes.Add(float64(bytes))
}

// Replicated implements cluster.Metrics.
func (m *Metrics) Replicated(d time.Duration, bytes int, err error) {
	m.replMessages.Inc()
	m.replBytes.Add(float64(bytes))
	if err != nil {
		m.replFailures.Inc()
		return // a timeout's duration says nothing of the backups' speed
	}
	m.replTime.Observe(d.Seconds())
}

// Farm is what the metrics read of a farm node at scrape time;
// *cluster.Node implements it.
type Farm interface {
	Members() []cluster.Member
	Backups() int
	HandedOver() int64
}

// WatchFarm exports the farm node's membership size, backups and
// hand-overs. Call it once, when the node has started.
func (m *Metrics) WatchFarm(f Farm) error {
	for _, c := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "wadi_cluster_members", Help: "Live members of the farm, this node included, as this node sees them.",
		}, func() float64 { return float64(len(f.Members())) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "wadi_backups", Help: "Backup copies this node keeps of other members' sessions.",
		}, func() float64 { return float64(f.Backups()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "wadi_migrations_out_total", Help: "Sessions this node handed over to members that asked for them.",
		}, func() float64 { return float64(f.HandedOver()) }),
	} {
		if err := m.reg.Register(c); err != nil {
			return fmt.Errorf("metrics: watching the farm: %w", err)
		}
	}
	return nil
}

// Plugin is what the metrics read of a supervised plugin at scrape time;
// *pluginhost.Supervisor implements it.
type Plugin interface {
	Name() string
	Kind() base.Kind
	Up() bool
	Restarts() int64
}

// WatchPlugin exports the plugin's health and restarts.
func (m *Metrics) WatchPlugin(p Plugin) {
	m.plugins.mu.Lock()
	defer m.plugins.mu.Unlock()
	m.plugins.ps = append(m.plugins.ps, p)
}

// pluginCollector reads the supervisors when scraped: their state lives
// in them, and a copy here could only lag.
type pluginCollector struct {
	mu sync.Mutex
	ps []Plugin
}

var (
	pluginUp = prometheus.NewDesc("wadi_plugin_up",
		"1 while the plugin process serves, 0 while it is down (crashed, hung, or failing to restart).",
		[]string{"plugin", "kind"}, nil)
	pluginRestarts = prometheus.NewDesc("wadi_plugin_restarts_total",
		"Restarts of the plugin after a crash, a hang or a failed health check.",
		[]string{"plugin", "kind"}, nil)
)

func (c *pluginCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- pluginUp
	ch <- pluginRestarts
}

func (c *pluginCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	ps := append([]Plugin(nil), c.ps...)
	c.mu.Unlock()
	for _, p := range ps {
		up := 0.0
		if p.Up() {
			up = 1
		}
		name, kind := p.Name(), string(p.Kind())
		ch <- constMetric(pluginUp, prometheus.GaugeValue, up, name, kind)
		ch <- constMetric(pluginRestarts, prometheus.CounterValue, float64(p.Restarts()), name, kind)
	}
}

// constMetric is prometheus.MustNewConstMetric without the panic: an
// error is reported by the scrape instead.
func constMetric(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) prometheus.Metric {
	m, err := prometheus.NewConstMetric(d, t, v, labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(d, err)
	}
	return m
}
