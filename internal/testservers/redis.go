package testservers

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// redisBinary is where Debian's redis-server package installs the server.
const redisBinary = "/usr/bin/redis-server"

// Redis is a redis-server process the tests started, without persistence:
// a restart starts empty.
type Redis struct {
	// Addr is the server's host:port.
	Addr string

	bin  string
	dir  string
	port int

	mu   sync.Mutex
	proc *process // nil while stopped
}

func findRedis() (string, error) {
	if _, err := os.Stat(redisBinary); err == nil {
		return redisBinary, nil
	}
	return exec.LookPath("redis-server")
}

// StartRedis returns the address of the test binary's shared Redis server,
// starting it on first use. Tests share it, so each uses keys of its own
// (a key prefix unique to the test). The package's TestMain must call Run.
func StartRedis(tb testing.TB) string {
	tb.Helper()
	bin, err := findRedis()
	if err != nil {
		missing(tb, "redis-server", "redis-server", err)
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.redis == nil {
		r, err := newRedis(bin)
		if err != nil {
			tb.Fatalf("starting the shared Redis server: %v", err)
		}
		shared.redis = r
	}
	return shared.redis.Addr
}

// NewRedis starts a Redis server of the test's own, stopped when the test
// ends.
func NewRedis(tb testing.TB) *Redis {
	tb.Helper()
	bin, err := findRedis()
	if err != nil {
		missing(tb, "redis-server", "redis-server", err)
	}
	r, err := newRedis(bin)
	if err != nil {
		tb.Fatalf("starting a Redis server: %v", err)
	}
	tb.Cleanup(func() {
		if err := r.close(); err != nil {
			tb.Errorf("stopping the Redis server: %v", err)
		}
	})
	return r
}

func newRedis(bin string) (*Redis, error) {
	dir, err := mkdirTemp(serverUser{}, "wadi-redis-")
	if err != nil {
		return nil, err
	}
	// Another process may take the free port before the server binds it:
	// try a few.
	var lastErr error
	for range 3 {
		port, err := freePort()
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		r := &Redis{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), bin: bin, dir: dir, port: port}
		if lastErr = r.start(); lastErr == nil {
			return r, nil
		}
	}
	os.RemoveAll(dir)
	return nil, lastErr
}

// start runs the server on r's port and waits until it answers PING.
func (r *Redis) start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc != nil {
		return fmt.Errorf("redis-server at %s is already running (pid %d)", r.Addr, r.proc.pid())
	}
	p, err := startProcess(serverUser{}, filepath.Join(r.dir, "redis.log"), syscall.SIGKILL, r.bin,
		"--port", strconv.Itoa(r.port),
		"--bind", "127.0.0.1",
		"--dir", r.dir,
		"--save", "",
		"--appendonly", "no",
		"--daemonize", "no",
		"--loglevel", "warning",
	)
	if err != nil {
		return err
	}
	if err := waitReady(p, "redis-server at "+r.Addr, func() error { return pingRedis(r.Addr) }); err != nil {
		_ = p.signal(syscall.SIGKILL, stopTimeout)
		return err
	}
	r.proc = p
	return nil
}

// pingRedis speaks just enough of the protocol to tell that the server is
// up, without the client library under test.
func pingRedis(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(time.Second)); err != nil {
		return err
	}
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// PID is the server's process id, 0 while it is stopped.
func (r *Redis) PID() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc == nil {
		return 0
	}
	return r.proc.pid()
}

// Kill kills the server with SIGKILL, as a crash would, and waits for it to
// exit. Its data is lost.
func (r *Redis) Kill(tb testing.TB) {
	tb.Helper()
	if err := r.stop(syscall.SIGKILL); err != nil {
		tb.Fatal(err)
	}
}

// Pause stops the server with SIGSTOP: it keeps its connections but answers
// nothing, as a hung server would, until Resume.
func (r *Redis) Pause(tb testing.TB) {
	tb.Helper()
	r.signal(tb, syscall.SIGSTOP)
}

// Resume continues a paused server.
func (r *Redis) Resume(tb testing.TB) {
	tb.Helper()
	r.signal(tb, syscall.SIGCONT)
}

func (r *Redis) signal(tb testing.TB, sig syscall.Signal) {
	tb.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc == nil {
		tb.Fatalf("redis-server at %s is not running", r.Addr)
	}
	if err := r.proc.cmd.Process.Signal(sig); err != nil {
		tb.Fatalf("sending %v to redis-server (pid %d): %v", sig, r.proc.pid(), err)
	}
}

// Restart starts the stopped server again on the same port, empty.
func (r *Redis) Restart(tb testing.TB) {
	tb.Helper()
	if err := r.start(); err != nil {
		tb.Fatal(err)
	}
}

func (r *Redis) stop(sig syscall.Signal) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc == nil {
		return nil
	}
	p := r.proc
	r.proc = nil
	// A paused server must be continued to act on anything but SIGKILL.
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	if err := p.signal(sig, stopTimeout); err != nil {
		return fmt.Errorf("redis-server at %s: %w", r.Addr, err)
	}
	return nil
}

// close stops the server and removes its directory.
func (r *Redis) close() error {
	err := r.stop(syscall.SIGTERM)
	if rerr := os.RemoveAll(r.dir); rerr != nil && err == nil {
		err = rerr
	}
	return err
}
