package e2e

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// exclusive makes one session's requests run one at a time on a node.
// The demo's increment reads then writes: with the default shared
// concurrency two racing requests on one node can both read n and write
// n+1, a lost update of the application's making, not replication's.
const exclusive = `concurrency = "exclusive"`

// replication returns the top-level block of a farm that replicates.
func replication(backups int, mode string) string {
	return fmt.Sprintf(`
replication "partitioned" {
  backups = %d
  mode    = %q
}
`, backups, mode)
}

// The history of one session's counter, as clients saw it. An operation
// whose outcome the client does not know (an error, a 503, a cut
// connection) may or may not have taken effect before its return: the
// model allows both. After a client-side timeout the effect may land at
// any later point, so its return is the end of the history.
type counterIn struct {
	session int
	incr    bool   // else a read
	node    string // the member it was sent to, for the explanation
}

type counterOut struct {
	count int
	known bool
}

var counterModel = porcupine.NondeterministicModel{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		by := map[int][]porcupine.Operation{}
		for _, op := range history {
			s := op.Input.(counterIn).session
			by[s] = append(by[s], op)
		}
		out := make([][]porcupine.Operation, 0, len(by))
		for _, ops := range by {
			out = append(out, ops)
		}
		return out
	},
	Init: func() []any { return []any{0} },
	Step: func(state, input, output any) []any {
		n, in, out := state.(int), input.(counterIn), output.(counterOut)
		switch {
		case !out.known && in.incr:
			return []any{n, n + 1}
		case !out.known:
			return []any{n}
		case in.incr && out.count == n+1:
			return []any{n + 1}
		case !in.incr && out.count == n:
			return []any{n}
		}
		return nil
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(counterIn), output.(counterOut)
		what := "get"
		if in.incr {
			what = "incr"
		}
		if !out.known {
			return fmt.Sprintf("s%d %s on %s -> ?", in.session, what, in.node)
		}
		return fmt.Sprintf("s%d %s on %s -> %d", in.session, what, in.node, out.count)
	},
}

// load is a set of browsers, each with one session, each driven by two
// workers sharing its cookie so that the session's requests race each
// other across the farm. It records every operation.
type load struct {
	t        *testing.T
	f        *e2eFarm
	start    time.Time
	cookies  []*http.Cookie
	hc       *http.Client
	mu       sync.Mutex
	history  []porcupine.Operation
	latency  []sample // of every operation, for the stall figures
	replaced atomic.Int64
	unknown  atomic.Int64
	acked    atomic.Int64
	errs     sync.Map // first error text by kind, for the log
	// liveErrs counts, by kind, the failed requests to a member that was
	// up when they were sent and still was when they returned: not the
	// killed node's own requests, which the kill cuts. There must be none.
	liveMu   sync.Mutex
	liveErrs map[string]int

	// up is the members clients may pick: the running ones.
	upMu sync.Mutex
	up   []*member
}

type sample struct {
	at      time.Duration // since start, at the call
	took    time.Duration
	unknown bool
}

func newLoad(t *testing.T, f *e2eFarm, sessions int) *load {
	l := &load{t: t, f: f, start: time.Now(), hc: &http.Client{Timeout: 20 * time.Second}, liveErrs: map[string]int{}}
	l.setUp()
	for i := range sessions {
		out, ck, err := l.call(context.Background(), l.pick(), i, true, nil)
		if err != nil || out.count != 1 || ck == nil {
			t.Fatalf("creating session %d: %+v (cookie %v): %v", i, out, ck, err)
		}
		l.cookies = append(l.cookies, ck)
	}
	return l
}

// setUp makes the running members the ones clients pick.
func (l *load) setUp() {
	l.upMu.Lock()
	defer l.upMu.Unlock()
	l.up = l.up[:0]
	for _, m := range l.f.members {
		if m.proc != nil {
			l.up = append(l.up, m)
		}
	}
}

func (l *load) pick() *member {
	l.upMu.Lock()
	defer l.upMu.Unlock()
	return l.up[rand.IntN(len(l.up))]
}

func (l *load) isUp(m *member) bool {
	l.upMu.Lock()
	defer l.upMu.Unlock()
	return slices.Contains(l.up, m)
}

// errKind is an error's text without what varies from one request to the
// next (ids, addresses), to count failures by kind.
func errKind(err error) string {
	s := variable.ReplaceAllString(err.Error(), "…")
	if i := strings.Index(s, " desc = "); i > 0 {
		s = s[:i]
	}
	return s
}

// variable matches shortened session ids, addresses and ports.
var variable = regexp.MustCompile(`[A-Za-z0-9_-]{8}…|127\.0\.0\.1:\d+|:\d+->`)

// down takes m out of the members clients pick, before it is killed.
func (l *load) down(m *member) {
	l.upMu.Lock()
	defer l.upMu.Unlock()
	for i, u := range l.up {
		if u == m {
			l.up = append(l.up[:i], l.up[i+1:]...)
			return
		}
	}
}

func (l *load) now() int64 { return int64(time.Since(l.start)) }

// call makes one request for session i on m and records it. It returns
// the session cookie the node set, if any.
func (l *load) call(ctx context.Context, m *member, i int, incr bool, cookie *http.Cookie) (counterOut, *http.Cookie, error) {
	method, path := "GET", "/api/session"
	if incr {
		method, path = "POST", "/api/incr"
	}
	call, wasUp := l.now(), l.isUp(m)
	out, set, err := l.request(ctx, method, "http://"+m.http+path, cookie)
	ret := l.now()
	if err != nil {
		l.unknown.Add(1)
		key := strings.SplitN(err.Error(), ":", 2)[0]
		l.errs.LoadOrStore(key, err.Error())
		// An answer, even an error, or a connection cut by a dying node
		// means the request had done whatever it did by now; only a
		// client-side timeout leaves it running on the node.
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			ret = math.MaxInt64
		}
		if wasUp && l.isUp(m) {
			l.liveMu.Lock()
			l.liveErrs[errKind(err)]++
			l.liveMu.Unlock()
		}
	} else if incr {
		l.acked.Add(1)
	}
	if set != nil && cookie != nil && sessionID(set.Value) != sessionID(cookie.Value) {
		// The one thing that must never happen: a client handed a new
		// session while its own exists.
		l.replaced.Add(1)
		l.t.Errorf("session %d on %s: the node set a new session %q in place of %q", i, m.name, set.Value, cookie.Value)
	}
	l.mu.Lock()
	l.history = append(l.history, porcupine.Operation{ClientId: i, Input: counterIn{session: i, incr: incr, node: m.name}, Call: call, Output: out, Return: ret})
	took := time.Duration(l.now() - call)
	l.latency = append(l.latency, sample{at: time.Duration(call), took: took, unknown: err != nil})
	l.mu.Unlock()
	return out, set, err
}

func sessionID(token string) string {
	id, _, _ := strings.Cut(token, ".")
	return id
}

func (l *load) request(ctx context.Context, method, url string, cookie *http.Cookie) (counterOut, *http.Cookie, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return counterOut{}, nil, err
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, err := l.hc.Do(req)
	if err != nil {
		return counterOut{}, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return counterOut{}, nil, fmt.Errorf("reading: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return counterOut{}, nil, fmt.Errorf("%s: %s", resp.Status, body)
	}
	var set *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "WADISESSIONID" {
			set = ck
		}
	}
	var v struct {
		Count      int               `json:"count"`
		Attributes map[string]string `json:"attributes"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return counterOut{}, nil, fmt.Errorf("decoding %q: %w", body, err)
	}
	if method == "GET" {
		if v.Count, err = strconv.Atoi(v.Attributes["count"]); err != nil {
			return counterOut{}, nil, fmt.Errorf("count attribute in %q: %w", body, err)
		}
	}
	return counterOut{count: v.Count, known: true}, set, nil
}

// run drives every session with two workers until ctx is done.
func (l *load) run(ctx context.Context) *sync.WaitGroup {
	var wg sync.WaitGroup
	for i := range l.cookies {
		for range 2 {
			wg.Go(func() {
				for ctx.Err() == nil {
					// The request is not cut by ctx: a client that gives
					// up would make every stop an unknown outcome.
					l.call(context.Background(), l.pick(), i, rand.IntN(4) != 0, l.cookies[i])
					time.Sleep(time.Duration(5+rand.IntN(20)) * time.Millisecond)
				}
			})
		}
	}
	return &wg
}

// finalReads reads every session once more, so that the histories end on
// a known value, and returns the counts.
func (l *load) finalReads() []int {
	counts := make([]int, len(l.cookies))
	for i, ck := range l.cookies {
		// A read can meet a node that is still settling (a 503 asks to
		// retry); a few tries, recorded like the rest.
		var err error
		for range 5 {
			var out counterOut
			if out, _, err = l.call(context.Background(), l.pick(), i, false, ck); err == nil {
				counts[i] = out.count
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if err != nil {
			l.t.Fatalf("session %d: the final read failed: %v", i, err)
		}
	}
	return counts
}

// check verifies the histories and logs the figures.
func (l *load) check() {
	l.t.Helper()
	l.mu.Lock()
	history := append([]porcupine.Operation(nil), l.history...)
	l.mu.Unlock()
	res := porcupine.CheckOperationsTimeout(counterModel.ToModel(), history, time.Minute)
	l.t.Logf("%d operations, %d acknowledged increments, %d with an unknown outcome; linearizable: %s",
		len(history), l.acked.Load(), l.unknown.Load(), res)
	l.errs.Range(func(k, v any) bool {
		l.t.Logf("  unknown outcomes include: %v", v)
		return true
	})
	// A request that reaches a dead holder's session during failure
	// detection must not fail: it waits (bounded) or is served from a
	// backup. Only the killed node's own requests may.
	l.liveMu.Lock()
	for kind, n := range l.liveErrs {
		l.t.Errorf("  failed on a member that stayed up: %d × %s", n, kind)
	}
	l.liveMu.Unlock()
	if res != porcupine.Ok {
		l.t.Errorf("the sessions' histories are not linearizable (%s): an acknowledged change was lost or a stale copy answered", res)
		l.explain(history)
	}
	if n := l.replaced.Load(); n > 0 {
		l.t.Errorf("%d requests were handed a new session in place of their own", n)
	}
}

// explain logs the history of each session that is not linearizable, in
// the order of the calls.
func (l *load) explain(history []porcupine.Operation) {
	for _, ops := range counterModel.Partition(history) {
		if porcupine.CheckOperationsTimeout(counterModel.ToModel(), ops, 10*time.Second) == porcupine.Ok {
			continue
		}
		slices.SortFunc(ops, func(a, b porcupine.Operation) int { return cmp.Compare(a.Call, b.Call) })
		var b strings.Builder
		for _, op := range ops {
			ret := "open"
			if op.Return != math.MaxInt64 {
				ret = time.Duration(op.Return).String()
			}
			// The wall clock too, to find the call in the nodes' logs.
			fmt.Fprintf(&b, "  %v..%s (%s) %s\n", time.Duration(op.Call), ret,
				l.start.Add(time.Duration(op.Call)).UTC().Format("15:04:05.000"), counterModel.DescribeOperation(op.Input, op.Output))
		}
		s := ops[0].Input.(counterIn).session
		l.t.Logf("history of session %d (%s):\n%s", s, sessionID(l.cookies[s].Value), b.String())
	}
}

// stalls reports the latencies of operations called within window after
// each instant in kills.
func (l *load) stalls(kills []time.Duration, window time.Duration) (p50, p99, max time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ds []time.Duration
	for _, s := range l.latency {
		for _, k := range kills {
			if s.at >= k && s.at < k+window {
				ds = append(ds, s.took)
				break
			}
		}
	}
	return percentiles(ds)
}

// killTogether sends SIGKILL to every one of ms at once and waits until
// they are gone.
func (f *e2eFarm) killTogether(ms ...*member) {
	f.t.Helper()
	for _, m := range ms {
		if err := m.proc.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			f.t.Fatal(err)
		}
	}
	for _, m := range ms {
		select {
		case <-m.proc.exited:
		case <-time.After(30 * time.Second):
			f.t.Fatalf("%s did not die within 30s of SIGKILL", m.name)
		}
		m.last, m.proc = m.proc, nil
	}
}

func percentiles(ds []time.Duration) (p50, p99, max time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	slices.Sort(ds)
	at := func(q float64) time.Duration { return ds[int(q*float64(len(ds)-1))] }
	return at(0.5), at(0.99), ds[len(ds)-1]
}

// backups sums the backups and the sessions the running members hold.
func (f *e2eFarm) backups() (sessions, backups int) {
	for _, m := range f.members {
		if m.proc == nil {
			continue
		}
		var ms []memberView
		if err := getJSON("http://"+m.admin+"/v1/members", &ms); err != nil {
			f.t.Fatal(err)
		}
		for _, v := range ms {
			if v.Name == m.name {
				sessions += v.Sessions
				backups += v.Backups
			}
		}
	}
	return sessions, backups
}

// waitBackups waits until the farm holds want sessions, each with its
// backups, and no orphaned backup besides.
func (f *e2eFarm) waitBackups(want, perSession int) time.Duration {
	f.t.Helper()
	start := time.Now()
	deadline := start.Add(60 * time.Second)
	for {
		s, b := f.backups()
		if s == want && b == want*perSession {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			var view []string
			for _, m := range f.members {
				var ms []memberView
				if m.proc != nil && getJSON("http://"+m.admin+"/v1/members", &ms) == nil {
					for _, v := range ms {
						if v.Name == m.name {
							view = append(view, fmt.Sprintf("%s: %d sessions, %d backups", v.Name, v.Sessions, v.Backups))
						}
					}
				}
			}
			for _, m := range f.members {
				var inv json.RawMessage
				if m.proc != nil && getJSON("http://"+m.admin+"/v1/inventory", &inv) == nil {
					f.t.Logf("inventory of %s: %s", m.name, inv)
				}
			}
			f.t.Fatalf("after 60s the farm holds %d sessions and %d backups, want %d and %d: %s", s, b, want, want*perSession, strings.Join(view, "; "))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Proof 1: a five-node farm under load; each node in turn is killed with
// SIGKILL, and restarted before the next. No session is lost, and every
// session's history is linearizable: no acknowledged change was lost.
//
// make test goes round the farm once; make chaos WADI_CHAOS_ROUNDS times.
func TestReplicationKillEachNode(t *testing.T) {
	f := newE2EFarm(t, 5, exclusive, replication(1, "sync"))
	l := newLoad(t, f, 10)
	f.waitBackups(10, 1)
	ctx, cancel := context.WithCancel(context.Background())
	wg := l.run(ctx)
	var kills []time.Duration
	rounds := 1
	if v, err := strconv.Atoi(os.Getenv("WADI_CHAOS_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	var victims []*member
	for range rounds {
		victims = append(victims, f.members...)
	}
	for _, victim := range victims {
		time.Sleep(time.Second)
		l.down(victim)
		kills = append(kills, time.Since(l.start))
		f.stop(victim, syscall.SIGKILL)
		t.Logf("killed %s", victim.name)
		// Under load while the farm notices and restores the backups.
		time.Sleep(3 * time.Second)
		f.start(victim)
		f.settle()
		l.setUp()
	}
	time.Sleep(time.Second)
	cancel()
	wg.Wait()
	counts := l.finalReads()
	l.check()
	p50, p99, max := l.stalls(kills, 5*time.Second)
	t.Logf("latency of requests in the 5s after each kill: p50 %v, p99 %v, max %v; final counts %v", p50, p99, max, counts)
	took := f.waitBackups(len(l.cookies), 1)
	t.Logf("every session had its backup again %v after the load stopped", took)

	// Invalidating half the sessions removes the holder's copy and the
	// backup of each: the counts on every node add up to what is left.
	for i := 0; i < len(l.cookies); i += 2 {
		if err := l.logout(l.pick(), l.cookies[i]); err != nil {
			t.Fatalf("invalidating session %d: %v", i, err)
		}
	}
	f.waitBackups(len(l.cookies)/2, 1)
}

// logout invalidates the session of cookie through m.
func (l *load) logout(m *member, cookie *http.Cookie) error {
	req, err := http.NewRequest("POST", "http://"+m.http+"/api/logout", nil)
	if err != nil {
		return err
	}
	req.AddCookie(cookie)
	resp, err := l.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		body, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: %s", resp.Status, body)
	}
	return nil
}

// Proof 2: with two backups, two nodes killed at once lose nothing.
func TestReplicationTwoBackupsTwoKills(t *testing.T) {
	f := newE2EFarm(t, 5, exclusive, replication(2, "sync"))
	l := newLoad(t, f, 10)
	f.waitBackups(10, 2)
	ctx, cancel := context.WithCancel(context.Background())
	wg := l.run(ctx)
	time.Sleep(2 * time.Second)
	a, b := f.members[1], f.members[3]
	l.down(a)
	l.down(b)
	f.killTogether(a, b)
	time.Sleep(4 * time.Second)
	cancel()
	wg.Wait()
	l.finalReads()
	l.check()
	// Three members are left: each session has its two backups again.
	f.waitBackups(len(l.cookies), 2)
}

// Proof 3: with mode = "async" the same kill may lose the changes still
// in flight to the backup; the test reports how many. It still requires
// that no session is lost: every session had its backup before the kill.
func TestReplicationAsyncKillLosses(t *testing.T) {
	f := newE2EFarm(t, 5, exclusive, replication(1, "async"))
	l := newLoad(t, f, 10)
	f.waitBackups(10, 1)
	// Each session's last acknowledged count, as its workers saw it.
	ctx, cancel := context.WithCancel(context.Background())
	wg := l.run(ctx)
	time.Sleep(2 * time.Second)
	victim := f.members[2]
	l.down(victim)
	f.stop(victim, syscall.SIGKILL)
	time.Sleep(4 * time.Second)
	cancel()
	wg.Wait()
	counts := l.finalReads()
	// The increments acknowledged for each session, against its count:
	// the difference is what the kill cost.
	l.mu.Lock()
	acked := make([]int, len(l.cookies))
	for _, op := range l.history {
		in, out := op.Input.(counterIn), op.Output.(counterOut)
		if in.incr && out.known {
			acked[in.session]++
		}
	}
	l.mu.Unlock()
	lost := 0
	for i := range counts {
		if counts[i] < acked[i] {
			lost += acked[i] - counts[i]
		}
	}
	res := porcupine.CheckOperationsTimeout(counterModel.ToModel(), l.history, time.Minute)
	t.Logf("async: %d acknowledged increments, %d lost to the kill of %s; histories linearizable: %s",
		l.acked.Load(), lost, victim.name, res)
	if n := l.replaced.Load(); n > 0 {
		t.Errorf("%d requests were handed a new session in place of their own", n)
	}
	f.waitBackups(len(l.cookies), 1)
}

// Proof 4: behind HAProxy routing on the route suffix, the node the
// clients stick to is killed with SIGKILL: they carry on with their
// sessions, every count intact, on the other nodes.
func TestReplicationHAProxyKillStickyNode(t *testing.T) {
	f := newE2EFarm(t, 3, "", `router "jvmroute" {}`+replication(1, "sync"))
	killStickyNode(t, f, startFarmHAProxy(t, f))
}

// killStickyNode creates sessions on the farm's first member, checks that
// HAProxy at lb sends their requests there, kills that member with
// SIGKILL, and checks that every client carries on through HAProxy with
// its own session and count on another member, and sticks there.
func killStickyNode(t *testing.T, f *e2eFarm, lb string) {
	t.Helper()
	red := f.members[0]
	var browsers []*client
	counts := map[*client]int{}
	for range 8 {
		c := newClient(t)
		v := c.do(context.Background(), "POST", "http://"+red.http+"/api/incr")
		if v.Node != red.name {
			t.Fatalf("created on %s, want %s", v.Node, red.name)
		}
		for range 2 {
			if v = c.do(context.Background(), "POST", "http://"+lb+"/api/incr"); v.Node != red.name {
				t.Fatalf("served by %s through HAProxy, want %s (token %q)", v.Node, red.name, c.cookie.Value)
			}
		}
		counts[c] = v.Count
		browsers = append(browsers, c)
	}
	f.waitBackups(len(browsers), 1)
	f.stop(red, syscall.SIGKILL)
	for i, c := range browsers {
		before := c.cookie.Value
		v := c.do(context.Background(), "POST", "http://"+lb+"/api/incr")
		if v.Count != counts[c]+1 || v.Node == red.name {
			t.Fatalf("browser %d after the kill: %+v, want count %d off %s", i, v, counts[c]+1, red.name)
		}
		if sessionID(c.cookie.Value) != sessionID(before) {
			t.Fatalf("browser %d was given session %q in place of %q", i, c.cookie.Value, before)
		}
		if !strings.HasSuffix(c.cookie.Value, "."+v.Node) {
			t.Fatalf("browser %d: token %q does not route to its new holder %s", i, c.cookie.Value, v.Node)
		}
		for range 2 {
			w := c.do(context.Background(), "POST", "http://"+lb+"/api/incr")
			if w.Node != v.Node || w.Count != v.Count+1 {
				t.Fatalf("browser %d, next request: %+v, want count %d on %s", i, w, v.Count+1, v.Node)
			}
			v = w
		}
		counts[c] = v.Count
	}
	if _, total := f.sessions(); total != len(browsers) {
		t.Fatalf("the two members left hold %d sessions, want %d", total, len(browsers))
	}
	f.waitBackups(len(browsers), 1)
}

// inventoryView is the admin API's /v1/inventory.
type inventoryView struct {
	Sessions []struct {
		ID      string   `json:"id"`
		Backups []string `json:"backups"`
	} `json:"sessions"`
}

// The placement honours the replicator's constraints: with the example
// zone replicator, a plugin process beside every member, each session's
// backup lives outside its holder's zone, and follows that rule again when
// the session moves to the other zone.
func TestReplicationZonesPlugin(t *testing.T) {
	zones, sum := buildExample(t, t.TempDir(), "zonereplicator")
	f := startE2EFarm(t, 4, farmOptions{
		zones: []string{"z1", "z1", "z2", "z2"},
		blocks: fmt.Sprintf(`
plugin "zones" {
  path   = %q
  sha256 = %q
}
replication "zones" {
  backups = 1
}
`, zones, sum),
	})
	zoneOf := map[string]string{}
	for i, m := range f.members {
		zoneOf[m.name] = []string{"z1", "z1", "z2", "z2"}[i]
	}
	clients := make([]*client, 8)
	check := func(holder *member) {
		t.Helper()
		f.waitBackups(len(clients), 1)
		var inv inventoryView
		if err := getJSON("http://"+holder.admin+"/v1/inventory", &inv); err != nil {
			t.Fatal(err)
		}
		if len(inv.Sessions) != len(clients) {
			t.Fatalf("%s holds %d sessions, want %d", holder.name, len(inv.Sessions), len(clients))
		}
		for _, s := range inv.Sessions {
			if len(s.Backups) != 1 || zoneOf[s.Backups[0]] == zoneOf[holder.name] {
				t.Errorf("session %s on %s (zone %s) is backed up on %v: want one backup in the other zone", s.ID, holder.name, zoneOf[holder.name], s.Backups)
			}
		}
	}
	red, blue := f.members[0], f.members[2]
	for i := range clients {
		clients[i] = newClient(t)
		clients[i].incr(red.http)
	}
	check(red)
	for i, c := range clients {
		if got := c.incr(blue.http); got != 2 {
			t.Fatalf("client %d on blue: count %d, want 2", i, got)
		}
	}
	check(blue)
}
