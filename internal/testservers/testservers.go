// Package testservers starts real Redis and PostgreSQL servers for tests:
// each on a free loopback port, in a temporary directory of its own, stopped
// by its process id when the tests are done.
//
// StartRedis and StartPostgres share one server per test binary, started on
// first use; a package that calls them runs its tests through Run, from
// TestMain, so that the servers stop when the tests end. NewRedis and
// NewPostgres start a server of the test's own, which it may stop and start
// again (outage tests), stopped when the test ends; NewRedisWith starts one
// with TLS (certificates from NewRedisTLS), a password or ACL users.
//
// The servers come from the Debian packages redis-server and postgresql. A
// test that needs a missing one fails, saying `make deps` installs it, except
// under `go test -short`, where it is skipped.
package testservers

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// readyTimeout bounds how long a server may take to start answering.
const readyTimeout = 30 * time.Second

// stopTimeout bounds how long a stopped server may take to exit before it is
// killed.
const stopTimeout = 10 * time.Second

// shared holds the servers shared by the tests of one binary. It is the
// package's only state: one server per binary is the point of it.
var shared struct {
	mu       sync.Mutex
	redis    *Redis
	postgres *Postgres
}

// Run runs the tests of m, then stops the shared servers and removes their
// directories. A test package that uses StartRedis or StartPostgres calls it
// from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testservers.Run(m)) }
func Run(m *testing.M) int {
	code := m.Run()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	var errs []error
	if shared.redis != nil {
		errs = append(errs, shared.redis.close())
		shared.redis = nil
	}
	if shared.postgres != nil {
		errs = append(errs, shared.postgres.close())
		shared.postgres = nil
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintln(os.Stderr, "testservers:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// missing fails tb, or skips it under -short, for a server binary that is
// not installed.
func missing(tb testing.TB, what, pkg string, err error) {
	tb.Helper()
	msg := fmt.Sprintf("%s is not installed (%v): `make deps` installs it (Debian package %s)", what, err, pkg)
	if testing.Short() {
		tb.Skip(msg)
	}
	tb.Fatal(msg)
}

// freePort returns a loopback port that was free a moment ago. A server
// that loses it to another process fails to start and is started again on
// another port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// serverUser is the user the servers run as: the test's own, or, for a test
// run as root, nobody, because PostgreSQL refuses to run as root.
type serverUser struct {
	cred *syscall.Credential // nil: the test's own user
}

func lookupServerUser() (serverUser, error) {
	if os.Geteuid() != 0 {
		return serverUser{}, nil
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		return serverUser{}, fmt.Errorf("tests run as root and PostgreSQL refuses root: looking up the user nobody to run it as: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return serverUser{}, fmt.Errorf("uid of nobody %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return serverUser{}, fmt.Errorf("gid of nobody %q: %w", u.Gid, err)
	}
	return serverUser{cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}}, nil
}

// ownDir makes dir belong to the user, so that a server running as it can
// write there.
func (u serverUser) ownDir(dir string) error {
	if u.cred == nil {
		return nil
	}
	if err := os.Chown(dir, int(u.cred.Uid), int(u.cred.Gid)); err != nil {
		return fmt.Errorf("chown %s to nobody: %w", dir, err)
	}
	return nil
}

// process is a server process the tests started.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited and been reaped
	err  error         // Wait's result, set before done is closed
	log  string        // file the process writes its output to
}

// startProcess starts the program with its output appended to logPath. The
// process is sent sig if the test binary dies without stopping it.
func startProcess(u serverUser, logPath string, dieSig syscall.Signal, name string, args ...string) (*process, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	// The child has its own copy of the descriptor once started.
	defer logf.Close()
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = sysProcAttr(u.cred, dieSig)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signal sends sig to the process by its id and waits up to d for it to
// exit; it kills the process if it has not.
func (p *process) signal(sig syscall.Signal, d time.Duration) error {
	if p.exited() {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signalling pid %d: %w", p.pid(), err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(d):
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("killing pid %d: %w", p.pid(), err)
	}
	<-p.done
	return fmt.Errorf("pid %d did not exit within %v of %v; killed it", p.pid(), d, sig)
}

// logTail returns the end of the process's output, for error messages.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	const max = 4 << 10
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(bytes.TrimSpace(b))
}

// waitReady calls ready until it succeeds, the process exits or
// readyTimeout passes.
func waitReady(p *process, what string, ready func() error) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		if p.exited() {
			return fmt.Errorf("%s exited before answering (%v); its log:\n%s", what, p.err, logTail(p.log))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer within %v: %v; its log:\n%s", what, readyTimeout, err, logTail(p.log))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mkdirTemp makes a directory for a server. It is not t.TempDir: a shared
// server outlives the test that starts it, and, run as root, the server's
// user must be able to reach its directory, which t.TempDir's parent
// (mode 0700, root's) does not allow.
func mkdirTemp(u serverUser, pattern string) (string, error) {
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", err
	}
	if err := u.ownDir(dir); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return filepath.Clean(dir), nil
}
