package e2e

import (
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
		if strings.Contains(s, "node started") {
			t.Fatalf("wadi %s started a node:\n%s", args[0], s)
		}
	}

	good := writeConfig(t, dir, "good.hcl", "node {\nname=\"red\"\n}\n")
	out, err := exec.Command(wadiBin, "validate", good).CombinedOutput()
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
