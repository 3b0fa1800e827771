package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestGracefulRestartKeepsSessions creates sessions over HTTP, stops the node
// with SIGTERM, starts it again, and finds every session with its
// attributes, under the same ids.
func TestGracefulRestartKeepsSessions(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := writeConfig(t, dir, "red.hcl", nodeConfig("red", filepath.Join(dir, "data"), addr, ""))
	n := startNode(t, cfg, addr)

	clients := make([]*client, 40)
	ids := make([]string, len(clients))
	for i := range clients {
		clients[i] = newClient(t)
		for range i%5 + 1 {
			clients[i].incr(addr)
		}
		ids[i] = clients[i].cookie.Value
	}
	if code := n.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	if got := logNumber(n.logs.match("wrote sessions to the store"), "written"); got != len(clients) {
		t.Fatalf("wrote %d sessions at shutdown, want %d", got, len(clients))
	}

	n = startNode(t, cfg, addr)
	for i, c := range clients {
		v := c.session(addr)
		if v.ID != ids[i] || v.Attributes["count"] != itoa(i%5+1) || v.Node != "red" {
			t.Fatalf("client %d after restart: %+v, want id %s count %d", i, v, ids[i], i%5+1)
		}
		if got := c.incr(addr); got != i%5+2 {
			t.Fatalf("client %d: incr after restart = %d", i, got)
		}
		if c.cookie.Value != ids[i] {
			t.Fatalf("client %d was given a new session", i)
		}
	}
	if code := n.stop(syscall.SIGINT); code != 0 {
		t.Fatalf("exit code %d after SIGINT", code)
	}
}

// TestEvictionBringsSessionsBack evicts sessions to the store, by idleness and
// by the memory bound, and brings them back under requests.
func TestEvictionBringsSessionsBack(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := writeConfig(t, dir, "blue.hcl", nodeConfig("blue", filepath.Join(dir, "data"), addr, `
  evict_after    = "1s"
  sweep_interval = "200ms"
  max_in_memory  = 10
`))
	n := startNode(t, cfg, addr)
	clients := make([]*client, 30)
	for i := range clients {
		clients[i] = newClient(t)
		clients[i].incr(addr)
		clients[i].incr(addr)
	}
	evicted := func() int {
		return logNumber(n.logs.match("evicted idle sessions"), "count") +
			logNumber(n.logs.match("evicted least recently used sessions"), "count")
	}
	waitFor(t, "every session to be evicted", 20*time.Second, func() bool { return evicted() >= len(clients) })
	if logNumber(n.logs.match("evicted least recently used sessions"), "count") == 0 {
		t.Fatal("max_in_memory never evicted anything")
	}
	for i, c := range clients {
		id := c.cookie.Value
		if got := c.incr(addr); got != 3 || c.cookie.Value != id {
			t.Fatalf("client %d after eviction: count %d (want 3), id kept %v", i, got, c.cookie.Value == id)
		}
	}
	if code := n.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

// TestBadConfigRefusedBeforeBinding checks that a broken configuration is
// reported with file, line and column, and that the node exits without
// binding its port.
func TestBadConfigRefusedBeforeBinding(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := writeConfig(t, dir, "bad.hcl", `node { name = "red" }
http { listen = "`+addr+`" }
session {
  idle_timout = "30m"
}
store "file" { pathh = "x.db" }
`)
	// The test holds the port: a node that bound before checking its
	// configuration would fail with "address already in use" instead.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, args := range [][]string{{"run", "-config", cfg}, {"validate", cfg}} {
		out, err := exec.Command(wadiBin, args...).CombinedOutput()
		var ee *exec.ExitError
		if !errorsAs(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("wadi %s: %v, want exit code 1\n%s", args[0], err, out)
		}
		s := string(out)
		if !containsAll(s, "bad.hcl:4,3", "idle_timout", "bad.hcl:6,16", "pathh") {
			t.Fatalf("wadi %s output lacks the positions of both mistakes:\n%s", args[0], s)
		}
		if strings.Contains(s, "node started") || strings.Contains(s, "address already in use") {
			t.Fatalf("wadi %s started a node or bound a port:\n%s", args[0], s)
		}
	}
	// A value the schema accepts but the store cannot use is refused the
	// same way, at its block, before anything binds or opens.
	empty := writeConfig(t, dir, "empty.hcl", "http {\n  listen = \""+addr+"\"\n}\nstore \"file\" {\n  path = \"\"\n}\n")
	out, err := exec.Command(wadiBin, "run", "-config", empty).CombinedOutput()
	if s := string(out); err == nil || !containsAll(s, "empty.hcl:4,1", "path is empty") || strings.Contains(s, "address already in use") {
		t.Fatalf("run with an empty store path: %v\n%s", err, out)
	}

	good := writeConfig(t, dir, "good.hcl", "node {\nname=\"red\"\n}\n")
	out, err = exec.Command(wadiBin, "validate", good).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "valid") {
		t.Fatalf("validate of a good file: %v\n%s", err, out)
	}
	if err := exec.Command(wadiBin, "fmt", "-check", good).Run(); err == nil {
		t.Fatal("fmt -check passed an unformatted file")
	}
	if out, err := exec.Command(wadiBin, "fmt", good).CombinedOutput(); err != nil {
		t.Fatalf("fmt: %v\n%s", err, out)
	}
	if out, err := exec.Command(wadiBin, "fmt", "-check", good).CombinedOutput(); err != nil {
		t.Fatalf("fmt -check after fmt: %v\n%s", err, out)
	}
}

// TestDevNode is the quick start's node: `wadi run -dev` serves the demo
// with the default store (bbolt in a temporary data directory), and removes
// that directory when it stops.
func TestDevNode(t *testing.T) {
	out, err := exec.Command(wadiBin, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "wadi ") {
		t.Fatalf("wadi version: %v %q", err, out)
	}
	addr := freeAddr(t)
	n := startWadi(t, addr, nil, "run", "-dev", "-listen", addr, "-log-json")
	c := newClient(t)
	for want := 1; want <= 3; want++ {
		if got := c.incr(addr); got != want {
			t.Fatalf("count %d, want %d", got, want)
		}
	}
	v := c.session(addr)
	if v.Node != "dev" || v.Attributes["count"] != "3" {
		t.Fatalf("session %+v", v)
	}
	started := n.logs.match("node started")
	if len(started) != 1 {
		t.Fatalf("no start line:\n%s", n.logs)
	}
	dir, _ := started[0]["data_dir"].(string)
	if _, err := os.Stat(filepath.Join(dir, "sessions.db")); err != nil {
		t.Fatalf("the default store is not in the data directory %q: %v", dir, err)
	}
	if code := n.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the dev data directory %q outlived the node: %v", dir, err)
	}
}
