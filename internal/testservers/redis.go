package testservers

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// redisBinary is where Debian's redis-server package installs the server.
const redisBinary = "/usr/bin/redis-server"

// Redis is a redis-server process the tests started, without persistence
// of its own: a restart after Kill starts empty, one after Stop with the
// data Stop saved.
type Redis struct {
	// Addr is the server's host:port.
	Addr string

	bin  string
	dir  string
	port int
	opts RedisOptions

	mu   sync.Mutex
	proc *process // nil while stopped
}

// RedisOptions configure a server of the test's own (NewRedisWith). The
// zero value is a plain server anyone may use, as NewRedis starts.
type RedisOptions struct {
	// Password is the default user's password (requirepass); empty for
	// none.
	Password string
	// Users are ACL users besides the default, name to password; each may
	// run every command on every key.
	Users map[string]string
	// TLS, if set, makes the server speak TLS only, on Addr.
	TLS *RedisTLS
}

// RedisTLS names the PEM files of a TLS server. Clients are not asked for
// certificates.
type RedisTLS struct {
	CertFile string // the server's certificate
	KeyFile  string // its private key
	CAFile   string // CAs the server trusts; redis-server requires some
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
		r, err := newRedis(bin, RedisOptions{})
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
	return NewRedisWith(tb, RedisOptions{})
}

// NewRedisWith starts a Redis server of the test's own as opts say, stopped
// when the test ends.
func NewRedisWith(tb testing.TB, opts RedisOptions) *Redis {
	tb.Helper()
	bin, err := findRedis()
	if err != nil {
		missing(tb, "redis-server", "redis-server", err)
	}
	r, err := newRedis(bin, opts)
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

func newRedis(bin string, opts RedisOptions) (*Redis, error) {
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
		r := &Redis{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), bin: bin, dir: dir, port: port, opts: opts}
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
	p, err := startProcess(serverUser{}, filepath.Join(r.dir, "redis.log"), syscall.SIGKILL, r.bin, r.args()...)
	if err != nil {
		return err
	}
	if err := waitReady(p, "redis-server at "+r.Addr, r.ping); err != nil {
		_ = p.signal(syscall.SIGKILL, stopTimeout)
		return err
	}
	r.proc = p
	return nil
}

// args are the server's command line. Nothing is saved unless Stop asks.
func (r *Redis) args() []string {
	port := strconv.Itoa(r.port)
	if r.opts.TLS != nil {
		port = "0" // TLS only
	}
	args := []string{
		"--port", port,
		"--bind", "127.0.0.1",
		"--dir", r.dir,
		"--save", "",
		"--appendonly", "no",
		"--daemonize", "no",
		"--loglevel", "warning",
	}
	if t := r.opts.TLS; t != nil {
		args = append(args,
			"--tls-port", strconv.Itoa(r.port),
			"--tls-cert-file", t.CertFile,
			"--tls-key-file", t.KeyFile,
			"--tls-ca-cert-file", t.CAFile,
			"--tls-auth-clients", "no",
		)
	}
	if r.opts.Password != "" {
		args = append(args, "--requirepass", r.opts.Password)
	}
	names := slices.Sorted(maps.Keys(r.opts.Users))
	for _, name := range names {
		// One config line: user NAME on >PASSWORD ~* &* +@all.
		args = append(args, "--user", name, "on", ">"+r.opts.Users[name], "~*", "&*", "+@all")
	}
	return args
}

func (r *Redis) ping() error { return pingRedis(r.Addr, r.opts) }

// pingRedis tells whether the server at addr, set up as opts say, is up.
func pingRedis(addr string, opts RedisOptions) error {
	line, err := redisCommand(addr, opts, "PING")
	if err != nil {
		return err
	}
	if line != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// redisCommand sends one command to the server at addr, connecting as opts
// say (TLS, the default user's password), and returns the first line of its
// reply. It speaks just enough of the protocol to manage the server, without
// the client library under test.
func redisCommand(addr string, opts RedisOptions, args ...string) (string, error) {
	d := &net.Dialer{Timeout: time.Second}
	var c net.Conn
	var err error
	if opts.TLS != nil {
		// This checks that the server answers, not who it is: the tests
		// check its certificate through the client under test.
		c, err = tls.DialWithDialer(d, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	} else {
		c, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(time.Second)); err != nil {
		return "", err
	}
	br := bufio.NewReader(c)
	if opts.Password != "" {
		line, err := roundTrip(c, br, "AUTH", opts.Password)
		if err != nil {
			return "", err
		}
		if line != "+OK" {
			return "", fmt.Errorf("AUTH answered %q", line)
		}
	}
	return roundTrip(c, br, args...)
}

// roundTrip writes a command as a RESP array and reads the first line of
// the reply.
func roundTrip(w io.Writer, r *bufio.Reader, args ...string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return "", err
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(line), nil
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
// exit. Its data is lost, including what an earlier Stop saved.
func (r *Redis) Kill(tb testing.TB) {
	tb.Helper()
	if err := r.stop(syscall.SIGKILL); err != nil {
		tb.Fatal(err)
	}
	if err := os.Remove(r.dumpFile()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		tb.Fatal(err)
	}
}

// Stop shuts the server down as an orderly shutdown would (SHUTDOWN SAVE),
// saving its data, which Restart loads. It waits for the server to exit.
func (r *Redis) Stop(tb testing.TB) {
	tb.Helper()
	if err := r.shutdownSave(); err != nil {
		tb.Fatal(err)
	}
}

// dumpFile is where the server saves its data (the default dbfilename, in
// --dir) and finds it when it starts.
func (r *Redis) dumpFile() string { return filepath.Join(r.dir, "dump.rdb") }

func (r *Redis) shutdownSave() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc == nil {
		return nil
	}
	p := r.proc
	r.proc = nil
	_ = p.cmd.Process.Signal(syscall.SIGCONT) // a paused server answers nothing
	// The server closes the connection as it exits; a reply is a refusal.
	if line, err := redisCommand(r.Addr, r.opts, "SHUTDOWN", "SAVE"); err == nil {
		_ = p.signal(syscall.SIGKILL, stopTimeout)
		return fmt.Errorf("redis-server at %s: SHUTDOWN SAVE answered %q; killed it; its log:\n%s", r.Addr, line, logTail(p.log))
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(stopTimeout):
	}
	_ = p.signal(syscall.SIGKILL, stopTimeout)
	return fmt.Errorf("redis-server at %s did not exit within %v of SHUTDOWN SAVE; killed it", r.Addr, stopTimeout)
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

// Restart starts the stopped server again on the same port: empty after
// Kill, with the saved data after Stop.
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
