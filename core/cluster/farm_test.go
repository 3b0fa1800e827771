package cluster_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wadi-go/wadi/internal/testport"

	"github.com/hashicorp/go-hclog"

	"github.com/wadi-go/wadi/core/cluster"
	"github.com/wadi-go/wadi/core/cluster/internal/peerpb"
	"github.com/wadi-go/wadi/core/session"
	"github.com/wadi-go/wadi/plugins/builtin/memstore"
	"github.com/wadi-go/wadi/plugins/builtin/replicators"
	"github.com/wadi-go/wadi/plugins/builtin/routers"
	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/store"
)

var _ session.Farm = (*cluster.Node)(nil)

var testLog = func() io.Writer {
	if p := os.Getenv("WADI_TEST_LOG"); p != "" {
		f, err := os.Create(p)
		if err == nil {
			return f
		}
	}
	return io.Discard
}()

func freeAddr(t testing.TB) string {
	t.Helper()
	return testport.Addr(t)
}

// farmNode is one node of an in-process farm: a cluster node, a session
// manager on the farm's shared store, and an HTTP server counting visits.
type farmNode struct {
	name   string
	node   *cluster.Node
	mgr    *session.Manager
	http   *httptest.Server
	gossip string
	closed atomic.Bool
	// away takes the node out of the browsers' rotation, as a load
	// balancer does before a node is stopped.
	away atomic.Bool
	// store is the node's handle on the farm's store; a crash cuts it, so
	// that the node's sessions do not reach the store on the way down.
	store *cutStore
	// metrics is what the node's manager and cluster node reported.
	metrics *recorder
}

// cutStore is the farm's store as one node reaches it, until it is cut.
type cutStore struct {
	store.Store
	cut atomic.Bool
}

var errCut = fmt.Errorf("the node crashed")

func (c *cutStore) Save(ctx context.Context, recs []store.Record) error {
	if c.cut.Load() {
		return errCut
	}
	return c.Store.Save(ctx, recs)
}

type farm struct {
	t      testing.TB
	store  store.Store
	nodes  map[string]*farmNode
	seeds  []string
	start  int64
	mu     sync.Mutex
	tweaks func(*session.Options)
	// policy, if set, is the router policy: "proxy" or "redirect".
	policy string
	// router, if set, is the next node's router ("jvmroute", "cookie"):
	// its route rides on the token as cmd/wadi sets it up, and a
	// relocator consults it (policy, or migrate).
	router string
	// replicator, if set, turns replication on with backups copies.
	replicator string // "partitioned", "all", or "placer" for placer
	placer     cluster.Placer
	// meta, if set, is each node's metadata, by name.
	meta    map[string]map[string]string
	backups int
	async   bool
	whole   bool
	// serverTLS and clientTLS, if set, make the next node's peer
	// transport mutual TLS.
	serverTLS, clientTLS *tls.Config

	// tables records every table any node adopted, by version, and
	// conflicts every version adopted with two contents.
	tables    sync.Map // cluster.Version → []string
	conflicts atomic.Int64
}

func newFarm(t testing.TB) *farm {
	return &farm{t: t, store: memstore.New(), nodes: map[string]*farmNode{}}
}

// newRouter returns the builtin router name ("" for none) with policy (""
// for its default), and the routing of the node route, both as cmd/wadi
// sets them up.
func newRouter(t testing.TB, name, policy, route string) (*routers.Router, session.Routing) {
	t.Helper()
	var r *routers.Router
	switch name {
	case "", "none":
		r = routers.NewNone()
	case "jvmroute":
		r = routers.NewJVMRoute()
	case "cookie":
		r = routers.NewCookie()
	default:
		t.Fatalf("no builtin router %q", name)
	}
	cfg := `{}`
	if policy != "" {
		cfg = `{"policy":"` + policy + `"}`
	}
	ctx := context.Background()
	if err := r.Configure(ctx, []byte(cfg), base.Node{Name: route}); err != nil {
		t.Fatal(err)
	}
	f, err := r.Format(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return r, session.Routing{Route: route, Format: f}
}

// add starts a node; it joins through the first node started.
func (f *farm) add(name string) *farmNode {
	t := f.t
	t.Helper()
	f.mu.Lock()
	f.start++
	started := f.start
	seeds := slices.Clone(f.seeds)
	f.mu.Unlock()
	gossip := freeAddr(t)
	fn := &farmNode{name: name, gossip: gossip, metrics: &recorder{}}
	// The HTTP server exists before the node, so the node can announce it.
	fn.http = httptest.NewUnstartedServer(nil)
	var placer cluster.Placer
	switch f.replicator {
	case "partitioned":
		r := replicators.NewPartitioned()
		if err := r.Configure(context.Background(), []byte(fmt.Sprintf(`{"backups":%d}`, f.backups)), base.Node{Name: name}); err != nil {
			t.Fatal(err)
		}
		placer = r
	case "all":
		r := replicators.NewAll()
		if err := r.Configure(context.Background(), []byte(`{}`), base.Node{Name: name}); err != nil {
			t.Fatal(err)
		}
		placer = r
	case "placer":
		placer = f.placer
	}
	node, err := cluster.Start(cluster.Config{
		Placer:     placer,
		Backups:    f.backups,
		Self:       cluster.Member{Name: name, Peer: freeAddr(t), HTTP: "http://" + fn.http.Listener.Addr().String(), Started: started, Meta: f.meta[name]},
		Gossip:     gossip,
		Join:       seeds,
		Partitions: 31,
		Fast:       true,
		ServerTLS:  f.serverTLS,
		ClientTLS:  f.clientTLS,
		OnTable: func(tb *cluster.Table) {
			if prev, loaded := f.tables.LoadOrStore(tb.Version, slices.Clone(tb.Owners)); loaded && !slices.Equal(prev.([]string), tb.Owners) {
				f.conflicts.Add(1)
			}
		},
		Logger:  hclog.New(&hclog.LoggerOptions{Name: name, Level: hclog.Debug, Output: testLog}),
		Metrics: fn.metrics,
	})
	if err != nil {
		t.Fatal(err)
	}
	opts := session.DefaultOptions()
	fn.store = &cutStore{Store: f.store}
	opts.Store = fn.store
	opts.Farm = node
	opts.Metrics = fn.metrics
	opts.LockTimeout = 5 * time.Second
	opts.Logger = hclog.New(&hclog.LoggerOptions{Name: name + ".sessions", Level: hclog.Debug, Output: testLog})
	if f.policy != "" || f.router != "" {
		r, routing := newRouter(t, f.router, f.policy, name)
		opts.Routing = routing
		opts.Relocator = cluster.NewRelocator(node, r)
	}
	if placer != nil {
		opts.Replication = session.Replication{Replicas: node, Async: f.async, WholeSessions: f.whole, Timeout: 30 * time.Second}
	}
	if f.tweaks != nil {
		f.tweaks(&opts)
	}
	mgr, err := session.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	node.Attach(mgr)
	fn.node, fn.mgr = node, mgr
	fn.http.Config.Handler = mgr.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := session.From(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		if r.URL.Path == "/read" {
			n, _ := s.GetInt("n")
			fmt.Fprint(w, n)
			return
		}
		if r.URL.Path == "/abort" {
			// Half of the announced body, then the connection is cut: a
			// holder that fails while answering.
			w.Header().Set("Content-Length", "100")
			fmt.Fprint(w, strings.Repeat("x", 50))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		if r.URL.Path == "/invalidate" {
			if err := s.Invalidate(r.Context()); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			fmt.Fprint(w, 0)
			return
		}
		// A body is a payload to keep in the session (benchmarks).
		if body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20)); len(body) > 0 {
			if err := s.Put("blob", body); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		n, _ := s.GetInt("n")
		if err := s.PutInt("n", n+1); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, n+1)
	}))
	fn.http.Start()
	f.mu.Lock()
	f.nodes[name] = fn
	f.seeds = append(f.seeds, gossip)
	f.mu.Unlock()
	t.Cleanup(func() { f.kill(fn) })
	return fn
}

// kill stops a node without handing anything over.
func (f *farm) kill(fn *farmNode) {
	if fn.closed.Swap(true) {
		return
	}
	fn.http.Close()
	_ = fn.node.Close()
	_ = fn.mgr.Close(context.Background())
}

// crash stops a node as kill -9 would: no leave, no hand-over, nothing
// written to the store.
func (f *farm) crash(fn *farmNode) {
	if fn.closed.Swap(true) {
		return
	}
	fn.store.cut.Store(true)
	fn.http.CloseClientConnections()
	fn.http.Close()
	_ = fn.node.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_ = fn.mgr.Close(ctx)
}

// leave stops a node gracefully: it hands its sessions over, then leaves.
func (f *farm) leave(fn *farmNode) {
	f.t.Helper()
	fn.closed.Store(true)
	fn.http.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if fn.node.Peers() {
		if _, err := fn.mgr.Drain(ctx, 64, fn.node.Handoff, nil); err != nil {
			f.t.Errorf("drain %s: %v", fn.name, err)
		}
	}
	if err := fn.node.Leave(time.Second); err != nil {
		f.t.Logf("leave %s: %v", fn.name, err)
	}
	if err := fn.mgr.Close(ctx); err != nil {
		f.t.Errorf("close %s: %v", fn.name, err)
	}
}

// settled waits until every live node holds the same table, built over
// the live nodes.
func (f *farm) settled() {
	f.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var live []*farmNode
		for _, fn := range f.nodes {
			if !fn.closed.Load() {
				live = append(live, fn)
			}
		}
		ok := true
		var v cluster.Version
		for i, fn := range live {
			tb := fn.node.Table()
			if tb == nil || len(fn.node.Members()) != len(live) {
				ok = false
				break
			}
			if i == 0 {
				v = tb.Version
			} else if tb.Version != v {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatal("the farm did not settle on one table")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type browser struct {
	hc     *http.Client
	cookie string
}

func (b *browser) incr(t *testing.T, fn *farmNode) int {
	t.Helper()
	n, err := b.try(fn)
	if err != nil {
		t.Fatalf("on %s: %v", fn.name, err)
	}
	return n
}

func (b *browser) try(fn *farmNode) (int, error) { return b.tryPath(fn, "/") }

func (b *browser) tryPath(fn *farmNode, path string) (int, error) {
	req, _ := http.NewRequest("POST", fn.http.URL+path, nil)
	if b.cookie != "" {
		req.Header.Set("Cookie", "WADISESSIONID="+b.cookie)
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("%s: %s", resp.Status, body)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "WADISESSIONID" {
			b.cookie = c.Value
		}
	}
	return strconv.Atoi(string(body))
}

// Ping-pong: a session used on one node after another follows the
// requests, and its counter never loses a step.
func TestPingPong(t *testing.T) {
	f := newFarm(t)
	red, green, blue := f.add("red"), f.add("green"), f.add("blue")
	f.settled()
	b := &browser{hc: &http.Client{Timeout: 10 * time.Second}}
	path := []*farmNode{red, green, red, blue, blue, green, red}
	for i, fn := range path {
		if got := b.incr(t, fn); got != i+1 {
			t.Fatalf("request %d on %s: count %d, want %d", i+1, fn.name, got, i+1)
		}
		// Exactly one node holds it: the one just used.
		for _, other := range []*farmNode{red, green, blue} {
			if want := 0; other != fn && other.mgr.Len() != want {
				t.Fatalf("after request %d on %s, %s still holds %d sessions", i+1, fn.name, other.name, other.mgr.Len())
			}
		}
	}
}

// Concurrent requests for one session on a node that does not hold it:
// all are served, in turn, on one copy.
func TestConcurrentFetch(t *testing.T) {
	f := newFarm(t)
	f.tweaks = func(o *session.Options) { o.Exclusive = true }
	red, green := f.add("red"), f.add("green")
	f.settled()
	b := &browser{hc: &http.Client{Timeout: 10 * time.Second}}
	b.incr(t, red)
	const n = 20
	var wg sync.WaitGroup
	var failed atomic.Int32
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &browser{hc: b.hc, cookie: b.cookie}
			if _, err := c.try(green); err != nil {
				t.Log(err)
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d of %d concurrent requests failed", failed.Load(), n)
	}
	// One fetch for all of them: red handed the session over once.
	if got := red.node.HandedOver(); got != 1 {
		t.Fatalf("red handed the session over %d times for %d concurrent requests on green", got, n)
	}
	if got := b.incr(t, red); got != n+2 {
		t.Fatalf("count %d after %d increments, want %d", got, n+2, n+2)
	}
	if red.mgr.Len() != 1 || green.mgr.Len() != 0 {
		t.Fatalf("red holds %d, green %d", red.mgr.Len(), green.mgr.Len())
	}
}

// A graceful leave hands every session over; a crash leaves the farm
// answering (the store is the only other copy without replication).
func TestLeaveHandsSessionsOver(t *testing.T) {
	f := newFarm(t)
	red, green, blue := f.add("red"), f.add("green"), f.add("blue")
	f.settled()
	var browsers []*browser
	for range 30 {
		b := &browser{hc: &http.Client{Timeout: 10 * time.Second}}
		b.incr(t, red)
		browsers = append(browsers, b)
	}
	f.leave(red)
	f.settled()
	if got := green.mgr.Len() + blue.mgr.Len(); got != len(browsers) {
		t.Fatalf("green and blue hold %d sessions, want %d", got, len(browsers))
	}
	for i, b := range browsers {
		target := []*farmNode{green, blue}[i%2]
		if got := b.incr(t, target); got != 2 {
			t.Fatalf("browser %d on %s: count %d, want 2", i, target.name, got)
		}
	}
	// The last two leave; the last writes to the store, and a new node
	// finds every session there.
	f.leave(green)
	f.settled()
	if blue.mgr.Len() != len(browsers) {
		t.Fatalf("blue holds %d, want %d", blue.mgr.Len(), len(browsers))
	}
	f.leave(blue)
	white := f.add("white")
	f.settled()
	for i, b := range browsers {
		if got := b.incr(t, white); got != 3 {
			t.Fatalf("browser %d after the farm restarted: count %d, want 3", i, got)
		}
	}
}

// Churn: members join and leave every few hundred milliseconds while
// browsers count on random members. Every table version has one content on
// every node that adopted it (one owner per partition per version), no
// acknowledged increment is lost, and at the end every session is found
// from every member.
func TestChurn(t *testing.T) {
	if testing.Short() {
		t.Skip("churns a farm for several seconds")
	}
	f := newFarm(t)
	f.tweaks = func(o *session.Options) { o.Exclusive = true }
	var order []*farmNode
	for _, name := range []string{"n0", "n1", "n2"} {
		order = append(order, f.add(name))
	}
	f.settled()

	const browsers = 12
	type state struct {
		b          *browser
		acked      int
		ambiguous  int
		lastNode   string
		lastErrors []string
	}
	states := make([]*state, browsers)
	for i := range states {
		states[i] = &state{b: &browser{hc: &http.Client{Timeout: 15 * time.Second}}}
		states[i].acked = states[i].b.incr(t, order[0])
	}
	live := func() []*farmNode {
		f.mu.Lock()
		defer f.mu.Unlock()
		var out []*farmNode
		for _, fn := range order {
			if !fn.closed.Load() && !fn.away.Load() {
				out = append(out, fn)
			}
		}
		return out
	}
	var liveMu sync.Mutex
	pick := func(i, j int) *farmNode {
		liveMu.Lock()
		defer liveMu.Unlock()
		l := live()
		if len(l) == 0 {
			return nil
		}
		return l[(i+j)%len(l)]
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var liveErrs, requests atomic.Int64
	for i, st := range states {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 2000; j++ {
				requests.Add(1)
				select {
				case <-stop:
					return
				default:
				}
				fn := pick(i, j)
				if fn == nil {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				got, err := st.b.try(fn)
				if err != nil {
					// Refused by a node that is leaving: the handler never
					// ran. Anything else may or may not have counted.
					if !fn.closed.Load() && !fn.away.Load() {
						liveErrs.Add(1)
						t.Logf("browser %d: a request to %s, which stayed in the rotation, failed: %v", i, fn.name, err)
					}
					st.ambiguous++
					st.lastErrors = append(st.lastErrors[max(0, len(st.lastErrors)-3):], fn.name+": "+err.Error())
					time.Sleep(20 * time.Millisecond)
					continue
				}
				if got <= st.acked || got > st.acked+1+st.ambiguous {
					t.Errorf("browser %d on %s: count %d after %d acknowledged (+%d unsure)", i, fn.name, got, st.acked, st.ambiguous)
					return
				}
				st.acked, st.ambiguous, st.lastNode = got, 0, fn.name
			}
		}()
	}

	for round := range 6 {
		time.Sleep(300 * time.Millisecond)
		nn := f.add(fmt.Sprintf("j%d", round))
		liveMu.Lock()
		order = append(order, nn)
		l := live()
		victim := l[round%(len(l)-1)]
		// Out of the rotation before it goes, as a load balancer would.
		victim.away.Store(true)
		liveMu.Unlock()
		time.Sleep(300 * time.Millisecond)
		f.leave(victim)
	}
	close(stop)
	wg.Wait()
	if t.Failed() {
		return
	}
	f.settled()
	if c := f.conflicts.Load(); c != 0 {
		t.Fatalf("%d table versions were adopted with two contents", c)
	}
	n := 0
	f.tables.Range(func(_, _ any) bool { n++; return true })
	t.Logf("%d table versions issued; %d requests, %d failed on members in the rotation", n, requests.Load(), liveErrs.Load())
	// A request to a member that stays waits for its session, wherever
	// it is; only a member that is leaving may refuse one.
	if e := liveErrs.Load(); e != 0 {
		t.Fatalf("%d requests to members in the rotation failed", e)
	}
	for i, st := range states {
		for _, fn := range live() {
			got, err := st.b.try(fn)
			if err != nil {
				t.Fatalf("browser %d on %s at the end: %v (earlier: %v)", i, fn.name, err, st.lastErrors)
			}
			if got <= st.acked || got > st.acked+1+st.ambiguous {
				t.Fatalf("browser %d on %s at the end: count %d after %d acknowledged (+%d unsure)", i, fn.name, got, st.acked, st.ambiguous)
			}
			st.acked, st.ambiguous = got, 0
		}
	}
}

// With policy proxy the request goes to the session, which stays put; with
// redirect the client is sent to the holder, keeping method and query.
func TestProxyAndRedirect(t *testing.T) {
	for _, policy := range []string{"proxy", "redirect"} {
		t.Run(policy, func(t *testing.T) {
			f := newFarm(t)
			f.policy = policy
			red, green := f.add("red"), f.add("green")
			f.settled()
			b := &browser{hc: &http.Client{Timeout: 10 * time.Second}}
			b.incr(t, red)
			for i := 2; i <= 4; i++ {
				got := b.incr(t, green) // the client follows a redirect itself
				if got != i {
					t.Fatalf("request %d through green: count %d", i, got)
				}
			}
			if red.mgr.Len() != 1 || green.mgr.Len() != 0 {
				t.Fatalf("red holds %d, green %d: the session should have stayed on red", red.mgr.Len(), green.mgr.Len())
			}
			if policy != "redirect" {
				return
			}
			noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			req, _ := http.NewRequest("POST", green.http.URL+"/cart?x=1", nil)
			req.Header.Set("Cookie", "WADISESSIONID="+b.cookie)
			resp, err := noFollow.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != red.http.URL+"/cart?x=1" {
				t.Fatalf("redirect %s to %q, want 307 to %s/cart?x=1", resp.Status, resp.Header.Get("Location"), red.http.URL)
			}
		})
	}
}

// With a route on the token or in a cookie, each policy still relocates a
// request whose session is on the other node, and only it: the session
// moves (migrate) or stays on red (proxy, redirect), the count never
// loses a step, and with jvmroute the token names the holder.
func TestRelocationWithRoutes(t *testing.T) {
	for _, rt := range []string{"jvmroute", "cookie"} {
		for _, tt := range []struct {
			policy  string
			outcome session.Outcome // green's, for the requests sent there
			holder  string
		}{
			{"migrate", session.OutcomeMigratedIn, "green"},
			{"proxy", session.OutcomeProxied, "red"},
			{"redirect", session.OutcomeRedirected, "red"},
		} {
			t.Run(rt+"/"+tt.policy, func(t *testing.T) {
				f := newFarm(t)
				f.router, f.policy = rt, tt.policy
				red, green := f.add("red"), f.add("green")
				f.settled()
				b := &browser{hc: &http.Client{Timeout: 10 * time.Second}}
				b.incr(t, red)
				for i := 2; i <= 3; i++ {
					if got := b.incr(t, green); got != i {
						t.Fatalf("request %d through green: count %d", i, got)
					}
				}
				held := map[string]int{"red": red.mgr.Len(), "green": green.mgr.Len()}
				if held[tt.holder] != 1 || held["red"]+held["green"] != 1 {
					t.Fatalf("red holds %d, green %d; want the session on %s", held["red"], held["green"], tt.holder)
				}
				// Migrate relocates once, then green holds it: a local hit.
				want := 2
				if tt.policy == "migrate" {
					want = 1
				}
				if n := green.metrics.count(tt.outcome); n != want {
					t.Fatalf("green counted %d %v, want %d", n, tt.outcome, want)
				}
				if _, route, _ := strings.Cut(b.cookie, "."); rt == "jvmroute" && route != tt.holder {
					t.Fatalf("token %q, want the route %s", b.cookie, tt.holder)
				}
			})
		}
	}
}

// The directory holds one entry per live session, wherever it moved, and
// none once the session is invalidated; a new session is registered at
// once, so another node finds it on its first request.
func TestDirectoryFollowsSessions(t *testing.T) {
	f := newFarm(t)
	red, green, blue := f.add("red"), f.add("green"), f.add("blue")
	f.settled()
	entries := func() int { return red.node.DirectorySize() + green.node.DirectorySize() + blue.node.DirectorySize() }
	var bs []*browser
	for i := range 20 {
		b := &browser{hc: &http.Client{Timeout: 10 * time.Second}}
		b.incr(t, []*farmNode{red, green, blue}[i%3])
		b.incr(t, []*farmNode{red, green, blue}[(i+1)%3])
		bs = append(bs, b)
	}
	if got := entries(); got != len(bs) {
		t.Fatalf("%d directory entries for %d sessions", got, len(bs))
	}
	for _, b := range bs {
		if _, err := b.tryPath(blue, "/invalidate"); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for entries() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d directory entries left after every session was invalidated", entries())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// An invalidated session never comes back: its old cookie starts anew.
	if got := bs[0].incr(t, red); got != 1 {
		t.Fatalf("an invalidated session came back with count %d", got)
	}
}

// A peer that speaks garbage to the peer transport gets an error for that
// connection; the farm goes on.
func TestPeerGarbage(t *testing.T) {
	f := newFarm(t)
	red, green := f.add("red"), f.add("green")
	f.settled()
	b := &browser{hc: &http.Client{Timeout: 10 * time.Second}}
	b.incr(t, red)
	for _, junk := range [][]byte{
		[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		bytes.Repeat([]byte{0xff}, 4096),
		[]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x10\x01\x04\x00\x00\x00\x01garbage-garbage!"),
	} {
		c, err := net.DialTimeout("tcp", green.node.Members()[0].Peer, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(2 * time.Second))
		c.Write(junk)
		io.Copy(io.Discard, c)
		c.Close()
	}
	if got := b.incr(t, green); got != 2 {
		t.Fatalf("after garbage: count %d, want 2", got)
	}
}

// TestPeerGarbledTables: a pushed table that cannot be true is refused, for
// that call alone; the node keeps its table and serves on.
func TestPeerGarbledTables(t *testing.T) {
	f := newFarm(t)
	red, green := f.add("red"), f.add("green")
	f.settled()
	b := &browser{hc: &http.Client{Timeout: 10 * time.Second}}
	b.incr(t, red)
	before := green.node.Table()
	owners := func(o string) []string { return slices.Repeat([]string{o}, len(before.Owners)) }
	tests := []struct {
		name  string
		table *peerpb.Table
	}{
		{"none", nil},
		{"no owners", &peerpb.Table{Version: &peerpb.Version{N: before.Version.N + 1, By: "red"}, Members: []string{"red"}}},
		{"an owner not a member", &peerpb.Table{Version: &peerpb.Version{N: before.Version.N + 1, By: "red"}, Owners: owners("mallory"), Members: []string{"red"}}},
		{"an issuer not a member", &peerpb.Table{Version: &peerpb.Version{N: before.Version.N + 1, By: "mallory"}, Owners: owners("red"), Members: []string{"red"}}},
		{"the last version number", &peerpb.Table{Version: &peerpb.Version{N: math.MaxUint64, By: "red"}, Owners: owners("red"), Members: []string{"red"}}},
		{"another partition count", &peerpb.Table{Version: &peerpb.Version{N: before.Version.N + 1, By: "red"}, Owners: []string{"red"}, Members: []string{"red"}}},
	}
	c := peerClient(t, green)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, _ = c.PushTable(ctx, &peerpb.PushTableRequest{Table: tc.table})
			if got := green.node.Table(); got.Version != before.Version {
				t.Fatalf("green adopted %+v", got)
			}
		})
	}
	if got := green.node.Table(); !slices.Equal(got.Owners, before.Owners) {
		t.Fatal("green's owners changed")
	}
	if got := b.incr(t, green); got != 2 {
		t.Fatalf("after garbled tables: count %d, want 2", got)
	}
}
