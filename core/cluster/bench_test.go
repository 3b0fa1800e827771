package cluster_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/wadi-go/wadi/core/session"
	"github.com/wadi-go/wadi/plugins/builtin/memstore"
)

// reportQuantiles reports the median and 99th percentile of per-op times.
func reportQuantiles(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(d[len(d)*99/100].Microseconds()), "p99-µs")
}

// post sends a request with the cookie, fails b on anything but 200, and
// returns the cookie the answer set, or the one sent.
func post(b *testing.B, hc *http.Client, url, cookie string, body []byte) string {
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	if cookie != "" {
		req.Header.Set("Cookie", "WADISESSIONID="+cookie)
	}
	resp, err := hc.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		b.Fatalf("%s: %s", resp.Status, out)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "WADISESSIONID" {
			cookie = c.Value
		}
	}
	return cookie
}

// BenchmarkMigrate measures a request that lands on the node that does not
// hold its session, which moves under it: the two nodes take turns, so
// every request is a migration (lookup, hand-over, settle, directory move)
// plus the HTTP round trip.
func BenchmarkMigrate(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"1KiB", 1 << 10}, {"16KiB", 16 << 10}, {"256KiB", 256 << 10}} {
		b.Run(size.name, func(b *testing.B) {
			f := newFarm(b)
			red, green := f.add("red"), f.add("green")
			f.settled()
			hc := &http.Client{Timeout: 10 * time.Second}
			cookie := post(b, hc, red.http.URL, "", bytes.Repeat([]byte("x"), size.n))
			nodes := []*farmNode{green, red}
			var d []time.Duration
			i := 0
			for b.Loop() {
				start := time.Now()
				post(b, hc, nodes[i%2].http.URL, cookie, nil)
				d = append(d, time.Since(start))
				i++
			}
			reportQuantiles(b, d)
		})
	}
}

// BenchmarkProxy compares a request sent to its session's node with one
// sent to the other node and proxied there (router policy proxy).
func BenchmarkProxy(b *testing.B) {
	f := newFarm(b)
	f.policy = "proxy"
	red, green := f.add("red"), f.add("green")
	f.settled()
	hc := &http.Client{Timeout: 10 * time.Second}
	cookie := post(b, hc, red.http.URL, "", nil)
	for _, c := range []struct {
		name string
		via  *farmNode
	}{{"direct", red}, {"proxied", green}} {
		b.Run(c.name, func(b *testing.B) {
			var d []time.Duration
			for b.Loop() {
				start := time.Now()
				post(b, hc, c.via.http.URL, cookie, nil)
				d = append(d, time.Since(start))
			}
			reportQuantiles(b, d)
		})
	}
}

// discard is a reusable ResponseWriter, so that the local-hit benchmark
// measures the session layer and not httptest's recorder.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

// localHit is a request whose session is in memory on its handler's node.
type localHit struct {
	h   http.Handler
	req *http.Request
	w   *discard
}

func (lh localHit) serve() {
	clear(lh.w.h)
	lh.h.ServeHTTP(lh.w, lh.req)
}

// BenchmarkLocalHit compares a local hit (read and write) on a farm node
// with the same on a single node: the farm must add nothing to it. Each
// pair is run without a router and with jvmroute as the HAProxy farm runs
// it (route on the token, a relocator on the farm node); the single node
// has the same route, so the tokens are alike. The single and farm cases
// give each side's allocations; pair gives the time ratio.
func BenchmarkLocalHit(b *testing.B) {
	handler := func(m *session.Manager) http.Handler {
		return m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s, err := session.From(r.Context())
			if err != nil {
				b.Fatal(err)
			}
			n, _ := s.GetInt("count")
			if err := s.PutInt("count", n+1); err != nil {
				b.Fatal(err)
			}
			w.Write(strconv.AppendInt(nil, int64(n+1), 10))
		}))
	}
	// newLocalHit returns a request that is a local hit on m.
	newLocalHit := func(b *testing.B, m *session.Manager) localHit {
		h := handler(m)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		lh := localHit{h: h, req: httptest.NewRequest("GET", "/", nil), w: &discard{h: make(http.Header)}}
		lh.req.AddCookie(rec.Result().Cookies()[0])
		// Once more with the cookie: a request that would relocate, or
		// set a cookie, is no local hit.
		lh.serve()
		if len(lh.w.h["Set-Cookie"]) != 0 {
			b.Fatalf("a local hit set %q", lh.w.h["Set-Cookie"])
		}
		return lh
	}
	run := func(b *testing.B, m *session.Manager) {
		lh := newLocalHit(b, m)
		b.ReportAllocs()
		for b.Loop() {
			lh.serve()
		}
	}
	// pair alternates batches of local hits on the single node and on the
	// farm node, timing each batch: a shared machine's load, which swings
	// between separate sub-benchmarks by far more than 5%, weighs on both
	// alike, and the median batch leaves out those the scheduler
	// preempted.
	pair := func(b *testing.B, single, farm *session.Manager) {
		const batch = 16
		sides := [2]localHit{newLocalHit(b, single), newLocalHit(b, farm)}
		// Allocated before the timed loop, so as not to count in its
		// allocations.
		var spent [2][]time.Duration
		for i := range spent {
			spent[i] = make([]time.Duration, 0, 1<<16)
		}
		k, start := 0, time.Now()
		b.ReportAllocs()
		for b.Loop() {
			side := k / batch % 2
			sides[side].serve()
			if k++; k%batch == 0 {
				now := time.Now()
				spent[side] = append(spent[side], now.Sub(start))
				start = now
			}
		}
		if len(spent[1]) == 0 {
			return
		}
		median := func(d []time.Duration) float64 {
			slices.Sort(d)
			return float64(d[len(d)/2]) / batch
		}
		s, f := median(spent[0]), median(spent[1])
		b.ReportMetric(s, "single-ns/op")
		b.ReportMetric(f, "farm-ns/op")
		b.ReportMetric(f/s, "farm/single")
	}
	newSingle := func(b *testing.B, routing session.Routing) *session.Manager {
		opts := session.DefaultOptions()
		opts.Store = memstore.New()
		opts.Routing = routing
		m, err := session.New(opts)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { m.Close(context.Background()) })
		return m
	}
	// All run beside the same live farm, so that its gossip and table
	// pushes load the machine equally for each: the comparison is of the
	// request path alone. red has no router, green has jvmroute.
	f := newFarm(b)
	red := f.add("red")
	f.router = "jvmroute"
	green := f.add("green")
	f.settled()
	_, jvmroute := newRouter(b, "jvmroute", "", "green")
	for _, c := range []struct {
		name    string
		routing session.Routing
		farm    *session.Manager
	}{{"norouter", session.Routing{}, red.mgr}, {"jvmroute", jvmroute, green.mgr}} {
		b.Run(c.name+"/single", func(b *testing.B) { run(b, newSingle(b, c.routing)) })
		b.Run(c.name+"/farm", func(b *testing.B) { run(b, c.farm) })
		b.Run(c.name+"/pair", func(b *testing.B) { pair(b, newSingle(b, c.routing), c.farm) })
	}
}
