package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/wadi-go/wadi/config"
	"github.com/wadi-go/wadi/internal/testport"
)

// serveForTest serves cfg until the test ends, then stops it and checks that it
// stopped cleanly.
func serveForTest(t *testing.T, cfg *config.Config) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serve(ctx, cfg, hclog.NewNullLogger()) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("the node did not stop")
		}
	})
}

func freePort(t *testing.T) string {
	t.Helper()
	return testport.Addr(t)
}

// scrape returns the admin endpoint's samples, by series as exposed
// (name and labels), e.g. `wadi_requests_total{outcome="local"}`.
func scrape(t *testing.T, admin string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// A node serves its metrics on the admin address, and they move as the
// requests to its HTTP address do.
func TestAdminMetricsMoveWithRequests(t *testing.T) {
	cfg := config.Defaults()
	cfg.Node = config.Node{Name: "metrics", DataDir: t.TempDir()}
	cfg.HTTP.Listen, cfg.HTTP.App = freePort(t), "demo"
	cfg.Admin = &config.Admin{Listen: freePort(t)}
	serveForTest(t, &cfg)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	post := func() {
		t.Helper()
		resp, err := client.Post("http://"+cfg.HTTP.Listen+"/api/incr", "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST /api/incr: %s", resp.Status)
		}
	}
	// The HTTP listener comes up after the admin one.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("tcp", cfg.HTTP.Listen); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the node did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}

	before := scrape(t, cfg.Admin.Listen)
	for _, family := range []string{
		`wadi_requests_total{outcome="local"}`, `wadi_requests_total{outcome="created"}`,
		`wadi_requests_total{outcome="proxied"}`, "wadi_sessions", "wadi_sessions_evicted_total",
		`wadi_sessions_destroyed_total{reason="expired"}`, "wadi_replication_messages_total",
		"wadi_migration_duration_seconds_count", "go_goroutines", "process_start_time_seconds",
	} {
		if _, ok := before[family]; !ok {
			t.Errorf("no %s on /metrics", family)
		}
	}
	post()
	post()
	post()
	after := scrape(t, cfg.Admin.Listen)
	for _, tc := range []struct {
		series string
		delta  float64
	}{
		{`wadi_requests_total{outcome="created"}`, 1},
		{`wadi_requests_total{outcome="local"}`, 2},
		{`wadi_requests_total{outcome="loaded"}`, 0},
		{"wadi_sessions", 1},
	} {
		if got := after[tc.series] - before[tc.series]; got != tc.delta {
			t.Errorf("%s moved by %g over 3 requests of one client, want %g", tc.series, got, tc.delta)
		}
	}
}
