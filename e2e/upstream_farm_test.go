package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The farm, rolling-restart and kill -9 proofs of the farm and replication
// issues, run again with every node in upstream mode in front of its own
// instance of the Python example (issue 7): the sessions live in wadi, the
// application only talks to its node's session API.

// newUpstreamFarm starts n wadi members in upstream mode, each in front of
// its own python3 examples/python-visits/app.py reached over a unix-socket
// session API, sharing the SQLite example store, routing with jvmroute and
// replicating synchronously to one backup. The members are those of an
// e2eFarm, so its start, stop, settle, sessions and waitBackups apply.
func newUpstreamFarm(t *testing.T, n int) *e2eFarm {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatal("python3 is not installed; make deps installs it")
	}
	return startE2EFarm(t, n, farmOptions{
		blocks: `router "jvmroute" {}` + replication(1, "sync"),
		upstream: func(f *e2eFarm, m *member) string {
			sock := filepath.Join(f.dir, "run", m.name+".sock")
			// The application answers with its own NODE, the member's
			// name, so a response says which member's application served
			// it. Its process is stopped by its PID at the test's cleanup.
			startProcess(t, m.app, []string{
				"NODE=" + m.name,
				"PORT=" + strings.Split(m.app, ":")[1],
				"WADI_API=unix://" + sock,
			}, "python3", "../examples/python-visits/app.py")
			return "unix://" + sock
		},
	})
}

// upstreamIncr sends one POST /api/incr with the cookie (if any) and
// returns the answer and the session cookie the node set, if it set one.
func upstreamIncr(ctx context.Context, hc *http.Client, addr string, cookie *http.Cookie) (sessionView, *http.Cookie, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", "http://"+addr+"/api/incr", nil)
	if err != nil {
		return sessionView{}, nil, err
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return sessionView{}, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return sessionView{}, nil, fmt.Errorf("reading: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return sessionView{}, nil, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	var set *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "WADISESSIONID" {
			set = ck
		}
	}
	var v sessionView
	if err := json.Unmarshal(body, &v); err != nil {
		return sessionView{}, nil, fmt.Errorf("%v in %q", err, body)
	}
	return v, set, nil
}

// Ping-pong: one session used through each member in turn, directly on
// their HTTP ports and through HAProxy: the count never loses a step, the
// member that served it last is the only one holding it, and HAProxy
// sends it to that member.
func TestUpstreamFarmPingPong(t *testing.T) {
	f := newUpstreamFarm(t, 3)
	lb := startFarmHAProxy(t, f)
	red, green, blue := f.members[0], f.members[1], f.members[2]
	c := newClient(t)
	// nil is a request through HAProxy, which must reach the last holder.
	var holder *member
	for i, m := range []*member{red, green, red, nil, blue, nil, nil, green, green, red, nil, blue, nil} {
		addr, via := "", ""
		if m != nil {
			addr, via = m.http, m.name
		} else {
			addr, via, m = lb, "haproxy", holder
		}
		v := c.do(context.Background(), "POST", "http://"+addr+"/api/incr")
		if v.Count != i+1 || v.Node != m.name {
			t.Fatalf("request %d through %s: %+v, want count %d on %s", i+1, via, v, i+1, m.name)
		}
		if !strings.HasSuffix(c.cookie.Value, "."+m.name) {
			t.Fatalf("request %d through %s: token %q does not route to %s", i+1, via, c.cookie.Value, m.name)
		}
		held, total := f.sessions()
		if total != 1 || held[m.name] != 1 {
			t.Fatalf("after request %d through %s the session is held %v, want by %s alone", i+1, via, held, m.name)
		}
		holder = m
	}
	if v := c.session(lb); v.Attributes["count"] != "13" || v.Node != holder.name {
		t.Fatalf("the session read through HAProxy: %+v", v)
	}
}

// Rolling restart behind HAProxy: clients keep incrementing their
// sessions through HAProxy while each member in turn is stopped with
// SIGTERM and started again before the next. No acknowledged increment is
// lost, none is applied twice, and no client is handed a new session.
//
// A request in flight when its member stops may fail (HAProxy answers for
// a connection the member closed); its outcome is unknown, so the next
// answer may show it applied or not, and nothing else.
func TestUpstreamFarmRollingRestart(t *testing.T) {
	f := newUpstreamFarm(t, 3)
	lb := startFarmHAProxy(t, f)
	const clients = 6
	type browser struct {
		cookie  *http.Cookie
		count   int // the last count an answer showed
		pending int // increments with an unknown outcome since
		acked   int
		failed  int
		errs    []string
	}
	bs := make([]*browser, clients)
	hc := &http.Client{Timeout: 40 * time.Second} // longer than HAProxy's server timeout
	for i := range bs {
		v, ck, err := upstreamIncr(context.Background(), hc, lb, nil)
		if err != nil || v.Count != 1 || ck == nil {
			t.Fatalf("creating session %d: %+v (cookie %v): %v", i, v, ck, err)
		}
		bs[i] = &browser{cookie: ck, count: 1, acked: 1}
	}
	f.waitBackups(clients, 1)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }() // also when a stop fails the test
	bad := make(chan error, clients)
	for i, b := range bs {
		wg.Go(func() {
			for ctx.Err() == nil {
				// Not cut by ctx: a request given up would be one more
				// unknown outcome.
				v, ck, err := upstreamIncr(context.Background(), hc, lb, b.cookie)
				if err != nil {
					b.pending++
					b.failed++
					if len(b.errs) < 3 {
						b.errs = append(b.errs, err.Error())
					}
					time.Sleep(50 * time.Millisecond)
					continue
				}
				if ck != nil && sessionID(ck.Value) != sessionID(b.cookie.Value) {
					bad <- fmt.Errorf("client %d: handed session %q in place of %q", i, ck.Value, b.cookie.Value)
					return
				}
				if v.Count < b.count+1 || v.Count > b.count+1+b.pending {
					bad <- fmt.Errorf("client %d: count %d after %d with %d unknown outcomes (served by %s)", i, v.Count, b.count, b.pending, v.Node)
					return
				}
				if ck != nil {
					b.cookie = ck // the route changed: the session moved
				}
				b.count, b.pending = v.Count, 0
				b.acked++
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	for _, m := range f.members {
		time.Sleep(time.Second)
		f.stop(m, syscall.SIGTERM)
		t.Logf("stopped %s", m.name)
		f.start(m)
		f.settle()
	}
	time.Sleep(time.Second)
	cancel()
	wg.Wait()
	close(bad)
	for err := range bad {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	failed, acked := 0, 0
	for i, b := range bs {
		failed += b.failed
		acked += b.acked
		for _, e := range b.errs {
			t.Logf("client %d: a request failed: %s", i, e)
		}
		c := &client{t: t, hc: hc, cookie: b.cookie}
		v := c.session(lb)
		if v.Count < b.count || v.Count > b.count+b.pending || sessionID(c.cookie.Value) != sessionID(b.cookie.Value) {
			t.Errorf("client %d: after the restarts %+v, want count %d (+%d unknown) in session %s", i, v, b.count, b.pending, sessionID(b.cookie.Value))
		}
	}
	t.Logf("%d acknowledged increments, %d requests failed while members stopped", acked, failed)
	if acked < 10*clients {
		t.Errorf("only %d increments were acknowledged: the load did not run through the restarts", acked)
	}
	held, total := f.sessions()
	if total != clients {
		t.Errorf("the farm holds %d sessions (%v), want %d", total, held, clients)
	}
	f.waitBackups(clients, 1)
}

// Kill -9 behind HAProxy: the member every client sticks to is killed
// with SIGKILL (its application keeps running, unreachable); the clients
// carry on through HAProxy with their own sessions and every count, on
// the other members, and stick to their new holders.
func TestUpstreamFarmKillStickyNode(t *testing.T) {
	f := newUpstreamFarm(t, 3)
	killStickyNode(t, f, startFarmHAProxy(t, f))
}
