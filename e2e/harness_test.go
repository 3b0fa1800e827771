package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wadi-go/wadi/internal/testport"
)

// wadiBin is the wadi binary built once for the whole run by TestMain.
var wadiBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "wadi-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	wadiBin = filepath.Join(dir, "wadi")
	// -race so that the processes under test report races too.
	build := exec.Command("go", "build", "-race", "-o", wadiBin, "../cmd/wadi")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building wadi:", err)
		return 1
	}
	return m.Run()
}

// freeAddr returns a loopback address reserved for this test (see testport).
func freeAddr(t *testing.T) string {
	t.Helper()
	return testport.Addr(t)
}

// node is one wadi process.
type node struct {
	t      *testing.T
	cmd    *exec.Cmd
	addr   string
	logs   *logBuffer
	exited chan struct{}
	err    error // of Wait, valid once exited is closed
}

// logBuffer collects a process's JSON log lines.
type logBuffer struct {
	mu    sync.Mutex
	lines []map[string]any
	raw   bytes.Buffer
}

func (l *logBuffer) consume(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var m map[string]any
		l.mu.Lock()
		l.raw.Write(line)
		l.raw.WriteByte('\n')
		if json.Unmarshal(line, &m) == nil {
			l.lines = append(l.lines, m)
		}
		l.mu.Unlock()
	}
}

// match returns the log lines whose message is msg.
func (l *logBuffer) match(msg string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, m := range l.lines {
		if m["@message"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.raw.String()
}

// writeConfig writes an HCL file into dir and returns its path.
func writeConfig(t *testing.T, dir, name, hcl string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(hcl), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startNode starts `wadi run -config cfg` and waits until it serves HTTP on
// addr. The test's cleanup kills it if it is still running.
func startNode(t *testing.T, cfg, addr string) *node {
	t.Helper()
	return startNodeEnv(t, cfg, addr, nil)
}

// startNodeEnv is startNode with extra environment variables (NAME=value).
func startNodeEnv(t *testing.T, cfg, addr string, env []string) *node {
	t.Helper()
	return startWadi(t, addr, env, "run", "-config", cfg, "-log-json", "-log-level", "debug")
}

// startWadi starts wadi with args and waits until it serves on addr.
func startWadi(t *testing.T, addr string, env []string, args ...string) *node {
	t.Helper()
	cmd := exec.Command(wadiBin, args...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, cmd: cmd, addr: addr, logs: &logBuffer{}, exited: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logsDone := make(chan struct{})
	go func() { n.logs.consume(stderr); close(logsDone) }()
	go func() {
		<-logsDone
		n.err = cmd.Wait()
		close(n.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-n.exited:
		default:
			_ = cmd.Process.Kill()
			<-n.exited
		}
		if t.Failed() {
			t.Logf("logs of wadi on %s:\n%s", addr, n.logs)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return n
		}
		select {
		case <-n.exited:
			t.Fatalf("wadi exited before serving: %v\n%s", n.err, n.logs)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("wadi did not serve on %s within 20s\n%s", addr, n.logs)
		}
	}
}

// stop sends sig and waits (bounded) for the process to exit; it returns the
// exit code.
func (n *node) stop(sig syscall.Signal) int {
	n.t.Helper()
	if err := n.cmd.Process.Signal(sig); err != nil {
		n.t.Fatal(err)
	}
	select {
	case <-n.exited:
	case <-time.After(60 * time.Second):
		n.t.Fatalf("wadi did not exit within 60s of %v", sig)
	}
	var ee *exec.ExitError
	if errors.As(n.err, &ee) {
		return ee.ExitCode()
	}
	if n.err != nil {
		n.t.Fatal(n.err)
	}
	return 0
}

// client is one browser: it keeps the session cookie itself, so that a test
// can carry it across node restarts and check it changes only when it should.
type client struct {
	t      *testing.T
	hc     *http.Client
	cookie *http.Cookie
	// lastCookie is the session cookie of incrOnce's last answer, if it
	// set one.
	lastCookie *http.Cookie
}

func newClient(t *testing.T) *client {
	return &client{t: t, hc: &http.Client{Timeout: 10 * time.Second}}
}

type sessionView struct {
	Node       string            `json:"node"`
	ID         string            `json:"id"`
	Attributes map[string]string `json:"attributes"`
	Count      int               `json:"count"`
}

func (c *client) do(ctx context.Context, method, url string) sessionView {
	c.t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.cookie != nil {
		req.AddCookie(c.cookie)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("%s %s: %s %s", method, url, resp.Status, body)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == "WADISESSIONID" {
			c.cookie = ck
		}
	}
	var v sessionView
	if err := json.Unmarshal(body, &v); err != nil {
		c.t.Fatalf("%s %s: %v in %q", method, url, err, body)
	}
	return v
}

func (c *client) incr(addr string) int {
	return c.do(context.Background(), "POST", "http://"+addr+"/api/incr").Count
}

func (c *client) session(addr string) sessionView {
	return c.do(context.Background(), "GET", "http://"+addr+"/api/session")
}

// logNumber sums a numeric field over log lines.
func logNumber(lines []map[string]any, field string) int {
	sum := 0
	for _, l := range lines {
		if v, ok := l[field].(float64); ok {
			sum += int(v)
		}
	}
	return sum
}

func nodeConfig(name, dir, addr, sessionExtra string) string {
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
store "file" { path = "sessions.db" }
`, name, dir, addr, sessionExtra)
}

func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// getJSON GETs url and decodes its JSON answer into v.
func getJSON(url string, v any) error {
	hc := &http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// freeAddrs returns n distinct loopback addresses, each free for TCP and
// UDP and reserved for this test: a node restarted on its port finds it
// still free, whatever else runs beside the test.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	return testport.Addrs(t, n)
}
