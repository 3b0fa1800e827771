package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// pluginStoreConfig is a node whose store is the builtin file store run out
// of process, as a plugin the configuration declares: the path every
// external store plugin takes.
func pluginStoreConfig(name, dir, addr, sessionExtra string) string {
	return fmt.Sprintf(`
node {
  name     = %q
  data_dir = %q
}
http {
  listen = %q
  app    = "demo"
}
session {
%s
}
plugin "outfile" {
  path = %q
  args = ["plugin", "serve", "store/file"]
}
store "outfile" {
  path = "sessions.db"
}
`, name, dir, addr, sessionExtra, wadiBin)
}

// incrOnce is client.incr for goroutines: it reports instead of failing.
func (c *client) incrOnce(ctx context.Context, addr string, cookie *http.Cookie) (int, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", "http://"+addr+"/api/incr", nil)
	if err != nil {
		return 0, err
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: %s", resp.Status, body)
	}
	var v sessionView
	if err := json.Unmarshal(body, &v); err != nil {
		return 0, fmt.Errorf("%v in %q", err, body)
	}
	// A new session, a renewed id or a rewritten route: keep the token
	// the node sent, as a browser would.
	for _, ck := range resp.Cookies() {
		if ck.Name == "WADISESSIONID" {
			c.lastCookie = ck
		}
	}
	return v.Count, nil
}

// TestStorePluginKilledUnderTraffic kills the store plugin's process with
// SIGKILL while requests run. Requests whose sessions are in memory never
// notice; the node restarts the plugin; idle sessions are evicted through
// it; and after a graceful stop and a restart every session is there with
// every increment.
func TestStorePluginKilledUnderTraffic(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := writeConfig(t, dir, "red.hcl", pluginStoreConfig("red", filepath.Join(dir, "data"), addr, `
  evict_after    = "1s"
  sweep_interval = "200ms"
`))
	n := startNode(t, cfg, addr)
	pidOf := func(msg string) int {
		lines := n.logs.match(msg)
		if len(lines) == 0 {
			return 0
		}
		v, _ := lines[len(lines)-1]["pid"].(float64)
		return int(v)
	}
	pid := pidOf("plugin started")
	if pid == 0 {
		t.Fatalf("no plugin pid in the log:\n%s", n.logs)
	}

	// Active clients keep their sessions busy; idle ones go quiet and are
	// evicted through the plugin, around the time it dies.
	active := make([]*client, 8)
	for i := range active {
		active[i] = newClient(t)
		active[i].incr(addr)
	}
	idle := make([]*client, 20)
	for i := range idle {
		idle[i] = newClient(t)
		idle[i].incr(addr)
	}

	ctx, stop := context.WithCancel(context.Background())
	var (
		wg       sync.WaitGroup
		requests atomic.Int64
		mu       sync.Mutex
		failures []string
		counts   = make([]int, len(active))
	)
	for i, c := range active {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := 2
			// Bounded: at most 10 000 requests a client, and the test stops
			// the loop after the plugin is back.
			for range 10000 {
				if ctx.Err() != nil {
					break
				}
				got, err := c.incrOnce(context.Background(), addr, c.cookie)
				requests.Add(1)
				if err != nil || got != want {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("client %d: count %d want %d, err %v", i, got, want, err))
					mu.Unlock()
					return
				}
				counts[i] = got
				want++
			}
		}()
	}

	time.Sleep(300 * time.Millisecond)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill plugin %d: %v", pid, err)
	}
	waitFor(t, "the plugin to be restarted", 30*time.Second, func() bool { return pidOf("plugin restarted") != 0 })
	if np := pidOf("plugin restarted"); np == pid {
		t.Fatalf("restarted plugin has the dead one's pid %d", pid)
	}
	evicted := func() int { return logNumber(n.logs.match("evicted idle sessions"), "count") }
	waitFor(t, "the idle sessions to be evicted through the new plugin", 30*time.Second, func() bool { return evicted() >= len(idle) })
	stop()
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d of %d requests under traffic failed: %v", len(failures), requests.Load(), failures)
	}
	t.Logf("%d requests under traffic, all answered; plugin %d killed and restarted", requests.Load(), pid)

	for i, c := range idle {
		if got := c.incr(addr); got != 2 {
			t.Fatalf("idle client %d: count %d after the plugin's restart, want 2", i, got)
		}
	}
	if code := n.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}

	n2 := startNode(t, cfg, addr)
	for i, c := range active {
		if got := c.incr(addr); got != counts[i]+1 {
			t.Fatalf("active client %d after restart: count %d, want %d", i, got, counts[i]+1)
		}
	}
	for i, c := range idle {
		if got := c.incr(addr); got != 3 {
			t.Fatalf("idle client %d after restart: count %d, want 3", i, got)
		}
	}
	if code := n2.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d after the second SIGTERM", code)
	}
}

// TestPluginExitsWithKilledHost: a host killed with SIGKILL cannot stop
// its plugins; each plugin notices that its parent is gone and exits, so
// no plugin process outlives its host.
func TestPluginExitsWithKilledHost(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := writeConfig(t, dir, "red.hcl", pluginStoreConfig("red", filepath.Join(dir, "data"), addr, ""))
	n := startNode(t, cfg, addr)
	lines := n.logs.match("plugin started")
	if len(lines) == 0 {
		t.Fatalf("no plugin started in the log:\n%s", n.logs)
	}
	v, _ := lines[len(lines)-1]["pid"].(float64)
	pid := int(v)
	if pid == 0 || syscall.Kill(pid, 0) != nil {
		t.Fatalf("plugin pid %d from the log is not running", pid)
	}
	n.stop(syscall.SIGKILL)
	waitFor(t, "the plugin to exit after its host's SIGKILL", 15*time.Second, func() bool {
		// A zombie counts as gone: its parent (init, or a subreaper) reaps it.
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return true
		}
		_, after, ok := strings.Cut(string(st), ") ")
		return !ok || strings.HasPrefix(after, "Z")
	})
}
