package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startHAProxy runs haproxy in the foreground with the configuration and
// waits until it accepts connections on addr; the test's cleanup stops it.
func startHAProxy(t *testing.T, dir, cfg, addr string) {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		t.Fatalf("haproxy is not installed (make deps installs it): %v", err)
	}
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	logs := &logBuffer{}
	cmd := exec.Command(bin, "-db", "-f", path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { logs.consume(out); _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("haproxy output:\n%s", logs)
		}
	})
	waitFor(t, "haproxy to listen on "+addr, 20*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// routerNodeConfig is a single node with a router block.
func routerNodeConfig(name, dir, addr, routerBlock string) string {
	return fmt.Sprintf(`
node {
  name     = %q
  data_dir = %q
}
http {
  listen = %q
  app    = "demo"
}
store "memory" {}
%s
`, name, dir, addr, routerBlock)
}

// TestHAProxyRoutesOnTheRoute puts two nodes behind a real HAProxy that
// balances round robin, and checks that the route each router writes is one
// HAProxy routes on: every request of a session lands on the node that
// created it. With router "none" the same farm loses sessions, which is why
// the routes matter (these nodes share nothing yet).
func TestHAProxyRoutesOnTheRoute(t *testing.T) {
	tests := []struct {
		name      string
		router    string
		backend   string // %[1]s, %[2]s: red's and blue's addresses
		wantStick bool
	}{
		{
			name:   "jvmroute",
			router: `router "jvmroute" {}`,
			backend: `  use-server red if { req.cook(WADISESSIONID) -m end .red }
  use-server blue if { req.cook(WADISESSIONID) -m end .blue }
  server red %[1]s
  server blue %[2]s
`,
			wantStick: true,
		},
		{
			name: "cookie",
			router: `router "cookie" {
  cookie_name = "SERVERID"
}`,
			backend: `  cookie SERVERID
  server red %[1]s cookie red
  server blue %[2]s cookie blue
`,
			wantStick: true,
		},
		{
			name:   "none",
			router: `router "none" {}`,
			backend: `  server red %[1]s
  server blue %[2]s
`,
			wantStick: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			red, blue, lb := freeAddr(t), freeAddr(t), freeAddr(t)
			for _, n := range []struct{ name, addr string }{{"red", red}, {"blue", blue}} {
				cfg := writeConfig(t, dir, n.name+".hcl", routerNodeConfig(n.name, filepath.Join(dir, n.name), n.addr, tt.router))
				startNode(t, cfg, n.addr)
			}
			startHAProxy(t, dir, fmt.Sprintf(`
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend fe
  bind %s
  default_backend be
backend be
  balance roundrobin
`, lb)+fmt.Sprintf(tt.backend, red, blue), lb)

			const clients, requests = 8, 6
			broken := 0
			nodes := map[string]int{}
			for i := range clients {
				jar, _ := cookiejar.New(nil)
				hc := &http.Client{Jar: jar, Timeout: 10 * time.Second}
				var first string
				for r := 1; r <= requests; r++ {
					v, err := incrVia(hc, "http://"+lb+"/api/incr")
					if err != nil {
						t.Fatalf("client %d request %d: %v", i, r, err)
					}
					if r == 1 {
						first = v.Node
						nodes[first]++
					}
					if v.Node != first || v.Count != r {
						if tt.wantStick {
							t.Fatalf("client %d request %d: node %s count %d; the session began on %s", i, r, v.Node, v.Count, first)
						}
						broken++
					}
				}
			}
			if !tt.wantStick && broken == 0 {
				t.Fatal("without routes every session still stuck: the test proves nothing")
			}
			if tt.wantStick && len(nodes) != 2 {
				t.Fatalf("sessions began on %v: round robin should have used both nodes", nodes)
			}
		})
	}
}

func incrVia(hc *http.Client, url string) (sessionView, error) {
	resp, err := hc.Post(url, "", nil)
	if err != nil {
		return sessionView{}, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return sessionView{}, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	var v sessionView
	if err := json.Unmarshal(body, &v); err != nil {
		return sessionView{}, fmt.Errorf("%v in %q", err, body)
	}
	return v, nil
}

// startFarmHAProxy puts HAProxy in front of the farm, routing each request
// on the member name its session cookie ends with (jvmroute), round robin
// for the rest, and redispatching a request whose member refuses the
// connection. It returns HAProxy's address.
func startFarmHAProxy(t *testing.T, f *e2eFarm) string {
	t.Helper()
	lb := freeAddrs(t, 1)[0]
	var backend strings.Builder
	for _, m := range f.members {
		fmt.Fprintf(&backend, "  use-server %s if { req.cook(WADISESSIONID) -m end .%s }\n", m.name, m.name)
	}
	for _, m := range f.members {
		fmt.Fprintf(&backend, "  server %s %s check inter 200ms fall 1 rise 1\n", m.name, m.http)
	}
	startHAProxy(t, f.dir, fmt.Sprintf(`
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  retries 3
  option redispatch
frontend fe
  bind %s
  default_backend be
backend be
  balance roundrobin
%s`, lb, backend.String()), lb)
	return lb
}
