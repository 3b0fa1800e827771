package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// member is one wadi process of an e2e farm, with what it needs to be
// restarted on the same addresses.
type member struct {
	name, http, admin, gossip, peer string
	// app is the address of the member's own application, in upstream
	// mode.
	app  string
	cfg  string
	proc *node
	last *node // the process stopped last
}

func (m *member) procLogs() *logBuffer { return m.last.logs }

type e2eFarm struct {
	t       *testing.T
	dir     string
	members []*member
}

// newE2EFarm writes the configuration of n members sharing one store (the
// SQLite example plugin, which several processes can open at once) and
// starts them, each serving the demo application. sessionExtra goes inside
// the session block, routerBlock after the common blocks.
func newE2EFarm(t *testing.T, n int, sessionExtra, routerBlock string) *e2eFarm {
	t.Helper()
	return startE2EFarm(t, n, farmOptions{sessionExtra: sessionExtra, blocks: routerBlock})
}

// farmOptions say what the members of an e2e farm run beyond what they
// all share: the SQLite store, the cluster and the admin listener.
type farmOptions struct {
	// sessionExtra is lines for the session block.
	sessionExtra string
	// blocks are more top-level blocks: router, replication.
	blocks string
	// upstream, if set, puts each member in upstream mode instead of
	// serving the demo: it starts the member's application on m.app and
	// returns the member's app_api listen address.
	upstream func(f *e2eFarm, m *member) (apiListen string)
	// zones, if set, gives the i-th member the zone zones[i].
	zones []string
}

// startE2EFarm writes the configuration of n members as o says, starts
// them and waits for the farm to settle.
func startE2EFarm(t *testing.T, n int, o farmOptions) *e2eFarm {
	t.Helper()
	dir := t.TempDir()
	sqlite, _ := buildExample(t, dir, "sqlitestore")
	f := &e2eFarm{t: t, dir: dir}
	per := 4
	if o.upstream != nil {
		per++ // the application's
	}
	// All at once, so that no two are the same port.
	addrs := freeAddrs(t, per*n)
	for i := range n {
		a := addrs[per*i:]
		m := &member{
			name: []string{"red", "green", "blue", "white", "black"}[i],
			http: a[0], admin: a[1], gossip: a[2], peer: a[3],
		}
		if o.upstream != nil {
			m.app = a[4]
		}
		f.members = append(f.members, m)
	}
	var join []string
	for _, m := range f.members {
		join = append(join, fmt.Sprintf("%q", m.gossip))
	}
	for _, m := range f.members {
		app, apiBlock := `  app    = "demo"`, ""
		if o.upstream != nil {
			app = fmt.Sprintf("  upstream = %q", "http://"+m.app)
			apiBlock = fmt.Sprintf("app_api {\n  listen = %q\n}", o.upstream(f, m))
		}
		zone := ""
		if i := slices.Index(f.members, m); i < len(o.zones) {
			zone = fmt.Sprintf("  zone     = %q\n", o.zones[i])
		}
		m.cfg = writeConfig(t, dir, m.name+".hcl", fmt.Sprintf(`
node {
  name     = %q
  data_dir = %q
%s}
http {
  listen = %q
%s
}
%s
session {
  lock_timeout = "5s"
%s
}
plugin "sqlite" {
  path = %q
}
store "sqlite" {
  path = %q
}
cluster {
  bind      = %q
  peer      = %q
  join      = [%s]
  join_wait = "3s"
}
admin {
  listen = %q
}
%s
`, m.name, filepath.Join(dir, m.name), zone, m.http, app, apiBlock, o.sessionExtra, sqlite, filepath.Join(dir, "shared.sqlite"),
			m.gossip, m.peer, strings.Join(join, ", "), m.admin, o.blocks))
	}
	for _, m := range f.members {
		f.start(m)
	}
	f.settle()
	return f
}

func (f *e2eFarm) start(m *member) {
	f.t.Helper()
	m.proc = startNodeEnv(f.t, m.cfg, m.http, []string{"WADI_FAST_GOSSIP=1"})
}

// settle waits until every running member sees all the running members.
func (f *e2eFarm) settle() {
	f.t.Helper()
	var running []*member
	for _, m := range f.members {
		if m.proc != nil {
			running = append(running, m)
		}
	}
	waitFor(f.t, "the farm to settle", 30*time.Second, func() bool {
		for _, m := range running {
			var ms []memberView
			if err := getJSON("http://"+m.admin+"/v1/members", &ms); err != nil || len(ms) != len(running) {
				return false
			}
			table := ms[0].Table
			for _, v := range ms {
				if v.State != "alive" || v.Table != table {
					return false
				}
			}
		}
		return true
	})
}

type memberView struct {
	Name     string `json:"name"`
	State    string `json:"state"`
	Sessions int    `json:"sessions"`
	Backups  int    `json:"backups"`
	Table    string `json:"table"`
}

// stop stops a member with sig and forgets its process.
func (f *e2eFarm) stop(m *member, sig syscall.Signal) {
	f.t.Helper()
	if code := m.proc.stop(sig); code != 0 && sig != syscall.SIGKILL {
		f.t.Fatalf("%s exited with %d after %v", m.name, code, sig)
	}
	m.last, m.proc = m.proc, nil
}

// sessions sums the sessions the members hold.
func (f *e2eFarm) sessions() (map[string]int, int) {
	out := map[string]int{}
	total := 0
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
				out[m.name] = v.Sessions
				total += v.Sessions
			}
		}
	}
	return out, total
}

// 1. Ping-pong: a session created on red, used on green, then on red
// again, and round the farm: its counter never loses a step, and only the
// node that served it last holds it.
func TestFarmPingPong(t *testing.T) {
	f := newE2EFarm(t, 3, "", "")
	red, green, blue := f.members[0], f.members[1], f.members[2]
	c := newClient(t)
	for i, m := range []*member{red, green, red, blue, green, green, red} {
		v := c.do(context.Background(), "POST", "http://"+m.http+"/api/incr")
		if v.Count != i+1 || v.Node != m.name {
			t.Fatalf("request %d on %s: %+v, want count %d", i+1, m.name, v, i+1)
		}
		held, total := f.sessions()
		if total != 1 || held[m.name] != 1 {
			t.Fatalf("after request %d on %s the sessions are held %v", i+1, m.name, held)
		}
	}
}

// 2. Scatter-gun: clients send increments to random nodes at once, four at
// a time per session (a page's parallel requests), in
// exclusive mode; every session's final count is its acknowledged
// increments, exactly.
func TestFarmScatterGun(t *testing.T) {
	f := newE2EFarm(t, 3, `  concurrency = "exclusive"`, "")
	clients, increments := 50, 100
	if testing.Short() {
		clients, increments = 10, 20
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*clients)
	finals := make([]int, clients)
	cookies := make([]*http.Cookie, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := &http.Client{Timeout: 20 * time.Second}
			first := &client{hc: hc}
			got, err := first.incrOnce(context.Background(), f.members[i%len(f.members)].http, nil)
			if err != nil || got != 1 {
				errs <- fmt.Errorf("client %d: first increment: count %d, %v", i, got, err)
				return
			}
			// The rest two at a time, as a page's parallel requests: with
			// exclusive concurrency they run one after the other wherever
			// the session is, so every answer is a different count.
			const parallel = 4
			var mu sync.Mutex
			seen := make(map[int]bool, increments)
			seen[1] = true
			var pw sync.WaitGroup
			for w := range parallel {
				pw.Add(1)
				go func() {
					defer pw.Done()
					c := &client{hc: hc, cookie: first.lastCookie}
					rng := rand.New(rand.NewPCG(uint64(i), uint64(w)))
					for k := w + 1; k < increments; k += parallel {
						m := f.members[rng.IntN(len(f.members))]
						got, err := c.incrOnce(context.Background(), m.http, c.cookie)
						if err != nil {
							errs <- fmt.Errorf("client %d worker %d on %s: %v", i, w, m.name, err)
							return
						}
						mu.Lock()
						dup := seen[got]
						seen[got] = true
						mu.Unlock()
						if dup || got < 2 || got > increments {
							errs <- fmt.Errorf("client %d worker %d on %s: count %d (seen before: %v)", i, w, m.name, got, dup)
							return
						}
						if c.lastCookie != nil {
							c.cookie = c.lastCookie
						}
					}
				}()
			}
			pw.Wait()
			finals[i], cookies[i] = increments, first.lastCookie
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	for i := range clients {
		c := &client{t: t, hc: &http.Client{Timeout: 10 * time.Second}, cookie: cookies[i]}
		if got := c.session(f.members[i%3].http).Attributes["count"]; got != itoa(finals[i]) {
			t.Fatalf("client %d: final count %s, want %d", i, got, finals[i])
		}
	}
	if _, total := f.sessions(); total != clients {
		t.Fatalf("the farm holds %d sessions, want %d", total, clients)
	}
}

// 3. Rolling restart under load: each member in turn is taken out of the
// clients' rotation, stopped with SIGTERM and started again while clients
// keep counting: no request fails, no increment is lost.
func TestFarmRollingRestart(t *testing.T) {
	f := newE2EFarm(t, 3, "", "")
	var mu sync.Mutex
	away := map[string]bool{}
	pick := func(rng *rand.Rand) *member {
		mu.Lock()
		defer mu.Unlock()
		for {
			m := f.members[rng.IntN(len(f.members))]
			if !away[m.name] {
				return m
			}
		}
	}
	const clients = 12
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	var acked atomic.Int64 // increments answered, over all clients
	errs := make(chan error, clients)
	counts := make([]int, clients)
	cookies := make([]*http.Cookie, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &client{hc: &http.Client{Timeout: 20 * time.Second}}
			rng := rand.New(rand.NewPCG(uint64(i), 9))
			for k := 1; k <= 5000 && ctx.Err() == nil; k++ {
				m := pick(rng)
				got, err := c.incrOnce(context.Background(), m.http, c.cookie)
				if err != nil {
					errs <- fmt.Errorf("client %d increment %d on %s: %v", i, k, m.name, err)
					return
				}
				if got != k {
					errs <- fmt.Errorf("client %d increment %d on %s: count %d (session %s)", i, k, m.name, got, c.cookie.Value[:8])
					return
				}
				if c.lastCookie != nil {
					c.cookie = c.lastCookie
				}
				counts[i], cookies[i] = got, c.cookie
				acked.Add(1)
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	for _, m := range f.members {
		time.Sleep(500 * time.Millisecond)
		mu.Lock()
		away[m.name] = true
		mu.Unlock()
		// Requests already sent to it finish; new ones go elsewhere.
		time.Sleep(100 * time.Millisecond)
		before := acked.Load()
		f.stop(m, syscall.SIGTERM)
		f.start(m)
		f.settle()
		// The load went on across the restart: the proof is about
		// requests that met a farm with a member leaving and coming back.
		if acked.Load() == before {
			t.Errorf("no increment was answered while %s restarted", m.name)
		}
		mu.Lock()
		away[m.name] = false
		mu.Unlock()
	}
	time.Sleep(500 * time.Millisecond)
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	for i := range clients {
		c := &client{t: t, hc: &http.Client{Timeout: 10 * time.Second}, cookie: cookies[i]}
		if got := c.session(f.members[0].http).Attributes["count"]; got != itoa(counts[i]) {
			t.Fatalf("client %d: count %s after the restarts, want %d", i, got, counts[i])
		}
	}
}

// 4. Behind a real HAProxy routing on the jvmroute suffix: requests stick
// to the session's node; after that node is stopped they stick to the new
// holder.
func TestFarmBehindHAProxy(t *testing.T) {
	f := newE2EFarm(t, 3, "", `router "jvmroute" {}`)
	lb := startFarmHAProxy(t, f)

	type browser struct {
		c     *client
		node  string
		count int
	}
	var browsers []*browser
	for range 9 {
		b := &browser{c: newClient(t)}
		v := b.c.do(context.Background(), "POST", "http://"+lb+"/api/incr")
		b.node, b.count = v.Node, v.Count
		browsers = append(browsers, b)
	}
	sticks := func(stage string) {
		for i, b := range browsers {
			for range 3 {
				v := b.c.do(context.Background(), "POST", "http://"+lb+"/api/incr")
				if v.Count != b.count+1 {
					t.Fatalf("%s: browser %d: count %d, want %d", stage, i, v.Count, b.count+1)
				}
				if b.node != "" && v.Node != b.node {
					t.Fatalf("%s: browser %d moved from %s to %s", stage, i, b.node, v.Node)
				}
				b.node, b.count = v.Node, v.Count
				if !strings.HasSuffix(b.c.cookie.Value, "."+v.Node) {
					t.Fatalf("%s: browser %d's token %q does not route to %s", stage, i, b.c.cookie.Value, v.Node)
				}
			}
		}
	}
	sticks("before")
	victim := f.members[0]
	for _, b := range browsers {
		if b.node == victim.name {
			b.node = "" // it must move, then stick to its new node
		}
	}
	// No wait for HAProxy's health check: a connection refused by the
	// stopped node is redispatched (option redispatch), as in production.
	f.stop(victim, syscall.SIGTERM)
	for _, b := range browsers {
		if b.node == "" {
			v := b.c.do(context.Background(), "POST", "http://"+lb+"/api/incr")
			if v.Count != b.count+1 || v.Node == victim.name {
				t.Fatalf("after the stop: %+v, want count %d off %s", v, b.count+1, victim.name)
			}
			b.node, b.count = v.Node, v.Count
		}
	}
	sticks("after")
}

// 5. The last members stop one after the other; the last writes every
// session to the store; the farm restarts and every session is back.
func TestFarmLastNodeRestarts(t *testing.T) {
	f := newE2EFarm(t, 3, "", "")
	var clients []*client
	for i := range 15 {
		c := newClient(t)
		c.incr(f.members[i%3].http)
		c.incr(f.members[(i+1)%3].http)
		clients = append(clients, c)
	}
	for _, m := range f.members {
		f.stop(m, syscall.SIGTERM)
	}
	last := f.members[2]
	if got := logNumber(last.procLogs().match("wrote sessions to the store"), "written"); got != len(clients) {
		t.Fatalf("the last member wrote %d sessions out, want %d", got, len(clients))
	}
	for _, m := range f.members {
		f.start(m)
	}
	f.settle()
	for i, c := range clients {
		if got := c.incr(f.members[(i+2)%3].http); got != 3 {
			t.Fatalf("client %d after the farm restarted: count %d, want 3", i, got)
		}
	}
}

// `wadi members` lists the farm; `wadi drain` hands a member's sessions
// over with a progress bar and the member leaves and exits.
func TestFarmMembersAndDrainCommands(t *testing.T) {
	f := newE2EFarm(t, 3, "", "")
	red := f.members[0]
	var clients []*client
	for range 10 {
		c := newClient(t)
		c.incr(red.http)
		clients = append(clients, c)
	}
	out, err := exec.Command(wadiBin, "members", "-admin", red.admin).CombinedOutput()
	if err != nil {
		t.Fatalf("wadi members: %v\n%s", err, out)
	}
	for _, want := range []string{"NAME", "red", "green", "blue", "alive", red.http} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("wadi members lacks %q:\n%s", want, out)
		}
	}
	out, err = exec.Command(wadiBin, "drain", "-admin", red.admin).CombinedOutput()
	if err != nil {
		t.Fatalf("wadi drain: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "drained: 10 sessions handed over") {
		t.Fatalf("wadi drain said:\n%s", out)
	}
	select {
	case <-red.proc.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("red did not exit after the drain")
	}
	red.last, red.proc = red.proc, nil
	f.settle()
	for i, c := range clients {
		if got := c.incr(f.members[1+i%2].http); got != 2 {
			t.Fatalf("client %d after the drain: count %d, want 2", i, got)
		}
	}
}
