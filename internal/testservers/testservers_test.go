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
	if err := pingRedis(addr); err != nil {
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
	if err := pingRedis(r.Addr); err == nil {
		t.Fatal("killed server still answers")
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("pid %d still exists after Kill", pid)
	}
	r.Restart(t)
	if err := pingRedis(r.Addr); err != nil {
		t.Fatalf("after Restart: %v", err)
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
