package testservers

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Run(m)) }

func TestSharedRedis(t *testing.T) {
	addr := StartRedis(t)
	if err := pingRedis(addr, RedisOptions{}); err != nil {
		t.Fatal(err)
	}
	if again := StartRedis(t); again != addr {
		t.Errorf("second StartRedis = %s, want the shared %s", again, addr)
	}
}

func TestRedisKillRestart(t *testing.T) {
	r := NewRedis(t)
	pid := r.PID()
	r.Kill(t)
	if err := r.ping(); err == nil {
		t.Fatal("killed server still answers")
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("pid %d still exists after Kill", pid)
	}
	r.Restart(t)
	if err := r.ping(); err != nil {
		t.Fatalf("after Restart: %v", err)
	}
}

func TestRedisStopKeepsData(t *testing.T) {
	r := NewRedis(t)
	exists := func() string {
		t.Helper()
		line, err := redisCommand(r.Addr, RedisOptions{}, "EXISTS", "k")
		if err != nil {
			t.Fatal(err)
		}
		return line
	}
	if line, err := redisCommand(r.Addr, RedisOptions{}, "SET", "k", "v"); err != nil || line != "+OK" {
		t.Fatalf("SET: %q, %v", line, err)
	}
	r.Stop(t)
	if err := r.ping(); err == nil {
		t.Fatal("stopped server still answers")
	}
	r.Restart(t)
	if got := exists(); got != ":1" {
		t.Errorf("after Stop and Restart: EXISTS k = %s, want :1 (the data kept)", got)
	}
	// A crash loses the data, the saved copy too.
	r.Kill(t)
	r.Restart(t)
	if got := exists(); got != ":0" {
		t.Errorf("after Kill and Restart: EXISTS k = %s, want :0 (empty)", got)
	}
}

// A server with TLS, a password and an ACL user answers only a client that
// speaks TLS and authenticates.
func TestRedisTLSAndAuth(t *testing.T) {
	opts := RedisOptions{Password: "pw", Users: map[string]string{"alice": "apw"}, TLS: NewRedisTLS(t, "127.0.0.1")}
	r := NewRedisWith(t, opts)
	tests := []struct {
		name string
		opts RedisOptions
		args []string
		want string // the reply's first line; "" for an error
	}{
		{"tls and password", opts, []string{"PING"}, "+PONG"},
		{"acl user", RedisOptions{TLS: opts.TLS}, []string{"AUTH", "alice", "apw"}, "+OK"},
		{"wrong password", RedisOptions{Password: "nope", TLS: opts.TLS}, []string{"PING"}, ""},
		{"no password", RedisOptions{TLS: opts.TLS}, []string{"PING"}, "-NOAUTH Authentication required."},
		{"plain text", RedisOptions{Password: "pw"}, []string{"PING"}, ""},
	}
	for _, tt := range tests {
		got, err := redisCommand(r.Addr, tt.opts, tt.args...)
		if tt.want == "" {
			if err == nil {
				t.Errorf("%s: %q, want an error", tt.name, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}

func TestSharedPostgres(t *testing.T) {
	a, b := StartPostgres(t), StartPostgres(t)
	if a == b {
		t.Fatalf("two StartPostgres calls returned one database %s", a)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, dsn := range []string{a, b} {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := c.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&n); err != nil || n != 0 {
			t.Errorf("fresh database %s: %d tables, %v", dsn, n, err)
		}
		if err := c.Close(ctx); err != nil {
			t.Error(err)
		}
	}
}

func TestPostgresStopStart(t *testing.T) {
	p := NewPostgres(t)
	dsn := p.Database(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	exec := func(sql string) error {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return err
		}
		defer c.Close(ctx)
		_, err = c.Exec(ctx, sql)
		return err
	}
	if err := exec("CREATE TABLE kept (x int)"); err != nil {
		t.Fatal(err)
	}
	p.StopImmediate(t)
	if err := p.ping(); err == nil {
		t.Fatal("stopped server still answers")
	}
	p.Start(t)
	// The data survives an immediate stop: the server recovers it.
	if err := exec("INSERT INTO kept VALUES (1)"); err != nil {
		t.Fatalf("after Start: %v", err)
	}
}
