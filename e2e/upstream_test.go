package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startProcess starts a helper program (an example application) and waits
// until it accepts connections on addr. The test's cleanup stops it.
// It returns the process and a channel closed when it has exited.
func startProcess(t *testing.T, addr string, env []string, name string, args ...string) (*exec.Cmd, <-chan struct{}) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("output of %s:\n%s", name, out.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return cmd, exited
		}
		select {
		case <-exited:
			t.Fatalf("%s exited before serving:\n%s", name, out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not serve on %s within 20s:\n%s", name, addr, out.String())
		}
	}
}

// TestUpstreamPython runs wadi in upstream mode in front of the Python
// example, with the session API on a unix socket and on loopback TCP with
// a token: visits are counted in the session, a client cannot borrow
// another's session by sending Wadi-Session, and the sessions survive a
// graceful restart of wadi.
func TestUpstreamPython(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatal("python3 is not installed; make deps installs it")
	}
	for _, transport := range []string{"unix", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			dir := t.TempDir()
			addrs := freeAddrs(t, 3)
			addr, appAddr, apiAddr := addrs[0], addrs[1], addrs[2]
			const token = "e2e-token-0123456789abcdef"
			apiBlock := fmt.Sprintf("app_api {\n  listen = %q\n}", "unix://"+filepath.Join(dir, "run", "api.sock"))
			env := []string{"NODE=red", "PORT=" + strings.Split(appAddr, ":")[1], "WADI_API=unix://" + filepath.Join(dir, "run", "api.sock")}
			if transport == "tcp" {
				apiBlock = fmt.Sprintf("app_api {\n  listen = %q\n  token  = env(\"WADI_API_TOKEN\")\n}", apiAddr)
				env = []string{"NODE=red", "PORT=" + strings.Split(appAddr, ":")[1], "WADI_API=http://" + apiAddr, "WADI_API_TOKEN=" + token}
			}
			cfg := writeConfig(t, dir, "red.hcl", fmt.Sprintf(`
node {
  name     = "red"
  data_dir = %q
}
http {
  listen   = %q
  upstream = "http://%s"
}
%s
store "file" { path = "sessions.db" }
`, filepath.Join(dir, "data"), addr, appAddr, apiBlock))
			startProcess(t, appAddr, env, "python3", "../examples/python-visits/app.py")
			n := startNodeEnv(t, cfg, addr, []string{"WADI_API_TOKEN=" + token})

			a := newClient(t)
			for want := 1; want <= 3; want++ {
				if got := a.incr(addr); got != want {
					t.Fatalf("visit %d: count %d", want, got)
				}
			}
			v := a.session(addr)
			if v.Node != "red" || v.Count != 3 || v.Attributes["count"] != "3" || v.ID == "" || !strings.HasPrefix(a.cookie.Value, v.ID) {
				t.Fatalf("session view %+v, cookie %q", v, a.cookie.Value)
			}

			// Another client naming a's session in the header gets its own.
			req, _ := http.NewRequest("POST", "http://"+addr+"/api/incr", nil)
			req.Header.Set("Wadi-Session", v.ID)
			req.Header.Set("Wadi-Request", "forged")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("forged header: %s", resp.Status)
			}
			for _, c := range resp.Cookies() {
				if strings.HasPrefix(c.Value, v.ID) {
					t.Fatal("a client took over another's session with a Wadi-Session header")
				}
			}
			if got := a.incr(addr); got != 4 {
				t.Fatalf("after the forged request: count %d, want 4", got)
			}

			if code := n.stop(syscall.SIGTERM); code != 0 {
				t.Fatalf("exit code %d", code)
			}
			if transport == "unix" {
				if _, err := os.Lstat(filepath.Join(dir, "run", "api.sock")); !os.IsNotExist(err) {
					t.Errorf("the API socket is still there after the stop: %v", err)
				}
			}
			startNodeEnv(t, cfg, addr, []string{"WADI_API_TOKEN=" + token})
			if got := a.incr(addr); got != 5 {
				t.Fatalf("after a graceful restart of wadi: count %d, want 5", got)
			}
			b := newClient(t)
			if got := b.incr(addr); got != 1 {
				t.Fatalf("a new client: count %d", got)
			}
		})
	}
}

// TestGoVisits builds and runs the Go example, which embeds the
// middleware: it counts visits, and its sessions survive a restart.
func TestGoVisits(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "go-visits")
	if out, err := exec.Command("go", "build", "-race", "-o", bin, "../examples/go-visits").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	addr := freeAddr(t)
	args := []string{"-listen", addr, "-store", filepath.Join(dir, "sessions.db"), "-node", "gopher"}
	cmd, exited := startProcess(t, addr, nil, bin, args...)
	c := newClient(t)
	for want := 1; want <= 3; want++ {
		if got := c.incr(addr); got != want {
			t.Fatalf("visit %d: count %d", want, got)
		}
	}
	if v := c.session(addr); v.Node != "gopher" || v.Count != 3 || v.Attributes["count"] != "3" {
		t.Fatalf("session view %+v", v)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatal("go-visits did not exit within 30s of SIGTERM")
	}
	startProcess(t, addr, nil, bin, args...)
	if got := c.incr(addr); got != 4 {
		t.Fatalf("after a restart: count %d, want 4", got)
	}
}
