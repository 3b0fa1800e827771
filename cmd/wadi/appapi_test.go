package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// In upstream mode the node's route cookie, as the configured router names
// it, is the node's alone: the application's Set-Cookie for it is dropped
// and the node's reaches the client; a cookie of that name under a router
// without a route cookie is the application's like any other.
func TestUpstreamProtectsRouteCookie(t *testing.T) {
	for _, tt := range []struct {
		name   string
		router string
		route  string   // the route cookie's name; "" none
		kept   []string // the application's cookies the client must get
	}{
		{"cookie router", `router "cookie" {}`, "SERVERID", []string{"ROUTE=evil", "theme=dark"}},
		{"cookie router, cookie_name", "router \"cookie\" {\n  cookie_name = \"ROUTE\"\n}", "ROUTE", []string{"SERVERID=evil", "theme=dark"}},
		{"jvmroute router", `router "jvmroute" {}`, "", []string{"ROUTE=evil", "SERVERID=evil", "theme=dark"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// A short directory: a unix socket's path is limited to about
			// a hundred bytes.
			run, err := os.MkdirTemp("", "wadi-api-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(run) })
			sock := filepath.Join(run, "api.sock")
			api := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
				DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
					var d net.Dialer
					return d.DialContext(ctx, "unix", sock)
				},
			}}
			app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// A session, so that the node sets its route cookie.
				req, _ := http.NewRequest("POST", "http://wadi/v1/sessions", nil)
				req.Header.Set("Wadi-Request", r.Header.Get("Wadi-Request"))
				resp, err := api.Do(req)
				if err != nil {
					t.Errorf("creating the session: %v", err)
				} else {
					resp.Body.Close()
					if resp.StatusCode != http.StatusCreated {
						t.Errorf("creating the session: %s", resp.Status)
					}
				}
				for _, c := range []string{"SERVERID=evil", "ROUTE=evil", "WADISESSIONID=evil", "theme=dark"} {
					w.Header().Add("Set-Cookie", c)
				}
			}))
			defer app.Close()

			dir := t.TempDir()
			listen := freePort(t)
			path := filepath.Join(dir, "red.hcl")
			hcl := fmt.Sprintf(`
node {
  name     = "red"
  data_dir = %q
}
http {
  listen   = %q
  upstream = %q
}
app_api {
  listen = %q
}
%s
`, filepath.Join(dir, "data"), listen, app.URL, "unix://"+sock, tt.router)
			if err := os.WriteFile(path, []byte(hcl), 0o600); err != nil {
				t.Fatal(err)
			}
			var diags strings.Builder
			cfg := loadConfig(context.Background(), path, hclog.NewNullLogger(), &diags)
			if cfg == nil {
				t.Fatalf("config: %s", diags.String())
			}
			serveForTest(t, cfg)
			waitListening(t, listen)

			resp, err := http.Get("http://" + listen + "/")
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			var fromApp, route []string
			session := 0
			for _, c := range resp.Cookies() {
				switch c.Name {
				case "WADISESSIONID":
					if c.Value == "evil" {
						t.Errorf("the application set the session cookie")
					}
					session++
				case tt.route:
					route = append(route, c.Value)
				default:
					fromApp = append(fromApp, c.Name+"="+c.Value)
				}
			}
			slices.Sort(fromApp)
			if !slices.Equal(fromApp, tt.kept) {
				t.Errorf("the client got the application's cookies %q, want %q", fromApp, tt.kept)
			}
			if session != 1 {
				t.Errorf("the client got %d session cookies, want the node's one", session)
			}
			if tt.route != "" && !slices.Equal(route, []string{"red"}) {
				t.Errorf("the client got %s cookies %q, want the node's one, red", tt.route, route)
			}
		})
	}
}

// waitListening waits until something accepts connections on addr.
func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
