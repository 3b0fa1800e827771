package testservers

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/url"
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

	"github.com/jackc/pgx/v5"
)

// postgresGlob finds the binaries Debian's postgresql package installs, one
// directory per major version.
const postgresGlob = "/usr/lib/postgresql/*/bin"

// postgresUser is the superuser initdb creates; the servers trust every
// local connection, so it has no password.
const postgresUser = "wadi"

// Postgres is a PostgreSQL cluster the tests started: initdb'd into a
// directory of its own, served by one postgres process.
type Postgres struct {
	binDir string
	dir    string
	port   int
	user   serverUser

	mu   sync.Mutex
	proc *process // nil while stopped
}

// findPostgres returns the directory holding initdb and postgres: the
// newest Debian version, else the PATH's.
func findPostgres() (string, error) {
	dirs, _ := filepath.Glob(postgresGlob) // the pattern is constant and valid
	slices.SortFunc(dirs, func(a, b string) int {
		return majorOf(b) - majorOf(a)
	})
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	initdb, err := exec.LookPath("initdb")
	if err != nil {
		return "", fmt.Errorf("no initdb in %s or on the PATH", postgresGlob)
	}
	d := filepath.Dir(initdb)
	if !isExecutable(filepath.Join(d, "postgres")) {
		return "", fmt.Errorf("no postgres beside %s", initdb)
	}
	return d, nil
}

func majorOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir))) // not a number sorts last
	return n
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// StartPostgres returns the DSN of a fresh, empty database of its own on the
// test binary's shared PostgreSQL cluster, starting the cluster on first use.
// The database is dropped when the test ends. The package's TestMain must
// call Run.
func StartPostgres(tb testing.TB) string {
	tb.Helper()
	binDir, err := findPostgres()
	if err != nil {
		missing(tb, "PostgreSQL", "postgresql", err)
	}
	shared.mu.Lock()
	if shared.postgres == nil {
		p, err := newPostgres(binDir)
		if err != nil {
			shared.mu.Unlock()
			tb.Fatalf("starting the shared PostgreSQL cluster: %v", err)
		}
		shared.postgres = p
	}
	p := shared.postgres
	shared.mu.Unlock()
	return p.Database(tb)
}

// NewPostgres starts a PostgreSQL cluster of the test's own, stopped when
// the test ends.
func NewPostgres(tb testing.TB) *Postgres {
	tb.Helper()
	binDir, err := findPostgres()
	if err != nil {
		missing(tb, "PostgreSQL", "postgresql", err)
	}
	p, err := newPostgres(binDir)
	if err != nil {
		tb.Fatalf("starting a PostgreSQL cluster: %v", err)
	}
	tb.Cleanup(func() {
		if err := p.close(); err != nil {
			tb.Errorf("stopping the PostgreSQL cluster: %v", err)
		}
	})
	return p
}

func newPostgres(binDir string) (*Postgres, error) {
	u, err := lookupServerUser()
	if err != nil {
		return nil, err
	}
	dir, err := mkdirTemp(u, "wadi-pg-")
	if err != nil {
		return nil, err
	}
	p := &Postgres{binDir: binDir, dir: dir, user: u}
	if err := p.initdb(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// Another process may take the free port before the server binds it:
	// try a few.
	var lastErr error
	for range 3 {
		if p.port, err = freePort(); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		if lastErr = p.start(); lastErr == nil {
			return p, nil
		}
	}
	os.RemoveAll(dir)
	return nil, lastErr
}

func (p *Postgres) dataDir() string { return filepath.Join(p.dir, "data") }

func (p *Postgres) initdb() error {
	logPath := filepath.Join(p.dir, "initdb.log")
	proc, err := startProcess(p.user, logPath, syscall.SIGKILL, filepath.Join(p.binDir, "initdb"),
		"--pgdata", p.dataDir(),
		"--username", postgresUser,
		"--auth", "trust",
		"--encoding", "UTF8",
		"--locale", "C",
		// A test cluster is thrown away: no need to wait for the disk.
		"--no-sync",
	)
	if err != nil {
		return err
	}
	select {
	case <-proc.done:
	case <-time.After(2 * readyTimeout):
		_ = proc.signal(syscall.SIGKILL, stopTimeout)
		return fmt.Errorf("initdb did not finish within %v; its log:\n%s", 2*readyTimeout, logTail(logPath))
	}
	if proc.err != nil {
		return fmt.Errorf("initdb: %v; its log:\n%s", proc.err, logTail(logPath))
	}
	return nil
}

// start runs postgres on p's port and waits until it accepts connections.
func (p *Postgres) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc != nil {
		return fmt.Errorf("postgres on port %d is already running (pid %d)", p.port, p.proc.pid())
	}
	// SIGQUIT is PostgreSQL's immediate shutdown: if the test binary dies,
	// the server goes with it.
	proc, err := startProcess(p.user, filepath.Join(p.dir, "postgres.log"), syscall.SIGQUIT, filepath.Join(p.binDir, "postgres"),
		"-D", p.dataDir(),
		"-p", strconv.Itoa(p.port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+p.dir,
		"-c", "max_connections=200",
		"-c", "shared_buffers=32MB",
		"-c", "log_min_messages=warning",
	)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("postgres on port %d", p.port)
	if err := waitReady(proc, what, p.ping); err != nil {
		_ = proc.signal(syscall.SIGQUIT, stopTimeout)
		return err
	}
	p.proc = proc
	return nil
}

func (p *Postgres) ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, p.dsn("postgres"))
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	return c.Ping(ctx)
}

// Addr is the cluster's host:port.
func (p *Postgres) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)) }

// dsn is the URL of the database on the cluster.
func (p *Postgres) dsn(database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(postgresUser),
		Host:     p.Addr(),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Database creates a fresh, empty database on the cluster and returns its
// DSN. It is dropped when the test ends, if the cluster is up then.
func (p *Postgres) Database(tb testing.TB) string {
	tb.Helper()
	name := "wadi_" + strings.ToLower(rand.Text())
	if err := p.admin(fmt.Sprintf("CREATE DATABASE %s", name)); err != nil {
		tb.Fatalf("creating database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		if p.PID() == 0 {
			return // stopped by the test: nothing to drop it from
		}
		// FORCE: a store the test left open must not keep its database.
		if err := p.admin(fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name)); err != nil {
			tb.Errorf("dropping database %s: %v", name, err)
		}
	})
	return p.dsn(name)
}

func (p *Postgres) admin(sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	c, err := pgx.Connect(ctx, p.dsn("postgres"))
	if err != nil {
		return err
	}
	_, err = c.Exec(ctx, sql)
	return errors.Join(err, c.Close(ctx))
}

// PID is the postgres server's process id, 0 while it is stopped.
func (p *Postgres) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil {
		return 0
	}
	return p.proc.pid()
}

// StopImmediate stops the server the way `pg_ctl stop -m immediate` does
// (SIGQUIT to the postmaster): connections are cut at once, as by a crash,
// and the next start recovers from the WAL.
func (p *Postgres) StopImmediate(tb testing.TB) {
	tb.Helper()
	if err := p.stop(syscall.SIGQUIT); err != nil {
		tb.Fatal(err)
	}
}

// Start starts the stopped server again on the same port, with its data.
func (p *Postgres) Start(tb testing.TB) {
	tb.Helper()
	if err := p.start(); err != nil {
		tb.Fatal(err)
	}
}

func (p *Postgres) stop(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil {
		return nil
	}
	proc := p.proc
	p.proc = nil
	if err := proc.signal(sig, stopTimeout); err != nil {
		return fmt.Errorf("postgres on port %d: %w", p.port, err)
	}
	return nil
}

// close stops the server (SIGINT, a fast shutdown) and removes its
// directory.
func (p *Postgres) close() error {
	err := p.stop(syscall.SIGINT)
	if rerr := os.RemoveAll(p.dir); rerr != nil && err == nil {
		err = rerr
	}
	return err
}
